#include "worker/cu3_task.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "worker/batch_writer.h"
#include "worker/cu3_columns.h"
#include "worker/multiframe_reader.h"

namespace curator::worker {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

void AddValue(pgcopy::Writer& w, const Value& v) {
  if (std::holds_alternative<std::monostate>(v)) {
    w.AddNull();
  } else if (const auto* s = std::get_if<std::string>(&v)) {
    w.AddText(*s);
  } else if (const auto* d = std::get_if<double>(&v)) {
    w.AddFloat64(*d);
  } else if (const auto* i = std::get_if<int64_t>(&v)) {
    w.AddInt32(static_cast<int32_t>(*i));
  } else if (const auto* day = std::get_if<absl::CivilDay>(&v)) {
    w.AddDate(*day);
  } else if (const auto* t = std::get_if<absl::Time>(&v)) {
    w.AddTimestamp(*t);
  }
}

// Where a keyword column sits in its record.
int IndexOf(const std::vector<KeywordColumn>& columns, absl::string_view name) {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].column == name) return static_cast<int>(i);
  }
  return -1;
}

std::string DuplicateKey(const MultiframeRecord& r) {
  const auto& cols = MultiframeKeywords();
  const Value& run = r.values[IndexOf(cols, "run_id")];
  const Value& obs = r.values[IndexOf(cols, "date_obs")];
  if (!std::holds_alternative<std::string>(run) || !std::holds_alternative<absl::Time>(obs)) {
    return "";
  }
  return absl::StrCat(std::get<std::string>(run), "@",
                      absl::FormatTime(std::get<absl::Time>(obs)));
}

}  // namespace

absl::StatusOr<TaskOutput> RunCu3(const TaskInput& input) {
  tasklog::Step read_step;
  read_step.name = "read headers";
  read_step.started = absl::Now();

  // Read every file's headers, in parallel; results stay in input order.
  const size_t n = input.images.size();
  std::vector<absl::StatusOr<MultiframeRecord>> records(n, absl::UnknownError("not read"));
  std::vector<absl::Time> started(n), finished(n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) {
      if (input.control != nullptr && input.control->Cancelled()) return;
      started[i] = absl::Now();
      records[i] = ReadMultiframe(input.images[i].path);
      finished[i] = absl::Now();
      if (input.control != nullptr) input.control->FileDone(records[i].ok());
    }
  };
  int threads = input.threads > 0 ? input.threads
                                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(n, 1)));
  {
    std::vector<std::jthread> pool;
    for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
  }
  read_step.finished = absl::Now();
  if (input.control != nullptr && input.control->Cancelled()) {
    return absl::CancelledError(absl::StrCat("CU3 of ", input.night, " was cancelled"));
  }

  std::vector<std::string> keys;
  for (const ImageInput& img : input.images) {
    keys.push_back(absl::StrCat(img.path, "|", absl::ToUnixMicros(img.file_time_stamp)));
  }
  const std::string batch_id = MakeBatchId(input.night, 3, keys);
  CURATOR_ASSIGN_OR_RETURN(
      std::unique_ptr<BatchWriter> batch,
      BatchWriter::Create(input.archive_root, input.night, 3, batch_id,
                          input.cu_event_id, input.rerun));

  std::vector<std::string> mf_columns = {"multiframe_id", "file_name", "cat_name",
                                         "file_time_stamp", "night", "frame_type"};
  for (const KeywordColumn& c : MultiframeKeywords()) mf_columns.push_back(c.column);
  mf_columns.push_back("num_detectors");
  mf_columns.push_back("cu_event_id");
  std::vector<std::string> det_columns = {"multiframe_id", "ext_num", "bits_per_pix",
                                          "tile_compressed", "axis1_length", "axis2_length"};
  for (const KeywordColumn& c : DetectorKeywords()) det_columns.push_back(c.column);
  det_columns.push_back("cu_event_id");
  const std::vector<std::string> card_columns = {"multiframe_id", "hdu", "card_num", "keyword",
                                                 "value", "comment", "cu_event_id"};
  CURATOR_ASSIGN_OR_RETURN(pgcopy::Writer * mf,
                           batch->AddFile("multiframe.pgcopy", "multiframe", mf_columns));
  CURATOR_ASSIGN_OR_RETURN(
      pgcopy::Writer * det,
      batch->AddFile("multiframe_detector.pgcopy", "multiframe_detector", det_columns));
  CURATOR_ASSIGN_OR_RETURN(
      pgcopy::Writer * cards,
      batch->AddFile("multiframe_header_card.pgcopy", "multiframe_header_card", card_columns));

  tasklog::Step write_step;
  write_step.name = "write batch";
  write_step.started = absl::Now();
  v1::Manifest& manifest = batch->manifest();
  const absl::CivilDay night_day = [&] {
    absl::CivilDay d;
    absl::ParseCivilTime(absl::StrCat(input.night.substr(0, 4), "-", input.night.substr(4, 2),
                                      "-", input.night.substr(6, 2)),
                         &d);
    return d;
  }();
  std::map<std::string, std::string> first_with_key;
  int64_t total_rows = 0;
  for (size_t i = 0; i < n; ++i) {
    const ImageInput& img = input.images[i];
    tasklog::FileEntry entry{img.path, img.multiframe_id, started[i], finished[i]};
    v1::InputOutcome* outcome = manifest.add_inputs();
    outcome->set_path(img.path);
    outcome->set_multiframe_id(img.multiframe_id);
    outcome->set_started(Rfc3339(started[i]));
    outcome->set_finished(Rfc3339(finished[i]));
    absl::Status problem = records[i].status();
    if (problem.ok()) {
      // A byte copy under another name has the same run and start time.
      const std::string key = DuplicateKey(*records[i]);
      if (!key.empty()) {
        auto [it, inserted] = first_with_key.emplace(key, img.file_name);
        if (!inserted) {
          problem = absl::AlreadyExistsError(absl::StrCat(
              img.path, ": duplicate of ", it->second, " (same RUNID and DATE-OBS)"));
        }
      }
    }
    if (!problem.ok()) {
      v1::FileProblem* f = manifest.add_failures();
      f->set_path(img.path);
      f->set_message(std::string(problem.message()));
      read_step.messages.push_back({"error", img.path, 0, "", std::string(problem.message())});
      entry.errors = 1;
      outcome->set_errors(1);
      ++read_step.errors;
      read_step.files.push_back(std::move(entry));
      continue;
    }
    const MultiframeRecord& r = *records[i];
    for (const v1::FileProblem& w : r.warnings) {
      *manifest.add_warnings() = w;
      read_step.messages.push_back({"warning", w.path(), w.hdu(), w.item(), w.message()});
    }
    // multiframe
    mf->StartRow(static_cast<int16_t>(mf_columns.size()));
    mf->AddInt64(img.multiframe_id);
    mf->AddText(img.file_name);
    if (img.cat_name.empty()) mf->AddNull(); else mf->AddText(img.cat_name);
    mf->AddTimestamp(img.file_time_stamp);
    mf->AddDate(night_day);
    mf->AddText("normal");
    for (const Value& v : r.values) AddValue(*mf, v);
    mf->AddInt16(static_cast<int16_t>(r.detectors.size()));
    mf->AddInt64(input.cu_event_id);
    // multiframe_detector
    for (const DetectorRecord& d : r.detectors) {
      det->StartRow(static_cast<int16_t>(det_columns.size()));
      det->AddInt64(img.multiframe_id);
      det->AddInt16(static_cast<int16_t>(d.ext_num));
      det->AddInt16(static_cast<int16_t>(d.bits_per_pix));
      det->AddBool(d.tile_compressed);
      det->AddInt32(static_cast<int32_t>(d.axis1));
      det->AddInt32(static_cast<int32_t>(d.axis2));
      for (const Value& v : d.values) AddValue(*det, v);
      det->AddInt64(input.cu_event_id);
    }
    // every header card
    for (const MultiframeRecord::HduCard& c : r.cards) {
      cards->StartRow(static_cast<int16_t>(card_columns.size()));
      cards->AddInt64(img.multiframe_id);
      cards->AddInt16(static_cast<int16_t>(c.hdu));
      cards->AddInt16(static_cast<int16_t>(c.card_num));
      cards->AddText(c.card.keyword);
      if (c.card.value.empty()) cards->AddNull(); else cards->AddText(c.card.value);
      if (c.card.comment.empty()) cards->AddNull(); else cards->AddText(c.card.comment);
      cards->AddInt64(input.cu_event_id);
    }
    const int64_t rows = 1 + r.detectors.size() + r.cards.size();
    total_rows += rows;
    entry.rows = rows;
    entry.warnings = static_cast<int>(r.warnings.size());
    outcome->set_rows(rows);
    outcome->set_warnings(entry.warnings);
    read_step.warnings += entry.warnings;
    read_step.rows += rows;
    read_step.files.push_back(std::move(entry));
  }
  CURATOR_ASSIGN_OR_RETURN(std::string dir, batch->Commit());
  write_step.finished = absl::Now();
  write_step.rows = total_rows;

  TaskOutput out;
  out.batch_dir = dir;
  out.manifest = batch->manifest();
  out.steps = {std::move(read_step), std::move(write_step)};
  return out;
}

}  // namespace curator::worker
