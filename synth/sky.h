// The revisited sky (--sky=revisit): one fixed catalogue of true objects
// that every night's frames observe again, field by field and band by
// band, each time with fresh measurement noise, so that a cross-match of
// the nights' detections can be checked against the truth. A pure function
// of the options, like the rest of the model.
//
// Fields. options.fields pointings on a grid (FieldCentre), each frame of a
// field pointed at its centre plus a jitter of up to 3 arcsec in RA and in
// Dec drawn per frame, so detectors never land on quite the same pixels.
//
// Objects. Each field has its own objects, uniform over a square of
// half-width FieldHalfWidthArcsec about its centre (the frame's footprint
// plus a margin for the jitter, rotation and proper motion), at the density
// that puts options.sources_per_detector on a detector. Fields are
// disjoint and further apart than the margin, so a frame of field k sees
// only field k's objects. Close pairs are rare, as at high galactic
// latitude: an object drawn within 1 arcsec of another is always drawn
// again, one within 3 arcsec is kept with probability kKeepClosePair.
// Kinds: 15% galaxies (extended, CASU class +1), 5% stars with proper
// motions of 0.1..1 arcsec/yr in a random direction, 3% variable stars,
// the rest plain stars; and per field 1 + objects / 500 transients, each
// seen in one frame only (a random frame of the field, placed inside one of
// its detectors). Magnitudes: J from 12 to 19.5 with counts rising as
// 10^(0.3 m) as in the random sky; other bands by a colour per object
// (see kColourCoefficients in sky.cc); transients flat, 13..16.5 (bright
// enough to be detected in any band).
//
// Epochs (t: an MJD; dt = (t - reference_mjd) / 365.25 years):
//   ra(t)  = ra + pm_ra * dt / 3600 / cos(dec)   (pm_ra is mu_alpha cos dec)
//   dec(t) = dec + pm_dec * dt / 3600
//   mag_b(t) = mag_b + var_amp * sin(2 pi (t - reference_mjd) / var_period
//                                    + var_phase)
//
// Observation (Observe): a detector lists the objects whose true pixel at
// the frame's MJD-OBS lies in [5, size - 4] on both axes and whose flux,
// drawn about the true flux with its error (photon and sky noise in an
// aperture of radius 2 sigma), is at least 3 times that error, as a
// detection threshold would. The catalogue's position is the true one
// moved by a Gaussian of 0.1 arcsec x 10 / (S/N) per axis (at most 0.5
// arcsec, deviates cut at 3 sigma), its flux the drawn one; the image
// shows the object at its true position and flux.
#ifndef CURATOR_SYNTH_SKY_H_
#define CURATOR_SYNTH_SKY_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "fits/wcs.h"
#include "synth/survey_model.h"

namespace curator::synth {

inline constexpr double kMaxProperMotion = 1.0;  // arcsec per year
inline constexpr double kKeepClosePair = 0.1;

struct SkyObject {
  int64_t id = 0;  // 1..objects().size(), its index + 1
  int field = 0;
  ObjectKind kind = ObjectKind::kStar;
  double ra = 0, dec = 0;        // degrees, at the reference epoch
  double pm_ra = 0, pm_dec = 0;  // arcsec per year; pm_ra is mu_alpha cos dec
  std::array<double, kNumBands> mag = {};  // mean magnitudes, Z Y J H K
  double var_amp = 0, var_period = 0, var_phase = 0;  // mag, days, radians
  double size = 0;  // galaxies: intrinsic Gaussian sigma, arcsec; else 0
  // Transients: the only frame they are in (night index, run number).
  int transient_night = -1, transient_run = 0;
};

// Where field `field` (0-based) points: centres on a grid of
// ceil(sqrt(fields)) columns from (RA 30, Dec 0), rows northwards, spaced
// by FieldSpacingArcsec.
SkyPosition FieldCentre(const Options& options, int field);
// Half the side of a field's square of objects, arcsec.
double FieldHalfWidthArcsec(const Options& options);
double FieldSpacingArcsec(const Options& options);
// The pointing (RABASE, DECBASE) of frame `run_number` of night
// `night_index`: its field's centre plus the frame's jitter.
SkyPosition FramePointing(const Options& options, int night_index,
                          int run_number);
// The reference epoch of positions and phases: MJD-OBS of the first frame
// of the first night.
double ReferenceMjd(const Options& options);
// InvalidArgument when the revisited sky cannot be made for `options`
// (bands, fields that do not fit below Dec 60, a span over 25 years).
absl::Status ValidateSkyOptions(const Options& options);

// The fixed sky. Immutable once built; thread-safe to read.
class Sky {
 public:
  // The sky of `options` (options.sky must be kRevisit and the options
  // valid). A field's objects other than transients depend only on the
  // seed, the field, image_size and sources_per_detector; the transients
  // also on nights, frames_per_night, bands and fields.
  static Sky Build(const Options& options);

  const std::vector<SkyObject>& objects() const { return objects_; }
  double reference_mjd() const { return reference_mjd_; }

  SkyPosition PositionAt(const SkyObject& object, double mjd) const;
  double MagnitudeAt(const SkyObject& object, int band, double mjd) const;

  // Fills det->stars and det->truth with what the detector of `frame`
  // (frame `frame.run_number` of night `night_index`, its WCS, zero point,
  // seeing, gain and sky set) sees of the sky, in catalogue order (y, then
  // x). Looks only at the objects of the frame's field in the detector's
  // band of Dec.
  void Observe(const Options& options, const FrameModel& frame, int night_index,
               DetectorModel* det) const;

 private:
  // The indices of field `field`'s objects whose reference Dec is in
  // [lo, hi], by Dec.
  absl::Span<const int32_t> InDec(int field, double lo, double hi) const;

  double reference_mjd_ = 0;
  std::vector<SkyObject> objects_;
  std::vector<int32_t> by_dec_;      // per field, indices sorted by Dec
  std::vector<size_t> field_begin_;  // field k: by_dec_[begin[k], begin[k+1])
};

}  // namespace curator::synth

#endif  // CURATOR_SYNTH_SKY_H_
