#include "archive/batch.h"

#include <google/protobuf/util/json_util.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "archive/layout.h"
#include "base/files.h"
#include "db/pgcopy.h"
#include "base/status.h"

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

absl::StatusOr<v1::Manifest> ReadManifest(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", layout::kManifest);
  CURATOR_ASSIGN_OR_RETURN(std::string json, files::ReadToString(path));
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
  const fs::path path(dir);
  if (m.batch_id().empty() || path.filename() != m.batch_id()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": batch_id '", m.batch_id(), "' does not match its directory"));
  }
  if (m.night().size() != 8 || path.parent_path().filename() != m.night()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": night '", m.night(), "' does not match its directory"));
  }
  if (m.cu() != 2 && m.cu() != 3 && m.cu() != 4) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": unknown CU ", m.cu()));
  }
  for (const v1::BatchFile& f : m.files()) {
    if (f.name().empty() || absl::StrContains(f.name(), "/") || f.name() == "." ||
        f.name() == ".." || f.name() == layout::kManifest) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": file name '", f.name(), "' is not allowed"));
    }
    const std::string file = absl::StrCat(dir, "/", f.name());
    int64_t bytes = 0;
    absl::StatusOr<uint32_t> crc = pgcopy::FileCrc32(file, &bytes);
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
  return absl::OkStatus();
}

std::vector<std::string> StagedBatchDirs(const std::string& archive_root) {
  std::vector<std::string> dirs;
  std::error_code ec;
  for (const auto& night : fs::directory_iterator(fs::path(archive_root) / layout::kStaging, ec)) {
    if (!night.is_directory(ec)) continue;
    for (const auto& b : fs::directory_iterator(night.path(), ec)) {
      const std::string id = b.path().filename();
      if (!b.is_directory(ec) || id.empty() || id[0] == '.') continue;
      if (!fs::exists(b.path() / layout::kManifest, ec)) continue;  // not ready
      dirs.push_back(b.path().string());
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
