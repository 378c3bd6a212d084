// CU3: the multiframe metadata of a night, from FITS headers into a batch
// for the multiframe, multiframe_detector and multiframe_header_card
// tables. Files are read in parallel; one bad file goes into the batch's
// failure list and the night goes on.
#ifndef CURATOR_WORKER_CU3_TASK_H_
#define CURATOR_WORKER_CU3_TASK_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "archive/task_log.h"
#include "curator/v1/batch.pb.h"
#include "worker/batch_writer.h"
#include "worker/task_control.h"

namespace curator::worker {

// One registered image multiframe.
struct ImageInput {
  int64_t multiframe_id = 0;
  std::string path;
  std::string file_name;
  absl::Time file_time_stamp;
  std::string cat_name;  // its catalogue's file name, if registered
};

struct TaskInput {
  std::string archive_root;
  std::string night;  // YYYYMMDD
  int64_t cu_event_id = 0;
  std::vector<ImageInput> images;
  int threads = 0;  // 0: one per core
  TaskControl* control = nullptr;  // progress and cancellation, optional
  Rerun rerun;
};

struct TaskOutput {
  std::string batch_dir;
  v1::Manifest manifest;
  std::vector<tasklog::Step> steps;  // for the task's log
};

// Fails only on a systematic problem (cannot write the batch); bad input
// files are in manifest.failures.
absl::StatusOr<TaskOutput> RunCu3(const TaskInput& input);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU3_TASK_H_
