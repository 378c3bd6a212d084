#include "synth/survey_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "synth/random.h"
#include "synth/sky.h"

namespace curator::synth {
namespace {

// WFCAM's radial distortion: ZPN with PV2_1 = 1, PV2_3 = 220.
constexpr double kPv2_3 = 220;

struct Band {
  const char* name;
  double sky_per_10s;  // ADU
  double zero_point;
  double exp_time;
};
constexpr Band kBands[] = {{"Z", 600, 22.9, 10},
                           {"Y", 800, 22.7, 10},
                           {"J", 1200, 23.1, 10},
                           {"H", 5000, 23.4, 10},
                           {"K", 9000, 22.8, 5}};
static_assert(sizeof(kBands) / sizeof(kBands[0]) == kNumBands);

struct DefectEntry {
  Defect defect;
  const char* name;
};
constexpr DefectEntry kDefectNames[] = {
    {Defect::kTruncatedImage, "truncated-image"},
    {Defect::kTruncatedCatalogue, "truncated-catalogue"},
    {Defect::kMissingKeyword, "missing-keyword"},
    {Defect::kWrongKeywordType, "wrong-keyword-type"},
    {Defect::kNanColumns, "nan-columns"},
    {Defect::kEmptyTable, "empty-table"},
    {Defect::kWrongColumnType, "wrong-column-type"},
    {Defect::kOrphanCatalogue, "orphan-catalogue"},
    {Defect::kDuplicatedFile, "duplicated-file"},
    {Defect::kRaOutOfRange, "ra-out-of-range"},
    {Defect::kExtraTables, "extra-tables"},
    {Defect::kMissingTables, "missing-tables"},
    {Defect::kDuplicateSeqnum, "duplicate-seqnum"},
    {Defect::kGarbageXtension, "garbage-xtension"},
    {Defect::kHugeImage, "huge-image"},
    {Defect::kBadZbitpix, "bad-zbitpix"},
};

std::string IsoTime(double mjd) {
  // MJD 0 is 1858-11-17T00:00:00 UTC. Whole milliseconds first, so that
  // 59.9996 s never prints as "60.000".
  const int64_t ms = std::llround(mjd * 86400000.0);
  const int64_t day_ms = 86400000;
  const absl::CivilDay day = absl::CivilDay(1858, 11, 17) + ms / day_ms;
  const int64_t in_day = ms % day_ms;
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03d", day.year(), day.month(),
                         day.day(), in_day / 3600000, in_day / 60000 % 60, in_day / 1000 % 60,
                         in_day % 1000);
}

}  // namespace

const char* BandName(int band) { return kBands[band].name; }

int BandIndex(char name) {
  for (int b = 0; b < kNumBands; ++b) {
    if (kBands[b].name[0] == name) return b;
  }
  return -1;
}

const char* ObjectKindName(ObjectKind kind) {
  switch (kind) {
    case ObjectKind::kStar:
      return "star";
    case ObjectKind::kGalaxy:
      return "galaxy";
    case ObjectKind::kVariable:
      return "variable";
    case ObjectKind::kMoving:
      return "moving";
    case ObjectKind::kTransient:
      return "transient";
  }
  return "unknown";
}

Visit VisitOf(const Options& options, int run_number) {
  const int bands = static_cast<int>(options.bands.size());
  const int pair = (run_number - 1) % (options.fields * bands);
  return {pair / bands, BandIndex(options.bands[pair % bands])};
}

absl::StatusOr<Defect> ParseDefect(absl::string_view name) {
  for (const DefectEntry& d : kDefectNames) {
    if (name == d.name) return d.defect;
  }
  std::string known;
  for (const DefectEntry& d : kDefectNames) absl::StrAppend(&known, " ", d.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown defect '", name, "'; known:", known));
}

std::string DefectName(Defect defect) {
  for (const DefectEntry& d : kDefectNames) {
    if (d.defect == defect) return d.name;
  }
  return "unknown";
}

const std::vector<Defect>& AllDefects() {
  static const std::vector<Defect>* all = [] {
    auto* v = new std::vector<Defect>;
    for (const DefectEntry& d : kDefectNames) v->push_back(d.defect);
    return v;
  }();
  return *all;
}

bool SpoilsFrame(Defect defect) {
  return defect != Defect::kOrphanCatalogue &&
         defect != Defect::kDuplicatedFile;
}

bool SpoilsImage(Defect d) {
  return d == Defect::kTruncatedImage || d == Defect::kMissingKeyword ||
         d == Defect::kWrongKeywordType || d == Defect::kGarbageXtension ||
         d == Defect::kHugeImage || d == Defect::kBadZbitpix;
}

bool SpoilsCatalogue(Defect d) {
  return SpoilsFrame(d) && !SpoilsImage(d);
}

absl::Status ValidateOptions(const Options& o) {
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out is not set");
  if (o.nights < 1) return absl::InvalidArgumentError("--nights must be >= 1");
  if (o.frames_per_night < 1 || o.frames_per_night > 99999) {
    return absl::InvalidArgumentError("--frames must be in 1..99999");
  }
  if (o.image_size < 64 || o.image_size > 8192) {
    return absl::InvalidArgumentError("--size must be in 64..8192");
  }
  if (o.sources_per_detector < 0) {
    return absl::InvalidArgumentError("--sources must be >= 0");
  }
  if (o.bitpix != -32 && o.bitpix != 32) {
    return absl::InvalidArgumentError("--bitpix must be -32 or 32");
  }
  if (o.cadence_days < 1 || o.cadence_days > 3650) {
    return absl::InvalidArgumentError("--cadence must be in 1..3650 days");
  }
  if (o.sky == SkyMode::kRevisit) {
    if (absl::Status s = ValidateSkyOptions(o); !s.ok()) return s;
  }
  int spoiling = 0;
  for (size_t i = 0; i < o.defects.size(); ++i) {
    if (std::count(o.defects.begin(), o.defects.end(), o.defects[i]) > 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "defect '", DefectName(o.defects[i]), "' is given twice"));
    }
    if (SpoilsFrame(o.defects[i])) ++spoiling;
  }
  for (Defect d : {Defect::kDuplicateSeqnum, Defect::kRaOutOfRange}) {
    if (std::count(o.defects.begin(), o.defects.end(), d) > 0 && o.sources_per_detector < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("defect '", DefectName(d), "' needs --sources >= 2"));
    }
  }
  if (spoiling > 0 && o.frames_per_night < spoiling + 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        spoiling, " defects that spoil a frame need at least ", spoiling + 1,
        " frames per night, so frame 1 stays clean"));
  }
  return absl::OkStatus();
}

absl::CivilDay NightDay(const Options& options, int night_index) {
  return options.first_night +
         static_cast<int64_t>(night_index) * options.cadence_days;
}

std::string NightName(const Options& options, int night_index) {
  const absl::CivilDay day = NightDay(options, night_index);
  return absl::StrFormat("%04d%02d%02d", day.year(), day.month(), day.day());
}

FrameModel MakeFrame(const Options& options, int night_index, int run_number,
                     const Sky* sky) {
  Random rng({options.seed, static_cast<uint64_t>(night_index),
              static_cast<uint64_t>(run_number), 0});
  FrameModel f;
  f.night = NightName(options, night_index);
  f.run_number = run_number;
  f.image_name = absl::StrFormat("w%s_%05d.fit", f.night, run_number);
  f.catalogue_name = absl::StrFormat("w%s_%05d_cat.fits", f.night, run_number);
  f.ut_date = f.night;

  const bool revisit = options.sky == SkyMode::kRevisit;
  if (revisit) {
    const Visit visit = VisitOf(options, run_number);
    f.field = visit.field;
    f.band = visit.band;
    const SkyPosition pointing =
        FramePointing(options, night_index, run_number);
    f.ra_base = pointing.ra;
    f.dec_base = pointing.dec;
    // Named by the field's centre: the same name every night.
    const SkyPosition centre = FieldCentre(options, visit.field);
    f.object = absl::StrFormat("LAS_%.3f_%+.3f", centre.ra, centre.dec);
  } else {
    f.band = (run_number - 1) / 2 % 5;
    // A night's tiles march along a stripe; each night moves 15 degrees on.
    f.ra_base =
        std::fmod(30.0 + 15.0 * night_index + 0.9 * ((run_number - 1) / 10) +
                      rng.Uniform(-0.01, 0.01),
                  360.0);
    f.dec_base =
        -1.0 + 0.9 * ((run_number - 1) % 10 / 2) + rng.Uniform(-0.01, 0.01);
    f.object = absl::StrFormat("LAS_%.3f_%+.3f", f.ra_base, f.dec_base);
  }
  const Band& band = kBands[f.band];
  f.filter = band.name;
  f.exp_time = band.exp_time;
  f.project = "U/UKIDSS/LAS";
  f.survey = "UKIDSS";
  f.obs_type = "OBJECT";
  f.msb_id = absl::StrFormat("msb%08x", static_cast<uint32_t>(rng.Next()));
  f.run_id = absl::StrFormat("w%s_%05d", f.night, run_number);
  const absl::CivilDay night_day = NightDay(options, night_index);
  const double night_mjd = static_cast<double>(night_day - absl::CivilDay(1858, 11, 17));
  // Observing starts at 06:00 UT (20:00 in Hawaii); one frame a minute.
  f.mjd_obs = night_mjd + 0.25 + (run_number - 1) * 60.0 / 86400.0;
  f.date_obs = IsoTime(f.mjd_obs);
  f.date_end = IsoTime(f.mjd_obs + f.exp_time / 86400.0);
  f.am_start = 1.0 + 0.6 * rng.Uniform();
  f.am_end = f.am_start + 0.002;

  const double seeing_arcsec = rng.Uniform(0.6, 1.2);
  const double n = options.image_size;
  const double scale = kPixelScale / 3600.0;
  for (int d = 0; d < kDetectorsPerFrame; ++d) {
    DetectorModel& det = f.detectors[d];
    Random drng({options.seed, static_cast<uint64_t>(night_index),
                 static_cast<uint64_t>(run_number),
                 static_cast<uint64_t>(d + 1)});
    det.cam_num = d + 1;
    det.extname = absl::StrCat("DET", d + 1);
    det.detect_id = absl::StrCat("WFCAM-H2RG-", 100 + d + 1);
    // Detectors 1..4 counter-clockwise from the lower left of the focal
    // plane; the optical axis (CRPIX) lies off each detector.
    const double ox = (d == 0 || d == 3) ? -kDetectorOffset : kDetectorOffset;
    const double oy = (d < 2) ? -kDetectorOffset : kDetectorOffset;
    det.wcs.projection = Wcs::Projection::kZpn;
    det.wcs.crval1 = f.ra_base;
    det.wcs.crval2 = f.dec_base;
    det.wcs.crpix1 = (n + 1) / 2 - ox * n;
    det.wcs.crpix2 = (n + 1) / 2 - oy * n;
    const double rot = drng.Uniform(-0.05, 0.05) * M_PI / 180.0;
    det.wcs.cd1_1 = -scale * std::cos(rot);
    det.wcs.cd1_2 = scale * std::sin(rot);
    det.wcs.cd2_1 = scale * std::sin(rot);
    det.wcs.cd2_2 = scale * std::cos(rot);
    det.wcs.pv2[3] = kPv2_3;
    det.seeing = seeing_arcsec / kPixelScale * drng.Uniform(0.95, 1.05);
    det.gain = 4.2 + 0.1 * d;
    det.read_noise = 25;
    det.sky_level = band.sky_per_10s * band.exp_time / 10.0 * drng.Uniform(0.9, 1.1);
    det.sky_noise = std::sqrt(det.sky_level / det.gain +
                              std::pow(det.read_noise / det.gain, 2));
    det.mag_zpt = band.zero_point + 0.02 * drng.Normal();
    if (revisit) {
      if (sky != nullptr) sky->Observe(options, f, night_index, &det);
      continue;
    }

    // Magnitudes from 12 to 19.5 with counts rising as 10^(0.3 m), as for
    // faint stars at high latitude.
    const double lo = std::pow(10.0, 0.3 * 12.0), hi = std::pow(10.0, 0.3 * 19.5);
    const double sigma = det.seeing / 2.3548;
    det.stars.resize(options.sources_per_detector);
    for (Star& s : det.stars) {
      s.x = drng.Uniform(4, n - 3);
      s.y = drng.Uniform(4, n - 3);
      s.mag = std::log10(lo + drng.Uniform() * (hi - lo)) / 0.3;
      // mag = MAGZPT - 2.5 log10(counts / EXPTIME)
      s.flux = std::pow(10.0, -0.4 * (s.mag - det.mag_zpt)) * f.exp_time;
      s.sigma = sigma;
      SkyPosition p = PixelToSky(det.wcs, s.x, s.y);
      s.ra = p.ra;
      s.dec = p.dec;
      s.true_x = s.x;
      s.true_y = s.y;
      s.true_flux = s.flux;
    }
    std::sort(det.stars.begin(), det.stars.end(),
              [](const Star& a, const Star& b) {
                return a.y != b.y ? a.y < b.y : a.x < b.x;
              });
  }
  return f;
}

}  // namespace curator::synth
