// FitsFile::DecodeRiceTiles and ReadRiceRows: Rice-compressed integer
// images read without CFITSIO's tile decompression. The tile table and
// heap of the HDU are read in one piece through CFITSIO's I/O layer, each tile is decoded by
// fits/rice.h and scaled as CFITSIO scales to float. Anything it does
// not handle (other algorithms, quantised floats, per-tile ZSCALE/ZZERO/
// ZBLANK columns, tiles stored uncompressed, more than 2 axes) is left to
// CFITSIO.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "fits/fits.h"
#include "fits/fits_internal.h"
#include "fits/rice.h"
#include "base/status.h"

// Reads bytes at the current position (fitsio2.h; exported by libcfitsio).
extern "C" int ffgbyt(fitsfile* fptr, LONGLONG nbytes, void* buffer, int* status);

namespace curator::fits {

using internal::F;

namespace {

// Tile values to float, as CFITSIO converts them (in double when scaled);
// `blank` values become NaN. Branch-free, so they vectorise (-O3).
void ToFloat(const int32_t* __restrict src, float* __restrict dst, int64_t n, double scale,
             double zero, bool has_blank, int32_t blank) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const bool scaled = scale != 1.0 || zero != 0.0;
  if (!scaled && !has_blank) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]);
  } else if (!scaled) {
    for (int64_t i = 0; i < n; ++i) {
      const float f = static_cast<float>(src[i]);
      dst[i] = src[i] == blank ? nan : f;
    }
  } else if (!has_blank) {
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i] * scale + zero);
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const float f = static_cast<float>(src[i] * scale + zero);
      dst[i] = src[i] == blank ? nan : f;
    }
  }
}

uint64_t BigEndian(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

absl::StatusOr<bool> FitsFile::DecodeRiceTiles(int64_t first_row, int64_t num_rows,
                                               int32_t* direct,
                                               absl::FunctionRef<void(const RiceTile&)> sink) {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  fitsfile* f = F(handle_);
  int status = 0;
  if (fits_is_compressed_image(f, &status) == 0 || status != 0) return false;
  // The table's header in one read; absent keywords take the convention's
  // defaults.
  CURATOR_ASSIGN_OR_RETURN(Header h, ReadHeader());
  const auto number = [&h](const std::string& key, double fallback) -> absl::StatusOr<double> {
    return h.Has(key) ? h.GetDouble(key) : absl::StatusOr<double>(fallback);
  };
  const auto text = [&h](const std::string& key) {
    return h.Has(key) ? h.GetString(key).value_or("") : std::string();
  };
  if (text("ZCMPTYPE") != "RICE_1") return false;
  CURATOR_ASSIGN_OR_RETURN(ImageInfo info, ImageInfoFromHeader(h));
  if (info.axes.size() != 2 || (info.bitpix != 8 && info.bitpix != 16 && info.bitpix != 32)) {
    return false;
  }
  const int64_t nx = info.axes[0], ny = info.axes[1];
  // Integers where the convention has them: ImageInfoFromHeader has
  // checked the sizes (CheckHeaderStructure), and nothing below converts
  // an unchecked double.
  const auto integer = [&h](const std::string& key,
                            int64_t fallback) -> absl::StatusOr<int64_t> {
    return h.Has(key) ? h.GetInt(key) : absl::StatusOr<int64_t>(fallback);
  };
  CURATOR_ASSIGN_OR_RETURN(const int64_t tx, integer("ZTILE1", nx));
  CURATOR_ASSIGN_OR_RETURN(const int64_t ty, integer("ZTILE2", 1));
  int64_t blocksize = 32;
  int64_t bytepix = info.bitpix / 8;
  for (int n = 1;; ++n) {
    const std::string name = text(absl::StrCat("ZNAME", n));
    if (name.empty()) break;
    absl::StatusOr<int64_t> value = integer(absl::StrCat("ZVAL", n), -1);
    if (!value.ok()) return false;  // not what this decoder knows: CFITSIO's to explain
    if (name == "BLOCKSIZE") {
      blocksize = *value;
    } else if (name == "BYTEPIX") {
      bytepix = *value;
    } else {
      return false;  // a parameter this decoder does not know
    }
  }
  // One column, the compressed tiles: no per-tile scaling, nulls or tiles
  // stored another way.
  if (text("TFIELDS") != "1" || text("TTYPE1") != "COMPRESSED_DATA") return false;
  const std::string tform = text("TFORM1");
  const int descriptor_bytes = absl::StrContains(tform, "PB") ? 8
                               : absl::StrContains(tform, "QB") ? 16
                                                                : 0;
  CURATOR_ASSIGN_OR_RETURN(const double scale, number("BSCALE", 1.0));
  CURATOR_ASSIGN_OR_RETURN(const double zero, number("BZERO", 0.0));
  const char* blank_key = h.Has("ZBLANK") ? "ZBLANK" : h.Has("BLANK") ? "BLANK" : nullptr;
  const bool have_blank = blank_key != nullptr;
  CURATOR_ASSIGN_OR_RETURN(const int64_t blank, integer(have_blank ? blank_key : "BLANK", 0));
  CURATOR_ASSIGN_OR_RETURN(const int64_t row_bytes, integer("NAXIS1", 0));
  CURATOR_ASSIGN_OR_RETURN(const int64_t rows, integer("NAXIS2", 0));
  CURATOR_ASSIGN_OR_RETURN(const int64_t pcount, integer("PCOUNT", 0));
  CURATOR_ASSIGN_OR_RETURN(const int64_t theap, integer("THEAP", row_bytes * rows));
  if (descriptor_bytes == 0 || row_bytes < descriptor_bytes || nx < 1 || ny < 1 || tx < 1 ||
      ty < 1 || blocksize < 1 || blocksize > kMaxRiceBlockSize ||
      (bytepix != 1 && bytepix != 2 && bytepix != 4) || blank < INT32_MIN || blank > INT32_MAX ||
      theap < row_bytes * rows) {
    return false;  // unusual: let CFITSIO read it, or explain it
  }
  if (first_row < 0 || num_rows < 0 || first_row + num_rows > ny) {
    return absl::OutOfRangeError(absl::StrCat(Where(), ": rows ", first_row, "..",
                                              first_row + num_rows, " outside the image's ", ny));
  }
  const int64_t tiles_x = (nx + tx - 1) / tx, tiles_y = (ny + ty - 1) / ty;
  if (rows != tiles_x * tiles_y) {
    return absl::DataLossError(absl::StrCat(Where(), ": the tile table has ", rows,
                                            " rows; ", nx, "x", ny, " pixels in ", tx, "x", ty,
                                            " tiles need ", tiles_x * tiles_y));
  }
  // The table and its heap, read in one piece with room past the end for
  // the decoder's 64-bit window: within the memory limit, and in the file.
  LONGLONG head = 0, data = 0, end = 0;
  fits_get_hduaddrll(f, &head, &data, &end, &status);
  if (status != 0) return Error(status, "locating the compressed tiles");
  const int64_t total = row_bytes * rows + pcount;  // CheckHeaderStructure: no overflow
  if (data + total > f->Fptr->logfilesize) {
    return absl::DataLossError(absl::StrCat(
        Where(), ": truncated: the tile table and heap (NAXIS1 x NAXIS2 + PCOUNT = ", total,
        " bytes) end at byte ", data + total, " but the file has ", f->Fptr->logfilesize));
  }
  if (total > kMaxCompressedBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        Where(), ": NAXIS1 x NAXIS2 + PCOUNT = ", row_bytes, " x ", rows, " + ", pcount, " = ",
        total, " bytes of compressed tiles, more than the limit of ", kMaxCompressedBytes));
  }
  // Reused by the thread's next image: a fresh 10 MB buffer per detector
  // costs page faults and zeroing that show in CU2's profile.
  thread_local std::vector<uint8_t> bytes;
  thread_local std::vector<int32_t> tile;
  bytes.resize(static_cast<size_t>(total) + kRicePadding);
  std::fill(bytes.end() - kRicePadding, bytes.end(), 0);
  ffmbyt(f, data, 0, &status);
  ffgbyt(f, total, bytes.data(), &status);
  if (status != 0) return Error(status, "reading the compressed tiles");

  const int64_t last_row = first_row + num_rows;
  const int32_t blank_value = static_cast<int32_t>(blank);
  // Edge tiles are cut to the image, so no tile holds more than this (and
  // never more than kMaxImagePixels, whatever ZTILEn say).
  tile.resize(static_cast<size_t>(std::min(tx, nx) * std::min(ty, ny)));
  // Whole-row tiles lie in the image as they are: decoded in place.
  const bool in_place = direct != nullptr && tx == nx;
  for (int64_t ty_i = first_row / ty; ty_i * ty < last_row; ++ty_i) {
    for (int64_t tx_i = 0; tx_i < tiles_x; ++tx_i) {
      const int64_t row = ty_i * tiles_x + tx_i;
      const uint8_t* d = bytes.data() + row * row_bytes;
      const int half = descriptor_bytes / 2;
      const int64_t length = static_cast<int64_t>(BigEndian(d, half));
      const int64_t offset = static_cast<int64_t>(BigEndian(d + half, half));
      // Checked so that no sum of untrusted values can overflow.
      if (length < 0 || offset < 0 || offset > total - theap ||
          length > total - theap - offset) {
        return absl::DataLossError(absl::StrCat(Where(), ": tile ", row + 1, " (", length,
                                                " bytes at heap offset ", offset,
                                                ") lies outside the heap"));
      }
      const int64_t x0 = tx_i * tx, y0 = ty_i * ty;
      const int64_t w = std::min(tx, nx - x0), h = std::min(ty, ny - y0);
      // A tile straddling first_row is decoded whole, so not in place.
      int32_t* to = in_place && y0 >= first_row && y0 + h <= last_row
                        ? direct + (y0 - first_row) * nx
                        : tile.data();
      if (absl::Status s = RiceDecode(bytes.data() + theap + offset,
                                      static_cast<size_t>(length), static_cast<int>(bytepix),
                                      static_cast<int>(blocksize), w * h, to);
          !s.ok()) {
        return absl::DataLossError(
            absl::StrCat(Where(), ": tile ", row + 1, " of ", rows, ": ", s.message()));
      }
      sink(RiceTile{to, x0, y0, w, h, nx, ny, scale, zero, have_blank, blank_value});
    }
  }
  return true;
}

absl::StatusOr<bool> FitsFile::ReadRiceRows(int64_t first_row, int64_t num_rows, float* out) {
  const int64_t last_row = first_row + num_rows;
  return DecodeRiceTiles(first_row, num_rows, nullptr, [&](const RiceTile& t) {
    for (int64_t y = std::max(t.y0, first_row); y < std::min(t.y0 + t.h, last_row); ++y) {
      ToFloat(t.pixels + (y - t.y0) * t.w, out + (y - first_row) * t.nx + t.x0, t.w, t.scale,
              t.zero, t.has_blank, t.blank);
    }
  });
}

absl::Status FitsFile::CheckTileDescriptors() {
  CURATOR_RETURN_IF_ERROR(CheckOpen());
  fitsfile* f = F(handle_);
  int status = 0;
  if (fits_is_compressed_image(f, &status) == 0 || status != 0) return absl::OkStatus();
  LONGLONG row_bytes = 0, rows = 0, pcount = 0;
  fits_read_key(f, TLONGLONG, "NAXIS1", &row_bytes, nullptr, &status);
  fits_read_key(f, TLONGLONG, "NAXIS2", &rows, nullptr, &status);
  fits_read_key(f, TLONGLONG, "PCOUNT", &pcount, nullptr, &status);
  if (status != 0) return Error(status, "reading the tile table's size");
  LONGLONG theap = row_bytes * rows;  // CheckHeaderStructure: no overflow
  int s = 0;
  fits_read_key(f, TLONGLONG, "THEAP", &theap, nullptr, &s);
  const int64_t total = row_bytes * rows + pcount, heap = total - theap;
  LONGLONG head = 0, data = 0, end = 0;
  fits_get_hduaddrll(f, &head, &data, &end, &status);
  if (status != 0) return Error(status, "locating the compressed tiles");
  if (data + total > f->Fptr->logfilesize) {
    return absl::DataLossError(absl::StrCat(
        Where(), ": truncated: the tile table and heap (NAXIS1 x NAXIS2 + PCOUNT = ", total,
        " bytes) end at byte ", data + total, " but the file has ", f->Fptr->logfilesize));
  }
  for (const char* name : {"COMPRESSED_DATA", "GZIP_COMPRESSED_DATA", "UNCOMPRESSED_DATA"}) {
    int column = 0;
    s = 0;
    fits_get_colnum(f, CASEINSEN, const_cast<char*>(name), &column, &s);
    if (s != 0) continue;
    int type = 0;
    LONGLONG repeat = 0, width = 0;
    fits_get_coltypell(f, column, &type, &repeat, &width, &status);
    if (status != 0) return Error(status, absl::StrCat("column '", name, "'"));
    if (type >= 0 || width < 1) continue;  // not variable-length arrays
    constexpr int64_t kChunk = 4096;
    std::vector<LONGLONG> lengths(kChunk), offsets(kChunk);
    for (int64_t first = 0; first < rows; first += kChunk) {
      const int64_t n = std::min<int64_t>(kChunk, rows - first);
      fits_read_descriptsll(f, column, first + 1, n, lengths.data(), offsets.data(), &status);
      if (status != 0) return Error(status, absl::StrCat("column '", name, "' descriptors"));
      for (int64_t i = 0; i < n; ++i) {
        const int64_t length = lengths[i], offset = offsets[i];
        if (length < 0 || offset < 0 || offset > heap || length > (heap - offset) / width) {
          return absl::DataLossError(absl::StrCat(
              Where(), ": tile ", first + i + 1, " of ", rows, " (", name, ": ", length,
              " elements of ", width, " bytes at heap offset ", offset,
              ") lies outside the heap of ", heap, " bytes"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace curator::fits
