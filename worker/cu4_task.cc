#include "worker/cu4_task.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "worker/batch_writer.h"

namespace curator::worker {
namespace {

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

// Runs fn(i) for i in `items` on `threads` threads.
void ParallelFor(const std::vector<size_t>& items, int threads,
                 const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k = next++; k < items.size(); k = next++) fn(items[k]);
  };
  std::vector<std::jthread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
}

}  // namespace

absl::StatusOr<TaskOutput> RunCu4(const Cu4Input& in) {
  std::vector<CatalogueInput> cats = in.catalogues;
  std::stable_sort(cats.begin(), cats.end(), [](const CatalogueInput& a, const CatalogueInput& b) {
    return a.multiframe_id != b.multiframe_id ? a.multiframe_id < b.multiframe_id
                                              : a.path < b.path;
  });
  const size_t n = cats.size();
  int threads = in.threads > 0 ? in.threads
                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::string> keys;
  for (const CatalogueInput& c : cats) keys.push_back(absl::StrCat(c.path, "|", c.multiframe_id));
  const std::string batch_id = MakeBatchId(in.night, 4, keys);
  CURATOR_ASSIGN_OR_RETURN(
      std::unique_ptr<BatchWriter> batch,
      BatchWriter::Create(in.archive_root, in.night, 4, batch_id,
                          in.cu_event_id, in.rerun));
  std::vector<std::string> columns;
  for (const DetectionColumn& c : DetectionColumns()) columns.push_back(c.name);

  // Pass 1: headers only.
  tasklog::Step scan_step{"scan catalogues", absl::Now()};
  std::vector<absl::StatusOr<CatalogueScan>> scans(n, absl::UnknownError("not scanned"));
  std::vector<size_t> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = i;
  ParallelFor(all, threads, [&](size_t i) { scans[i] = ScanCatalogue(cats[i]); });
  scan_step.finished = absl::Now();

  // Pass 2: convert with ids from the counts; if a catalogue fails while
  // converting, the ones after it are numbered again without it.
  tasklog::Step convert_step{"convert", absl::Now()};
  std::vector<absl::Status> failed(n);
  for (size_t i = 0; i < n; ++i) failed[i] = scans[i].status();
  std::vector<int64_t> rows(n, 0);
  std::vector<pgcopy::Writer*> files(n, nullptr);
  std::vector<absl::Time> started(n), finished(n);
  absl::Status systematic;
  std::mutex mu;
  std::vector<size_t> pending;
  for (size_t i = 0; i < n; ++i) {
    if (failed[i].ok()) pending.push_back(i);
  }
  while (!pending.empty()) {
    std::vector<int64_t> first(n, 0);
    int64_t next = 0;
    for (size_t i = 0; i < n; ++i) {
      first[i] = next;
      if (failed[i].ok()) next += scans[i]->rows;
    }
    ParallelFor(pending, threads, [&](size_t i) {
      if (in.control != nullptr && in.control->Cancelled()) return;
      started[i] = absl::Now();
      if (files[i] != nullptr) batch->DiscardFile(files[i]);
      absl::StatusOr<pgcopy::Writer*> w = batch->AddFile(
          absl::StrFormat("detection_%012d.pgcopy", cats[i].multiframe_id), "detection", columns,
          cats[i].multiframe_id);
      if (!w.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        systematic = w.status();
        return;
      }
      absl::StatusOr<int64_t> written = ConvertCatalogue(cats[i], *scans[i], first[i], **w);
      absl::Status closed = written.ok() ? batch->CloseFile(*w) : absl::OkStatus();
      finished[i] = absl::Now();
      std::lock_guard<std::mutex> lock(mu);
      if (!written.ok()) {
        batch->DiscardFile(*w);
        files[i] = nullptr;
        failed[i] = written.status();
      } else if (!closed.ok()) {
        systematic = closed;
      } else {
        files[i] = nullptr;  // closed: no longer ours to discard
        rows[i] = *written;
      }
    });
    CURATOR_RETURN_IF_ERROR(systematic);
    if (in.control != nullptr && in.control->Cancelled()) {
      return absl::CancelledError(absl::StrCat("CU4 of ", in.night, " was cancelled"));
    }
    // Anything after the first catalogue that failed in this round has
    // the wrong ids now.
    size_t first_new_failure = n;
    for (size_t i : pending) {
      if (!failed[i].ok()) first_new_failure = std::min(first_new_failure, i);
    }
    std::vector<size_t> again;
    for (size_t i : pending) {
      if (i > first_new_failure && failed[i].ok()) again.push_back(i);
    }
    for (size_t i : again) rows[i] = 0;
    pending = std::move(again);
  }
  convert_step.finished = absl::Now();
  if (in.control != nullptr) {
    for (size_t i = 0; i < n; ++i) in.control->FileDone(failed[i].ok());
  }

  v1::Manifest& manifest = batch->manifest();
  for (size_t i = 0; i < n; ++i) {
    const CatalogueInput& c = cats[i];
    tasklog::FileEntry entry{c.path, c.multiframe_id, started[i], finished[i]};
    v1::InputOutcome* outcome = manifest.add_inputs();
    outcome->set_path(c.path);
    outcome->set_multiframe_id(c.multiframe_id);
    outcome->set_started(Rfc3339(started[i]));
    outcome->set_finished(Rfc3339(finished[i]));
    if (!failed[i].ok()) {
      v1::FileProblem* p = manifest.add_failures();
      p->set_path(c.path);
      p->set_message(std::string(failed[i].message()));
      convert_step.messages.push_back({"error", c.path, 0, "", std::string(failed[i].message())});
      entry.errors = 1;
      outcome->set_errors(1);
      ++convert_step.errors;
    } else {
      for (const v1::FileProblem& note : scans[i]->info) {
        convert_step.messages.push_back({"info", note.path(), note.hdu(), note.item(), note.message()});
      }
      for (const v1::FileProblem& note : scans[i]->notes) {
        *manifest.add_warnings() = note;
        convert_step.messages.push_back({"warning", note.path(), note.hdu(), note.item(), note.message()});
        ++entry.warnings;
      }
      entry.rows = rows[i];
      outcome->set_rows(rows[i]);
      outcome->set_warnings(entry.warnings);
      convert_step.warnings += entry.warnings;
      convert_step.rows += rows[i];
    }
    convert_step.files.push_back(std::move(entry));
  }
  CURATOR_ASSIGN_OR_RETURN(std::string dir, batch->Commit());
  TaskOutput out;
  out.batch_dir = dir;
  out.manifest = batch->manifest();
  out.steps = {std::move(scan_step), std::move(convert_step)};
  return out;
}

}  // namespace curator::worker
