// A decoder for FITS tile compression's RICE_1 (Pence, White & Seaman
// 2010; CFITSIO's fits_rdecomp, fits_rdecomp_short, fits_rdecomp_byte),
// reading the bit stream 64 bits at a time: blocks of `blocksize` pixel
// differences, each block led by its split level FS (3, 4 or 5 bits for 1,
// 2 or 4 bytes per pixel); FS = 0 codes a block of equal pixels, the
// largest FS a block of raw differences, any other value Rice codes
// (unary high bits, FS low bits). Output equals CFITSIO's bit for bit
// (tests/rice_test.cc); unlike it, a stream that ends early or would read
// past its tile is an error, never a read out of bounds.
#ifndef CURATOR_FITS_RICE_H_
#define CURATOR_FITS_RICE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace curator::fits {

// Readable bytes the caller must provide after a tile's last byte (they
// may belong to the next tile; they are never used as data).
inline constexpr size_t kRicePadding = 32;

// Decodes `count` pixels of one tile from `in` (`in_bytes` bytes, followed
// by kRicePadding readable bytes) into `out`. `bytepix` is 1, 2 or 4:
// 1 gives unsigned bytes (0..255), 2 signed 16-bit, 4 signed 32-bit
// values. DataLoss when the stream is shorter than its pixels need;
// InvalidArgument for bad parameters.
absl::Status RiceDecode(const uint8_t* in, size_t in_bytes, int bytepix, int blocksize,
                        int64_t count, int32_t* out);

}  // namespace curator::fits

#endif  // CURATOR_FITS_RICE_H_
