#include "common/jpeg.h"

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

absl::StatusOr<std::string> EncodeGray(const uint8_t* pixels, int width, int height,
                                       int quality) {
  tjhandle tj = Compressor();
  if (tj == nullptr) return absl::InternalError("TurboJPEG: cannot create a compressor");
  if (width <= 0 || height <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG of ", width, " x ", height, " pixels"));
  }
  // A buffer of the worst-case size up front: TurboJPEG never reallocates.
  unsigned long size = tjBufSize(width, height, TJSAMP_GRAY);
  unsigned char* out = tjAlloc(static_cast<int>(size));
  if (out == nullptr) return absl::ResourceExhaustedError("TurboJPEG: out of memory");
  if (tjCompress2(tj, pixels, width, 0, height, TJPF_GRAY, &out, &size, TJSAMP_GRAY, quality,
                  TJFLAG_FASTDCT | TJFLAG_NOREALLOC) != 0) {
    std::string message = tjGetErrorStr2(tj);
    if (out != nullptr) tjFree(out);
    return absl::InternalError(absl::StrCat("TurboJPEG: ", message));
  }
  std::string jpeg(reinterpret_cast<char*>(out), size);
  tjFree(out);
  return jpeg;
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
