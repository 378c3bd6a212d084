// Generates whole survey nights on disk:
//   <out>/incoming/<YYYYMMDD>/w<night>_<run>.fit       images
//   <out>/incoming/<YYYYMMDD>/w<night>_<run>_cat.fits  catalogues
//   <out>/incoming/<YYYYMMDD>/TRANSFER_COMPLETE        written last
//   <out>/truth/<YYYYMMDD>.json   what was made, with each file's defects
// and, in the revisited sky (synth/sky.h; formats in synth/truth.h):
//   <out>/truth/objects.csv               the fixed sky's objects
//   <out>/truth/<YYYYMMDD>_objects.csv    which object each catalogue row is
// Files are made in parallel; the output depends only on the options.
#ifndef CURATOR_SYNTH_SURVEY_GENERATOR_H_
#define CURATOR_SYNTH_SURVEY_GENERATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "synth/survey_model.h"

namespace curator::synth {

struct FileRecord {
  std::string name;
  bool is_catalogue = false;
  int run_number = 0;
  int64_t sources = 0;  // stars drawn (images) or catalogue rows
  int64_t bytes = 0;
  std::vector<Defect> defects;
  int field = -1;    // the revisited sky's field; -1 in the random sky
  std::string band;  // the filter
};

struct NightRecord {
  std::string night;
  std::string dir;
  std::vector<FileRecord> files;  // sorted by name
  int64_t images = 0, catalogues = 0, sources = 0, bytes = 0;
};

struct SurveyRecord {
  std::vector<NightRecord> nights;
  double seconds = 0;
};

absl::StatusOr<SurveyRecord> GenerateSurvey(const Options& options);

// The JSON written to truth/<night>.json. The revisited sky adds "sky",
// "fields", "bands", "cadence_days", "reference_mjd", "objects" and
// "detections" (the truth files' names), and each file's "field" and
// "band".
std::string NightToJson(const Options& options, const NightRecord& night);

}  // namespace curator::synth

#endif  // CURATOR_SYNTH_SURVEY_GENERATOR_H_
