// HTTP and PNG helpers for tests of the Load Monitor and /metrics: a plain
// HTTP client (cpp-httplib) and a small PNG reader for Chromium's
// screenshots (8-bit RGB or RGBA, not interlaced: what Chromium writes).
#ifndef CURATOR_TESTS_SUPPORT_HTTP_H_
#define CURATOR_TESTS_SUPPORT_HTTP_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace curator::testing {

struct HttpResult {
  int status = 0;  // 0: no answer
  std::string content_type;
  std::string body;
};

// `method` GET, POST, PUT or DELETE of http://host:port`path`.
HttpResult Http(const std::string& method, int port, const std::string& path);

struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
};

absl::StatusOr<Image> ReadPng(const std::string& path);

// Pixels within `tolerance` of (r, g, b) in every channel.
int64_t CountPixels(const Image& image, int r, int g, int b, int tolerance = 8);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_HTTP_H_
