// The planar, bottom-first encoder against TurboJPEG's ordinary packed
// path (tjCompress2): the same JPEG bytes, so skipping libjpeg's gray copy
// and flipping by a negative stride change nothing in the picture.
#include "worker/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace curator::jpeg {
namespace {

// What tjCompress2 makes of the same packed gray pixels.
std::string PackedReference(const std::vector<uint8_t>& pixels, int w, int h, int quality,
                            bool bottom_up) {
  tjhandle tj = tjInitCompress();
  unsigned char* out = nullptr;
  unsigned long size = 0;
  const int rc = tjCompress2(tj, pixels.data(), w, 0, h, TJPF_GRAY, &out, &size, TJSAMP_GRAY,
                             quality, TJFLAG_FASTDCT | (bottom_up ? TJFLAG_BOTTOMUP : 0));
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(tj);
  std::string jpeg(reinterpret_cast<char*>(out), size);
  tjFree(out);
  tjDestroy(tj);
  return jpeg;
}

// Sky-like noise with a gradient, so every coefficient path is taken.
std::vector<uint8_t> Picture(int w, int h) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0, 12);
  std::vector<uint8_t> px(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float v = 40 + 150.0f * x / w + 40.0f * y / h + noise(rng);
      px[static_cast<size_t>(y) * w + x] = static_cast<uint8_t>(std::clamp(v, 0.0f, 255.0f));
    }
  }
  return px;
}

TEST(JpegTest, PlanarEncodingIsBitForBitTurboJpegsPackedPath) {
  std::vector<uint8_t> buffer;
  // Whole MCUs, and sizes that need padding on both edges.
  for (auto [w, h] : {std::pair{256, 128}, std::pair{101, 37}, std::pair{1, 1}}) {
    const std::vector<uint8_t> px = Picture(w, h);
    for (bool bottom_first : {false, true}) {
      auto jpeg = EncodeGray(px.data(), w, h, 85,
                             bottom_first ? RowOrder::kBottomFirst : RowOrder::kTopFirst, buffer);
      ASSERT_TRUE(jpeg.ok()) << jpeg.status();
      EXPECT_EQ(std::string(*jpeg), PackedReference(px, w, h, 85, bottom_first))
          << w << " x " << h << (bottom_first ? ", bottom first" : ", top first");
      Info info;
      auto decoded = DecodeGray(*jpeg, &info);
      ASSERT_TRUE(decoded.ok()) << decoded.status();
      EXPECT_EQ(info.width, w);
      EXPECT_EQ(info.height, h);
      EXPECT_TRUE(info.grayscale);
      // Bottom first: the picture's top row is the input's last.
      const size_t top = bottom_first ? static_cast<size_t>(h - 1) * w : 0;
      EXPECT_NEAR((*decoded)[0], px[top], 40);
    }
  }
}

TEST(JpegTest, TheBufferIsReusedAndBadSizesAreRefused) {
  std::vector<uint8_t> buffer;
  const std::vector<uint8_t> big = Picture(512, 512), small = Picture(64, 64);
  auto first = EncodeGray(big.data(), 512, 512, 85, RowOrder::kTopFirst, buffer);
  ASSERT_TRUE(first.ok());
  const uint8_t* storage = buffer.data();
  auto second = EncodeGray(small.data(), 64, 64, 85, RowOrder::kTopFirst, buffer);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(buffer.data(), storage) << "a smaller picture should not reallocate";
  EXPECT_EQ(std::string(*second), PackedReference(small, 64, 64, 85, false));
  EXPECT_FALSE(EncodeGray(small.data(), 0, 64, 85, RowOrder::kTopFirst, buffer).ok());
  EXPECT_FALSE(EncodeGray(small.data(), 64, -1, 85, RowOrder::kTopFirst, buffer).ok());
}

}  // namespace
}  // namespace curator::jpeg
