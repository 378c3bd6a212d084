#include "tests/support/http.h"

#include <httplib.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"

namespace curator::testing {

HttpResult Http(const std::string& method, int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(30);
  httplib::Result r = method == "POST"   ? client.Post(path.c_str(), "{}", "application/json")
                      : method == "PUT"    ? client.Put(path.c_str(), "{}", "application/json")
                      : method == "DELETE" ? client.Delete(path.c_str())
                                           : client.Get(path.c_str());
  HttpResult out;
  if (!r) return out;
  out.status = r->status;
  out.content_type = r->get_header_value("Content-Type");
  out.body = r->body;
  return out;
}

namespace {

uint32_t BigEndian(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

int Paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

}  // namespace

absl::StatusOr<Image> ReadPng(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string data = buffer.str();
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  if (data.size() < 8 || data.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a PNG file"));
  }
  Image image;
  int channels = 0;
  std::string idat;
  for (size_t pos = 8; pos + 12 <= data.size();) {
    const uint32_t length = BigEndian(p + pos);
    const std::string type = data.substr(pos + 4, 4);
    if (pos + 12 + length > data.size()) break;
    const unsigned char* chunk = p + pos + 8;
    if (type == "IHDR") {
      image.width = static_cast<int>(BigEndian(chunk));
      image.height = static_cast<int>(BigEndian(chunk + 4));
      const int depth = chunk[8], colour = chunk[9], interlace = chunk[12];
      channels = colour == 2 ? 3 : colour == 6 ? 4 : 0;
      if (depth != 8 || channels == 0 || interlace != 0) {
        return absl::UnimplementedError(absl::StrCat(path, ": only 8-bit RGB(A) PNGs are read"));
      }
    } else if (type == "IDAT") {
      idat.append(reinterpret_cast<const char*>(chunk), length);
    }
    pos += 12 + length;
  }
  const size_t stride = static_cast<size_t>(image.width) * channels;
  std::vector<unsigned char> raw((stride + 1) * image.height);
  uLongf raw_size = raw.size();
  if (channels == 0 ||
      uncompress(raw.data(), &raw_size, reinterpret_cast<const Bytef*>(idat.data()),
                 idat.size()) != Z_OK ||
      raw_size != raw.size()) {
    return absl::DataLossError(absl::StrCat(path, ": PNG image data does not inflate"));
  }
  std::vector<unsigned char> prev(stride, 0), row(stride);
  image.rgb.reserve(static_cast<size_t>(image.width) * image.height * 3);
  for (int y = 0; y < image.height; ++y) {
    const unsigned char* line = raw.data() + y * (stride + 1);
    const int filter = line[0];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= static_cast<size_t>(channels) ? row[x - channels] : 0;
      const int b = prev[x];
      const int c = x >= static_cast<size_t>(channels) ? prev[x - channels] : 0;
      const int predictor = filter == 1 ? a : filter == 2 ? b : filter == 3 ? (a + b) / 2
                          : filter == 4 ? Paeth(a, b, c) : 0;
      row[x] = static_cast<unsigned char>(line[1 + x] + predictor);
    }
    for (int x = 0; x < image.width; ++x) {
      for (int k = 0; k < 3; ++k) image.rgb.push_back(row[x * channels + k]);
    }
    prev.swap(row);
  }
  return image;
}

int64_t CountPixels(const Image& image, int r, int g, int b, int tolerance) {
  int64_t n = 0;
  for (size_t i = 0; i + 2 < image.rgb.size(); i += 3) {
    if (std::abs(image.rgb[i] - r) <= tolerance && std::abs(image.rgb[i + 1] - g) <= tolerance &&
        std::abs(image.rgb[i + 2] - b) <= tolerance) {
      ++n;
    }
  }
  return n;
}

}  // namespace curator::testing
