#include "common/fits.h"

#include <fitsio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status.h"

namespace curator::fits {
namespace {

fitsfile* F(void* handle) { return static_cast<fitsfile*>(handle); }

std::string CfitsioText(int status) {
  char text[FLEN_STATUS] = {0};
  fits_get_errstatus(status, text);
  return absl::StrCat(text, " (CFITSIO ", status, ")");
}

// The canonical code for a CFITSIO status (see common/status.h).
absl::StatusCode CodeFor(int status) {
  switch (status) {
    case FILE_NOT_OPENED:
    case KEY_NO_EXIST:
    case COL_NOT_FOUND:
    case BAD_HDU_NUM:
    case BAD_COL_NUM:
      return absl::StatusCode::kNotFound;
    case VALUE_UNDEFINED:
    case NO_QUOTE:
    case NOT_IMAGE:
    case NOT_TABLE:
    case NOT_BTABLE:
    case BAD_TFORM_DTYPE:
    case BAD_INTKEY:
    case BAD_LOGICALKEY:
    case BAD_FLOATKEY:
    case BAD_DOUBLEKEY:
    case BAD_C2I:
    case BAD_C2F:
    case BAD_C2D:
    case BAD_DATATYPE:
    case NUM_OVERFLOW:
      return absl::StatusCode::kInvalidArgument;
    case WRITE_ERROR:
      return absl::StatusCode::kUnavailable;
    case MEMORY_ALLOCATION:
      return absl::StatusCode::kResourceExhausted;
    default:
      // Unreadable headers, short reads, bad compression: the file itself
      // is damaged.
      return absl::StatusCode::kDataLoss;
  }
}

// Removes the quotes of a FITS string value and undoubles inner quotes;
// trailing blanks inside the quotes are not significant (FITS 4.2.1).
std::string UnquoteValue(absl::string_view raw) {
  raw = absl::StripAsciiWhitespace(raw);
  if (raw.size() < 2 || raw.front() != '\'') return std::string(raw);
  std::string out;
  for (size_t i = 1; i < raw.size(); ++i) {
    if (raw[i] == '\'') {
      if (i + 1 < raw.size() && raw[i + 1] == '\'') {
        out.push_back('\'');
        ++i;
        continue;
      }
      break;
    }
    out.push_back(raw[i]);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The shortest %G representation of `value` that reads back identically.
int RoundTripDigits(double value) {
  for (int digits = 15; digits < 17; ++digits) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.*G", digits, value);
    if (std::strtod(buffer, nullptr) == value) return digits;
  }
  return 17;
}

}  // namespace

int64_t ImageInfo::num_pixels() const {
  if (axes.empty()) return 0;
  int64_t n = 1;
  for (int64_t a : axes) n *= a;
  return n;
}

FitsFile::FitsFile(void* handle, std::string path)
    : handle_(handle), path_(std::move(path)) {}

FitsFile::FitsFile(FitsFile&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)),
      path_(std::move(other.path_)) {}

FitsFile& FitsFile::operator=(FitsFile&& other) noexcept {
  if (this != &other) {
    absl::Status ignored = Close();
    (void)ignored;
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
  }
  return *this;
}

FitsFile::~FitsFile() {
  absl::Status status = Close();
  if (!status.ok()) CURATOR_LOG(WARNING) << status;
}

absl::StatusOr<FitsFile> FitsFile::Open(const std::string& path,
                                        bool read_write) {
  fitsfile* fptr = nullptr;
  int status = 0;
  // The disk-file variant takes the name literally: no CFITSIO extended
  // syntax, so a '[' in a path is just a character.
  fits_open_diskfile(&fptr, path.c_str(), read_write ? READWRITE : READONLY,
                     &status);
  if (status != 0) {
    if (fptr != nullptr) {
      int ignored = 0;
      fits_close_file(fptr, &ignored);
    }
    if (status == FILE_NOT_OPENED && access(path.c_str(), R_OK) != 0) {
      return ErrnoToStatus(errno, path);
    }
    return absl::Status(
        status == FILE_NOT_OPENED ? absl::StatusCode::kDataLoss
                                  : CodeFor(status),
        absl::StrCat(path, ": cannot open as FITS: ", CfitsioText(status)));
  }
  return FitsFile(fptr, path);
}

absl::StatusOr<FitsFile> FitsFile::Create(const std::string& path) {
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, path);
  }
  fitsfile* fptr = nullptr;
  int status = 0;
  fits_create_diskfile(&fptr, path.c_str(), &status);
  if (status != 0) {
    return absl::UnavailableError(
        absl::StrCat(path, ": cannot create: ", CfitsioText(status)));
  }
  return FitsFile(fptr, path);
}

absl::Status FitsFile::Close() {
  if (handle_ == nullptr) return absl::OkStatus();
  int status = 0;
  fits_close_file(F(handle_), &status);
  handle_ = nullptr;
  if (status != 0) {
    return absl::Status(CodeFor(status), absl::StrCat(path_, ": close: ",
                                                      CfitsioText(status)));
  }
  return absl::OkStatus();
}

absl::Status FitsFile::CheckOpen() const {
  if (handle_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path_, ": file is not open"));
  }
  return absl::OkStatus();
}

std::string FitsFile::Where() const {
  std::string where = path_;
  if (handle_ == nullptr) return where;
  int hdu = 0;
  fits_get_hdu_num(F(handle_), &hdu);
  char extname[FLEN_VALUE] = {0};
  int s = 0;
  fits_read_key(F(handle_), TSTRING, "EXTNAME", extname, nullptr, &s);
  if (s == 0 && extname[0] != '\0') {
    absl::StrAppend(&where, " HDU ", hdu, " (", extname, ")");
  } else {
    absl::StrAppend(&where, " HDU ", hdu);
  }
  return where;
}

absl::Status FitsFile::Error(int status, absl::string_view what) const {
  std::string where = Where();
  if (!what.empty()) absl::StrAppend(&where, ": ", what);
  return absl::Status(CodeFor(status),
                      absl::StrCat(where, ": ", CfitsioText(status)));
}

// --- HDUs ---

absl::StatusOr<int> FitsFile::NumHdus() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int n = 0, status = 0;
  fits_get_num_hdus(F(handle_), &n, &status);
  if (status != 0) return Error(status, "counting HDUs");
  return n;
}

int FitsFile::CurrentHdu() const {
  int hdu = 0;
  if (handle_ != nullptr) fits_get_hdu_num(F(handle_), &hdu);
  return hdu;
}

absl::Status FitsFile::MoveToHdu(int hdu_number) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  fits_movabs_hdu(F(handle_), hdu_number, nullptr, &status);
  if (status == 0) return absl::OkStatus();
  std::string what = absl::StrCat("moving to HDU ", hdu_number);
  if (status == END_OF_FILE) {
    // Either there is no such HDU or the file stops short inside it.
    int n = 0, s = 0;
    fits_get_num_hdus(F(handle_), &n, &s);
    if (s == 0 && n < hdu_number) {
      return absl::NotFoundError(absl::StrCat(
          path_, ": ", what, ": the file has only ", n, " HDUs"));
    }
    return absl::DataLossError(
        absl::StrCat(path_, ": ", what, ": file is truncated: ",
                     CfitsioText(status)));
  }
  return Error(status, what);
}

absl::Status FitsFile::CheckCurrentHduComplete() {
  CURATOR_ASSIGN_OR_RETURN(int64_t end, CurrentHduDataEnd());
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return ErrnoToStatus(errno, path_);
  if (st.st_size < end) {
    return absl::DataLossError(absl::StrCat(Where(), ": truncated: the file has ", st.st_size,
                                            " bytes but this HDU's data ends at byte ", end));
  }
  return absl::OkStatus();
}

absl::StatusOr<bool> FitsFile::MoveToNextHdu() {
  CURATOR_ASSIGN_OR_RETURN(int64_t end, CurrentHduDataEnd());
  const int from = CurrentHdu();
  int status = 0;
  fits_movrel_hdu(F(handle_), 1, nullptr, &status);
  if (status == 0) return true;
  if (status != END_OF_FILE && status != READ_ERROR) {
    return Error(status, absl::StrCat("moving to HDU ", from + 1));
  }
  struct stat st;
  if (stat(path_.c_str(), &st) != 0) return ErrnoToStatus(errno, path_);
  if (st.st_size == end) return false;
  if (st.st_size < end) {
    return absl::DataLossError(absl::StrCat(path_, ": truncated: the file has ", st.st_size,
                                            " bytes but HDU ", from, "'s data ends at byte ",
                                            end));
  }
  return absl::DataLossError(absl::StrCat(path_, ": truncated or damaged: the ",
                                          st.st_size - end, " bytes after HDU ", from,
                                          " are not a whole HDU (a file cut inside a header)"));
}

absl::Status FitsFile::MoveToExtName(absl::string_view extname) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  std::string name(extname);
  fits_movnam_hdu(F(handle_), ANY_HDU, name.data(), 0, &status);
  if (status == BAD_HDU_NUM) {
    return absl::NotFoundError(
        absl::StrCat(path_, ": no HDU with EXTNAME '", extname, "'"));
  }
  if (status != 0) {
    return Error(status, absl::StrCat("moving to EXTNAME '", extname, "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<HduType> FitsFile::CurrentHduType() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int type = 0, status = 0;
  fits_get_hdu_type(F(handle_), &type, &status);
  if (status != 0) return Error(status, "reading HDU type");
  switch (type) {
    case ASCII_TBL:
      return HduType::kAsciiTable;
    case BINARY_TBL:
      return HduType::kBinaryTable;
    default:
      return HduType::kImage;
  }
}

absl::StatusOr<int64_t> FitsFile::CurrentHduDataEnd() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  LONGLONG head = 0, data = 0, end = 0;
  int status = 0;
  fits_get_hduaddrll(F(handle_), &head, &data, &end, &status);
  if (status != 0) return Error(status, "reading HDU address");
  return static_cast<int64_t>(end);
}

// --- Keywords ---

absl::StatusOr<KeyType> FitsFile::ReadKeyType(absl::string_view key) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key);
  char value[FLEN_VALUE] = {0};
  int status = 0;
  fits_read_keyword(F(handle_), k.c_str(), value, nullptr, &status);
  if (status != 0) return Error(status, absl::StrCat("keyword '", key, "'"));
  if (value[0] == '\0') return KeyType::kUndefined;
  char dtype = 0;
  fits_get_keytype(value, &dtype, &status);
  if (status != 0) return Error(status, absl::StrCat("keyword '", key, "'"));
  switch (dtype) {
    case 'C':
      return KeyType::kString;
    case 'L':
      return KeyType::kLogical;
    case 'I':
      return KeyType::kInteger;
    case 'F':
      return KeyType::kFloat;
    case 'X':
      return KeyType::kComplex;
    default:
      return KeyType::kUndefined;
  }
}

absl::StatusOr<bool> FitsFile::HasKeyword(absl::string_view key) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key);
  char card[FLEN_CARD] = {0};
  int status = 0;
  fits_read_card(F(handle_), k.c_str(), card, &status);
  if (status == KEY_NO_EXIST) return false;
  if (status != 0) return Error(status, absl::StrCat("keyword '", key, "'"));
  return true;
}

template <typename T>
absl::Status FitsFile::ReadKeyImpl(absl::string_view key, int datatype,
                                   T* value) {
  // CFITSIO would quietly turn '12.5' (a string) into a number or truncate
  // 12.7 to an integer; a keyword of the wrong type is bad input and is
  // reported as such.
  CURATOR_ASSIGN_OR_RETURN(KeyType type, ReadKeyType(key));
  bool ok = false;
  const char* expected = "";
  switch (datatype) {
    case TLONGLONG:
      ok = type == KeyType::kInteger;
      expected = "an integer";
      break;
    case TDOUBLE:
      ok = type == KeyType::kInteger || type == KeyType::kFloat;
      expected = "a number";
      break;
    case TLOGICAL:
      ok = type == KeyType::kLogical;
      expected = "T or F";
      break;
  }
  if (!ok) {
    std::string k(key);
    char raw[FLEN_VALUE] = {0};
    int s = 0;
    fits_read_keyword(F(handle_), k.c_str(), raw, nullptr, &s);
    std::string shown = raw[0] == '\'' ? absl::StrCat("'", UnquoteValue(raw), "'")
                                       : std::string(raw[0] ? raw : "undefined");
    return absl::InvalidArgumentError(absl::StrCat(
        Where(), ": keyword '", key, "' is ", shown, ", expected ", expected));
  }
  std::string k(key);
  int status = 0;
  fits_read_key(F(handle_), datatype, k.c_str(), value, nullptr, &status);
  if (status != 0) return Error(status, absl::StrCat("keyword '", key, "'"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> FitsFile::ReadString(absl::string_view key) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key);
  char* value = nullptr;
  int status = 0;
  // Handles long strings continued with CONTINUE cards.
  fits_read_key_longstr(F(handle_), k.c_str(), &value, nullptr, &status);
  if (status != 0) {
    if (value != nullptr) fits_free_memory(value, &status);
    return Error(status, absl::StrCat("keyword '", key, "'"));
  }
  std::string result(value);
  fits_free_memory(value, &status);
  while (!result.empty() && result.back() == ' ') result.pop_back();
  return result;
}

absl::StatusOr<int64_t> FitsFile::ReadInt(absl::string_view key) {
  LONGLONG v = 0;
  CURATOR_RETURN_IF_ERROR(ReadKeyImpl(key, TLONGLONG, &v));
  return static_cast<int64_t>(v);
}

absl::StatusOr<double> FitsFile::ReadDouble(absl::string_view key) {
  double v = 0;
  CURATOR_RETURN_IF_ERROR(ReadKeyImpl(key, TDOUBLE, &v));
  return v;
}

absl::StatusOr<bool> FitsFile::ReadBool(absl::string_view key) {
  int v = 0;
  CURATOR_RETURN_IF_ERROR(ReadKeyImpl(key, TLOGICAL, &v));
  return v != 0;
}

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

absl::StatusOr<std::vector<Card>> FitsFile::ReadCards() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int count = 0, more = 0, status = 0;
  fits_get_hdrspace(F(handle_), &count, &more, &status);
  if (status != 0) return Error(status, "reading header");
  std::vector<Card> cards;
  cards.reserve(count);
  for (int i = 1; i <= count; ++i) {
    char name[FLEN_KEYWORD] = {0}, value[FLEN_VALUE] = {0},
         comment[FLEN_COMMENT] = {0};
    fits_read_keyn(F(handle_), i, name, value, comment, &status);
    if (status != 0) return Error(status, absl::StrCat("header card ", i));
    cards.push_back(Card{name, UnquoteValue(value), comment});
  }
  return cards;
}

// --- Images ---

absl::StatusOr<ImageInfo> FitsFile::GetImageInfo() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  ImageInfo info;
  int status = 0, naxis = 0;
  LONGLONG naxes[9] = {0};
  fits_get_img_paramll(F(handle_), 9, &info.bitpix, &naxis, naxes, &status);
  if (status != 0) return Error(status, "reading image parameters");
  fits_get_img_equivtype(F(handle_), &info.equivalent_bitpix, &status);
  if (status != 0) return Error(status, "reading image type");
  info.axes.assign(naxes, naxes + naxis);
  info.tile_compressed = fits_is_compressed_image(F(handle_), &status) != 0;
  return info;
}

template <typename T>
absl::Status FitsFile::ReadRowsImpl(int64_t first_row, int64_t num_rows,
                                    T* out, int datatype, bool nan_for_null) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  CURATOR_ASSIGN_OR_RETURN(ImageInfo info, GetImageInfo());
  if (info.axes.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(), ": expected a 2-D image, found NAXIS=", info.axes.size()));
  }
  if (first_row < 0 || num_rows < 0 || first_row + num_rows > info.axes[1]) {
    return absl::OutOfRangeError(absl::StrCat(
        Where(), ": rows ", first_row, "..",
        first_row + num_rows, " outside the image's ", info.axes[1]));
  }
  LONGLONG first_pixel[2] = {1, first_row + 1};
  T null_value = nan_for_null ? std::numeric_limits<T>::quiet_NaN() : T{};
  int any_null = 0, status = 0;
  fits_read_pixll(F(handle_), datatype, first_pixel, num_rows * info.axes[0],
                  nan_for_null ? &null_value : nullptr, out, &any_null,
                  &status);
  if (status != 0) {
    return Error(status, absl::StrCat("reading pixel rows ", first_row, "..",
                                      first_row + num_rows));
  }
  return absl::OkStatus();
}

absl::Status FitsFile::ReadRows(int64_t first_row, int64_t num_rows,
                                float* out) {
  // Floating-point pixels carry NaN themselves; substituting blanks costs a
  // check per pixel and is needed only for integer images (BLANK).
  int bitpix = 0, status = 0;
  if (handle_ != nullptr) fits_get_img_type(F(handle_), &bitpix, &status);
  return ReadRowsImpl(first_row, num_rows, out, TFLOAT, status != 0 || bitpix > 0);
}
absl::Status FitsFile::ReadRows(int64_t first_row, int64_t num_rows,
                                double* out) {
  return ReadRowsImpl(first_row, num_rows, out, TDOUBLE, true);
}
absl::Status FitsFile::ReadRows(int64_t first_row, int64_t num_rows,
                                int32_t* out) {
  return ReadRowsImpl(first_row, num_rows, out, TINT, false);
}

// --- Tables ---

absl::StatusOr<int64_t> FitsFile::NumRows() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  LONGLONG n = 0;
  int status = 0;
  fits_get_num_rowsll(F(handle_), &n, &status);
  if (status != 0) return Error(status, "reading row count");
  return static_cast<int64_t>(n);
}

absl::StatusOr<std::vector<ColumnInfo>> FitsFile::Columns() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int ncols = 0, status = 0;
  fits_get_num_cols(F(handle_), &ncols, &status);
  if (status != 0) return Error(status, "reading column count");
  // One pass over the header for TTYPE, TFORM, TUNIT, TSCAL and TZERO.
  CURATOR_ASSIGN_OR_RETURN(Header header, ReadHeader());
  std::vector<ColumnInfo> columns;
  columns.reserve(ncols);
  for (int c = 1; c <= ncols; ++c) {
    ColumnInfo col;
    col.number = c;
    LONGLONG repeat = 0, width = 0;
    fits_get_coltypell(F(handle_), c, &col.type_code, &repeat, &width, &status);
    if (status != 0) return Error(status, absl::StrCat("column ", c));
    col.repeat = repeat;
    CURATOR_ASSIGN_OR_RETURN(col.name, header.GetString(absl::StrCat("TTYPE", c)));
    CURATOR_ASSIGN_OR_RETURN(col.tform, header.GetString(absl::StrCat("TFORM", c)));
    col.unit = header.GetString(absl::StrCat("TUNIT", c)).value_or("");
    col.scale = header.GetDouble(absl::StrCat("TSCAL", c)).value_or(1.0);
    col.zero = header.GetDouble(absl::StrCat("TZERO", c)).value_or(0.0);
    columns.push_back(std::move(col));
  }
  // Byte layout from the TFORMs (rT: r elements of type T), checked
  // against NAXIS1; left unknown if anything does not add up.
  int64_t offset = 0;
  bool known = true;
  for (ColumnInfo& col : columns) {
    const std::string& tf = col.tform;
    size_t i = 0;
    int64_t r = 0;
    while (i < tf.size() && std::isdigit(static_cast<unsigned char>(tf[i]))) r = r * 10 + (tf[i++] - '0');
    if (i == 0) r = 1;
    const char t = i < tf.size() ? tf[i] : '?';
    int64_t size = 0;
    switch (t) {
      case 'L': case 'B': case 'A': size = r; break;
      case 'X': size = (r + 7) / 8; break;
      case 'I': size = 2 * r; break;
      case 'J': case 'E': size = 4 * r; break;
      case 'K': case 'D': case 'C': size = 8 * r; break;
      case 'M': size = 16 * r; break;
      case 'P': size = 8; break;
      case 'Q': size = 16; break;
      default: known = false;
    }
    col.byte_offset = offset;
    col.bytes = size;
    offset += size;
  }
  absl::StatusOr<int64_t> width = header.GetInt("NAXIS1");
  if (!known || !width.ok() || *width != offset) {
    for (ColumnInfo& col : columns) col.byte_offset = -1;
  }
  return columns;
}

absl::StatusOr<int64_t> FitsFile::RowBytes() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  LONGLONG width = 0;
  int status = 0;
  fits_read_key(F(handle_), TLONGLONG, "NAXIS1", &width, nullptr, &status);
  if (status != 0) return Error(status, "keyword 'NAXIS1'");
  return static_cast<int64_t>(width);
}

absl::Status FitsFile::ReadRawRows(int64_t first_row, int64_t num_rows, int64_t row_bytes,
                                   uint8_t* out) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  if (num_rows == 0) return absl::OkStatus();
  int status = 0;
  fits_read_tblbytes(F(handle_), first_row + 1, 1, num_rows * row_bytes, out, &status);
  if (status != 0) {
    return Error(status, absl::StrCat("reading rows ", first_row + 1, "..", first_row + num_rows));
  }
  return absl::OkStatus();
}

absl::StatusOr<ColumnInfo> FitsFile::FindColumn(absl::string_view name) {
  CURATOR_ASSIGN_OR_RETURN(std::vector<ColumnInfo> columns, Columns());
  for (ColumnInfo& c : columns) {
    if (absl::EqualsIgnoreCase(c.name, name)) return std::move(c);
  }
  return absl::NotFoundError(
      absl::StrCat(Where(), ": no column '", name, "'"));
}

absl::StatusOr<int64_t> FitsFile::OptimalRowChunk() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  long rows = 0;
  int status = 0;
  fits_get_rowsize(F(handle_), &rows, &status);
  if (status != 0) return Error(status, "reading optimal row count");
  return rows > 0 ? rows : 1;
}

template <typename T>
absl::Status FitsFile::ReadColumnImpl(int column, int64_t first_row,
                                      int64_t num_rows, T* out, int datatype) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  if (num_rows == 0) return absl::OkStatus();
  int status = 0, type_code = 0;
  LONGLONG repeat = 0, width = 0;
  fits_get_coltypell(F(handle_), column, &type_code, &repeat, &width, &status);
  if (status != 0) return Error(status, absl::StrCat("column ", column));
  if (type_code == TSTRING && datatype != TSTRING) {
    return Error(BAD_DATATYPE,
                 absl::StrCat("column ", column,
                              " holds strings, cannot read as numbers"));
  }
  T null_value{};
  if constexpr (std::is_floating_point_v<T>) {
    null_value = std::numeric_limits<T>::quiet_NaN();
  }
  int any_null = 0;
  fits_read_col(F(handle_), datatype, column, first_row + 1, 1,
                num_rows * repeat, &null_value, out, &any_null, &status);
  if (status != 0) {
    return Error(status, absl::StrCat("column ", column, " rows ",
                                      first_row + 1, "..",
                                      first_row + num_rows));
  }
  return absl::OkStatus();
}

absl::Status FitsFile::ReadColumn(int column, int64_t first_row,
                                  int64_t num_rows, float* out) {
  return ReadColumnImpl(column, first_row, num_rows, out, TFLOAT);
}
absl::Status FitsFile::ReadColumn(int column, int64_t first_row,
                                  int64_t num_rows, double* out) {
  return ReadColumnImpl(column, first_row, num_rows, out, TDOUBLE);
}
absl::Status FitsFile::ReadColumn(int column, int64_t first_row,
                                  int64_t num_rows, int32_t* out) {
  return ReadColumnImpl(column, first_row, num_rows, out, TINT);
}
absl::Status FitsFile::ReadColumn(int column, int64_t first_row,
                                  int64_t num_rows, int64_t* out) {
  return ReadColumnImpl(column, first_row, num_rows, out, TLONGLONG);
}

// --- Writing ---

absl::Status FitsFile::CreateImage(int bitpix,
                                   const std::vector<int64_t>& axes,
                                   Compression compression, int dither_seed) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  // 0, not NOCOMPRESS (-1): CFITSIO compresses whenever the requested
  // type is non-zero.
  int type = 0;
  if (compression == Compression::kRice) type = RICE_1;
  if (compression == Compression::kGzip) type = GZIP_1;
  fits_set_compression_type(F(handle_), type, &status);
  if (type != 0 && axes.size() == 2) {
    long tile[2] = {static_cast<long>(axes[0]), 1};
    fits_set_tile_dim(F(handle_), 2, tile, &status);
    fits_set_dither_seed(F(handle_), dither_seed, &status);
  }
  std::vector<LONGLONG> naxes(axes.begin(), axes.end());
  fits_create_imgll(F(handle_), bitpix, static_cast<int>(naxes.size()),
                    naxes.data(), &status);
  if (status != 0) return Error(status, "creating image HDU");
  return absl::OkStatus();
}

absl::Status FitsFile::WritePixels(const float* data, int64_t count) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  fits_write_img(F(handle_), TFLOAT, 1, count, const_cast<float*>(data),
                 &status);
  if (status != 0) return Error(status, "writing pixels");
  return absl::OkStatus();
}

absl::Status FitsFile::WritePixels(const int32_t* data, int64_t count) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  fits_write_img(F(handle_), TINT, 1, count, const_cast<int32_t*>(data),
                 &status);
  if (status != 0) return Error(status, "writing pixels");
  return absl::OkStatus();
}

absl::Status FitsFile::CreateTable(absl::string_view extname,
                                   const std::vector<ColumnSpec>& columns) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::vector<char*> ttype, tform, tunit;
  for (const ColumnSpec& c : columns) {
    ttype.push_back(const_cast<char*>(c.name.c_str()));
    tform.push_back(const_cast<char*>(c.tform.c_str()));
    tunit.push_back(const_cast<char*>(c.unit.c_str()));
  }
  std::string name(extname);
  int status = 0;
  fits_create_tbl(F(handle_), BINARY_TBL, 0, static_cast<int>(columns.size()),
                  ttype.data(), tform.data(), tunit.data(), name.c_str(),
                  &status);
  if (status != 0) {
    return Error(status, absl::StrCat("creating table '", extname, "'"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status FitsFile::WriteColumnImpl(int column, int64_t first_row,
                                       int64_t count, const T* data,
                                       int datatype) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  fits_write_col(F(handle_), datatype, column, first_row + 1, 1, count,
                 const_cast<T*>(data), &status);
  if (status != 0) return Error(status, absl::StrCat("writing column ", column));
  return absl::OkStatus();
}

absl::Status FitsFile::WriteColumn(int column, int64_t first_row,
                                   int64_t count, const float* data) {
  return WriteColumnImpl(column, first_row, count, data, TFLOAT);
}
absl::Status FitsFile::WriteColumn(int column, int64_t first_row,
                                   int64_t count, const double* data) {
  return WriteColumnImpl(column, first_row, count, data, TDOUBLE);
}
absl::Status FitsFile::WriteColumn(int column, int64_t first_row,
                                   int64_t count, const int32_t* data) {
  return WriteColumnImpl(column, first_row, count, data, TINT);
}

absl::Status FitsFile::WriteColumn(int column, int64_t first_row,
                                   const std::vector<std::string>& data) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::vector<char*> pointers;
  for (const std::string& d : data) pointers.push_back(const_cast<char*>(d.c_str()));
  int status = 0;
  fits_write_col_str(F(handle_), column, first_row + 1, 1, pointers.size(),
                     pointers.data(), &status);
  if (status != 0) return Error(status, absl::StrCat("writing column ", column));
  return absl::OkStatus();
}

absl::Status FitsFile::WriteKey(absl::string_view key, absl::string_view value,
                                absl::string_view comment) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key), v(value), c(comment);
  int status = 0;
  fits_update_key_str(F(handle_), k.c_str(), v.c_str(), c.c_str(), &status);
  if (status != 0) return Error(status, absl::StrCat("writing keyword '", key, "'"));
  return absl::OkStatus();
}

absl::Status FitsFile::WriteKey(absl::string_view key, const char* value,
                                absl::string_view comment) {
  return WriteKey(key, absl::string_view(value), comment);
}

absl::Status FitsFile::WriteKey(absl::string_view key, int64_t value,
                                absl::string_view comment) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key), c(comment);
  LONGLONG v = value;
  int status = 0;
  fits_update_key(F(handle_), TLONGLONG, k.c_str(), &v, c.c_str(), &status);
  if (status != 0) return Error(status, absl::StrCat("writing keyword '", key, "'"));
  return absl::OkStatus();
}

absl::Status FitsFile::WriteKey(absl::string_view key, int value,
                                absl::string_view comment) {
  return WriteKey(key, static_cast<int64_t>(value), comment);
}

absl::Status FitsFile::WriteKey(absl::string_view key, double value,
                                absl::string_view comment) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key), c(comment);
  int status = 0;
  fits_update_key_dbl(F(handle_), k.c_str(), value, -RoundTripDigits(value),
                      c.c_str(), &status);
  if (status != 0) return Error(status, absl::StrCat("writing keyword '", key, "'"));
  return absl::OkStatus();
}

absl::Status FitsFile::WriteKey(absl::string_view key, bool value,
                                absl::string_view comment) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key), c(comment);
  int status = 0;
  fits_update_key_log(F(handle_), k.c_str(), value ? 1 : 0, c.c_str(),
                      &status);
  if (status != 0) return Error(status, absl::StrCat("writing keyword '", key, "'"));
  return absl::OkStatus();
}

absl::Status FitsFile::DeleteKey(absl::string_view key) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  std::string k(key);
  int status = 0;
  fits_delete_key(F(handle_), k.c_str(), &status);
  if (status != 0) return Error(status, absl::StrCat("deleting keyword '", key, "'"));
  return absl::OkStatus();
}

absl::Status FitsFile::WriteChecksum() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  int status = 0;
  fits_write_chksum(F(handle_), &status);
  // CFITSIO stamps the comments with the current time; fix them and let it
  // recompute CHECKSUM over the header as it now stands.
  fits_modify_comment(F(handle_), "CHECKSUM", "HDU checksum", &status);
  fits_modify_comment(F(handle_), "DATASUM", "data unit checksum", &status);
  fits_update_chksum(F(handle_), &status);
  if (status != 0) return Error(status, "writing CHECKSUM");
  return absl::OkStatus();
}

}  // namespace curator::fits
