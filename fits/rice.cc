#include "fits/rice.h"

#include <algorithm>
#include <bit>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "base/cpu.h"

namespace curator::fits {
namespace {

// The bit stream, most significant bit first, through a 64-bit register:
// `buf` holds `avail` unread bits, left-aligned; the bits below them are
// the stream's next bits or zeros, never anything else. Refill
// tops it up to 56..63 bits with one unaligned 8-byte load and no branch
// (F. Giesen's "variant 4"), so decoding a pixel is a few register
// operations, not a load per field.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t bytes)
      : base_(data), next_(data), stop_(data + bytes + 8), limit_(bytes * 8) {}

  void Refill() {
    uint64_t w;
    __builtin_memcpy(&w, next_, sizeof w);
    buf_ |= __builtin_bswap64(w) >> avail_;
    next_ += (63 - avail_) >> 3;
    avail_ |= 56;
  }
  // Refill, and whether the next refill's load stays inside the padding
  // (kRicePadding). When it would not, more bits have been taken than
  // the stream has (Overrun() holds): checked per refill, not per pixel.
  bool RefillInside() {
    Refill();
    return next_ <= stop_;
  }
  // `bits` (1..32) bits; needs avail() >= bits.
  uint32_t Take(unsigned bits) {
    const uint32_t v = static_cast<uint32_t>(buf_ >> (64 - bits));
    buf_ <<= bits;
    avail_ -= bits;
    return v;
  }
  // `bits` (0..32) bits, 0 for none; needs avail() >= bits.
  uint32_t TakeUpTo32(unsigned bits) {
    const uint32_t v = static_cast<uint32_t>(buf_ >> (63 - bits) >> 1);
    buf_ <<= bits;
    avail_ -= bits;
    return v;
  }
  // One Rice code, when it is all buffered (the common case): `fs` low
  // bits after a unary high part; false, having taken nothing, if not.
  // The next code's position is one shift by the whole length, so the
  // chain from one pixel to the next is count zeros, add, shift.
  bool TakeCode(unsigned fs, uint32_t* high, uint32_t* low) {
    const unsigned z = static_cast<unsigned>(std::countl_zero(buf_));  // 64 if empty
    const unsigned length = z + 1 + fs;
    if (length > avail_) return false;
    const uint64_t rest = buf_ << z << 1;  // z < avail_ <= 63
    *high = z;
    *low = static_cast<uint32_t>(rest >> 1 >> (63 - fs));  // 0 when fs is 0
    buf_ <<= length;
    avail_ -= length;
    return true;
  }
  // The number of 0 bits before the next 1 bit, which is consumed too;
  // false if the stream ends first.
  bool TakeUnary(uint32_t* zeros) {
    uint32_t n = 0;
    while (true) {
      // "| 1": defined for an empty buffer; the lowest bit is never
      // among the avail_ <= 63 buffered ones.
      const unsigned z = static_cast<unsigned>(__builtin_clzll(buf_ | 1));
      if (z < avail_) {
        buf_ <<= z;
        buf_ <<= 1;
        avail_ -= z + 1;
        *zeros = n + z;
        return true;
      }
      // Every buffered bit is 0: a run longer than the buffer, rare.
      n += avail_;
      buf_ = 0;
      avail_ = 0;
      if (Overrun()) return false;
      Refill();
    }
  }
  unsigned avail() const { return avail_; }
  // Whether more bits were taken than the stream has.
  bool Overrun() const {
    return static_cast<size_t>(next_ - base_) * 8 - avail_ > limit_;
  }

 private:
  const uint8_t* const base_;
  const uint8_t* next_;
  const uint8_t* const stop_;
  const size_t limit_;
  uint64_t buf_ = 0;
  unsigned avail_ = 0;
};

// Undoes the mapping of differences to unsigned values: even -> d/2,
// odd -> ~(d/2), i.e. zigzag decoding.
inline uint32_t Unmap(uint32_t d) { return (d >> 1) ^ (0u - (d & 1)); }

template <int kBytePix>
[[gnu::always_inline]] inline absl::Status Decode(const uint8_t* in, size_t in_bytes,
                                                  int blocksize, int64_t count, int32_t* out) {
  constexpr unsigned kFsBits = kBytePix == 1 ? 3 : kBytePix == 2 ? 4 : 5;
  constexpr int kFsMax = kBytePix == 1 ? 6 : kBytePix == 2 ? 14 : 25;
  constexpr unsigned kRawBits = 8 * kBytePix;
  // Values wrap at the pixel width, as CFITSIO's unsigned arrays do.
  const auto store = [](uint32_t v) -> int32_t {
    if constexpr (kBytePix == 1) return static_cast<uint8_t>(v);
    if constexpr (kBytePix == 2) return static_cast<int16_t>(static_cast<uint16_t>(v));
    return static_cast<int32_t>(v);
  };
  if (in_bytes < static_cast<size_t>(kBytePix)) {
    return absl::DataLossError(absl::StrCat("Rice tile of ", in_bytes, " bytes: too short"));
  }
  uint32_t last = 0;
  for (int k = 0; k < kBytePix; ++k) last = (last << 8) | in[k];
  BitReader bits(in + kBytePix, in_bytes - kBytePix);
  const auto ends_early = [&](int64_t i) {
    return absl::DataLossError(absl::StrCat("Rice stream of ", in_bytes,
                                            " bytes ends before pixel ", i, " of ", count));
  };
  for (int64_t i = 0; i < count;) {
    if (!bits.RefillInside()) return ends_early(i);
    const int fs = static_cast<int>(bits.Take(kFsBits)) - 1;
    const int64_t end = std::min<int64_t>(i + blocksize, count);
    if (fs < 0) {  // every difference zero
      const int32_t v = store(last);
      for (; i < end; ++i) out[i] = v;
    } else if (fs == kFsMax) {  // raw differences
      for (; i < end; ++i) {
        bits.Refill();
        last += Unmap(bits.Take(kRawBits));
        out[i] = store(last);
        if (bits.Overrun()) break;
      }
    } else if (fs > kFsMax) {
      return absl::DataLossError(absl::StrCat("Rice block at pixel ", i, " has split level ",
                                              fs, ", more than the largest, ", kFsMax));
    } else {
      const unsigned ufs = static_cast<unsigned>(fs);
      for (; i < end; ++i) {
        // A refill per pixel would put its load in the chain from one
        // pixel's length to the next; most pixels need well under 32 bits.
        // Loads happen only at refills: checked there, not per pixel.
        if (bits.avail() < 32) {
          if (bits.Overrun()) break;
          bits.Refill();
        }
        uint32_t high, low;
        if (!bits.TakeCode(ufs, &high, &low)) {  // a long code: in two steps
          if (!bits.TakeUnary(&high)) break;
          if (bits.avail() < ufs) {
            if (bits.Overrun()) break;
            bits.Refill();
          }
          low = bits.TakeUpTo32(ufs);
        }
        last += Unmap((high << ufs) | low);
        out[i] = store(last);
      }
    }
    if (bits.Overrun()) return ends_early(i);
  }
  return absl::OkStatus();
}

// Decode<kBytePix> for the CPU at hand (base/cpu.h): the x86-64-v3
// build uses lzcnt and shlx.
template <int kBytePix>
CURATOR_TARGET_X86_64_V3 absl::Status DecodeV3(const uint8_t* in, size_t in_bytes, int blocksize,
                                               int64_t count, int32_t* out) {
  return Decode<kBytePix>(in, in_bytes, blocksize, count, out);
}
template <int kBytePix>
absl::Status DecodeBaseline(const uint8_t* in, size_t in_bytes, int blocksize, int64_t count,
                            int32_t* out) {
  return Decode<kBytePix>(in, in_bytes, blocksize, count, out);
}
template <int kBytePix>
absl::Status DecodeHere(const uint8_t* in, size_t in_bytes, int blocksize, int64_t count,
                        int32_t* out) {
  return cpu::UseX86_64V3() ? DecodeV3<kBytePix>(in, in_bytes, blocksize, count, out)
                            : DecodeBaseline<kBytePix>(in, in_bytes, blocksize, count, out);
}

}  // namespace

absl::Status RiceDecode(const uint8_t* in, size_t in_bytes, int bytepix, int blocksize,
                        int64_t count, int32_t* out) {
  if (blocksize < 1 || count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Rice block size ", blocksize, " or pixel count ", count, " is invalid"));
  }
  switch (bytepix) {
    case 1: return DecodeHere<1>(in, in_bytes, blocksize, count, out);
    case 2: return DecodeHere<2>(in, in_bytes, blocksize, count, out);
    case 4: return DecodeHere<4>(in, in_bytes, blocksize, count, out);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("Rice pixels of ", bytepix, " bytes: expected 1, 2 or 4"));
  }
}

}  // namespace curator::fits
