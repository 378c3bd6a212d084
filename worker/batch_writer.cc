#include "worker/batch_writer.h"

#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "archive/layout.h"
#include "archive/batch.h"
#include "base/crc32c.h"
#include "base/files.h"
#include "base/status.h"

namespace curator::worker {

namespace fs = std::filesystem;

namespace {

constexpr char kPartial[] = ".partial-";

std::string HostName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  // A partial directory's name is split at '-' when it is cleaned up.
  std::string h = host;
  std::replace(h.begin(), h.end(), '-', '_');
  return h;
}

}  // namespace

int RemoveStalePartials(const std::string& archive_root, absl::Duration max_age) {
  const std::string host = HostName();
  const auto now = fs::file_time_type::clock::now();
  int removed = 0;
  std::error_code ec;
  for (const auto& night : fs::directory_iterator(fs::path(archive_root) / layout::kStaging, ec)) {
    if (!night.is_directory(ec) || night.is_symlink(ec)) continue;
    for (const auto& e : fs::directory_iterator(night.path(), ec)) {
      const std::string name = e.path().filename();
      const size_t at = name.find(kPartial);
      if (name.empty() || name[0] != '.' || at == std::string::npos) continue;
      // ".<batch>.partial-<host>-<pid>-<n>"
      std::vector<std::string> parts = absl::StrSplit(name.substr(at + strlen(kPartial)), '-');
      bool stale = false;
      int pid = 0;
      if (parts.size() == 3 && parts[0] == host && absl::SimpleAtoi(parts[1], &pid)) {
        stale = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH;
      }
      std::error_code age_ec;
      const auto written = fs::last_write_time(e.path(), age_ec);
      if (!age_ec && now - written > std::chrono::microseconds(absl::ToInt64Microseconds(max_age))) {
        stale = true;
      }
      if (!stale) continue;
      std::error_code rm;
      fs::remove_all(e.path(), rm);
      if (!rm) ++removed;
    }
  }
  return removed;
}

std::string MakeBatchId(const std::string& night, int cu,
                        const std::vector<std::string>& input_keys) {
  uLong crc = 0;
  for (const std::string& k : input_keys) {
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(k.data()), k.size());
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>("\n"), 1);
  }
  return absl::StrFormat("%s-cu%d-%08x", night, cu, static_cast<uint32_t>(crc));
}

absl::StatusOr<std::unique_ptr<BatchWriter>> BatchWriter::Create(
    const std::string& archive_root, const std::string& night, int cu,
    const std::string& inputs_id, int64_t cu_event_id, const Rerun& rerun) {
  const std::string batch_id =
      rerun.generation > 0 ? absl::StrCat(inputs_id, "-r", rerun.generation)
                           : inputs_id;
  std::unique_ptr<BatchWriter> w(new BatchWriter());
  const std::string night_dir = layout::NightDir(archive_root, layout::kStaging, night);
  w->final_dir_ = absl::StrCat(night_dir, "/", batch_id);
  // Unique to this attempt: host, process and a counter of the process.
  static std::atomic<int64_t> counter{0};
  w->partial_dir_ = absl::StrCat(night_dir, "/.", batch_id, kPartial, HostName(), "-", getpid(),
                                 "-", ++counter);
  CURATOR_RETURN_IF_ERROR(files::MakeDirs(w->partial_dir_));
  v1::Manifest& m = w->manifest_;
  m.set_format_version(batch::kFormatVersion);
  m.set_batch_id(batch_id);
  m.set_cu(static_cast<v1::Cu>(cu));
  m.set_night(night);
  m.set_cu_event_id(cu_event_id);
  m.set_producer(batch::ProducerName());
  for (const std::string& b : rerun.replaces) m.add_replaces(b);
  m.set_generation(rerun.generation);
  return w;
}

absl::StatusOr<pgcopy::Writer*> BatchWriter::AddFile(
    const std::string& name, const std::string& table,
    const std::vector<std::string>& columns, int64_t multiframe_id) {
  CURATOR_ASSIGN_OR_RETURN(std::unique_ptr<pgcopy::Writer> writer,
                           pgcopy::Writer::Create(absl::StrCat(partial_dir_, "/", name)));
  Open file;
  file.entry.set_name(name);
  file.entry.set_table(table);
  if (multiframe_id != 0) file.entry.set_multiframe_id(multiframe_id);
  for (const std::string& c : columns) file.entry.add_columns(c);
  file.writer = std::move(writer);
  pgcopy::Writer* raw = file.writer.get();
  std::lock_guard<std::mutex> lock(mu_);
  // Written again (renumbered): the earlier version is gone.
  std::erase_if(closed_, [&](const v1::BatchFile& f) { return f.name() == name; });
  open_.push_back(std::move(file));
  return raw;
}

absl::Status BatchWriter::CloseFile(pgcopy::Writer* w) {
  Open file;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(open_.begin(), open_.end(),
                           [w](const Open& o) { return o.writer.get() == w; });
    if (it == open_.end()) return absl::InternalError("CloseFile: not an open batch file");
    file = std::move(*it);
    open_.erase(it);
  }
  CURATOR_ASSIGN_OR_RETURN(pgcopy::FileSummary s, file.writer->Finish());
  file.entry.set_rows(s.rows);
  file.entry.set_bytes(s.bytes);
  file.entry.set_crc32c(s.crc32c);
  std::lock_guard<std::mutex> lock(mu_);
  closed_.push_back(std::move(file.entry));
  return absl::OkStatus();
}

void BatchWriter::DiscardFile(pgcopy::Writer* w) {
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(open_.begin(), open_.end(),
                           [w](const Open& o) { return o.writer.get() == w; });
    if (it == open_.end()) return;
    name = it->entry.name();
    open_.erase(it);
  }
  std::error_code ec;
  fs::remove(absl::StrCat(partial_dir_, "/", name), ec);
}

absl::Status BatchWriter::AddAsset(const std::string& name, absl::string_view data,
                                   const std::string& publish_to) {
  const std::string path = absl::StrCat(partial_dir_, "/", name);
  CURATOR_RETURN_IF_ERROR(files::MakeDirs(fs::path(path).parent_path().string()));
  // Synced by syncer_ meanwhile: a sync per preview here was a fifth of
  // CU2's time (bench/cu2_bench), waiting on the disk.
  CURATOR_RETURN_IF_ERROR(files::WriteStartingWriteback(path, data));
  v1::BatchAsset a;
  a.set_name(name);
  a.set_publish_to(publish_to);
  a.set_bytes(static_cast<int64_t>(data.size()));
  a.set_crc32c(Crc32c(0, data.data(), data.size()));
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(assets_, [&](const v1::BatchAsset& old) { return old.name() == name; });
  assets_.push_back(std::move(a));
  to_sync_.push_back(name);
  if (!syncer_.joinable()) syncer_ = std::thread([this] { SyncAssets(); });
  sync_cv_.notify_all();
  return absl::OkStatus();
}

void BatchWriter::SyncAssets() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    sync_cv_.wait(lock, [this] { return stopping_ || !to_sync_.empty(); });
    if (stopping_) return;
    const std::string name = std::move(to_sync_.front());
    to_sync_.pop_front();
    syncing_ = true;
    lock.unlock();
    absl::Status s = files::SyncFile(absl::StrCat(partial_dir_, "/", name));
    lock.lock();
    syncing_ = false;
    // An asset discarded meanwhile (its file failed) needs no sync.
    const bool kept =
        std::any_of(assets_.begin(), assets_.end(),
                    [&](const v1::BatchAsset& a) { return a.name() == name; });
    if (!s.ok() && kept && sync_status_.ok()) sync_status_ = std::move(s);
    sync_cv_.notify_all();
  }
}

void BatchWriter::DiscardAsset(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::erase_if(assets_, [&](const v1::BatchAsset& a) { return a.name() == name; });
  }
  std::error_code ec;
  fs::remove(absl::StrCat(partial_dir_, "/", name), ec);
}

absl::StatusOr<std::string> BatchWriter::Commit() {
  while (true) {
    pgcopy::Writer* w = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (open_.empty()) break;
      w = open_.front().writer.get();
    }
    CURATOR_RETURN_IF_ERROR(CloseFile(w));
  }
  // Every asset synced, and the syncing thread idle, before the manifest
  // is made: it names only durable files.
  {
    std::unique_lock<std::mutex> lock(mu_);
    sync_cv_.wait(lock, [this] { return to_sync_.empty() && !syncing_; });
    CURATOR_RETURN_IF_ERROR(sync_status_);
  }
  std::sort(closed_.begin(), closed_.end(),
            [](const v1::BatchFile& a, const v1::BatchFile& b) { return a.name() < b.name(); });
  manifest_.clear_files();
  for (const v1::BatchFile& f : closed_) *manifest_.add_files() = f;
  std::sort(assets_.begin(), assets_.end(), [](const v1::BatchAsset& a, const v1::BatchAsset& b) {
    return a.name() < b.name();
  });
  manifest_.clear_assets();
  for (const v1::BatchAsset& a : assets_) *manifest_.add_assets() = a;
  // And their directories.
  {
    std::set<std::string> dirs;
    for (const v1::BatchAsset& a : assets_) {
      dirs.insert(fs::path(absl::StrCat(partial_dir_, "/", a.name()))
                      .parent_path()
                      .string());
    }
    for (const std::string& d : dirs) CURATOR_RETURN_IF_ERROR(files::FsyncDir(d));
  }
  manifest_.set_created(absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()));
  CURATOR_RETURN_IF_ERROR(batch::WriteManifest(partial_dir_, manifest_));
  std::error_code ec;
  if (fs::exists(absl::StrCat(final_dir_, "/", layout::kManifest), ec)) {
    // Made before by an earlier run of the task: that one stands.
    fs::remove_all(partial_dir_, ec);
  } else {
    fs::remove_all(final_dir_, ec);  // a stale directory without manifest
    if (rename(partial_dir_.c_str(), final_dir_.c_str()) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("publishing batch ", final_dir_));
    }
    CURATOR_RETURN_IF_ERROR(files::FsyncDir(fs::path(final_dir_).parent_path().string()));
  }
  committed_ = true;
  return final_dir_;
}

BatchWriter::~BatchWriter() {
  if (syncer_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    sync_cv_.notify_all();
    syncer_.join();
  }
  if (!committed_) {
    open_.clear();
    std::error_code ec;
    fs::remove_all(partial_dir_, ec);
  }
}

}  // namespace curator::worker
