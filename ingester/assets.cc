#include "ingester/assets.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "archive/paths.h"
#include "base/files.h"
#include "base/status.h"

namespace curator::ingester {
namespace {

namespace fs = std::filesystem;

// `to` as a new file with the bytes of `from` (when a hard link cannot
// cross file systems).
absl::Status CopyFile(const std::string& from, const std::string& to) {
  CURATOR_ASSIGN_OR_RETURN(std::string bytes, files::ReadToString(from));
  return files::WriteDurably(to, bytes);
}

}  // namespace

absl::Status PublishAssets(const std::string& archive_root, const std::string& dir,
                           const std::vector<v1::BatchAsset>& assets) {
  static std::atomic<int64_t> counter{0};
  std::set<std::string> dirs;
  for (const v1::BatchAsset& a : assets) {
    CURATOR_ASSIGN_OR_RETURN(
        std::string to, paths::ResolveInside(archive_root, absl::StrCat(archive_root, "/", a.publish_to()),
                                             paths::Missing::kAllow));
    const std::string from = absl::StrCat(dir, "/", a.name());
    const fs::path parent = fs::path(to).parent_path();
    CURATOR_RETURN_IF_ERROR(files::MakeDirs(parent.string()));
    const std::string tmp = absl::StrCat(parent.string(), "/.", fs::path(to).filename().string(),
                                         ".publish-", getpid(), "-", ++counter);
    if (link(from.c_str(), tmp.c_str()) != 0) {
      if (errno != EXDEV && errno != EPERM) return ErrnoToStatus(errno, tmp);
      CURATOR_RETURN_IF_ERROR(CopyFile(from, tmp));
    }
    if (rename(tmp.c_str(), to.c_str()) != 0) {
      const int e = errno;
      unlink(tmp.c_str());
      return ErrnoToStatus(e, to);
    }
    dirs.insert(parent.string());
  }
  for (const std::string& d : dirs) CURATOR_RETURN_IF_ERROR(files::FsyncDir(d));
  return absl::OkStatus();
}

}  // namespace curator::ingester
