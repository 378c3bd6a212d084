// Grayscale JPEG through libjpeg-turbo's TurboJPEG API. Errors carry
// TurboJPEG's message. Thread-safe: each thread keeps its own handle.
#ifndef CURATOR_COMMON_JPEG_H_
#define CURATOR_COMMON_JPEG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace curator::jpeg {

// `pixels`: width x height bytes, row 0 at the top of the picture.
absl::StatusOr<std::string> EncodeGray(const uint8_t* pixels, int width, int height,
                                       int quality);

struct Info {
  int width = 0;
  int height = 0;
  bool grayscale = false;
};

absl::StatusOr<Info> ReadInfo(absl::string_view jpeg);
// Decodes to 8-bit gray, row 0 at the top.
absl::StatusOr<std::vector<uint8_t>> DecodeGray(absl::string_view jpeg, Info* info);

}  // namespace curator::jpeg

#endif  // CURATOR_COMMON_JPEG_H_
