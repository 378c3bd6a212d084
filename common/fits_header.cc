// fits::Header and reading a whole header at once.
#include <fitsio.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/fits.h"
#include "common/fits_internal.h"
#include "common/status.h"

namespace curator::fits {

using internal::F;
using internal::UnquoteValue;

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
    char card[FLEN_CARD] = {0};
    std::memcpy(card, text + 80 * i, 80);
    std::string keyword;
    if (std::strncmp(card, "HIERARCH ", 9) == 0) {
      const char* eq = std::strchr(card, '=');
      keyword = std::string(absl::StripAsciiWhitespace(
          absl::string_view(card + 9, eq ? eq - card - 9 : 71)));
    } else {
      keyword = std::string(absl::StripTrailingAsciiWhitespace(absl::string_view(card, 8)));
    }
    if (keyword == "END") break;
    char value[FLEN_VALUE] = {0}, comment[FLEN_COMMENT] = {0};
    int s = 0;
    fits_parse_value(card, value, comment, &s);
    KeyType type = KeyType::kUndefined;
    char dtype = 0;
    if (s == 0 && value[0] != '\0' && fits_get_keytype(value, &dtype, &s) == 0) {
      type = dtype == 'C'   ? KeyType::kString
             : dtype == 'L' ? KeyType::kLogical
             : dtype == 'I' ? KeyType::kInteger
             : dtype == 'F' ? KeyType::kFloat
             : dtype == 'X' ? KeyType::kComplex
                            : KeyType::kUndefined;
    }
    std::string v = UnquoteValue(value);
    // Long strings: 'text&' continued by CONTINUE cards.
    if (type == KeyType::kString && !cards.empty() && keyword == "CONTINUE" &&
        types.back() == KeyType::kString && !cards.back().value.empty() &&
        cards.back().value.back() == '&') {
      cards.back().value.pop_back();
      cards.back().value += v;
    }
    cards.push_back(Card{std::move(keyword), std::move(v), comment});
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
  if (naxis < 0 || naxis > 999) {
    return absl::InvalidArgumentError(absl::StrCat(h.where(), ": ", prefix, "NAXIS = ", naxis));
  }
  info.bitpix = info.equivalent_bitpix = static_cast<int>(bitpix);
  for (int64_t i = 1; i <= naxis; ++i) {
    CURATOR_ASSIGN_OR_RETURN(int64_t n, h.GetInt(absl::StrCat(prefix, "NAXIS", i)));
    info.axes.push_back(n);
  }
  return info;
}

}  // namespace curator::fits
