// FitsFile: writing images, tables and keywords.
#include <fitsio.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "fits/fits.h"
#include "fits/fits_internal.h"
#include "base/status.h"

namespace curator::fits {

using internal::F;
using internal::RoundTripDigits;

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
absl::Status FitsFile::WriteColumn(int column, int64_t first_row, int64_t count,
                                   const int64_t* data) {
  return WriteColumnImpl(column, first_row, count, data, TLONGLONG);
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
  // CFITSIO stamps both comments with the current time (and so does
  // fits_update_chksum), which would make the same input give different
  // bytes. Fix the comments, then compute CHECKSUM ourselves the way the
  // FITS checksum convention does: with the value zeroed, encode the
  // complement of the HDU's sum so that the whole HDU sums to -0.
  // fits_write_chksum has summed the data once; that is not repeated.
  fits_modify_comment(F(handle_), "CHECKSUM", "HDU checksum", &status);
  fits_modify_comment(F(handle_), "DATASUM", "data unit checksum", &status);
  char zero[] = "0000000000000000";
  fits_modify_key_str(F(handle_), "CHECKSUM", zero, "&", &status);
  // DATASUM is already right; only the header is summed again (what
  // fits_update_chksum does, without its time stamp).
  char datasum[FLEN_VALUE] = {};
  fits_read_key_str(F(handle_), "DATASUM", datasum, nullptr, &status);
  unsigned long hdusum = std::strtoul(datasum, nullptr, 10);
  LONGLONG head = 0, data = 0, end = 0;
  fits_get_hduaddrll(F(handle_), &head, &data, &end, &status);
  ffmbyt(F(handle_), head, /*REPORT_EOF=*/0, &status);
  ffcsum(F(handle_), static_cast<long>((data - head) / 2880), &hdusum, &status);
  char ascii[17] = {};
  fits_encode_chksum(hdusum, /*complm=*/1, ascii);
  fits_modify_key_str(F(handle_), "CHECKSUM", ascii, "&", &status);
  if (status != 0) return Error(status, "writing CHECKSUM");
  return absl::OkStatus();
}

}  // namespace curator::fits
