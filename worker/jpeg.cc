#include "worker/jpeg.h"

#include <turbojpeg.h>

#include "absl/strings/str_cat.h"

namespace curator::jpeg {
namespace {

struct Handle {
  explicit Handle(bool compress) : h(compress ? tjInitCompress() : tjInitDecompress()) {}
  ~Handle() {
    if (h != nullptr) tjDestroy(h);
  }
  tjhandle h;
};

tjhandle Compressor() {
  thread_local Handle handle(true);
  return handle.h;
}

tjhandle Decompressor() {
  thread_local Handle handle(false);
  return handle.h;
}

}  // namespace

absl::StatusOr<absl::string_view> EncodeGray(const uint8_t* pixels, int width, int height,
                                             int quality, RowOrder order,
                                             std::vector<uint8_t>& buffer) {
  tjhandle tj = Compressor();
  if (tj == nullptr) return absl::InternalError("TurboJPEG: cannot create a compressor");
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG of ", width, " x ", height, " pixels"));
  }
  const unsigned long worst = tjBufSize(width, height, TJSAMP_GRAY);
  if (worst == static_cast<unsigned long>(-1)) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG of ", width, " x ", height, " pixels"));
  }
  if (buffer.size() < worst) buffer.resize(worst);
  unsigned char* out = buffer.data();
  unsigned long size = worst;
  // Bottom first: start at the last row and step back, a negative stride.
  const unsigned char* plane =
      order == RowOrder::kTopFirst ? pixels : pixels + static_cast<size_t>(height - 1) * width;
  const int stride = order == RowOrder::kTopFirst ? width : -width;
  if (tjCompressFromYUVPlanes(tj, &plane, width, &stride, height, TJSAMP_GRAY, &out, &size,
                              quality, TJFLAG_FASTDCT | TJFLAG_NOREALLOC) != 0) {
    return absl::InternalError(absl::StrCat("TurboJPEG: ", tjGetErrorStr2(tj)));
  }
  return absl::string_view(reinterpret_cast<const char*>(out), size);
}

absl::StatusOr<std::string> EncodeGray(const uint8_t* pixels, int width, int height,
                                       int quality) {
  thread_local std::vector<uint8_t> buffer;
  absl::StatusOr<absl::string_view> jpeg =
      EncodeGray(pixels, width, height, quality, RowOrder::kTopFirst, buffer);
  if (!jpeg.ok()) return jpeg.status();
  return std::string(*jpeg);
}

absl::StatusOr<Info> ReadInfo(absl::string_view data) {
  tjhandle tj = Decompressor();
  int w = 0, h = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj, reinterpret_cast<const unsigned char*>(data.data()), data.size(), &w,
                          &h, &subsampling, &colorspace) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("not a JPEG: ", tjGetErrorStr2(tj)));
  }
  return Info{w, h, colorspace == TJCS_GRAY};
}

absl::StatusOr<std::vector<uint8_t>> DecodeGray(absl::string_view data, Info* info) {
  absl::StatusOr<Info> i = ReadInfo(data);
  if (!i.ok()) return i.status();
  std::vector<uint8_t> pixels(static_cast<size_t>(i->width) * i->height);
  tjhandle tj = Decompressor();
  if (tjDecompress2(tj, reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                    pixels.data(), i->width, 0, i->height, TJPF_GRAY, 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG decoding: ", tjGetErrorStr2(tj)));
  }
  if (info != nullptr) *info = *i;
  return pixels;
}

}  // namespace curator::jpeg
