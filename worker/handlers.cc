// The worker handlers of Curator's own CUs: each turns the task's files
// into its task function's input.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/cu4_task.h"
#include "worker/cu5_task.h"
#include "worker/cu_handler.h"

namespace curator::worker {
namespace {

std::vector<ImageInput> Images(const TaskContext& c) {
  std::vector<ImageInput> out;
  for (const v1::TaskFile& f : c.files) {
    out.push_back({f.multiframe_id(), f.path(), f.file_name(),
                   absl::FromUnixMicros(f.file_time_stamp_us()), f.cat_name()});
  }
  return out;
}

class Cu2Handler : public CuHandler {
 public:
  explicit Cu2Handler(JpegOptions jpeg) : jpeg_(std::move(jpeg)) {}
  absl::StatusOr<TaskOutput> Run(const TaskContext& c) const override {
    return RunCu2({c.archive_root, c.night, c.cu_event_id, Images(c), c.threads,
                   jpeg_, c.control, c.rerun});
  }

 private:
  const JpegOptions jpeg_;
};

class Cu3Handler : public CuHandler {
 public:
  absl::StatusOr<TaskOutput> Run(const TaskContext& c) const override {
    return RunCu3({c.archive_root, c.night, c.cu_event_id, Images(c), c.threads,
                   c.control, c.rerun});
  }
};

class Cu4Handler : public CuHandler {
 public:
  absl::StatusOr<TaskOutput> Run(const TaskContext& c) const override {
    std::vector<CatalogueInput> catalogues;
    for (const v1::TaskFile& f : c.files) {
      catalogues.push_back({f.multiframe_id(), f.path(), f.image_path()});
    }
    return RunCu4({c.archive_root, c.night, c.cu_event_id, catalogues,
                   c.threads, c.control, c.rerun});
  }
};

class Cu5Handler : public CuHandler {
 public:
  explicit Cu5Handler(double radius_arcsec) : radius_arcsec_(radius_arcsec) {}
  absl::StatusOr<TaskOutput> Run(const TaskContext& c) const override {
    return RunCu5({c.archive_root, c.night, c.cu_event_id, c.conninfo,
                   radius_arcsec_, c.threads, c.control, c.rerun});
  }

 private:
  const double radius_arcsec_;
};

}  // namespace

HandlerTable DefaultHandlers(const JpegOptions& jpeg,
                             double match_radius_arcsec) {
  HandlerTable t;
  t[v1::CU2] = std::make_unique<Cu2Handler>(jpeg);
  t[v1::CU3] = std::make_unique<Cu3Handler>();
  t[v1::CU4] = std::make_unique<Cu4Handler>();
  t[v1::CU5] = std::make_unique<Cu5Handler>(
      match_radius_arcsec > 0 ? match_radius_arcsec : 1.0);
  return t;
}

absl::Status CheckHandlers(const HandlerTable& handlers, const archive::CuRegistry& registry) {
  std::vector<std::string> missing;
  for (const archive::CuSpec& s : registry.specs()) {
    if (!handlers.count(s.cu)) missing.push_back(s.name);
  }
  if (missing.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("this worker has no handler for ", absl::StrJoin(missing, ", ")));
}

}  // namespace curator::worker
