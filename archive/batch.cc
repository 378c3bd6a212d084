#include "archive/batch.h"

#include <google/protobuf/util/json_util.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "archive/layout.h"
#include "archive/paths.h"
#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "db/pgcopy.h"

namespace curator::batch {

namespace fs = std::filesystem;

absl::Status WriteManifest(const std::string& dir, const v1::Manifest& manifest) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(manifest, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("manifest to JSON: ", status.ToString()));
  }
  return files::WriteAtomically(absl::StrCat(dir, "/", layout::kManifest), json);
}

namespace {

// A manifest lists a few files; anything much bigger is not one.
constexpr int64_t kMaxManifestBytes = 16 << 20;

// The batch directory and the night directory holding it must be real
// directories: through a symbolic link, the ingester would read (and
// write its report into, and move) whatever the link points at.
absl::Status CheckBatchDir(const std::string& dir) {
  const fs::path path(dir);
  for (const fs::path& p : {path, path.parent_path()}) {
    struct stat st;
    if (lstat(p.c_str(), &st) != 0) return ErrnoToStatus(errno, paths::ShowBytes(p.string()));
    if (S_ISLNK(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(paths::ShowBytes(p.string()),
                       " is a symbolic link; batch and night directories must be directories"));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(paths::ShowBytes(p.string()), " is not a directory"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Manifest> ReadManifest(const std::string& dir) {
  CURATOR_RETURN_IF_ERROR(CheckBatchDir(dir));
  const std::string path = absl::StrCat(dir, "/", layout::kManifest);
  CURATOR_ASSIGN_OR_RETURN(std::string json,
                           files::ReadRegularFile(path, "batch files", kMaxManifestBytes));
  v1::Manifest manifest;
  auto status = google::protobuf::util::JsonStringToMessage(json, &manifest);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid manifest: ", status.ToString()));
  }
  return manifest;
}

absl::Status Verify(const std::string& dir, const v1::Manifest& m) {
  const std::string where = absl::StrCat(dir, "/", layout::kManifest);
  if (m.format_version() != kFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": format_version ", m.format_version(), ", expected ", kFormatVersion));
  }
  CURATOR_RETURN_IF_ERROR(CheckBatchDir(dir));
  const fs::path path(dir);
  if (m.batch_id().empty() || path.filename() != m.batch_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": batch_id '", m.batch_id(), "' does not match its directory"));
  }
  if (m.night().size() != 8 || path.parent_path().filename() != m.night()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": night '", m.night(), "' does not match its directory"));
  }
  // Which CUs exist is the registry's to say (the ingester checks it has
  // a loader for this one); here only that there is one.
  if (m.cu() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": no CU (cu ", m.cu(), ")"));
  }
  for (const v1::BatchFile& f : m.files()) {
    if (f.name().empty() || absl::StrContains(f.name(), "/") || f.name() == "." ||
        f.name() == ".." || f.name() == layout::kManifest) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": file name '", paths::ShowBytes(f.name()), "' is not allowed"));
    }
    const std::string file = absl::StrCat(dir, "/", f.name());
    int64_t bytes = 0;
    // A symbolic link (or a FIFO, a directory) is refused as it is, not
    // followed until the size check stops it.
    absl::StatusOr<uint32_t> crc = pgcopy::FileCrc32(file, &bytes);
    if (crc.status().code() == absl::StatusCode::kInvalidArgument) return crc.status();
    if (!crc.ok()) {
      return absl::DataLossError(absl::StrCat("batch file missing or unreadable: ",
                                              crc.status().message()));
    }
    if (bytes != f.bytes()) {
      return absl::DataLossError(absl::StrCat(file, ": ", bytes,
                                              " bytes, the manifest says ", f.bytes()));
    }
    if (*crc != f.crc32c()) {
      return absl::DataLossError(absl::StrCat(file, ": CRC-32C ", *crc,
                                              ", the manifest says ", f.crc32c()));
    }
  }
  for (const v1::BatchAsset& a : m.assets()) {
    // Both names are relative paths of plain components: nothing outside
    // the batch is read, nothing outside the archive is written.
    for (const auto& [name, field] : {std::pair{&a.name(), "asset name"},
                                      std::pair{&a.publish_to(), "asset publish_to"}}) {
      absl::Status plain = name->empty() ? absl::InvalidArgumentError("it is empty")
                                         : absl::OkStatus();
      for (absl::string_view part : absl::StrSplit(*name, '/')) {
        if (plain.ok()) plain = paths::CheckPlainName(std::string(part), field);
      }
      if (!plain.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, " '",
                                                       paths::ShowBytes(*name),
                                                       "' is not allowed: ", plain.message()));
      }
    }
    const std::string file = absl::StrCat(dir, "/", a.name());
    int64_t bytes = 0;
    absl::StatusOr<uint32_t> crc = pgcopy::FileCrc32(file, &bytes);
    if (crc.status().code() == absl::StatusCode::kInvalidArgument) return crc.status();
    if (!crc.ok()) {
      return absl::DataLossError(
          absl::StrCat("batch file missing or unreadable: ", crc.status().message()));
    }
    if (bytes != a.bytes() || *crc != a.crc32c()) {
      return absl::DataLossError(absl::StrCat(file, ": ", bytes, " bytes with CRC-32C ", *crc,
                                              ", the manifest says ", a.bytes(), " and ",
                                              a.crc32c()));
    }
  }
  return absl::OkStatus();
}

namespace {

// Staging entries that are symbolic links are skipped; each is logged once
// per process, not at every poll.
void WarnSkippedLink(const fs::path& p) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* warned = new std::set<std::string>();
  absl::MutexLock lock(&mu);
  if (!warned->insert(p.string()).second) return;
  CURATOR_LOG(WARNING) << paths::ShowBytes(p.string())
                       << " is a symbolic link; batches and nights in staging must be real "
                          "directories: skipped";
}

// The entries of `dir` that are real directories (not links to one), by
// name; hidden ones left out. Never throws.
std::vector<fs::path> RealSubdirs(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename();
    if (name.empty() || name[0] == '.') continue;
    std::error_code e;
    const fs::file_status st = it->symlink_status(e);
    if (e) continue;
    if (fs::is_symlink(st)) {
      WarnSkippedLink(it->path());
      continue;
    }
    if (fs::is_directory(st)) out.push_back(it->path());
  }
  return out;
}

}  // namespace

std::vector<std::string> StagedBatchDirs(const std::string& archive_root) {
  std::vector<std::string> dirs;
  for (const fs::path& night : RealSubdirs(fs::path(archive_root) / layout::kStaging)) {
    for (const fs::path& b : RealSubdirs(night)) {
      struct stat st;  // not ready without its manifest
      if (lstat((b / layout::kManifest).c_str(), &st) != 0) continue;
      dirs.push_back(b.string());
    }
  }
  std::sort(dirs.begin(), dirs.end());  // <root>/staging/<night>/<id>: by night, then id
  return dirs;
}

std::string ProducerName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return absl::StrCat(host, ":", getpid());
}

}  // namespace curator::batch
