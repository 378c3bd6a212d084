// Fast deterministic random numbers for the generator. Each (seed, night,
// frame, detector) gets its own stream, so files come out identical
// whatever the thread count or order.
#ifndef CURATOR_SYNTH_RANDOM_H_
#define CURATOR_SYNTH_RANDOM_H_

#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace curator::synth {

// SplitMix64: used to seed and to mix stream keys.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna): small, fast, good statistics.
class Random {
 public:
  // A stream identified by its keys, e.g. {seed, night, frame, detector}.
  explicit Random(std::initializer_list<uint64_t> keys) {
    uint64_t state = 0x5EEDC0DE12345678ULL;
    for (uint64_t k : keys) {
      state ^= k;
      SplitMix64(state);
    }
    for (uint64_t& s : s_) s = SplitMix64(state);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1).
  double Uniform() { return (Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  // Standard normal (Box-Muller; exact, for the few values of the catalogue).
  double Normal() {
    double u = Uniform();
    while (u <= 0) u = Uniform();
    return std::sqrt(-2 * std::log(u)) * std::cos(6.283185307179586 * Uniform());
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

// Standard normal deviates for pixel noise, four per 64-bit draw, from a
// 65536-entry inverse-CDF table: tens of millions of pixels per image make
// Box-Muller the bottleneck, and sky noise needs no tails beyond 4.3 sigma.
class FastNormal {
 public:
  FastNormal();
  // Fills `out` with n deviates from `rng`.
  void Fill(Random& rng, float* out, int64_t n) const;

 private:
  std::array<float, 65536> table_;
};

}  // namespace curator::synth

#endif  // CURATOR_SYNTH_RANDOM_H_
