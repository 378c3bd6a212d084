#include "synth/survey_generator.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "archive/layout.h"
#include "base/files.h"
#include "base/status.h"
#include "synth/frame_writer.h"
#include "synth/random.h"
#include "synth/sky.h"
#include "synth/truth.h"

namespace curator::synth {
namespace {

namespace fs = std::filesystem;

struct Job {
  int night_index;
  int run_number;
  bool image;      // write the image file
  bool catalogue;  // write the catalogue file
  std::vector<Defect> defects;
};

FrameDefects ToFrameDefects(const std::vector<Defect>& defects) {
  FrameDefects d;
  for (Defect x : defects) {
    d.missing_keyword |= x == Defect::kMissingKeyword;
    d.wrong_keyword_type |= x == Defect::kWrongKeywordType;
    d.nan_columns |= x == Defect::kNanColumns;
    d.empty_table |= x == Defect::kEmptyTable;
    d.wrong_column_type |= x == Defect::kWrongColumnType;
    d.ra_out_of_range |= x == Defect::kRaOutOfRange;
    d.extra_tables |= x == Defect::kExtraTables;
    d.missing_tables |= x == Defect::kMissingTables;
    d.duplicate_seqnum |= x == Defect::kDuplicateSeqnum;
  }
  return d;
}

bool Has(const std::vector<Defect>& defects, Defect d) {
  return std::find(defects.begin(), defects.end(), d) != defects.end();
}

absl::StatusOr<int64_t> FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, path);
  return static_cast<int64_t>(st.st_size);
}

absl::Status Truncate(const std::string& path) {
  CURATOR_ASSIGN_OR_RETURN(int64_t size, FileSize(path));
  // Cut inside the data, past the first extension's header, and off a
  // 2880-byte block boundary, as an interrupted transfer would.
  if (truncate(path.c_str(), size * 3 / 5 + 123) != 0) {
    return ErrnoToStatus(errno, path);
  }
  return absl::OkStatus();
}

std::string JsonString(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

std::string NightToJson(const Options& options, const NightRecord& night) {
  const bool revisit = options.sky == SkyMode::kRevisit;
  std::vector<std::string> files;
  for (const FileRecord& f : night.files) {
    std::vector<std::string> defects;
    for (Defect d : f.defects) defects.push_back(JsonString(DefectName(d)));
    std::string sky;
    if (revisit) {
      sky = absl::StrFormat(", \"field\": %d, \"band\": %s", f.field,
                            JsonString(f.band));
    }
    files.push_back(absl::StrFormat(
        "    {\"name\": %s, \"kind\": \"%s\", \"run\": %d, \"sources\": %d, "
        "\"bytes\": %d, \"defects\": [%s]%s}",
        JsonString(f.name), f.is_catalogue ? "catalogue" : "image",
        f.run_number, f.sources, f.bytes, absl::StrJoin(defects, ", "), sky));
  }
  std::string sky;
  if (revisit) {
    sky = absl::StrFormat(
        "  \"sky\": \"revisit\",\n  \"fields\": %d,\n  \"bands\": %s,\n"
        "  \"cadence_days\": %d,\n  \"reference_mjd\": %.6f,\n"
        "  \"objects\": \"objects.csv\",\n  \"detections\": "
        "\"%s_objects.csv\",\n",
        options.fields, JsonString(options.bands), options.cadence_days,
        ReferenceMjd(options), night.night);
  }
  return absl::StrFormat(
      "{\n  \"night\": \"%s\",\n  \"seed\": %d,\n  \"frames\": %d,\n"
      "  \"image_size\": %d,\n  \"sources_per_detector\": %d,\n"
      "  \"bitpix\": %d,\n  \"compression\": \"%s\",\n%s  \"files\": [\n%s\n  "
      "]\n}\n",
      night.night, options.seed, options.frames_per_night, options.image_size,
      options.sources_per_detector, options.bitpix,
      options.compression == fits::Compression::kRice   ? "rice"
      : options.compression == fits::Compression::kGzip ? "gzip"
                                                        : "none",
      sky, absl::StrJoin(files, ",\n"));
}

absl::StatusOr<SurveyRecord> GenerateSurvey(const Options& options) {
  CURATOR_RETURN_IF_ERROR(ValidateOptions(options));
  const absl::Time start = absl::Now();
  const int frames = options.frames_per_night;

  // Which frame each spoiling defect lands on: the last frames, in the
  // order the defects were given.
  std::map<int, std::vector<Defect>> defects_of_run;
  int next_spoiled = frames;
  for (Defect d : options.defects) {
    if (SpoilsFrame(d)) defects_of_run[next_spoiled--].push_back(d);
  }
  const bool orphan = Has(options.defects, Defect::kOrphanCatalogue);
  const bool duplicate = Has(options.defects, Defect::kDuplicatedFile);
  const bool revisit = options.sky == SkyMode::kRevisit;
  std::optional<Sky> sky;
  if (revisit) sky = Sky::Build(options);

  std::vector<Job> jobs;
  SurveyRecord survey;
  for (int night = 0; night < options.nights; ++night) {
    NightRecord record;
    record.night = NightName(options, night);
    record.dir = layout::IncomingNightDir(options.out_dir, record.night);
    std::error_code ec;
    fs::create_directories(record.dir, ec);
    if (ec) return absl::UnavailableError(absl::StrCat(record.dir, ": ", ec.message()));
    // A night being (re)made is not complete until the marker is rewritten.
    fs::remove(absl::StrCat(record.dir, "/", layout::kTransferMarker), ec);
    survey.nights.push_back(std::move(record));
    for (int run = 1; run <= frames; ++run) {
      jobs.push_back({night, run, true, true, defects_of_run[run]});
    }
    if (orphan) jobs.push_back({night, frames + 1, false, true, {Defect::kOrphanCatalogue}});
  }

  const FastNormal normal;
  std::atomic<size_t> next{0};
  std::mutex mu;
  absl::Status first_error;
  std::vector<std::vector<FileRecord>> made(jobs.size());
  std::vector<std::string> truth(jobs.size());  // the revisited sky's rows
  auto work = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error.ok()) return;
      }
      const Job& job = jobs[i];
      const FrameModel frame = MakeFrame(options, job.night_index,
                                         job.run_number, sky ? &*sky : nullptr);
      const int field = frame.field;
      const std::string& dir = survey.nights[job.night_index].dir;
      const FrameDefects fd = ToFrameDefects(job.defects);
      int64_t stars = 0;
      for (const DetectorModel& d : frame.detectors) stars += d.stars.size();
      absl::Status status;
      if (job.image) {
        const std::string path = dir + "/" + frame.image_name;
        status = WriteImageFile(frame, options, fd, job.night_index, normal, path);
        if (status.ok() && Has(job.defects, Defect::kTruncatedImage)) status = Truncate(path);
        for (Defect d : {Defect::kGarbageXtension, Defect::kHugeImage, Defect::kBadZbitpix}) {
          if (status.ok() && Has(job.defects, d)) {
            status = SpoilImageFile(path, d, options.compression != fits::Compression::kNone);
          }
        }
        std::vector<Defect> mine;
        for (Defect d : job.defects) {
          if (!SpoilsCatalogue(d)) mine.push_back(d);
        }
        made[i].push_back({frame.image_name, false, job.run_number, stars, 0,
                           mine, field, frame.filter});
      }
      if (status.ok() && job.catalogue) {
        const std::string path = dir + "/" + frame.catalogue_name;
        status = WriteCatalogueFile(frame, fd, path);
        if (status.ok() && Has(job.defects, Defect::kTruncatedCatalogue)) status = Truncate(path);
        std::vector<Defect> mine;
        for (Defect d : job.defects) {
          if (!SpoilsImage(d)) mine.push_back(d);
        }
        made[i].push_back({frame.catalogue_name, true, job.run_number,
                           CatalogueRows(frame, fd), 0, mine, field,
                           frame.filter});
        if (revisit) truth[i] = DetectionTruthCsv(frame, fd);
      }
      if (!status.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = status;
      }
    }
  };
  int threads = options.threads > 0
                    ? options.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  {
    std::vector<std::jthread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  }
  CURATOR_RETURN_IF_ERROR(first_error);

  const std::string truth_dir = options.out_dir + "/truth";
  {
    std::error_code ec;
    fs::create_directories(truth_dir, ec);
    if (ec)
      return absl::UnavailableError(
          absl::StrCat(truth_dir, ": ", ec.message()));
  }
  if (revisit) {
    CURATOR_RETURN_IF_ERROR(files::WriteAtomically(truth_dir + "/objects.csv",
                                                   ObjectsCsv(options, *sky)));
  }
  std::vector<std::string> night_truth(survey.nights.size(), kDetectionsHeader);
  for (size_t i = 0; i < jobs.size(); ++i) {
    NightRecord& night = survey.nights[jobs[i].night_index];
    for (FileRecord& f : made[i]) night.files.push_back(std::move(f));
    // Jobs are in (night, run) order: the rows come by file name.
    night_truth[jobs[i].night_index] += truth[i];
    std::string().swap(truth[i]);
  }
  for (NightRecord& night : survey.nights) {
    if (duplicate) {
      // Frame 1's image again under the next free run number.
      const std::string name =
          absl::StrFormat("w%s_%05d.fit", night.night, frames + 2);
      std::error_code ec;
      fs::copy_file(absl::StrFormat("%s/w%s_%05d.fit", night.dir, night.night, 1),
                    night.dir + "/" + name, fs::copy_options::overwrite_existing, ec);
      if (ec) return absl::UnavailableError(absl::StrCat(name, ": ", ec.message()));
      const FileRecord first = night.files.front();
      night.files.push_back({name,
                             false,
                             frames + 2,
                             first.sources,
                             0,
                             {Defect::kDuplicatedFile},
                             first.field,
                             first.band});
    }
    std::sort(night.files.begin(), night.files.end(),
              [](const FileRecord& a, const FileRecord& b) { return a.name < b.name; });
    for (FileRecord& f : night.files) {
      CURATOR_ASSIGN_OR_RETURN(f.bytes, FileSize(night.dir + "/" + f.name));
      night.bytes += f.bytes;
      (f.is_catalogue ? night.catalogues : night.images) += 1;
      night.sources += f.is_catalogue ? 0 : f.sources;
    }
    if (revisit) {
      const size_t index = &night - survey.nights.data();
      CURATOR_RETURN_IF_ERROR(files::WriteAtomically(
          absl::StrCat(truth_dir, "/", night.night, "_objects.csv"),
          night_truth[index]));
    }
    CURATOR_RETURN_IF_ERROR(files::WriteAtomically(
        absl::StrCat(truth_dir, "/", night.night, ".json"), NightToJson(options, night)));
    // Last: the night is complete.
    CURATOR_RETURN_IF_ERROR(files::WriteAtomically(
        absl::StrCat(night.dir, "/", layout::kTransferMarker),
        absl::StrCat("files ", night.files.size(), "\n")));
  }
  survey.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return survey;
}

}  // namespace curator::synth
