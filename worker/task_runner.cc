#include "worker/task_runner.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "db/pg.h"
#include "archive/paths.h"
#include "archive/task_log.h"

namespace curator::worker {
namespace {

namespace fs = std::filesystem;

using State = v1::TaskStatus::State;

absl::Status Validate(const v1::RunTaskRequest& r, const std::string& archive_root,
                      const archive::CuRegistry& registry, const HandlerTable& handlers) {
  if (r.task_id().empty()) return absl::InvalidArgumentError("task_id is empty");
  CURATOR_ASSIGN_OR_RETURN(const archive::CuSpec* spec, registry.Get(r.cu()));
  if (!handlers.count(r.cu())) {
    return absl::InvalidArgumentError(absl::StrCat("this worker does not run ", spec->name));
  }
  absl::CivilDay day;
  if (r.night().size() != 8 ||
      !absl::ParseCivilTime(absl::StrCat(r.night().substr(0, 4), "-", r.night().substr(4, 2), "-",
                                         r.night().substr(6, 2)),
                            &day)) {
    return absl::InvalidArgumentError(absl::StrCat("night '", r.night(), "' is not YYYYMMDD"));
  }
  if (r.generation() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("generation ", r.generation(), " is negative"));
  }
  for (const std::string& b : r.replaces()) {
    if (b.empty() || b.size() > 200 ||
        b.find_first_not_of("0123456789abcdefghijklmnopqrstuvwxyz-") !=
            std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "replaced batch '", paths::ShowBytes(b), "' is not a batch id"));
    }
  }
  if (r.files().empty() && spec->input != archive::CuInput::kDatabase) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec->name, " reads ", archive::CuInputName(spec->input),
                     " and the task has no files"));
  }
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

// 64 random bits, new at every start of the process.
std::string NewBootId() {
  std::random_device random;
  const uint64_t bits = (uint64_t{random()} << 32) ^ random() ^
                        static_cast<uint64_t>(absl::GetCurrentTimeNanos());
  return absl::StrFormat("%016x", bits);
}

}  // namespace

TaskRunner::TaskRunner(TaskRunnerOptions options)
    : options_(std::move(options)), boot_id_(NewBootId()) {
  CURATOR_CHECK(options_.handlers != nullptr && options_.registry != nullptr)
      << "a task runner needs the CU registry and a handler table";
  const int slots = std::max(1, options_.slots);
  for (int i = 0; i < slots; ++i) threads_.emplace_back([this] { WorkLoop(); });
}

TaskRunner::~TaskRunner() { Shutdown(); }

absl::StatusOr<TaskRunner::Accepted> TaskRunner::Submit(const v1::RunTaskRequest& request) {
  if (absl::Status s = Validate(request, options_.archive_root, *options_.registry,
                                *options_.handlers);
      !s.ok()) {
    return s;
  }
  auto task = std::make_shared<Task>();
  task->request = request;
  task->status.set_task_id(request.task_id());
  task->status.set_state(v1::TaskStatus::QUEUED);
  task->status.set_cu(request.cu());
  task->status.set_night(request.night());
  task->status.set_files_total(request.files_size());
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return absl::FailedPreconditionError("the worker is shutting down");
  if (tasks_.count(request.task_id())) return Accepted{false, seq_};
  tasks_[request.task_id()] = task;
  queue_.push_back(task);
  cv_.notify_one();
  return Accepted{true, ++seq_};
}

TaskRunner::Totals TaskRunner::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

int64_t TaskRunner::seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}

void TaskRunner::Forget(const std::vector<std::string>& task_ids) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const std::string& id : task_ids) {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) continue;
    const State s = it->second->status.state();
    if (s == v1::TaskStatus::DONE || s == v1::TaskStatus::FAILED ||
        s == v1::TaskStatus::CANCELLED) {
      tasks_.erase(it);
    }
  }
}

bool TaskRunner::Cancel(const std::string& task_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = tasks_.find(task_id);
  if (it == tasks_.end()) return false;
  Task& t = *it->second;
  const State s = t.status.state();
  if (s != v1::TaskStatus::QUEUED && s != v1::TaskStatus::RUNNING) return false;
  t.control.Cancel();
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
    s.set_files_done(t->control.files_done());
    s.set_files_failed(t->control.files_failed());
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
    for (auto& [id, t] : tasks_) t->control.Cancel();
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
  if (options_.hooks != nullptr) {
    TaskHooks* hooks = options_.hooks;
    task.control.SetFileHook([hooks, &r, &task](int files_done) {
      hooks->AfterFile(r, task.control, files_done);
    });
    hooks->BeforeTask(r, task.control);
  }
  const absl::Time started = absl::Now();
  TaskContext context;
  context.archive_root = options_.archive_root;
  context.night = r.night();
  context.attempt_id = r.task_id();
  context.cu_event_id = r.cu_event_id();
  context.files.assign(r.files().begin(), r.files().end());
  context.threads = options_.threads_per_task;
  context.conninfo = options_.conninfo;
  context.control = &task.control;
  context.rerun.generation = r.generation();
  context.rerun.replaces.assign(r.replaces().begin(), r.replaces().end());
  // Validate checked there is one.
  absl::StatusOr<TaskOutput> out = task.control.Cancelled()
                                       ? absl::CancelledError("cancelled before it started")
                                       : options_.handlers->at(r.cu())->Run(context);
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
  totals_.files_processed += task.control.files_done();
  totals_.files_failed += task.control.files_failed();
  if (out.ok()) {
    ++totals_.done;
    totals_.done_seconds[r.cu()].Observe(
        absl::ToDoubleSeconds(absl::Now() - started));
    task.status.set_state(v1::TaskStatus::DONE);
    task.status.set_batch_id(out->manifest.batch_id());
    task.status.set_batch_dir(out->batch_dir);
  } else if (out.status().code() == absl::StatusCode::kCancelled) {
    ++totals_.cancelled;
    task.status.set_state(v1::TaskStatus::CANCELLED);
  } else {
    ++totals_.failed;
    task.status.set_state(v1::TaskStatus::FAILED);
    task.status.set_error(std::string(out.status().message()));
  }
  CURATOR_LOG(INFO) << "task " << r.task_id() << " (" << options_.registry->Name(r.cu()) << " "
                    << r.night() << "): " << v1::TaskStatus::State_Name(task.status.state());
  if (options_.on_finished) {
    v1::TaskStatus s = task.status;
    s.set_files_done(task.control.files_done());
    s.set_files_failed(task.control.files_failed());
    lock.unlock();
    options_.on_finished(s);
  }
}

}  // namespace curator::worker
