// Grayscale JPEG through libjpeg-turbo's TurboJPEG API. Errors carry
// TurboJPEG's message. Thread-safe: each thread keeps its own handle.
#ifndef CURATOR_WORKER_JPEG_H_
#define CURATOR_WORKER_JPEG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace curator::jpeg {

// `pixels`: width x height bytes, row 0 at the top of the picture.
absl::StatusOr<std::string> EncodeGray(const uint8_t* pixels, int width, int height,
                                       int quality);

// Which row of `pixels` is the top of the picture. kBottomFirst is FITS
// order (row 1 at the bottom), flipped for free.
enum class RowOrder { kTopFirst, kBottomFirst };

// The same picture, bit for bit, into `buffer`, which grows to
// TurboJPEG's worst case and is kept for the next call (no allocation or
// page faults per picture). Returns the JPEG: a view into `buffer`. The
// pixels go in as the JPEG's one plane (TurboJPEG's planar input), so
// libjpeg's per-byte gray "colour conversion" copy is skipped.
absl::StatusOr<absl::string_view> EncodeGray(const uint8_t* pixels, int width, int height,
                                             int quality, RowOrder order,
                                             std::vector<uint8_t>& buffer);

struct Info {
  int width = 0;
  int height = 0;
  bool grayscale = false;
};

absl::StatusOr<Info> ReadInfo(absl::string_view jpeg);
// Decodes to 8-bit gray, row 0 at the top.
absl::StatusOr<std::vector<uint8_t>> DecodeGray(absl::string_view jpeg, Info* info);

}  // namespace curator::jpeg

#endif  // CURATOR_WORKER_JPEG_H_
