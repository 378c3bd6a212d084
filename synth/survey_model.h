// What curator-synth draws: the observing parameters of each multiframe
// and the stars on each of its detectors. Pure functions of the options
// and (night, frame), so every file can be made independently and the
// same seed always gives the same survey.
#ifndef CURATOR_SYNTH_SURVEY_MODEL_H_
#define CURATOR_SYNTH_SURVEY_MODEL_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "fits/fits.h"
#include "fits/wcs.h"

namespace curator::synth {

// Faults a night can be given, for tests of bad input. Each one that
// spoils a multiframe takes its own frame, counting down from the last;
// frame 1 always stays clean.
enum class Defect {
  kTruncatedImage,      // image file cut short in its pixel data
  kTruncatedCatalogue,  // catalogue file cut short in its table data
  kMissingKeyword,      // MJD-OBS absent from the primary, MAGZPT from DET2
  kWrongKeywordType,    // EXPTIME written as a string
  kNanColumns,          // RA and DEC NaN in every 10th row of DET1's table
  kEmptyTable,          // DET3's table has no rows
  kWrongColumnType,     // X_coordinate written as a text column
  kOrphanCatalogue,     // an extra catalogue whose image never arrives
  kDuplicatedFile,      // a byte-for-byte copy of frame 1's image
  kRaOutOfRange,        // RA = 1e6 radians in the last 5 rows of DET2's table
  kExtraTables,         // the catalogue has 8 tables for the image's 4 detectors
  kMissingTables,       // the catalogue has tables for DET1 and DET2 only
  kDuplicateSeqnum,     // Sequence_number 1 twice (rows 1 and 2) in DET1's table
  kGarbageXtension,     // DET3's XTENSION card in the image holds garbage
  kHugeImage,           // DET4's header says NAXIS1 = NAXIS2 = 2000000000 (ZNAXISn if
                        // compressed); the file ends after that header
  kBadZbitpix,          // ZBITPIX = 13 in DET2 (BITPIX = 13 if not compressed)
};

inline constexpr int kDetectorsPerFrame = 4;
inline constexpr double kPixelScale = 0.4;  // arcsec per pixel, WFCAM
// WFCAM's four detectors sit in a 2 x 2 grid whose spacing is 94% of a
// detector's width; centres are this many widths from the optical axis.
inline constexpr double kDetectorOffset = 0.97;

// The filters, 0..4: Z Y J H K.
inline constexpr int kNumBands = 5;
const char* BandName(int band);
// The band named by one letter; -1 if none.
int BandIndex(char name);

// Which sky the frames observe.
enum class SkyMode {
  kRandom,   // each frame draws its own stars independently (the default)
  kRevisit,  // one fixed sky whose fields every night observes again
             // (synth/sky.h)
};

// What a true object of the revisited sky is; "star", "galaxy", ... in
// the truth files.
enum class ObjectKind { kStar, kGalaxy, kVariable, kMoving, kTransient };
const char* ObjectKindName(ObjectKind kind);

absl::StatusOr<Defect> ParseDefect(absl::string_view name);
std::string DefectName(Defect defect);
const std::vector<Defect>& AllDefects();
// True for defects that spoil one existing multiframe (and so take a frame).
bool SpoilsFrame(Defect defect);
// True for defects of the image file, false for those of the catalogue
// (or of neither: the orphan, the copy).
bool SpoilsImage(Defect defect);
bool SpoilsCatalogue(Defect defect);

struct Options {
  std::string out_dir;
  absl::CivilDay first_night = absl::CivilDay(2007, 10, 21);
  int nights = 1;
  int frames_per_night = 8;
  int image_size = 512;  // pixels per side of each detector (WFCAM: 2048)
  int sources_per_detector = 200;
  fits::Compression compression = fits::Compression::kNone;
  int bitpix = -32;  // -32 (float32) or 32 (int32)
  uint64_t seed = 1;
  std::vector<Defect> defects;
  int threads = 0;  // 0: one per core
  int cadence_days = 1;  // days from one night to the next
  SkyMode sky = SkyMode::kRandom;
  // The revisited sky: the pointings every night observes, and the bands
  // (letters of ZYJHK, in observing order) each is observed in.
  int fields = 2;
  std::string bands = "YJHK";
};

// InvalidArgument naming the option when the options cannot make a survey.
absl::Status ValidateOptions(const Options& options);

// One source of a detector: a row of its catalogue and a Gaussian of its
// image. x, y, flux, ra and dec are what the catalogue says (a
// measurement); true_x, true_y and true_flux are where and how bright the
// image has it. In the random sky they are the same; in the revisited sky
// the catalogue's are drawn around the true ones with their errors.
struct Star {
  double x = 0, y = 0;  // 1-based FITS pixel coordinates
  double mag = 0;       // calibrated magnitude (the true one)
  double flux = 0;      // total counts (ADU) in the exposure
  double sigma = 0;     // Gaussian sigma (PSF, or PSF and galaxy), pixels
  double ra = 0, dec = 0;  // degrees, from the detector's WCS at (x, y)
  double true_x = 0, true_y = 0, true_flux = 0;
  // The catalogue's X/Y_coordinate_err, pixels; 0: sigma / (S/N).
  double position_error = 0;
  int classification = -1;  // CASU: -1 star, +1 extended
};

// What one catalogue row truly is, in the revisited sky.
struct RowTruth {
  int64_t object_id = 0;   // SkyObject::id
  double ra = 0, dec = 0;  // degrees, true position at the frame's MJD-OBS
  double mag = 0;          // true magnitude in the frame's band then
  ObjectKind kind = ObjectKind::kStar;
};

struct DetectorModel {
  int cam_num = 0;  // 1..4; HDU cam_num + 1
  std::string extname;
  std::string detect_id;
  Wcs wcs;
  double seeing = 0;     // FWHM, pixels
  double sky_level = 0;  // ADU
  double sky_noise = 0;  // ADU rms
  double mag_zpt = 0;
  double gain = 0;        // e-/ADU
  double read_noise = 0;  // e-
  std::vector<Star> stars;  // sorted by y, then x: catalogue order
  // The revisited sky: truth[i] is what stars[i] is. Empty in the random
  // sky.
  std::vector<RowTruth> truth;
};

struct FrameModel {
  std::string night;  // YYYYMMDD
  int run_number = 0;
  std::string image_name;      // w20071021_00001.fit
  std::string catalogue_name;  // w20071021_00001_cat.fits
  std::string object, project, survey, filter, obs_type, date_obs, date_end,
      run_id, ut_date, msb_id;
  double mjd_obs = 0, exp_time = 0, ra_base = 0, dec_base = 0,
         am_start = 0, am_end = 0;
  int field = -1;  // the revisited sky's field; -1 in the random sky
  int band = 0;    // 0..4, see BandName
  std::array<DetectorModel, kDetectorsPerFrame> detectors;
};

class Sky;

// The multiframe with run number `run_number` (1-based) of night
// `night_index` (0-based). The revisited sky (options.sky == kRevisit)
// needs `sky` (Sky::Build(options)) for the stars; without it the frame
// has its pointing, detectors and WCS but no stars. The random sky ignores
// `sky`.
FrameModel MakeFrame(const Options& options, int night_index, int run_number,
                     const Sky* sky = nullptr);

// The revisited sky's schedule, the same every night: frames cycle
// through the (field, band) pairs, field 0 in each of options.bands in
// order, then field 1, ...; frames past fields x bands start the cycle
// again (a second visit the same night), and fewer frames leave the last
// pairs unobserved.
struct Visit {
  int field = 0;
  int band = 0;  // 0..4, see BandName
};
Visit VisitOf(const Options& options, int run_number);

// The date of night `night_index` (0-based), and its YYYYMMDD.
absl::CivilDay NightDay(const Options& options, int night_index);
std::string NightName(const Options& options, int night_index);

}  // namespace curator::synth

#endif  // CURATOR_SYNTH_SURVEY_MODEL_H_
