#include "fits/fits.h"

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
#include "fits/fits_internal.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::fits {
using internal::CfitsioText;
using internal::CodeFor;
using internal::F;
using internal::UnquoteValue;

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
      path_(std::move(other.path_)),
      own_rice_(other.own_rice_),
      checked_hdus_(other.checked_hdus_) {}

FitsFile& FitsFile::operator=(FitsFile&& other) noexcept {
  if (this != &other) {
    absl::Status ignored = Close();
    (void)ignored;
    handle_ = std::exchange(other.handle_, nullptr);
    path_ = std::move(other.path_);
    own_rice_ = other.own_rice_;
    checked_hdus_ = other.checked_hdus_;
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
  FitsFile file(fptr, path);
  // CFITSIO has parsed the primary header already; an image's header asks
  // for no allocation, so checking it now is in time.
  CURATOR_ASSIGN_OR_RETURN(const bool checked, file.CheckHeaderAt(0, 1));
  if (checked) file.checked_hdus_ = 1;
  return file;
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
  FitsFile file(fptr, path);
  file.checked_hdus_ = std::numeric_limits<int>::max();  // what it writes
  return file;
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
  // Walked here, not by CFITSIO, so that each HDU is checked before it is
  // parsed.
  // As CFITSIO counts: the HDUs whose headers are there, whatever follows
  // the last (MoveToNextHdu reports a cut or junk there).
  const int here = CurrentHdu();
  absl::StatusOr<Step> step = Step{Step::kMoved};
  while (step.ok() && step->kind == Step::kMoved) step = StepToNextHdu();
  const int n = CurrentHdu();
  absl::Status back = MoveToHdu(here);
  if (!step.ok()) return step.status();
  CURATOR_RETURN_IF_ERROR(back);
  return n;
}

int FitsFile::CurrentHdu() const {
  int hdu = 0;
  if (handle_ != nullptr) fits_get_hdu_num(F(handle_), &hdu);
  return hdu;
}

absl::Status FitsFile::MoveToHdu(int hdu_number) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  if (hdu_number > checked_hdus_ && hdu_number > CurrentHdu()) {
    // One HDU at a time from the last one checked, each checked before
    // CFITSIO parses it.
    if (CurrentHdu() < checked_hdus_) CURATOR_RETURN_IF_ERROR(MoveToHdu(checked_hdus_));
    while (CurrentHdu() < hdu_number) {
      CURATOR_ASSIGN_OR_RETURN(const bool more, MoveToNextHdu());
      if (!more) {
        return absl::NotFoundError(absl::StrCat(path_, ": moving to HDU ", hdu_number,
                                                ": the file has only ", CurrentHdu(), " HDUs"));
      }
    }
    return absl::OkStatus();
  }
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
  const int64_t size = FileBytes();
  if (size < end) {
    return absl::DataLossError(absl::StrCat(Where(), ": truncated: the file has ", size,
                                            " bytes but this HDU's data ends at byte ", end));
  }
  return absl::OkStatus();
}

int64_t FitsFile::FileBytes() const {
  return handle_ == nullptr ? 0 : static_cast<int64_t>(F(handle_)->Fptr->logfilesize);
}

absl::StatusOr<FitsFile::Step> FitsFile::StepToNextHdu() {
  CURATOR_ASSIGN_OR_RETURN(const int64_t data_end, CurrentHduDataEnd());
  LONGLONG head = 0, data = 0, next = 0;
  int status = 0;
  fits_get_hduaddrll(F(handle_), &head, &data, &next, &status);
  if (status != 0) return Error(status, "reading HDU address");
  const int from = CurrentHdu();
  bool checked = from + 1 <= checked_hdus_;
  if (!checked) {
    CURATOR_ASSIGN_OR_RETURN(checked, CheckHeaderAt(next, from + 1));
  }
  fits_movrel_hdu(F(handle_), 1, nullptr, &status);
  if (status == 0) {
    if (checked) checked_hdus_ = std::max(checked_hdus_, from + 1);
    return Step{Step::kMoved};
  }
  if (status != END_OF_FILE && status != READ_ERROR) {
    return Error(status, absl::StrCat("moving to HDU ", from + 1));
  }
  // The file ends here. Complete if it holds the data, padded to a block
  // or not (CFITSIO's next-HDU offset can lie past the padding: it counts
  // a THEAP gap twice).
  const int64_t size = FileBytes();
  const int64_t padded = std::max<int64_t>(next, (data_end + 2879) / 2880 * 2880);
  if (size >= data_end && size <= padded) return Step{Step::kEnd};
  return Step{size < data_end ? Step::kTruncated : Step::kJunk, from, size, data_end, padded};
}

absl::StatusOr<bool> FitsFile::MoveToNextHdu() {
  CURATOR_ASSIGN_OR_RETURN(const Step step, StepToNextHdu());
  switch (step.kind) {
    case Step::kMoved: return true;
    case Step::kEnd: return false;
    case Step::kTruncated:
      return absl::DataLossError(absl::StrCat(path_, ": truncated: the file has ", step.size,
                                              " bytes but HDU ", step.from,
                                              "'s data ends at byte ", step.data_end));
    case Step::kJunk: break;
  }
  return absl::DataLossError(absl::StrCat(path_, ": truncated or damaged: the ",
                                          step.size - step.padded_end, " bytes after HDU ",
                                          step.from,
                                          " are not a whole HDU (a file cut inside a header)"));
}

absl::Status FitsFile::MoveToExtName(absl::string_view extname) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  // What fits_movnam_hdu matches, walked here so that each HDU is checked
  // before CFITSIO parses it.
  const int here = CurrentHdu();
  CURATOR_RETURN_IF_ERROR(MoveToHdu(1));
  while (true) {
    for (const char* key : {"EXTNAME", "HDUNAME"}) {
      char value[FLEN_VALUE] = {0};
      int s = 0;
      fits_read_key(F(handle_), TSTRING, key, value, nullptr, &s);
      if (s == 0 && absl::EqualsIgnoreCase(absl::StripTrailingAsciiWhitespace(value), extname)) {
        return absl::OkStatus();
      }
    }
    absl::StatusOr<bool> more = MoveToNextHdu();
    if (!more.ok() || !*more) {
      absl::Status back = MoveToHdu(here);
      if (!more.ok()) {
        return Annotate(more.status(), absl::StrCat("looking for EXTNAME '", extname, "'"));
      }
      CURATOR_RETURN_IF_ERROR(back);
      return absl::NotFoundError(absl::StrCat(path_, ": no HDU with EXTNAME '", extname, "'"));
    }
  }
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
  // The data as the header declares them (FITS 4.0, sections 4.4.1 and
  // 7.3): |BITPIX| / 8 x GCOUNT x (PCOUNT + NAXIS1 x ... x NAXISn), random
  // groups without NAXIS1, tables NAXIS1 x NAXIS2 + PCOUNT. The header's
  // check (CheckHeaderStructure) keeps this from overflowing.
  const auto key = [this](const char* name, LONGLONG fallback) {
    LONGLONG v = fallback;
    int s = 0;
    fits_read_key(F(handle_), TLONGLONG, name, &v, nullptr, &s);
    return s == 0 ? v : fallback;
  };
  const LONGLONG bitpix = key("BITPIX", 8), naxis = key("NAXIS", 0);
  int groups = 0, s = 0;
  fits_read_key(F(handle_), TLOGICAL, "GROUPS", &groups, nullptr, &s);
  LONGLONG values = naxis == 0 ? 0 : (s == 0 && groups) ? 1 : key("NAXIS1", 0);
  for (LONGLONG i = 2; i <= naxis; ++i) values *= key(absl::StrCat("NAXIS", i).c_str(), 0);
  const LONGLONG bytes = std::abs(bitpix) / 8 * key("GCOUNT", 1) * (key("PCOUNT", 0) + values);
  return static_cast<int64_t>(data + bytes);
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
  fits_get_img_type(F(handle_), &info.bitpix, &status);
  fits_get_img_dim(F(handle_), &naxis, &status);
  if (status != 0) return Error(status, "reading image parameters");
  if (naxis < 0 || naxis > kMaxAxes) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(), ": NAXIS = ", naxis, ", expected 0..", kMaxAxes));
  }
  std::vector<LONGLONG> naxes(static_cast<size_t>(naxis));
  if (naxis > 0) fits_get_img_sizell(F(handle_), naxis, naxes.data(), &status);
  if (status != 0) return Error(status, "reading image parameters");
  fits_get_img_equivtype(F(handle_), &info.equivalent_bitpix, &status);
  if (status != 0) return Error(status, "reading image type");
  info.axes.assign(naxes.begin(), naxes.end());
  info.tile_compressed = fits_is_compressed_image(F(handle_), &status) != 0;
  // CFITSIO takes any ZBITPIX; every size is checked again here for the
  // callers that allocate from it (CU2's pixel buffers).
  CURATOR_RETURN_IF_ERROR(internal::CheckImageSize(Where(), info.tile_compressed ? "Z" : "",
                                                   info.bitpix, info.axes));
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
  if (info.tile_compressed) CURATOR_RETURN_IF_ERROR(CheckTileDescriptors());
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
  if (own_rice_) {
    CURATOR_ASSIGN_OR_RETURN(bool done, ReadRiceRows(first_row, num_rows, out));
    if (done) return absl::OkStatus();
  }
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
  LONGLONG n = 0, width = 0, pcount = 0;
  int status = 0;
  fits_get_num_rowsll(F(handle_), &n, &status);
  if (status != 0) return Error(status, "reading row count");
  fits_read_key(F(handle_), TLONGLONG, "NAXIS1", &width, nullptr, &status);
  if (status != 0) return Error(status, "keyword 'NAXIS1'");
  int s = 0;
  fits_read_key(F(handle_), TLONGLONG, "PCOUNT", &pcount, nullptr, &s);
  // The rows and heap must be in the file (CheckHeaderStructure has kept
  // this sum far from overflow).
  LONGLONG head = 0, data = 0, end = 0;
  fits_get_hduaddrll(F(handle_), &head, &data, &end, &status);
  if (status != 0) return Error(status, "reading HDU address");
  // The file's size as CFITSIO sees it (decompressed, for a .gz).
  const LONGLONG size = F(handle_)->Fptr->logfilesize;
  if (data + width * n + pcount > size) {
    return absl::DataLossError(absl::StrCat(
        Where(), ": truncated: NAXIS1 x NAXIS2 + PCOUNT = ", width, " x ", n, " + ", pcount,
        " bytes of table, but the file holds ", std::max<LONGLONG>(0, size - data),
        " after the header"));
  }
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

}  // namespace curator::fits
