// Batches: what workers hand to the ingester (see docs/ARCHITECTURE.md,
// "Batches"). A batch is a directory <archive>/staging/<night>/<batch_id>/
// with one binary COPY file per destination table and manifest.json,
// written last and atomically.
#ifndef CURATOR_ARCHIVE_BATCH_H_
#define CURATOR_ARCHIVE_BATCH_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "curator/v1/batch.pb.h"

namespace curator::batch {

inline constexpr int kFormatVersion = 1;

// Writes manifest.json into `dir` atomically. Call after every data file
// is complete and synced.
absl::Status WriteManifest(const std::string& dir, const v1::Manifest& manifest);

// Reads `dir`/manifest.json. NotFound if there is none (the batch is not
// ready); InvalidArgument if it does not parse, if `dir` or its parent
// (the night directory) is a symbolic link, or if the manifest is not a
// regular file itself (a symbolic link is not followed) or is over 16 MiB.
absl::StatusOr<v1::Manifest> ReadManifest(const std::string& dir);

// Checks the manifest against the directory it was read from: known
// format, batch id, night and CU consistent with the path, file names
// plain (no '/' or '..'), every file and asset present with the size and
// CRC-32C the manifest gives, and assets' names and destinations relative
// paths of plain components. DataLoss naming the file on a mismatch;
// InvalidArgument for a malformed manifest, for a batch or night directory
// that is a symbolic link, and for a listed file that is not a regular
// file itself ("<file> is a symbolic link; batch files must be regular
// files"): a link is never followed.
absl::Status Verify(const std::string& dir, const v1::Manifest& manifest);

// The batch directories in <archive_root>/staging/<night>/ that are
// ready (have their manifest), by night and batch id. Unreadable or
// missing directories are skipped, and so are hidden entries and night or
// batch directories that are symbolic links (logged once per process).
std::vector<std::string> StagedBatchDirs(const std::string& archive_root);

// "<host>:<pid>" of this process, for manifests and logs.
std::string ProducerName();

}  // namespace curator::batch

#endif  // CURATOR_ARCHIVE_BATCH_H_
