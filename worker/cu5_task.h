// CU5: a night's detections associated with the archive's sources
// (docs/ARCHITECTURE.md, "CU5"). Reads from PostgreSQL, with binary COPY,
// the night's detections that have no source yet, and the sources around
// their detectors (each detector's circle widened by twice the match
// radius, so a detection at a detector's edge sees every source it could
// match); associates them with the zones algorithm (worker/zones_match.h);
// and writes a batch for the ingester to apply in one transaction:
//   source.pgcopy            (source_id, ra, dec) of tonight's new sources,
//                            each founded by a detection whose obj_id it takes
//   source_detection.pgcopy  (obj_id, source_id, separation) for every
//                            detection read
//   source_night.pgcopy      one row: detections, new, updated and
//                            unmatched sources, the radius, and the
//                            source_version it was matched against
// The statistics of the sources touched are the ingest's to compute, from
// the links, in the transaction that makes them.
//
// Incremental: detections already linked keep their links and are not
// read, so running a night again, once its batch is in, links nothing new
// and changes nothing. The daemon runs a night's CU5 only once the CU5 of
// the night before is ingested (CuSpec::after_previous_night), so every
// night matches against the sources of all nights before it, whichever
// worker ran what.
#ifndef CURATOR_WORKER_CU5_TASK_H_
#define CURATOR_WORKER_CU5_TASK_H_

#include <string>

#include "absl/status/statusor.h"
#include "worker/batch_writer.h"
#include "worker/cu3_task.h"
#include "worker/task_control.h"

namespace curator::worker {

struct Cu5Input {
  std::string archive_root;
  std::string night;  // YYYYMMDD
  int64_t cu_event_id = 0;
  std::string conninfo;
  double radius_arcsec = 1.0;
  int threads = 0;                 // 0: one per core
  TaskControl* control = nullptr;  // cancellation, optional
  Rerun rerun;
};

// Fails on a systematic problem (the database is away, the batch cannot
// be written) or Cancelled.
absl::StatusOr<TaskOutput> RunCu5(const Cu5Input& input);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU5_TASK_H_
