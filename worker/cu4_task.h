// CU4: a night's catalogue detections into one batch for `detection`, one
// binary COPY file per catalogue, rows numbered -1, -2, ... in the order
// (multiframe_id, ext_num, row) across the night, so running the night
// again writes the same data files, byte for byte.
//
// Catalogues are scanned (headers only) and then converted in parallel;
// one bad catalogue (truncated, a text column, non-finite positions, no
// registered image) is named in the batch's failures and the rest of the
// night loads, still densely numbered.
#ifndef CURATOR_WORKER_CU4_TASK_H_
#define CURATOR_WORKER_CU4_TASK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/catalogue_converter.h"
#include "worker/cu3_task.h"
#include "worker/task_control.h"

namespace curator::worker {

struct Cu4Input {
  std::string archive_root;
  std::string night;
  int64_t cu_event_id = 0;
  std::vector<CatalogueInput> catalogues;  // any order; sorted by multiframe_id here
  int threads = 0;                         // 0: one per core
  TaskControl* control = nullptr;          // progress and cancellation, optional
  Rerun rerun;
};

absl::StatusOr<TaskOutput> RunCu4(const Cu4Input& input);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU4_TASK_H_
