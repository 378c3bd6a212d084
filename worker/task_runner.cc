#include "worker/task_runner.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "db/pg.h"
#include "archive/paths.h"
#include "archive/task_log.h"
#include "worker/cu2_task.h"
#include "worker/cu3_task.h"
#include "worker/cu4_task.h"

namespace curator::worker {
namespace {

namespace fs = std::filesystem;

using State = v1::TaskStatus::State;

absl::Status Validate(const v1::RunTaskRequest& r, const std::string& archive_root) {
  if (r.task_id().empty()) return absl::InvalidArgumentError("task_id is empty");
  if (r.cu() < 2 || r.cu() > 4) {
    return absl::InvalidArgumentError(absl::StrCat("cu must be 2, 3 or 4, not ", r.cu()));
  }
  absl::CivilDay day;
  if (r.night().size() != 8 ||
      !absl::ParseCivilTime(absl::StrCat(r.night().substr(0, 4), "-", r.night().substr(4, 2), "-",
                                         r.night().substr(6, 2)),
                            &day)) {
    return absl::InvalidArgumentError(absl::StrCat("night '", r.night(), "' is not YYYYMMDD"));
  }
  if (r.files().empty()) return absl::InvalidArgumentError("the task has no files");
  // Every path stays inside the archive: absolute, no "..", and still
  // inside once symbolic links are resolved. A file missing now fails on
  // its own when it is read, not the whole task.
  const std::string prefix = archive_root + "/";
  for (const v1::TaskFile& f : r.files()) {
    for (const std::string* p : {&f.path(), &f.image_path()}) {
      if (p == &f.image_path() && p->empty()) continue;  // only catalogues have one
      absl::Status inside =
          absl::StartsWith(*p, prefix)
              ? paths::ResolveInside(archive_root, *p, paths::Missing::kAllow).status()
              : absl::InvalidArgumentError("the path does not start with the root");
      if (!inside.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("file '", paths::ShowBytes(*p),
                                                       "' is not inside the archive root ",
                                                       archive_root, ": ", inside.message()));
      }
    }
    // Output paths are built from these names (CU2's previews): plain
    // names only, no "../" and no '/'. Empty is allowed: catalogues (CU4)
    // come without file_name, images without a catalogue without cat_name.
    for (const auto& [name, field] : {std::pair{&f.file_name(), "file_name"},
                                      std::pair{&f.cat_name(), "cat_name"}}) {
      if (name->empty()) continue;
      if (absl::Status s = paths::CheckPlainName(*name, field); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

int64_t MemAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

}  // namespace

TaskRunner::TaskRunner(TaskRunnerOptions options) : options_(std::move(options)) {
  const int slots = std::max(1, options_.slots);
  for (int i = 0; i < slots; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

TaskRunner::~TaskRunner() { Shutdown(); }

absl::StatusOr<bool> TaskRunner::Submit(const v1::RunTaskRequest& request) {
  if (absl::Status s = Validate(request, options_.archive_root); !s.ok()) return s;
  auto task = std::make_shared<Task>();
  task->request = request;
  task->status.set_task_id(request.task_id());
  task->status.set_state(v1::TaskStatus::QUEUED);
  task->status.set_cu(request.cu());
  task->status.set_night(request.night());
  task->status.set_files_total(request.files_size());
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker is shutting down");
  if (tasks_.count(request.task_id())) return false;
  tasks_[request.task_id()] = task;
  queue_.push_back(task);
  cv_.notify_one();
  return true;
}

bool TaskRunner::Cancel(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return false;
  Task& t = *it->second;
  const State s = t.status.state();
  if (s != v1::TaskStatus::QUEUED && s != v1::TaskStatus::RUNNING) return false;
  t.control.cancelled = true;
  if (s == v1::TaskStatus::QUEUED) {
    t.status.set_state(v1::TaskStatus::CANCELLED);
    std::erase_if(queue_, [&](const std::shared_ptr<Task>& q) { return q.get() == &t; });
  }
  return true;
}

std::vector<v1::TaskStatus> TaskRunner::Tasks() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<v1::TaskStatus> out;
  for (const auto& [id, t] : tasks_) {
    v1::TaskStatus s = t->status;
    s.set_files_done(t->control.files_done.load());
    s.set_files_failed(t->control.files_failed.load());
    out.push_back(std::move(s));
  }
  return out;
}

v1::Load TaskRunner::Load() const {
  v1::Load load;
  double avg[1] = {0};
  if (getloadavg(avg, 1) == 1) load.set_load_average_1m(avg[0]);
  load.set_cores(static_cast<int32_t>(std::thread::hardware_concurrency()));
  load.set_free_memory_bytes(MemAvailable());
  struct statvfs vfs;
  if (statvfs(options_.archive_root.c_str(), &vfs) == 0) {
    load.set_free_disk_bytes(static_cast<int64_t>(vfs.f_bavail) * vfs.f_frsize);
  }
  std::lock_guard<std::mutex> lock(mu_);
  load.set_slots(static_cast<int32_t>(threads_.size()));
  load.set_running_tasks(running_);
  load.set_queued_tasks(static_cast<int32_t>(queue_.size()));
  return load;
}

void TaskRunner::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& [id, t] : tasks_) t->control.cancelled = true;
    for (auto& t : queue_) t->status.set_state(v1::TaskStatus::CANCELLED);
    queue_.clear();
    cv_.notify_all();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  threads_.clear();
}

void TaskRunner::WorkLoop() {
  while (true) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = queue_.front();
      queue_.pop_front();
      task->status.set_state(v1::TaskStatus::RUNNING);
      ++running_;
    }
    Run(*task);
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
  }
}

void TaskRunner::Run(Task& task) {
  const v1::RunTaskRequest& r = task.request;
  if (!options_.pause_before_task_file.empty()) {
    // Whole or absent: a test that sees the file reads the task id.
    if (absl::Status s = files::WriteAtomically(options_.pause_before_task_file,
                                                absl::StrCat(r.task_id(), "\n"));
        !s.ok()) {
      CURATOR_LOG(ERROR) << "test hook: " << s;
    }
    CURATOR_LOG(WARNING) << "test hook: task " << r.task_id()
                         << " paused before it runs, until it is cancelled or killed";
    while (!task.control.Cancelled()) absl::SleepFor(absl::Milliseconds(10));
  }
  std::vector<ImageInput> images;
  std::vector<CatalogueInput> catalogues;
  for (const v1::TaskFile& f : r.files()) {
    images.push_back({f.multiframe_id(), f.path(), f.file_name(),
                      absl::FromUnixMicros(f.file_time_stamp_us()), f.cat_name()});
    catalogues.push_back({f.multiframe_id(), f.path(), f.image_path()});
  }
  absl::StatusOr<TaskOutput> out;
  const int threads = options_.threads_per_task;
  switch (r.cu()) {
    case 2:
      out = RunCu2({options_.archive_root, r.night(), r.cu_event_id(), images, threads, {},
                    &task.control});
      break;
    case 3:
      out = RunCu3({options_.archive_root, r.night(), r.cu_event_id(), images, threads,
                    &task.control});
      break;
    default:
      out = RunCu4({options_.archive_root, r.night(), r.cu_event_id(), catalogues, threads,
                    &task.control});
  }
  // The task's log, under the event the caller gave it.
  if (!options_.conninfo.empty() && r.cu_event_id() != 0) {
    auto conn = pg::Connection::Connect(options_.conninfo);
    absl::Status logged = conn.ok() ? tasklog::Finish(**conn, r.cu_event_id(),
                                                      out.ok() ? out->steps
                                                               : std::vector<tasklog::Step>{},
                                                      !out.ok(), out.ok() ? "done"
                                                                          : out.status().ToString())
                                    : conn.status();
    if (!logged.ok()) CURATOR_LOG(WARNING) << "task " << r.task_id() << ": log not written: " << logged;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (out.ok()) {
    task.status.set_state(v1::TaskStatus::DONE);
    task.status.set_batch_id(out->manifest.batch_id());
    task.status.set_batch_dir(out->batch_dir);
  } else if (out.status().code() == absl::StatusCode::kCancelled) {
    task.status.set_state(v1::TaskStatus::CANCELLED);
  } else {
    task.status.set_state(v1::TaskStatus::FAILED);
    task.status.set_error(std::string(out.status().message()));
  }
  CURATOR_LOG(INFO) << "task " << r.task_id() << " (CU" << r.cu() << " " << r.night() << "): "
                    << v1::TaskStatus::State_Name(task.status.state());
  if (options_.on_finished) {
    v1::TaskStatus s = task.status;
    s.set_files_done(task.control.files_done.load());
    s.set_files_failed(task.control.files_failed.load());
    lock.unlock();
    options_.on_finished(s);
  }
}

}  // namespace curator::worker
