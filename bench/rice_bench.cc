// The Rice decoder alone: Curator's (fits/rice.h) against CFITSIO's
// fits_rdecomp on the same tiles, one 2048-pixel row per tile as CFITSIO
// writes them, for sky-like int32 images of a few noise levels (bits per
// pixel printed). Megapixels/s on one core, median of 5, for this CPU's
// build of the decoder and the baseline x86-64 one (base/cpu.h);
// asserts nothing.
//
//   rice_bench
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/time/clock.h"
#include "base/cpu.h"
#include "fits/rice.h"

extern "C" int fits_rcomp(int a[], int nx, unsigned char* c, int clen, int nblock);
extern "C" int fits_rdecomp(unsigned char* c, int clen, unsigned int array[], int nx, int nblock);

int main() {
  constexpr int kWidth = 2048, kRows = 2048;
  for (double sigma : {3.0, 12.0, 50.0, 400.0}) {
    std::mt19937 rng(1);
    std::normal_distribution<double> noise(0, sigma);
    std::vector<std::vector<uint8_t>> tiles;
    size_t bytes = 0;
    std::vector<int> row(kWidth);
    for (int y = 0; y < kRows; ++y) {
      for (int x = 0; x < kWidth; ++x) row[x] = static_cast<int>(1000 + noise(rng));
      std::vector<uint8_t> c(kWidth * 5 + 64);
      const int n = fits_rcomp(row.data(), kWidth, c.data(), static_cast<int>(c.size()), 32);
      c.resize(n + curator::fits::kRicePadding);
      bytes += n;
      tiles.push_back(std::move(c));
    }
    std::vector<int32_t> out(kWidth);
    auto time = [&](auto decode) {
      std::vector<double> mpx;
      for (int run = 0; run < 6; ++run) {
        const absl::Time t0 = absl::Now();
        for (auto& t : tiles) decode(t);
        if (run > 0) mpx.push_back(kWidth * kRows / 1e6 / absl::ToDoubleSeconds(absl::Now() - t0));
      }
      std::sort(mpx.begin(), mpx.end());
      return mpx[mpx.size() / 2];
    };
    const auto decode = [&](std::vector<uint8_t>& t) {
      (void)curator::fits::RiceDecode(t.data(), t.size() - curator::fits::kRicePadding, 4, 32,
                                      kWidth, out.data());
    };
    const double ours = time(decode);
    curator::cpu::ForceBaselineForTesting(true);
    const double baseline = time(decode);
    curator::cpu::ForceBaselineForTesting(false);
    const double theirs = time([&](std::vector<uint8_t>& t) {
      fits_rdecomp(t.data(), static_cast<int>(t.size() - curator::fits::kRicePadding),
                   reinterpret_cast<unsigned int*>(out.data()), kWidth, 32);
    });
    std::printf("Rice int32, noise sigma %5.0f (%.1f bits/pixel): Curator %4.0f Mpx/s (%s; "
                "baseline build %4.0f), CFITSIO %4.0f Mpx/s, ratio %.2fx\n",
                sigma, 8.0 * bytes / (kWidth * kRows), ours,
                curator::cpu::UseX86_64V3() ? "x86-64-v3 build" : "baseline build", baseline,
                theirs, ours / theirs);
  }
  return 0;
}
