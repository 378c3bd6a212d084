// fits::Header and reading a whole header at once.
#include <fitsio.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "fits/fits.h"
#include "fits/fits_internal.h"
#include "base/status.h"

namespace curator::fits {

using internal::F;
using internal::UnquoteValue;

namespace {

// KEY followed by a positive number, e.g. TTYPE12.
bool IsIndexed(absl::string_view keyword, absl::string_view key) {
  if (!absl::ConsumePrefix(&keyword, key) || keyword.empty()) return false;
  return std::all_of(keyword.begin(), keyword.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

namespace internal {

void ParseCard(const char* text, Card* out, KeyType* type) {
  char card[FLEN_CARD] = {0};
  std::memcpy(card, text, 80);
  if (std::strncmp(card, "HIERARCH ", 9) == 0) {
    const char* eq = std::strchr(card, '=');
    out->keyword = std::string(absl::StripAsciiWhitespace(
        absl::string_view(card + 9, eq ? eq - card - 9 : 71)));
  } else {
    out->keyword = std::string(absl::StripTrailingAsciiWhitespace(absl::string_view(card, 8)));
  }
  *type = KeyType::kUndefined;
  if (out->keyword == "END") return;
  char value[FLEN_VALUE] = {0}, comment[FLEN_COMMENT] = {0};
  int s = 0;
  fits_parse_value(card, value, comment, &s);
  char dtype = 0;
  if (s == 0 && value[0] != '\0' && fits_get_keytype(value, &dtype, &s) == 0) {
    *type = dtype == 'C'   ? KeyType::kString
            : dtype == 'L' ? KeyType::kLogical
            : dtype == 'I' ? KeyType::kInteger
            : dtype == 'F' ? KeyType::kFloat
            : dtype == 'X' ? KeyType::kComplex
                           : KeyType::kUndefined;
  }
  out->value = UnquoteValue(value);
  out->comment = comment;
}

bool IsStructuralKeyword(absl::string_view k) {
  if (k.empty()) return false;
  switch (k[0]) {
    case 'S': return k == "SIMPLE";
    case 'X': return k == "XTENSION";
    case 'B': return k == "BITPIX";
    case 'N': return k == "NAXIS" || IsIndexed(k, "NAXIS");
    case 'P': return k == "PCOUNT";
    case 'G': return k == "GCOUNT" || k == "GROUPS";
    case 'T': return k == "TFIELDS" || k == "THEAP";
    case 'Z':
      return k == "ZIMAGE" || k == "ZBITPIX" || k == "ZNAXIS" || k == "ZCMPTYPE" ||
             IsIndexed(k, "ZNAXIS") || IsIndexed(k, "ZTILE") || IsIndexed(k, "ZNAME") ||
             IsIndexed(k, "ZVAL");
    default: return false;
  }
}

}  // namespace internal

absl::StatusOr<Header> FitsFile::ReadHeader() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  char* text = nullptr;
  int count = 0, status = 0;
  fits_hdr2str(F(handle_), 0, nullptr, 0, &text, &count, &status);
  if (status != 0) {
    if (text != nullptr) fits_free_memory(text, &status);
    return Error(status, "reading header");
  }
  std::vector<Card> cards;
  std::vector<KeyType> types;
  cards.reserve(count);
  types.reserve(count);
  for (int i = 0; i < count; ++i) {
    Card c;
    KeyType type = KeyType::kUndefined;
    internal::ParseCard(text + 80 * i, &c, &type);
    if (c.keyword == "END") break;
    // Long strings: 'text&' continued by CONTINUE cards.
    if (type == KeyType::kString && !cards.empty() && c.keyword == "CONTINUE" &&
        types.back() == KeyType::kString && !cards.back().value.empty() &&
        cards.back().value.back() == '&') {
      cards.back().value.pop_back();
      cards.back().value += c.value;
    }
    cards.push_back(std::move(c));
    types.push_back(type);
  }
  fits_free_memory(text, &status);
  return Header(Where(), std::move(cards), std::move(types));
}

Header::Header(std::string where, std::vector<Card> cards, std::vector<KeyType> types)
    : where_(std::move(where)), cards_(std::move(cards)), types_(std::move(types)) {
  index_.resize(cards_.size());
  for (size_t i = 0; i < index_.size(); ++i) index_[i] = static_cast<int>(i);
  // By keyword, then position: the first card of a repeated keyword wins.
  std::sort(index_.begin(), index_.end(), [this](int a, int b) {
    const int c = cards_[a].keyword.compare(cards_[b].keyword);
    return c != 0 ? c < 0 : a < b;
  });
}

absl::StatusOr<int> Header::Find(absl::string_view key) const {
  auto it = std::lower_bound(index_.begin(), index_.end(), key,
                             [this](int i, absl::string_view k) { return cards_[i].keyword < k; });
  if (it == index_.end() || cards_[*it].keyword != key) {
    return absl::NotFoundError(
        absl::StrCat(where_, ": keyword '", key, "': keyword not found in header"));
  }
  return *it;
}

bool Header::Has(absl::string_view key) const { return Find(key).ok(); }

absl::StatusOr<KeyType> Header::Type(absl::string_view key) const {
  CURATOR_ASSIGN_OR_RETURN(int i, Find(key));
  return types_[i];
}

absl::Status Header::WrongType(int i, absl::string_view key, const char* expected) const {
  std::string shown = types_[i] == KeyType::kString ? absl::StrCat("'", cards_[i].value, "'")
                      : cards_[i].value.empty()     ? std::string("undefined")
                                                    : cards_[i].value;
  return absl::InvalidArgumentError(
      absl::StrCat(where_, ": keyword '", key, "' is ", shown, ", expected ", expected));
}

absl::StatusOr<std::string> Header::GetString(absl::string_view key) const {
  CURATOR_ASSIGN_OR_RETURN(int i, Find(key));
  return cards_[i].value;
}

absl::StatusOr<int64_t> Header::GetInt(absl::string_view key) const {
  CURATOR_ASSIGN_OR_RETURN(int i, Find(key));
  int64_t v = 0;
  if (types_[i] != KeyType::kInteger || !absl::SimpleAtoi(cards_[i].value, &v)) {
    return WrongType(i, key, "an integer");
  }
  return v;
}

absl::StatusOr<double> Header::GetDouble(absl::string_view key) const {
  CURATOR_ASSIGN_OR_RETURN(int i, Find(key));
  if (types_[i] != KeyType::kInteger && types_[i] != KeyType::kFloat) {
    return WrongType(i, key, "a number");
  }
  // FITS allows a D exponent (1.5D+02).
  std::string text = cards_[i].value;
  for (char& c : text) {
    if (c == 'D' || c == 'd') c = 'E';
  }
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return WrongType(i, key, "a number");
  return v;
}

absl::StatusOr<bool> Header::GetBool(absl::string_view key) const {
  CURATOR_ASSIGN_OR_RETURN(int i, Find(key));
  if (types_[i] != KeyType::kLogical) return WrongType(i, key, "T or F");
  return cards_[i].value == "T";
}

absl::StatusOr<ImageInfo> ImageInfoFromHeader(const Header& h) {
  CURATOR_RETURN_IF_ERROR(CheckHeaderStructure(h));
  const bool primary = h.Has("SIMPLE");
  std::string xtension;
  if (!primary) {
    CURATOR_ASSIGN_OR_RETURN(xtension, h.GetString("XTENSION"));
  }
  bool compressed = false;
  if (xtension == "BINTABLE" && h.Has("ZIMAGE")) {
    CURATOR_ASSIGN_OR_RETURN(compressed, h.GetBool("ZIMAGE"));
  }
  if (!primary && xtension != "IMAGE" && !compressed) {
    return absl::FailedPreconditionError(absl::StrCat(h.where(), ": not an image HDU"));
  }
  const char* prefix = compressed ? "Z" : "";
  ImageInfo info;
  info.tile_compressed = compressed;
  CURATOR_ASSIGN_OR_RETURN(int64_t bitpix, h.GetInt(absl::StrCat(prefix, "BITPIX")));
  CURATOR_ASSIGN_OR_RETURN(int64_t naxis, h.GetInt(absl::StrCat(prefix, "NAXIS")));
  if (naxis < 0 || naxis > kMaxAxes) {
    return absl::InvalidArgumentError(absl::StrCat(h.where(), ": ", prefix, "NAXIS = ", naxis,
                                                   ", expected 0..", kMaxAxes));
  }
  for (int64_t i = 1; i <= naxis; ++i) {
    CURATOR_ASSIGN_OR_RETURN(int64_t n, h.GetInt(absl::StrCat(prefix, "NAXIS", i)));
    info.axes.push_back(n);
  }
  CURATOR_RETURN_IF_ERROR(internal::CheckImageSize(h.where(), prefix, bitpix, info.axes));
  info.bitpix = info.equivalent_bitpix = static_cast<int>(bitpix);
  return info;
}

namespace {

// What a card of a compressed HDU's header is to the image's header.
enum class Role {
  kKeep,       // the image's own card
  kDrop,       // the table's structure or a compression parameter
  kMandatory,  // ZSIMPLE, ZTENSION, ZBITPIX, ZNAXIS(n), ZPCOUNT, ZGCOUNT
};

// CU3 reads ~40 cards per HDU at thousands of files a second: one switch
// on the first letter keeps most keywords to a single comparison.
Role RoleOf(const std::string& k) {
  if (k.empty()) return Role::kKeep;
  switch (k[0]) {
    case 'X': return k == "XTENSION" ? Role::kDrop : Role::kKeep;
    case 'B': return k == "BITPIX" ? Role::kDrop : Role::kKeep;
    case 'P': return k == "PCOUNT" ? Role::kDrop : Role::kKeep;
    case 'G': return k == "GCOUNT" ? Role::kDrop : Role::kKeep;
    case 'C': return k == "CHECKSUM" ? Role::kDrop : Role::kKeep;
    case 'D': return k == "DATASUM" ? Role::kDrop : Role::kKeep;
    case 'N': return k == "NAXIS" || IsIndexed(k, "NAXIS") ? Role::kDrop : Role::kKeep;
    case 'T':
      if (k == "TFIELDS" || k == "THEAP") return Role::kDrop;
      for (const char* indexed :
           {"TTYPE", "TFORM", "TUNIT", "TSCAL", "TZERO", "TNULL", "TDISP", "TDIM"}) {
        if (IsIndexed(k, indexed)) return Role::kDrop;
      }
      return Role::kKeep;
    case 'Z':
      if (k == "ZSIMPLE" || k == "ZTENSION" || k == "ZBITPIX" || k == "ZNAXIS" ||
          k == "ZPCOUNT" || k == "ZGCOUNT" || IsIndexed(k, "ZNAXIS")) {
        return Role::kMandatory;
      }
      if (k == "ZIMAGE" || k == "ZCMPTYPE" || k == "ZQUANTIZ" || k == "ZDITHER0" ||
          k == "ZMASKCMP" || k == "ZBLANK" || IsIndexed(k, "ZTILE") || IsIndexed(k, "ZNAME") ||
          IsIndexed(k, "ZVAL")) {
        return Role::kDrop;
      }
      return Role::kKeep;
    default: return Role::kKeep;
  }
}

}  // namespace

std::vector<Card> ImageCards(std::vector<Card> cards) {
  const Card *zimage = nullptr, *zsimple = nullptr, *ztension = nullptr, *zbitpix = nullptr,
             *znaxis = nullptr, *zpcount = nullptr, *zgcount = nullptr;
  std::vector<const Card*> axes;
  for (const Card& c : cards) {
    if (c.keyword.size() < 5 || c.keyword[0] != 'Z') continue;
    const std::string& k = c.keyword;
    if (k == "ZIMAGE") zimage = &c;
    else if (k == "ZSIMPLE") zsimple = &c;
    else if (k == "ZTENSION") ztension = &c;
    else if (k == "ZBITPIX") zbitpix = &c;
    else if (k == "ZNAXIS") znaxis = &c;
    else if (k == "ZPCOUNT") zpcount = &c;
    else if (k == "ZGCOUNT") zgcount = &c;
    else if (IsIndexed(k, "ZNAXIS")) axes.push_back(&c);
  }
  if (zimage == nullptr || zimage->value != "T") return cards;
  std::vector<Card> out;
  out.reserve(cards.size());
  // The mandatory keywords first, in the order the standard requires.
  const auto emit = [&](const Card* from, const char* to) {
    if (from != nullptr) out.push_back({to, from->value, from->comment});
  };
  if (zsimple != nullptr) {
    emit(zsimple, "SIMPLE");
  } else if (ztension != nullptr) {
    emit(ztension, "XTENSION");
  } else {
    out.push_back({"XTENSION", "IMAGE", "Image extension"});
  }
  emit(zbitpix, "BITPIX");
  emit(znaxis, "NAXIS");
  std::sort(axes.begin(), axes.end(), [](const Card* a, const Card* b) {
    return a->keyword.size() != b->keyword.size() ? a->keyword.size() < b->keyword.size()
                                                  : a->keyword < b->keyword;
  });
  for (const Card* c : axes) out.push_back({c->keyword.substr(1), c->value, c->comment});
  if (zsimple == nullptr) {
    out.push_back({"PCOUNT", zpcount ? zpcount->value : "0", zpcount ? zpcount->comment : ""});
    out.push_back({"GCOUNT", zgcount ? zgcount->value : "1", zgcount ? zgcount->comment : ""});
  }
  // The rest in place, renamed where they stood for the image's own.
  for (Card& c : cards) {
    if (RoleOf(c.keyword) != Role::kKeep) continue;
    if (c.keyword == "ZEXTEND") c.keyword = "EXTEND";
    else if (c.keyword == "ZBLOCKED") c.keyword = "BLOCKED";
    else if (c.keyword == "ZHECKSUM") c.keyword = "CHECKSUM";
    else if (c.keyword == "ZDATASUM") c.keyword = "DATASUM";
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace curator::fits
