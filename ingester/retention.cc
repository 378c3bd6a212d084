#include "ingester/retention.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <vector>

#include "archive/layout.h"

namespace curator::ingester {
namespace {

namespace fs = std::filesystem;

struct Kept {
  fs::path dir;
  absl::Time moved_in;  // the directory's ctime: set by the rename into ingested/
  int64_t bytes = 0;
};

int64_t TreeBytes(const fs::path& dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) bytes += static_cast<int64_t>(e.file_size(ec));
  }
  return bytes;
}

}  // namespace

Pruned PruneIngested(const std::string& archive_root, const Retention& retention, absl::Time now) {
  std::vector<Kept> kept;
  std::error_code ec;
  const fs::path root = fs::path(archive_root) / layout::kIngested;
  for (const auto& night : fs::directory_iterator(root, ec)) {
    if (!night.is_directory(ec) || night.is_symlink(ec)) continue;
    for (const auto& b : fs::directory_iterator(night.path(), ec)) {
      struct stat st;
      if (lstat(b.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      kept.push_back({b.path(), absl::TimeFromTimespec(st.st_ctim), TreeBytes(b.path())});
    }
  }
  std::sort(kept.begin(), kept.end(),
            [](const Kept& a, const Kept& b) { return a.moved_in < b.moved_in; });
  int64_t total = 0;
  for (const Kept& k : kept) total += k.bytes;
  Pruned pruned;
  for (const Kept& k : kept) {
    const bool too_old = now - k.moved_in > retention.max_age;
    const bool too_much = retention.max_bytes > 0 && total > retention.max_bytes;
    if (!too_old && !too_much) break;  // oldest first: the rest are newer
    std::error_code rm;
    fs::remove_all(k.dir, rm);
    if (rm) continue;
    total -= k.bytes;
    ++pruned.batches;
    pruned.bytes += k.bytes;
    (void)rmdir(k.dir.parent_path().c_str());  // the night's, once empty
  }
  return pruned;
}

}  // namespace curator::ingester
