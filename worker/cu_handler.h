// How a worker runs each CU: one handler per CU, in a table keyed by the
// CU's id (the registry's, archive/cu_registry.h), which the task runner
// and `curator-worker run` look up; nothing in the worker branches on a
// CU's number. A worker checks at start that its table covers every CU
// of the registry (CheckHandlers).
#ifndef CURATOR_WORKER_CU_HANDLER_H_
#define CURATOR_WORKER_CU_HANDLER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "archive/cu_registry.h"
#include "curator/v1/services.pb.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"
#include "worker/task_control.h"

namespace curator::worker {

// Everything a handler is given for one attempt.
struct TaskContext {
  std::string archive_root;
  std::string night;  // YYYYMMDD
  std::string attempt_id;
  int64_t cu_event_id = 0;
  // The night's registered files of the kind the CU reads (none for a CU
  // that reads the database).
  std::vector<v1::TaskFile> files;
  int threads = 0;  // 0: one per core
  // For CUs that read the database (and the task log).
  std::string conninfo;
  TaskControl* control = nullptr;  // progress and cancellation; never null
  // Which run of the task this is; a handler hands it to BatchWriter.
  Rerun rerun;
};

class CuHandler {
 public:
  virtual ~CuHandler() = default;
  // Processes the night into a batch. Fails only on a systematic problem
  // (cannot write the batch, the disk is full, the database is away) or
  // Cancelled; a bad input file is named in the batch's failures.
  // Thread-safe: several attempts may run at once.
  virtual absl::StatusOr<TaskOutput> Run(const TaskContext& context) const = 0;
};

using HandlerTable = std::map<int, std::unique_ptr<const CuHandler>>;

// CU2, CU3, CU4 and CU5, with `jpeg` for CU2's previews and CU5's match
// radius (0: 1 arcsec; the config's cross_match.radius_arcsec).
HandlerTable DefaultHandlers(const JpegOptions& jpeg = {},
                             double match_radius_arcsec = 1.0);

// FailedPrecondition naming every CU of `registry` without a handler.
absl::Status CheckHandlers(const HandlerTable& handlers, const archive::CuRegistry& registry);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU_HANDLER_H_
