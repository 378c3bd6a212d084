// FitsFile::ReadStored: an image's pixels as stored, for readers that
// convert every pixel once themselves (CU2 scales straight to 8 bits).
// Plain float32 images are read through CFITSIO's I/O layer in chunks
// that stay in cache while their blank pixels are counted; Rice integer
// images are decoded by fits/rice.h into the image's rows.
#include <algorithm>
#include <cstring>
#include <limits>

#include "base/cpu.h"
#include "fits/fits.h"
#include "fits/fits_internal.h"
#include "base/status.h"

// Reads bytes at the current position (fitsio2.h; exported by libcfitsio).
extern "C" int ffgbyt(fitsfile* fptr, LONGLONG nbytes, void* buffer, int* status);

namespace curator::fits {

using internal::F;

namespace {

// Non-finite big-endian floats among `n` words; integer arithmetic, so
// it vectorises. Built twice (base/cpu.h).
[[gnu::always_inline]] inline int64_t CountNonFiniteBody(const uint32_t* words, size_t n) {
  int64_t count = 0;
  // Counted in 32-bit lanes, a block at a time: a 64-bit sum per word
  // made GCC widen every lane (vpmovzxdq), twice the work.
  constexpr size_t kBlock = size_t{1} << 30;
  for (size_t at = 0; at < n; at += kBlock) {
    const size_t end = std::min(n, at + kBlock);
    uint32_t block = 0;
    for (size_t i = at; i < end; ++i) {
      block += StoredImage::NonFiniteBigEndian(words[i]);
    }
    count += block;
  }
  return count;
}
CURATOR_TARGET_X86_64_V3 int64_t CountNonFiniteV3(const uint32_t* words, size_t n) {
  return CountNonFiniteBody(words, n);
}
int64_t CountNonFinite(const uint32_t* words, size_t n) {
  return cpu::UseX86_64V3() ? CountNonFiniteV3(words, n) : CountNonFiniteBody(words, n);
}

}  // namespace

float StoredImage::Value(size_t i) const {
  if (type == Type::kFloat32BigEndian) {
    const uint32_t bits = __builtin_bswap32(words[i]);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    if (scale == 1.0 && zero == 0.0) return f;
    return static_cast<float>(f * scale + zero);
  }
  const int32_t v = static_cast<int32_t>(words[i]);
  if (has_blank && v == blank) return std::numeric_limits<float>::quiet_NaN();
  if (scale == 1.0 && zero == 0.0) return static_cast<float>(v);
  return static_cast<float>(v * scale + zero);
}

absl::StatusOr<bool> FitsFile::ReadStored(StoredImage& image) {
  CURATOR_ASSIGN_OR_RETURN(ImageInfo info, GetImageInfo());
  if (info.axes.size() != 2 || info.axes[0] < 1 || info.axes[1] < 1) return false;
  const int64_t nx = info.axes[0], ny = info.axes[1];
  if (info.tile_compressed) {
    if (!own_rice_) return false;
    image.type = StoredImage::Type::kInt32;
    image.nx = nx;
    image.ny = ny;
    image.blank_pixels = 0;
    image.words.resize(image.size());
    int32_t* rows = reinterpret_cast<int32_t*>(image.words.data());
    CURATOR_ASSIGN_OR_RETURN(
        bool done, DecodeRiceTiles(0, ny, rows, [&](const RiceTile& t) {
          // The image's scaling, the same on every tile.
          image.scale = t.scale;
          image.zero = t.zero;
          image.has_blank = t.has_blank;
          image.blank = t.blank;
          for (int64_t y = 0; y < t.h; ++y) {
            const int32_t* from = t.pixels + y * t.w;
            int32_t* to = rows + (t.y0 + y) * nx + t.x0;
            if (from != to) std::memcpy(to, from, static_cast<size_t>(t.w) * sizeof *to);
            if (t.has_blank) image.blank_pixels += std::count(to, to + t.w, t.blank);
          }
        }));
    return done;
  }
  if (info.bitpix != -32) return false;
  CURATOR_ASSIGN_OR_RETURN(Header h, ReadHeader());
  CURATOR_ASSIGN_OR_RETURN(image.scale, h.Has("BSCALE") ? h.GetDouble("BSCALE")
                                                        : absl::StatusOr<double>(1.0));
  CURATOR_ASSIGN_OR_RETURN(image.zero, h.Has("BZERO") ? h.GetDouble("BZERO")
                                                      : absl::StatusOr<double>(0.0));
  image.type = StoredImage::Type::kFloat32BigEndian;
  image.nx = nx;
  image.ny = ny;
  image.has_blank = false;
  image.blank_pixels = 0;
  image.words.resize(image.size());
  fitsfile* f = F(handle_);
  LONGLONG head = 0, data = 0, end = 0;
  int status = 0;
  fits_get_hduaddrll(f, &head, &data, &end, &status);
  ffmbyt(f, data, /*err_mode=REPORT_EOF*/ 0, &status);
  if (status != 0) return Error(status, "locating the pixels");
  // 512 KB at a time: counted while still in cache, read directly into
  // place (CFITSIO reads large requests without its own buffers).
  constexpr size_t kChunk = 128 * 1024;
  for (size_t at = 0; at < image.size(); at += kChunk) {
    const size_t n = std::min(kChunk, image.size() - at);
    ffgbyt(f, static_cast<LONGLONG>(n * 4), image.words.data() + at, &status);
    if (status != 0) {
      return Error(status, absl::StrCat("reading pixels ", at, "..", at + n, " of ", image.size()));
    }
    image.blank_pixels += CountNonFinite(image.words.data() + at, n);
  }
  return true;
}

}  // namespace curator::fits
