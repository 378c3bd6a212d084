#include "synth/sky.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "synth/random.h"

namespace curator::synth {
namespace {

constexpr double kDeg = M_PI / 180.0;

// Keys of the random streams, after the seed (the frame's own streams use
// {seed, night, run, 0..4} and 100 + camera).
constexpr uint64_t kObjectsKey = 0x5C1E0B1EC7ULL;
constexpr uint64_t kTransientsKey = 0x7A2A25ULL;
constexpr uint64_t kJitterKey = 0x717E2ULL;
constexpr uint64_t kNoiseKey = 0x0B5E2FEULL;

// Beyond the footprint, a field's objects reach this far, arcsec: the
// jitter (3 arcsec a side), the detectors' rotation (0.05 deg at 1.5
// detector widths: 4.3 arcsec at 8192 pixels) and proper motion over the
// longest survey allowed (25 years at kMaxProperMotion), with room to spare.
constexpr double kFieldMargin = 60;
constexpr double kFieldGap = 60;  // arcsec between two fields' squares
constexpr double kMaxSurveyYears = 25;
constexpr double kMaxFieldDec = 60;
constexpr double kJitter = 3;  // arcsec, each axis

constexpr double kMinSeparation = 1.0;    // arcsec: never closer
constexpr double kCloseSeparation = 3.0;  // arcsec: rarely closer
constexpr int kMaxAttempts = 100;

constexpr double kGalaxyFraction = 0.15, kMovingFraction = 0.05,
                 kVariableFraction = 0.03;

// mag_b = J + kColourCoefficients[b] * c, c the object's J - K colour.
constexpr double kColourCoefficients[kNumBands] = {0.8, 0.45, 0, -0.7, -1.0};

constexpr int kEdge = 5;  // pixels: objects on [kEdge, n + 1 - kEdge]
constexpr double kDetectionSnr = 3;        // drawn flux / its error
constexpr double kPositionAtSnr10 = 0.1;   // arcsec per axis at S/N 10
constexpr double kMaxPositionError = 0.5;  // arcsec per axis
constexpr double kMaxDeviate = 3;

int Columns(const Options& options) {
  return static_cast<int>(
      std::ceil(std::sqrt(static_cast<double>(options.fields))));
}

double SurveyYears(const Options& options) {
  return static_cast<double>(NightDay(options, options.nights - 1) -
                             NightDay(options, 0)) /
         365.25;
}

// A gnomonic plane about `centre` with 1 arcsec "pixels" (x grows to the
// west, as on the detectors), for drawing uniformly over a field.
Wcs Plane(const SkyPosition& centre) {
  Wcs w;
  w.projection = Wcs::Projection::kTan;
  w.crval1 = centre.ra;
  w.crval2 = centre.dec;
  w.cd1_1 = -1 / 3600.0;
  w.cd2_2 = 1 / 3600.0;
  return w;
}

// Objects drawn so far in a field, in cells of kCloseSeparation, to find
// close neighbours.
class Neighbours {
 public:
  explicit Neighbours(double half) : half_(half) {
    side_ = static_cast<int>(std::ceil(2 * half / kCloseSeparation)) + 1;
    head_.assign(static_cast<size_t>(side_) * side_, -1);
  }
  // The distance to the nearest object within kCloseSeparation of (x, y),
  // arcsec; kCloseSeparation if none.
  double Nearest(double x, double y) const {
    const int cx = Cell(x), cy = Cell(y);
    double best = kCloseSeparation;
    for (int j = std::max(0, cy - 1); j <= std::min(side_ - 1, cy + 1); ++j) {
      for (int i = std::max(0, cx - 1); i <= std::min(side_ - 1, cx + 1); ++i) {
        for (int k = head_[static_cast<size_t>(j) * side_ + i]; k >= 0;
             k = next_[k]) {
          best = std::min(best, std::hypot(xs_[k] - x, ys_[k] - y));
        }
      }
    }
    return best;
  }
  void Add(double x, double y) {
    const size_t cell = static_cast<size_t>(Cell(y)) * side_ + Cell(x);
    xs_.push_back(x);
    ys_.push_back(y);
    next_.push_back(head_[cell]);
    head_[cell] = static_cast<int>(xs_.size()) - 1;
  }

 private:
  int Cell(double v) const {
    return std::clamp(static_cast<int>((v + half_) / kCloseSeparation), 0,
                      side_ - 1);
  }
  double half_;
  int side_;
  std::vector<int> head_, next_;
  std::vector<double> xs_, ys_;
};

// J from 12 to 19.5 with counts rising as 10^(0.3 m), as in the random sky.
double DrawMagnitude(Random& rng) {
  const double lo = std::pow(10.0, 0.3 * 12.0), hi = std::pow(10.0, 0.3 * 19.5);
  return std::log10(lo + rng.Uniform() * (hi - lo)) / 0.3;
}

// Runs fn(0) .. fn(n - 1) on `threads` threads (0: one per core).
template <typename Fn>
void ParallelFor(int n, int threads, const Fn& fn) {
  if (threads <= 0) {
    threads =
        static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  std::atomic<int> next{0};
  std::vector<std::jthread> pool;
  for (int t = 0; t < std::min(threads, n); ++t) {
    pool.emplace_back([&] {
      for (int i = next++; i < n; i = next++) fn(i);
    });
  }
}

// The objects of one field, in drawing order; ids are given when the
// fields are put together.
void DrawField(const Options& options, int field, int64_t count,
               std::vector<SkyObject>* objects) {
  objects->reserve(count);
  Random rng({options.seed, static_cast<uint64_t>(field), kObjectsKey});
  const double half = FieldHalfWidthArcsec(options);
  const Wcs plane = Plane(FieldCentre(options, field));
  Neighbours neighbours(half);
  for (int64_t i = 0; i < count; ++i) {
    double x = 0, y = 0;
    for (int attempt = 1;; ++attempt) {
      x = rng.Uniform(-half, half);
      y = rng.Uniform(-half, half);
      const double nearest = neighbours.Nearest(x, y);
      // Only a sky too crowded to honour the rule gets past kMaxAttempts.
      if (nearest >= kCloseSeparation || attempt >= kMaxAttempts) break;
      if (nearest >= kMinSeparation && rng.Uniform() < kKeepClosePair) break;
    }
    neighbours.Add(x, y);
    SkyObject o;
    o.field = field;
    const SkyPosition p = PixelToSky(plane, x, y);
    o.ra = p.ra;
    o.dec = p.dec;
    const double u = rng.Uniform();
    o.kind = u < kGalaxyFraction                     ? ObjectKind::kGalaxy
             : u < kGalaxyFraction + kMovingFraction ? ObjectKind::kMoving
             : u < kGalaxyFraction + kMovingFraction + kVariableFraction
                 ? ObjectKind::kVariable
                 : ObjectKind::kStar;
    const double j = DrawMagnitude(rng);
    const double colour = o.kind == ObjectKind::kGalaxy ? rng.Uniform(0.9, 1.7)
                                                        : rng.Uniform(0.2, 0.9);
    for (int b = 0; b < kNumBands; ++b) {
      o.mag[b] = j + kColourCoefficients[b] * colour;
    }
    if (o.kind == ObjectKind::kGalaxy) o.size = rng.Uniform(0.3, 1.0);
    if (o.kind == ObjectKind::kMoving) {
      const double mu = rng.Uniform(0.1, kMaxProperMotion),
                   angle = rng.Uniform(0, 2 * M_PI);
      o.pm_ra = mu * std::sin(angle);
      o.pm_dec = mu * std::cos(angle);
    }
    if (o.kind == ObjectKind::kVariable) {
      o.var_amp = rng.Uniform(0.05, 0.3);
      o.var_period = rng.Uniform(0.5, 30);
      o.var_phase = rng.Uniform(0, 2 * M_PI);
    }
    objects->push_back(o);
  }
}

void DrawTransients(const Options& options, int field, int64_t count,
                    std::vector<SkyObject>* objects) {
  std::vector<int> runs;  // the runs of a night that observe the field
  for (int run = 1; run <= options.frames_per_night; ++run) {
    if (VisitOf(options, run).field == field) runs.push_back(run);
  }
  if (runs.empty()) return;
  Random rng({options.seed, static_cast<uint64_t>(field), kTransientsKey});
  const int n = options.image_size;
  for (int64_t i = 0; i < count; ++i) {
    SkyObject o;
    o.field = field;
    o.kind = ObjectKind::kTransient;
    o.transient_night = std::min(
        options.nights - 1, static_cast<int>(rng.Uniform() * options.nights));
    o.transient_run = runs[std::min(
        runs.size() - 1, static_cast<size_t>(rng.Uniform() * runs.size()))];
    const int cam =
        std::min(kDetectorsPerFrame - 1,
                 static_cast<int>(rng.Uniform() * kDetectorsPerFrame));
    const FrameModel frame =
        MakeFrame(options, o.transient_night, o.transient_run);
    // Clear of the edge by more than the position noise can move it.
    const double x = rng.Uniform(kEdge + 5, n + 1 - kEdge - 5);
    const double y = rng.Uniform(kEdge + 5, n + 1 - kEdge - 5);
    const SkyPosition p = PixelToSky(frame.detectors[cam].wcs, x, y);
    o.ra = p.ra;
    o.dec = p.dec;
    const double mag = rng.Uniform(13, 16.5);
    o.mag.fill(mag);
    objects->push_back(o);
  }
}

}  // namespace

SkyPosition FieldCentre(const Options& options, int field) {
  const int columns = Columns(options);
  const double spacing = FieldSpacingArcsec(options) / 3600;
  SkyPosition p;
  p.dec = (field / columns) * spacing;
  p.ra = std::fmod(30.0 + (field % columns) * spacing / std::cos(p.dec * kDeg),
                   360.0);
  return p;
}

double FieldHalfWidthArcsec(const Options& options) {
  return (kDetectorOffset + 0.5) * options.image_size * kPixelScale +
         kFieldMargin;
}

double FieldSpacingArcsec(const Options& options) {
  return 2 * FieldHalfWidthArcsec(options) + kFieldGap;
}

SkyPosition FramePointing(const Options& options, int night_index,
                          int run_number) {
  const SkyPosition centre =
      FieldCentre(options, VisitOf(options, run_number).field);
  Random rng({options.seed, static_cast<uint64_t>(night_index),
              static_cast<uint64_t>(run_number), kJitterKey});
  SkyPosition p;
  p.dec = centre.dec + rng.Uniform(-kJitter, kJitter) / 3600;
  p.ra = centre.ra +
         rng.Uniform(-kJitter, kJitter) / 3600 / std::cos(centre.dec * kDeg);
  p.ra = std::fmod(p.ra + 360.0, 360.0);
  return p;
}

double ReferenceMjd(const Options& options) {
  return static_cast<double>(NightDay(options, 0) -
                             absl::CivilDay(1858, 11, 17)) +
         0.25;
}

absl::Status ValidateSkyOptions(const Options& o) {
  if (o.fields < 1 || o.fields > 10000) {
    return absl::InvalidArgumentError("--fields must be in 1..10000");
  }
  if (o.bands.empty()) return absl::InvalidArgumentError("--bands is empty");
  for (size_t i = 0; i < o.bands.size(); ++i) {
    if (BandIndex(o.bands[i]) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--bands: '", o.bands.substr(i, 1), "' is not one of ZYJHK"));
    }
    if (o.bands.find(o.bands[i]) != i) {
      return absl::InvalidArgumentError(
          absl::StrCat("--bands: '", o.bands.substr(i, 1), "' is given twice"));
    }
  }
  const SkyPosition last = FieldCentre(o, o.fields - 1);
  const double spacing = FieldSpacingArcsec(o) / 3600;
  if (last.dec > kMaxFieldDec ||
      Columns(o) * spacing / std::cos(last.dec * kDeg) > 300) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--fields=", o.fields, " fields of --size=", o.image_size,
        " pixels do not fit on the grid below Dec ", kMaxFieldDec));
  }
  if (SurveyYears(o) > kMaxSurveyYears) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the nights span more than ", kMaxSurveyYears,
        " years: proper motions would carry objects out of their fields"));
  }
  return absl::OkStatus();
}

Sky Sky::Build(const Options& options) {
  CURATOR_CHECK(options.sky == SkyMode::kRevisit);
  Sky sky;
  sky.reference_mjd_ = ReferenceMjd(options);
  const double half = FieldHalfWidthArcsec(options);
  const double detector = options.image_size * kPixelScale;
  const int64_t per_field = std::llround(options.sources_per_detector * 4 *
                                         half * half / (detector * detector));
  const int fields = options.fields;
  // Fields' objects, then fields' transients: drawn in parallel, numbered
  // in this order.
  std::vector<std::vector<SkyObject>> drawn(2 * fields);
  ParallelFor(2 * fields, options.threads, [&](int k) {
    if (k < fields) {
      DrawField(options, k, per_field, &drawn[k]);
    } else {
      DrawTransients(options, k - fields, 1 + per_field / 500, &drawn[k]);
    }
  });
  size_t total = 0;
  for (const std::vector<SkyObject>& v : drawn) total += v.size();
  CURATOR_CHECK(total < (1u << 31)) << "too many objects: " << total;
  sky.objects_.reserve(total);
  std::vector<std::vector<int32_t>> of_field(fields);
  for (std::vector<SkyObject>& v : drawn) {
    for (SkyObject& o : v) {
      o.id = static_cast<int64_t>(sky.objects_.size()) + 1;
      of_field[o.field].push_back(static_cast<int32_t>(o.id - 1));
      sky.objects_.push_back(o);
    }
    std::vector<SkyObject>().swap(v);
  }
  ParallelFor(fields, options.threads, [&](int f) {
    std::sort(of_field[f].begin(), of_field[f].end(),
              [&](int32_t a, int32_t b) {
                const double da = sky.objects_[a].dec, db = sky.objects_[b].dec;
                return da != db ? da < db : a < b;
              });
  });
  sky.by_dec_.reserve(total);
  sky.field_begin_.push_back(0);
  for (const std::vector<int32_t>& v : of_field) {
    sky.by_dec_.insert(sky.by_dec_.end(), v.begin(), v.end());
    sky.field_begin_.push_back(sky.by_dec_.size());
  }
  return sky;
}

SkyPosition Sky::PositionAt(const SkyObject& o, double mjd) const {
  if (o.pm_ra == 0 && o.pm_dec == 0) return {o.ra, o.dec};
  const double years = (mjd - reference_mjd_) / 365.25;
  SkyPosition p;
  p.dec = o.dec + o.pm_dec * years / 3600;
  p.ra = std::fmod(
      o.ra + o.pm_ra * years / 3600 / std::cos(o.dec * kDeg) + 360.0, 360.0);
  return p;
}

double Sky::MagnitudeAt(const SkyObject& o, int band, double mjd) const {
  if (o.var_amp == 0) return o.mag[band];
  return o.mag[band] +
         o.var_amp * std::sin(2 * M_PI * (mjd - reference_mjd_) / o.var_period +
                              o.var_phase);
}

absl::Span<const int32_t> Sky::InDec(int field, double lo, double hi) const {
  const int32_t* begin = by_dec_.data() + field_begin_[field];
  const int32_t* end = by_dec_.data() + field_begin_[field + 1];
  const int32_t* first = std::lower_bound(
      begin, end, lo, [&](int32_t i, double v) { return objects_[i].dec < v; });
  const int32_t* last = std::upper_bound(
      first, end, hi, [&](double v, int32_t i) { return v < objects_[i].dec; });
  return absl::MakeConstSpan(first, last);
}

void Sky::Observe(const Options& options, const FrameModel& frame,
                  int night_index, DetectorModel* det) const {
  const Wcs& wcs = det->wcs;
  const int n = options.image_size;
  const double t = frame.mjd_obs;
  // The detector's reach at the reference epoch: its border on the sky,
  // widened by the furthest an object moves by t and a little more.
  double dec_lo = 90, dec_hi = -90, dra_lo = 360, dra_hi = -360;
  for (int k = 0; k <= 8; ++k) {
    const double along = 1 + (n - 1) * k / 8.0;
    const double border[4][2] = {
        {along, 1.0}, {along, 1.0 * n}, {1.0, along}, {1.0 * n, along}};
    for (const auto& xy : border) {
      const SkyPosition p = PixelToSky(wcs, xy[0], xy[1]);
      const double dra = std::remainder(p.ra - wcs.crval1, 360.0);
      dec_lo = std::min(dec_lo, p.dec);
      dec_hi = std::max(dec_hi, p.dec);
      dra_lo = std::min(dra_lo, dra);
      dra_hi = std::max(dra_hi, dra);
    }
  }
  const double margin =
      (kMaxProperMotion * std::fabs(t - reference_mjd_) / 365.25 + 2) / 3600;
  const double ra_margin =
      margin /
      std::max(1e-3,
               std::cos(std::max(std::fabs(dec_lo), std::fabs(dec_hi)) * kDeg));
  dec_lo -= margin;
  dec_hi += margin;
  dra_lo -= ra_margin;
  dra_hi += ra_margin;

  Random noise({options.seed, static_cast<uint64_t>(night_index),
                static_cast<uint64_t>(frame.run_number),
                static_cast<uint64_t>(det->cam_num), kNoiseKey});
  const double psf = det->seeing / 2.3548;
  const double sky_var = det->sky_noise * det->sky_noise;
  const auto deviate = [&] {
    return std::clamp(noise.Normal(), -kMaxDeviate, kMaxDeviate);
  };
  std::vector<Star> stars;
  std::vector<RowTruth> truth;
  for (int32_t index : InDec(frame.field, dec_lo, dec_hi)) {
    const SkyObject& o = objects_[index];
    if (o.kind == ObjectKind::kTransient &&
        (o.transient_night != night_index ||
         o.transient_run != frame.run_number)) {
      continue;
    }
    const double dra = std::remainder(o.ra - wcs.crval1, 360.0);
    if (dra < dra_lo || dra > dra_hi) continue;
    const SkyPosition p = PositionAt(o, t);
    const std::optional<PixelPosition> at = SkyToPixel(wcs, p.ra, p.dec);
    if (!at || at->x < kEdge || at->x > n + 1 - kEdge || at->y < kEdge ||
        at->y > n + 1 - kEdge) {
      continue;
    }
    const double mag = MagnitudeAt(o, frame.band, t);
    const double flux =
        std::pow(10.0, -0.4 * (mag - det->mag_zpt)) * frame.exp_time;
    const double sigma = std::hypot(psf, o.size / kPixelScale);
    const double error =
        std::sqrt(flux / det->gain + M_PI * 4 * sigma * sigma * sky_var);
    const double measured = flux + error * noise.Normal();
    const double dx = deviate(), dy = deviate();
    if (measured < kDetectionSnr * error) continue;
    const double position_error =
        std::min(kPositionAtSnr10 * 10 / (flux / error), kMaxPositionError);
    const double dec = p.dec + dy * position_error / 3600;
    const double ra =
        p.ra + dx * position_error / 3600 / std::cos(p.dec * kDeg);
    const std::optional<PixelPosition> seen = SkyToPixel(wcs, ra, dec);
    CURATOR_CHECK(seen.has_value());
    Star s;
    s.x = seen->x;
    s.y = seen->y;
    const SkyPosition listed = PixelToSky(wcs, s.x, s.y);
    s.ra = listed.ra;
    s.dec = listed.dec;
    s.mag = mag;
    s.flux = measured;
    s.sigma = sigma;
    s.true_x = at->x;
    s.true_y = at->y;
    s.true_flux = flux;
    s.position_error = position_error / kPixelScale;
    s.classification = o.kind == ObjectKind::kGalaxy ? 1 : -1;
    stars.push_back(s);
    truth.push_back({o.id, p.ra, p.dec, mag, o.kind});
  }
  std::vector<size_t> order(stars.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Star &sa = stars[a], &sb = stars[b];
    return sa.y != sb.y ? sa.y < sb.y : sa.x != sb.x ? sa.x < sb.x : a < b;
  });
  det->stars.clear();
  det->truth.clear();
  for (size_t i : order) {
    det->stars.push_back(stars[i]);
    det->truth.push_back(truth[i]);
  }
}

}  // namespace curator::synth
