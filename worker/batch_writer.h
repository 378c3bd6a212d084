// Builds a batch (docs/ARCHITECTURE.md, "Batches") so that it appears whole
// or not at all: files are written in a hidden directory of this attempt's
// own, staging/<night>/.<batch_id>.partial-<host>-<pid>-<n>/, the manifest
// last, and the directory is then renamed to staging/<night>/<batch_id>.
// Two attempts of one task at once (a task taken over while its first
// worker still runs it) write apart and never touch each other's files:
// the first to publish wins, the other discards only its own directory.
// A crash leaves only a hidden partial directory, which the ingester
// ignores and RemoveStalePartials clears when a worker starts.
#ifndef CURATOR_WORKER_BATCH_WRITER_H_
#define CURATOR_WORKER_BATCH_WRITER_H_

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "curator/v1/batch.pb.h"
#include "db/pgcopy.h"

namespace curator::worker {

// Which run of its task a batch comes from (docs/ARCHITECTURE.md,
// "Reruns"): 0 the first; each operator's rerun one more. A later run's
// batch is a new batch, "<id>-r<generation>", that replaces the batches
// of the runs before it.
struct Rerun {
  int generation = 0;
  std::vector<std::string> replaces;  // batch ids
};

class BatchWriter {
 public:
  // `batch_id` is the inputs' (MakeBatchId); a rerun's batch is named
  // after it and its generation.
  static absl::StatusOr<std::unique_ptr<BatchWriter>> Create(
      const std::string& archive_root, const std::string& night, int cu,
      const std::string& batch_id, int64_t cu_event_id,
      const Rerun& rerun = {});

  // A new data file for `table`, whose rows have `columns` in this order;
  // it replaces a file of the same name written before.
  // Owned by the writer; valid until CloseFile, DiscardFile or Commit.
  // AddFile, CloseFile and DiscardFile are thread-safe; one file is written
  // by one thread at a time.
  absl::StatusOr<pgcopy::Writer*> AddFile(const std::string& name,
                                          const std::string& table,
                                          const std::vector<std::string>& columns,
                                          int64_t multiframe_id = 0);
  // Finishes the file now (its descriptor is closed) and records its rows,
  // bytes and CRC-32 for the manifest.
  absl::Status CloseFile(pgcopy::Writer* file);
  // Drops the file: deleted and left out of the manifest.
  void DiscardFile(pgcopy::Writer* file);

  // A file that is not table rows (e.g. a preview), written as `name`
  // inside the batch (a relative path of plain components, e.g.
  // "previews/x_2.jpg") and published to `publish_to` (relative to the
  // archive root) by the ingest that loads the batch. Synced by a thread
  // of the writer's own while the caller goes on; Commit waits for it, so
  // the manifest names only durable files. Thread-safe. Unavailable when
  // the disk is full: a systematic failure, never a bad input file's (an
  // I/O error met while syncing fails Commit).
  absl::Status AddAsset(const std::string& name, absl::string_view data,
                        const std::string& publish_to);
  // Drops an asset: deleted and left out of the manifest (a file that
  // failed takes its previews out). Thread-safe.
  void DiscardAsset(const std::string& name);

  // Failures, warnings and per-input outcomes go here (not thread-safe:
  // fill it from one thread). Data files are listed at Commit, by name.
  v1::Manifest& manifest() { return manifest_; }

  // Finishes every file, writes the manifest and publishes the batch.
  // Returns the batch directory. If a ready batch of the same id is there
  // already (the task ran before), it is kept and this one discarded.
  absl::StatusOr<std::string> Commit();

  ~BatchWriter();

 private:
  BatchWriter() = default;
  // The syncing thread's loop: fdatasync of each asset in to_sync_.
  void SyncAssets();
  std::string final_dir_;
  std::string partial_dir_;
  v1::Manifest manifest_;
  std::mutex mu_;
  struct Open {
    std::unique_ptr<pgcopy::Writer> writer;
    v1::BatchFile entry;
  };
  std::vector<Open> open_;                 // guarded by mu_
  std::vector<v1::BatchFile> closed_;      // guarded by mu_
  std::vector<v1::BatchAsset> assets_;     // guarded by mu_
  bool committed_ = false;
  // Assets written and not yet synced, by name; whether one is being
  // synced; the first failure; stopping_ ends the thread. All guarded by
  // mu_, signalled by sync_cv_ both ways.
  std::deque<std::string> to_sync_;
  bool syncing_ = false;
  absl::Status sync_status_;
  bool stopping_ = false;
  std::condition_variable sync_cv_;
  std::thread syncer_;  // started by the first AddAsset
};

// Removes what killed attempts left in staging: partial batch directories
// of this host whose process is gone, and any older than `max_age`
// (whichever host made them). Returns how many were removed.
int RemoveStalePartials(const std::string& archive_root,
                        absl::Duration max_age = absl::Hours(24));

// A batch id from the night, the CU and a digest of the inputs (paths,
// sizes, time stamps): the same inputs always give the same id. Batch ids
// are made of [0-9a-z-] only.
std::string MakeBatchId(const std::string& night, int cu,
                        const std::vector<std::string>& input_keys);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_BATCH_WRITER_H_
