#include "worker/cu2_task.h"

#include <fcntl.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "archive/layout.h"
#include "archive/paths.h"
#include "base/cpu.h"
#include "base/crc32c.h"
#include "base/files.h"
#include "fits/fits.h"
#include "worker/jpeg.h"
#include "base/status.h"
#include "worker/batch_writer.h"

namespace curator::worker {
namespace {

namespace fs = std::filesystem;

// Previews go into the batch (BatchWriter::AddAsset), whose own thread
// syncs them while the next is made; the batch is published only when
// all of them are durable, so a preview is there whole or not at all.

// A detector's preview: "<stem>_<hdu>.jpg". A stem long enough to make
// that too long a name (file names end at 255 bytes, and the ingest adds
// a suffix while it publishes) is cut at a character boundary and keeps a
// digest of the whole, so two such files never share a preview.
std::string PreviewName(const std::string& stem, int hdu) {
  constexpr size_t kMaxStem = 180;
  std::string kept = stem;
  if (kept.size() > kMaxStem) {
    size_t cut = kMaxStem;
    while (cut > 0 && (static_cast<unsigned char>(kept[cut]) & 0xC0) == 0x80) --cut;
    kept = absl::StrFormat("%s~%08x", kept.substr(0, cut), Crc32c(0, stem.data(), stem.size()));
  }
  return absl::StrCat(kept, "_", hdu, ".jpg");
}

std::string Stem(const std::string& file_name) {
  for (const char* suffix : {".fits", ".fit"}) {
    const std::string s(suffix);
    if (file_name.size() > s.size() && file_name.compare(file_name.size() - s.size(), s.size(), s) == 0) {
      return file_name.substr(0, file_name.size() - s.size());
    }
  }
  return file_name;
}

// One row to 8 bits. __restrict: the byte stores cannot touch the
// floats, so the loop vectorises.
void ScaleRow(const float* __restrict in, uint8_t* __restrict out, int n, float scale,
              float bias) {
  for (int x = 0; x < n; ++x) {
    float s = in[x] * scale + bias;
    s = s > 0.0f ? s : 0.0f;
    s = s < 255.0f ? s : 255.0f;
    out[x] = static_cast<uint8_t>(static_cast<int32_t>(s));
  }
}

// Big-endian IEEE floats to 8 bits: s = f * a + b, NaN to 0 (it fails
// "s > 0"). Swapped in registers, so the file's bytes are read once.
[[gnu::always_inline]] inline void ScaleBigEndianRowBody(const uint32_t* __restrict in,
                                                         uint8_t* __restrict out, int64_t n,
                                                         float a, float b) {
  for (int64_t x = 0; x < n; ++x) {
    const uint32_t bits = __builtin_bswap32(in[x]);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    float s = f * a + b;
    s = s > 0.0f ? s : 0.0f;
    s = s < 255.0f ? s : 255.0f;
    out[x] = static_cast<uint8_t>(static_cast<int32_t>(s));
  }
}

// Integers to 8 bits: clamped to [vmin, vmax] first (the stored values
// of the display limits), so v - vmin is small and exact and 32-bit
// values far from zero (unsigned data with BZERO = 2^31) keep every grey
// level; s = (v - vmin) * a + b. Blank pixels are black.
template <bool kHasBlank>
[[gnu::always_inline]] inline void ScaleIntRowBody(const int32_t* __restrict in,
                                                   uint8_t* __restrict out, int64_t n,
                                                   int32_t vmin, int32_t vmax, float a, float b,
                                                   int32_t blank) {
  for (int64_t x = 0; x < n; ++x) {
    const int32_t v = in[x];
    const int32_t c = v < vmin ? vmin : v > vmax ? vmax : v;
    const int32_t d = static_cast<int32_t>(static_cast<uint32_t>(c) - static_cast<uint32_t>(vmin));
    float s = static_cast<float>(d) * a + b;
    s = s > 0.0f ? s : 0.0f;
    s = s < 255.0f ? s : 255.0f;
    const uint8_t byte = static_cast<uint8_t>(static_cast<int32_t>(s));
    out[x] = kHasBlank && v == blank ? 0 : byte;
  }
}

// Each row loop built twice (base/cpu.h): baseline x86-64 has no byte
// shuffle, and GCC 12 leaves the swap scalar there; the x86-64-v3 build
// vectorises both with AVX2.
using BigEndianRowFn = void (*)(const uint32_t*, uint8_t*, int64_t, float, float);
using IntRowFn = void (*)(const int32_t*, uint8_t*, int64_t, int32_t, int32_t, float, float,
                          int32_t);
#if defined(__x86_64__)
// AVX2 by hand, 32 pixels at a time, for the x86-64-v3 build: GCC 12
// vectorises the loops above with compares, blends and spills for the
// clamps, where maxps and minps do (NaN to 0 as there: maxps gives its
// second operand for NaN). The same operations in the same order (no
// fused multiply-add, -ffp-contract=off), so the same bytes. Eight
// pixels' 0..255 as int32 come from `eight`; `Pack32` stores 32 of them.
CURATOR_TARGET_X86_64_V3 inline void Pack32(__m256i p0, __m256i p1, __m256i p2,
                                            __m256i p3, uint8_t* out) {
  // The packs work within 128-bit lanes: dwords 0, 4, 1, 5, ... in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i bytes = _mm256_packus_epi16(_mm256_packs_epi32(p0, p1),
                                            _mm256_packs_epi32(p2, p3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out),
                      _mm256_permutevar8x32_epi32(bytes, order));
}
#endif

CURATOR_TARGET_X86_64_V3 void ScaleBigEndianRowV3(const uint32_t* in, uint8_t* out, int64_t n,
                                                  float a, float b) {
  int64_t x = 0;
#if defined(__x86_64__)
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  const __m256 black = _mm256_setzero_ps(), white = _mm256_set1_ps(255.0f);
  const __m256i swap =
      _mm256_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12, 3,
                       2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
  const auto eight = [&](const uint32_t* p) CURATOR_TARGET_X86_64_V3 {
    const __m256i w = _mm256_shuffle_epi8(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)), swap);
    const __m256 s =
        _mm256_add_ps(_mm256_mul_ps(_mm256_castsi256_ps(w), va), vb);
    return _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(s, black), white));
  };
  for (; x + 32 <= n; x += 32) {
    Pack32(eight(in + x), eight(in + x + 8), eight(in + x + 16),
           eight(in + x + 24), out + x);
  }
#endif
  ScaleBigEndianRowBody(in + x, out + x, n - x, a, b);
}
void ScaleBigEndianRowBaseline(const uint32_t* in, uint8_t* out, int64_t n, float a, float b) {
  int64_t x = 0;
#if defined(__SSE2__)
  // SSE2 by hand, 16 pixels at a time: bytes swapped within 16-bit halves
  // by shifts, then the halves by shuffles. maxps gives its second operand
  // for NaN, so NaN becomes 0 as in the loop above; same operations in the
  // same order, so the same bytes as the other builds.
  const __m128 va = _mm_set1_ps(a), vb = _mm_set1_ps(b);
  const __m128 black = _mm_setzero_ps(), white = _mm_set1_ps(255.0f);
  const auto four = [&](const uint32_t* p) {
    __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    w = _mm_or_si128(_mm_slli_epi16(w, 8), _mm_srli_epi16(w, 8));
    w = _mm_shufflehi_epi16(_mm_shufflelo_epi16(w, 0xB1), 0xB1);
    const __m128 s = _mm_add_ps(_mm_mul_ps(_mm_castsi128_ps(w), va), vb);
    return _mm_cvttps_epi32(_mm_min_ps(_mm_max_ps(s, black), white));
  };
  for (; x + 16 <= n; x += 16) {
    const __m128i low = _mm_packs_epi32(four(in + x), four(in + x + 4));
    const __m128i high = _mm_packs_epi32(four(in + x + 8), four(in + x + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), _mm_packus_epi16(low, high));
  }
#endif
  ScaleBigEndianRowBody(in + x, out + x, n - x, a, b);
}
template <bool kHasBlank>
CURATOR_TARGET_X86_64_V3 void ScaleIntRowV3(const int32_t* in, uint8_t* out, int64_t n,
                                            int32_t vmin, int32_t vmax, float a, float b,
                                            int32_t blank) {
  int64_t x = 0;
#if defined(__x86_64__)
  // As ScaleBigEndianRowV3; the clamp to [vmin, vmax] and v - vmin in
  // int32 lanes wrap as the loop's do, blank pixels zeroed before packing.
  const __m256 va = _mm256_set1_ps(a), vb = _mm256_set1_ps(b);
  const __m256 black = _mm256_setzero_ps(), white = _mm256_set1_ps(255.0f);
  const __m256i lo = _mm256_set1_epi32(vmin), hi = _mm256_set1_epi32(vmax);
  const __m256i blanks = _mm256_set1_epi32(blank);
  const auto eight = [&](const int32_t* p) CURATOR_TARGET_X86_64_V3 {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    const __m256i d =
        _mm256_sub_epi32(_mm256_min_epi32(_mm256_max_epi32(v, lo), hi), lo);
    const __m256 s =
        _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(d), va), vb);
    const __m256i byte =
        _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(s, black), white));
    if constexpr (kHasBlank) {
      return _mm256_andnot_si256(_mm256_cmpeq_epi32(v, blanks), byte);
    }
    return byte;
  };
  for (; x + 32 <= n; x += 32) {
    Pack32(eight(in + x), eight(in + x + 8), eight(in + x + 16),
           eight(in + x + 24), out + x);
  }
#endif
  ScaleIntRowBody<kHasBlank>(in + x, out + x, n - x, vmin, vmax, a, b, blank);
}
template <bool kHasBlank>
void ScaleIntRowBaseline(const int32_t* in, uint8_t* out, int64_t n, int32_t vmin, int32_t vmax,
                         float a, float b, int32_t blank) {
  ScaleIntRowBody<kHasBlank>(in, out, n, vmin, vmax, a, b, blank);
}
BigEndianRowFn BigEndianRowHere() {
  return cpu::UseX86_64V3() ? ScaleBigEndianRowV3 : ScaleBigEndianRowBaseline;
}
IntRowFn IntRowHere(bool has_blank) {
  if (cpu::UseX86_64V3()) return has_blank ? ScaleIntRowV3<true> : ScaleIntRowV3<false>;
  return has_blank ? ScaleIntRowBaseline<true> : ScaleIntRowBaseline<false>;
}

// One pixel to 8 bits the slow, general way: for constant data (mid grey)
// and whatever the row loops above do not take.
uint8_t To8(float v, float scale, float offset) {
  float s = scale == 0 ? (std::isfinite(v) ? 128.0f : 0.0f) : (v - offset) * scale;
  s = s > 0.0f ? s : 0.0f;
  s = s < 255.0f ? s : 255.0f;
  return static_cast<uint8_t>(s + 0.5f);
}

int64_t BinFactor(int64_t nx, int64_t ny, int max_size) {
  return max_size > 0 ? std::max<int64_t>(1, (std::max(nx, ny) + max_size - 1) / max_size) : 1;
}

// Whether MakePreview takes stored pixels with these options: zscale or
// percentiles at full size.
bool TakesStored(const JpegOptions& o, int64_t nx, int64_t ny) {
  return o.scaling != JpegOptions::Scaling::kMinMax && BinFactor(nx, ny, o.max_size) == 1;
}

struct DetectorJpeg {
  int ext_num;
  std::string asset;          // in the batch: previews/<name>
  std::string relative_path;  // where the ingest publishes it: jpeg/<night>/<name>
};

struct FileResult {
  absl::Status status;
  std::vector<DetectorJpeg> jpegs;
  std::vector<v1::FileProblem> warnings;
  absl::Time started, finished;
};

// A preview of width x height with these limits (none: all blank), its
// 8-bit picture sized in `scratch` for the caller to fill.
Preview StartPreview(const std::optional<Limits>& limits, int64_t width, int64_t height,
                     PreviewScratch& scratch) {
  Preview p;
  p.all_blank = !limits.has_value();
  p.limits = limits.value_or(Limits{0, 0});
  p.width = static_cast<int>(width);
  p.height = static_cast<int>(height);
  scratch.picture.resize(static_cast<size_t>(p.width) * p.height);
  return p;
}

// The filled picture to JPEG, FITS row 1 at the bottom.
absl::StatusOr<Preview> FinishPreview(Preview p, int quality, PreviewScratch& scratch) {
  CURATOR_ASSIGN_OR_RETURN(p.jpeg, jpeg::EncodeGray(scratch.picture.data(), p.width, p.height,
                                                    quality, jpeg::RowOrder::kBottomFirst,
                                                    scratch.jpeg));
  return p;
}

// Deletes the JPEGs a file's result lists (best effort) and forgets them.

}  // namespace

absl::StatusOr<Preview> MakePreview(const float* pixels, int64_t nx, int64_t ny,
                                    const JpegOptions& o, PreviewScratch& scratch) {
  const size_t n = static_cast<size_t>(nx * ny);
  std::optional<Limits> limits;
  switch (o.scaling) {
    case JpegOptions::Scaling::kZScale: limits = ZScale(pixels, n, o.zscale); break;
    case JpegOptions::Scaling::kMinMax: limits = MinMax(pixels, n); break;
    case JpegOptions::Scaling::kPercentile:
      limits = Percentile(pixels, n, o.percentile_lo, o.percentile_hi);
      break;
  }
  const int64_t bin = BinFactor(nx, ny, o.max_size);
  Preview p = StartPreview(limits, nx / bin, ny / bin, scratch);
  std::vector<uint8_t>& out = scratch.picture;
  const double range = p.limits.hi - p.limits.lo;
  // Constant data: mid-grey; otherwise a linear stretch clipped to 0..255.
  const float scale = range > 0 ? static_cast<float>(255.0 / range) : 0.0f;
  const float offset = static_cast<float>(p.limits.lo);
  auto to8 = [&](float v) { return To8(v, scale, offset); };
  for (int y = 0; y < p.height; ++y) {
    // Rows in FITS order; the encoder puts row 1 at the bottom.
    uint8_t* row = out.data() + static_cast<size_t>(y) * p.width;
    if (bin == 1) {
      const float* in = pixels + static_cast<size_t>(y) * nx;
      if (scale != 0) {
        ScaleRow(in, row, p.width, scale, 0.5f - offset * scale);  // rounding folded in
      } else {
        for (int x = 0; x < p.width; ++x) row[x] = to8(in[x]);
      }
      continue;
    }
    for (int x = 0; x < p.width; ++x) {
      double sum = 0;
      int count = 0;
      for (int64_t by = 0; by < bin; ++by) {
        const float* in = pixels + static_cast<size_t>(y * bin + by) * nx + x * bin;
        for (int64_t bx = 0; bx < bin; ++bx) {
          if (std::isfinite(in[bx])) sum += in[bx], ++count;
        }
      }
      row[x] = count ? to8(static_cast<float>(sum / count)) : 0;
    }
  }
  return FinishPreview(std::move(p), o.quality, scratch);
}

std::optional<absl::StatusOr<Preview>> MakePreview(const fits::StoredImage& image,
                                                   const JpegOptions& o,
                                                   PreviewScratch& scratch) {
  if (!TakesStored(o, image.nx, image.ny)) return std::nullopt;
  const size_t n = image.size();
  const size_t finite = n - static_cast<size_t>(image.blank_pixels);
  const std::vector<float> sample = DrawSample(
      n, finite,
      o.scaling == JpegOptions::Scaling::kZScale ? o.zscale.n_samples : kPercentileSamples,
      [&image](size_t i) { return image.IsBlank(i); },
      [&image](size_t i) { return image.Value(i); });
  const std::optional<Limits> limits =
      o.scaling == JpegOptions::Scaling::kZScale
          ? ZScaleOfSample(sample, o.zscale)
          : PercentileOfSample(sample, o.percentile_lo, o.percentile_hi);
  Preview p = StartPreview(limits, image.nx, image.ny, scratch);
  std::vector<uint8_t>& out = scratch.picture;
  const double lo = p.limits.lo, range = p.limits.hi - p.limits.lo;
  const double k = range > 0 ? 255.0 / range : 0.0;
  bool done = false;
  if (k > 0 && image.type == fits::StoredImage::Type::kFloat32BigEndian) {
    // physical = f * scale + zero; s = (physical - lo) * k + 0.5.
    const float a = static_cast<float>(image.scale * k);
    const float b = static_cast<float>((image.zero - lo) * k + 0.5);
    const BigEndianRowFn row = BigEndianRowHere();
    for (int64_t y = 0; y < image.ny; ++y) {
      row(image.words.data() + y * image.nx, out.data() + y * image.nx, image.nx, a, b);
    }
    done = true;
  } else if (k > 0 && image.scale != 0) {
    // The stored values of the limits, widened to whole numbers and to
    // int32's range; physical(v) = v * scale + zero, either way up.
    const double t1 = (p.limits.lo - image.zero) / image.scale;
    const double t2 = (p.limits.hi - image.zero) / image.scale;
    constexpr double kMin = std::numeric_limits<int32_t>::min();
    constexpr double kMax = std::numeric_limits<int32_t>::max();
    const double vmin = std::clamp(std::floor(std::min(t1, t2)), kMin, kMax);
    const double vmax = std::clamp(std::ceil(std::max(t1, t2)), kMin, kMax);
    if (vmax - vmin <= kMax) {  // v - vmin fits in int32
      const float a = static_cast<float>(image.scale * k);
      const float b = static_cast<float>((vmin * image.scale + image.zero - lo) * k + 0.5);
      const auto* in = reinterpret_cast<const int32_t*>(image.words.data());
      const IntRowFn row = IntRowHere(image.has_blank);
      for (int64_t y = 0; y < image.ny; ++y) {
        row(in + y * image.nx, out.data() + y * image.nx, image.nx, static_cast<int32_t>(vmin),
            static_cast<int32_t>(vmax), a, b, image.blank);
      }
      done = true;
    }
  }
  if (!done) {  // constant, all blank, or a range too wide for the above
    const float scale = static_cast<float>(k), offset = static_cast<float>(lo);
    for (size_t i = 0; i < n; ++i) out[i] = To8(image.Value(i), scale, offset);
  }
  return FinishPreview(std::move(p), o.quality, scratch);
}

absl::StatusOr<TaskOutput> RunCu2(const Cu2Input& in) {
  // Where the ingest will publish the previews: made now, so an archive
  // that cannot hold them fails the task before any work.
  const std::string jpeg_dir = layout::NightDir(in.archive_root, layout::kJpeg, in.night);
  CURATOR_RETURN_IF_ERROR(files::MakeDirs(jpeg_dir));
  std::vector<std::string> keys;
  for (const ImageInput& img : in.images) {
    keys.push_back(absl::StrCat(img.path, "|", absl::ToUnixMicros(img.file_time_stamp)));
  }
  // The previews go into this attempt's own batch directory; the ingest
  // that loads the batch publishes them (archive/batch.h, assets).
  CURATOR_ASSIGN_OR_RETURN(std::unique_ptr<BatchWriter> batch,
                           BatchWriter::Create(in.archive_root, in.night, 2,
                                               MakeBatchId(in.night, 2, keys),
                                               in.cu_event_id, in.rerun));
  const size_t n = in.images.size();
  std::vector<FileResult> results(n);
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status systematic;  // writing the batch failed: the task fails
  std::atomic<bool> stop{false};
  auto work = [&] {
    fits::StoredImage stored;   // one detector as stored,
    std::vector<float> pixels;  // or as float where that is needed
    PreviewScratch scratch;
    for (size_t i = next++; i < n; i = next++) {
      if (stop || (in.control != nullptr && in.control->Cancelled())) return;
      const ImageInput& img = in.images[i];
      FileResult& r = results[i];
      r.started = absl::Now();
      bool write_failed = false;
      r.status = [&]() -> absl::Status {
        CURATOR_ASSIGN_OR_RETURN(fits::FitsFile f, fits::FitsFile::Open(img.path));
        while (true) {
          CURATOR_ASSIGN_OR_RETURN(bool more, f.MoveToNextHdu());
          if (!more) break;
          const int hdu = f.CurrentHdu();
          CURATOR_ASSIGN_OR_RETURN(fits::HduType type, f.CurrentHduType());
          absl::StatusOr<fits::ImageInfo> info =
              type == fits::HduType::kImage ? f.GetImageInfo()
                                            : absl::StatusOr<fits::ImageInfo>(fits::ImageInfo{});
          if (!info.ok()) return info.status();
          if (info->axes.size() != 2 || info->axes[0] == 0 || info->axes[1] == 0) {
            v1::FileProblem w;
            w.set_path(img.path);
            w.set_hdu(hdu);
            w.set_message("extension without a 2-D image; no JPEG");
            r.warnings.push_back(std::move(w));
            continue;
          }
          // Sizes the buffers below: GetImageInfo (and the check of every
          // header on the way here) keeps nx * ny within fits::kMaxImagePixels.
          const int64_t nx = info->axes[0], ny = info->axes[1];
          CURATOR_RETURN_IF_ERROR(f.CheckCurrentHduComplete());
          // Stored pixels are converted once, straight to 8 bits; other
          // kinds and options go through float.
          std::optional<absl::StatusOr<Preview>> made;
          if (TakesStored(in.jpeg, nx, ny)) {
            CURATOR_ASSIGN_OR_RETURN(const bool stored_read, f.ReadStored(stored));
            if (stored_read) made = MakePreview(stored, in.jpeg, scratch);
          }
          if (!made.has_value()) {
            pixels.resize(static_cast<size_t>(nx * ny));
            CURATOR_RETURN_IF_ERROR(f.ReadRows(0, ny, pixels.data()));
            made = MakePreview(pixels.data(), nx, ny, in.jpeg, scratch);
          }
          CURATOR_ASSIGN_OR_RETURN(Preview p, *std::move(made));
          if (p.all_blank) {
            v1::FileProblem w;
            w.set_path(img.path);
            w.set_hdu(hdu);
            w.set_message("no finite pixels (all blank or NaN): the JPEG is black");
            r.warnings.push_back(std::move(w));
          }
          // The preview's name comes from the task: never a path.
          CURATOR_RETURN_IF_ERROR(paths::CheckPlainName(img.file_name, "file_name"));
          const std::string name = PreviewName(Stem(img.file_name), hdu);
          DetectorJpeg j{hdu, absl::StrCat("previews/", name),
                         absl::StrCat(layout::kJpeg, "/", in.night, "/", name)};
          if (absl::Status s = batch->AddAsset(j.asset, p.jpeg, j.relative_path); !s.ok()) {
            // A full disk or an I/O error is the task's problem, not the
            // file's (absl::StatusCode::kUnavailable, base/status.h).
            write_failed = s.code() == absl::StatusCode::kUnavailable;
            return s;
          }
          r.jpegs.push_back(std::move(j));
        }
        return absl::OkStatus();
      }();
      if (!r.status.ok()) {
        // A file that fails has no previews: none of its detectors' go in
        // the batch (which names the file as failed).
        for (const DetectorJpeg& j : r.jpegs) batch->DiscardAsset(j.asset);
        r.jpegs.clear();
      }
      if (write_failed) {
        // Not the file's fault (a full disk): the task fails, to be
        // retried, rather than be done with previews missing.
        std::lock_guard<std::mutex> lock(mu);
        if (systematic.ok()) systematic = r.status;
        stop = true;
      }
      r.finished = absl::Now();
      if (in.control != nullptr) in.control->FileDone(r.status.ok());
    }
  };
  int threads = in.threads > 0 ? in.threads
                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  tasklog::Step step{"make JPEGs", absl::Now()};
  {
    std::vector<std::jthread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  // Either way the batch writer removes its own directory and nothing
  // else: another attempt's previews are untouched.
  CURATOR_RETURN_IF_ERROR(
      Annotate(systematic, absl::StrCat("CU2 of ", in.night, ": writing the previews")));
  if (in.control != nullptr && in.control->Cancelled()) {
    return absl::CancelledError(absl::StrCat("CU2 of ", in.night, " was cancelled"));
  }
  step.finished = absl::Now();

  CURATOR_ASSIGN_OR_RETURN(
      pgcopy::Writer * rows,
      batch->AddFile("comp_file.pgcopy", "multiframe_detector",
                     {"multiframe_id", "ext_num", "comp_file"}));
  v1::Manifest& m = batch->manifest();
  for (size_t i = 0; i < n; ++i) {
    const ImageInput& img = in.images[i];
    const FileResult& r = results[i];
    tasklog::FileEntry entry{img.path, img.multiframe_id, r.started, r.finished};
    v1::InputOutcome* outcome = m.add_inputs();
    outcome->set_path(img.path);
    outcome->set_multiframe_id(img.multiframe_id);
    if (!r.status.ok()) {
      v1::FileProblem* p = m.add_failures();
      p->set_path(img.path);
      p->set_message(std::string(r.status.message()));
      step.messages.push_back({"error", img.path, 0, "", std::string(r.status.message())});
      entry.errors = 1;
      outcome->set_errors(1);
      ++step.errors;
    } else {
      for (const DetectorJpeg& j : r.jpegs) {
        rows->StartRow(3);
        rows->AddInt64(img.multiframe_id);
        rows->AddInt16(static_cast<int16_t>(j.ext_num));
        rows->AddText(j.relative_path);
      }
      for (const v1::FileProblem& w : r.warnings) {
        *m.add_warnings() = w;
        step.messages.push_back({"warning", w.path(), w.hdu(), w.item(), w.message()});
      }
      entry.rows = static_cast<int64_t>(r.jpegs.size());
      entry.warnings = static_cast<int>(r.warnings.size());
      outcome->set_rows(entry.rows);
      outcome->set_warnings(entry.warnings);
      step.rows += entry.rows;
      step.warnings += entry.warnings;
    }
    step.files.push_back(std::move(entry));
  }
  CURATOR_ASSIGN_OR_RETURN(std::string dir, batch->Commit());
  TaskOutput out;
  out.batch_dir = dir;
  out.manifest = batch->manifest();
  out.steps = {std::move(step)};
  return out;
}

}  // namespace curator::worker
