// Limits on the sizes a FITS header states. A header is untrusted input:
// FitsFile checks every size it reads from one against these before it,
// CFITSIO or a caller allocates or computes anything from it, so a damaged
// or hostile file gets an error naming the keyword and its value (see
// fits.h for the codes), never an allocation failure, an overflow or an
// abort. Callers that size buffers from a header (CU2's pixels, CU4's
// rows, the Rice decoder's tiles) rely on these bounds.
#ifndef CURATOR_FITS_LIMITS_H_
#define CURATOR_FITS_LIMITS_H_

#include <cstdint>

namespace curator::fits {

// NAXIS and ZNAXIS: at most 999 axes (FITS 4.0, section 4.4.1.1).
inline constexpr int kMaxAxes = 999;

// TFIELDS: at most 999 columns (FITS 4.0, section 7.3.1). CFITSIO does not
// enforce it (ffgttb compares where it means to assign): it allocates a
// column descriptor per field before it notices the TFORMs are missing,
// 15 GB and half a minute for TFIELDS = 100000000.
inline constexpr int kMaxColumns = 999;

// Pixels in one image HDU, NAXIS1 x NAXIS2 x ... (ZNAXISn for a
// tile-compressed image): 2^28 = 16384 x 16384. An image is read whole
// into one buffer, as float (4 bytes a pixel) or as its stored int32, so
// this keeps that buffer within 1 GiB per worker thread. WFCAM and VISTA
// detectors are 2048 x 2048 (2^22), the largest detectors and survey
// stacks in use a few times 10^8 at most.
inline constexpr int64_t kMaxImagePixels = int64_t{1} << 28;

// The length of one axis of an image that has pixels (NAXISn, ZNAXISn):
// 2^24 = 16777216, longer than any detector, mosaic or spectrum Curator
// reads and 256 times what one JPEG side can hold. An image with no pixels
// may state any axes (AIPS UV data: NAXIS1 = 777777701, NAXIS2 = 0).
inline constexpr int64_t kMaxAxisLength = int64_t{1} << 24;

// Pixels in one compression tile, ZTILE1 x ZTILE2 x ...: CFITSIO
// allocates a buffer of that many pixels (from the ZTILEn as written, even
// past the image's edge) for every tile it decompresses, and so does the
// own Rice decoder. A tile is never larger than its image: the image's
// limit.
inline constexpr int64_t kMaxTilePixels = kMaxImagePixels;

// Bytes in one binary-table row (NAXIS1): 2^26 = 64 MiB. Tables are read a
// chunk of whole rows at a time, at least one row. CASU rows are 320
// bytes; the widest rows met in catalogues, Source Extractor's one-row
// copies of an image header (LDAC_IMHEAD), are tens of KB.
inline constexpr int64_t kMaxRowBytes = int64_t{1} << 26;

// The table and heap of a tile-compressed image (NAXIS1 x NAXIS2 +
// PCOUNT), which the own Rice decoder reads into memory in one piece:
// 2^31 = 2 GiB, twice the int32 pixels of the largest image allowed
// (kMaxImagePixels x 4 bytes); Rice coding expands incompressible data by a
// few bits a block at most.
inline constexpr int64_t kMaxCompressedBytes = int64_t{1} << 31;

// The Rice block size (the ZVALn of ZNAMEn = 'BLOCKSIZE'): CFITSIO and
// fpack write 32 (16 for some 16-bit data). A block allocates nothing, so
// any size decodes; the bound keeps a damaged value an int far from
// overflow where a block's end is computed: 65536, 2048 times the usual.
inline constexpr int kMaxRiceBlockSize = 1 << 16;

}  // namespace curator::fits

#endif  // CURATOR_FITS_LIMITS_H_
