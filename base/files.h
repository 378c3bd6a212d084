// Small file-system helpers with Status errors naming the path.
#ifndef CURATOR_BASE_FILES_H_
#define CURATOR_BASE_FILES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace curator::files {

// Writes `content` to `path` through a temporary name of this writer's
// own: write, fsync, rename, fsync of the directory. Readers see the whole
// file or none of it; on an error (a full disk) nothing is left behind.
absl::Status WriteAtomically(const std::string& path, absl::string_view content);

// Writes `content` to `path` (created or truncated) and syncs it, for a
// file in a directory of the writer's own that something else publishes
// later (a batch's). On an error the file is removed.
absl::Status WriteDurably(const std::string& path, absl::string_view content);

// The same without waiting for the disk: the file is written and its
// writeback started, and it is durable once SyncFile(path) has returned
// OK. For many files made at once (a batch's previews), whose syncs then
// find their data written already instead of each waiting for its own.
absl::Status WriteStartingWriteback(const std::string& path,
                                    absl::string_view content);
// Makes a file written before durable (fdatasync); an I/O error or a
// full disk that writeback met shows here.
absl::Status SyncFile(const std::string& path);

absl::StatusOr<std::string> ReadToString(const std::string& path);

// For files another process hands over (batch files, manifests): opens
// `path` read-only only if it is itself a regular file. A symbolic link
// is not followed (O_NOFOLLOW) and, like a directory, FIFO, socket or
// device, refused with InvalidArgument naming the path and saying that
// `kind` (e.g. "batch files") must be regular files. Other errors as
// ErrnoToStatus (NotFound if missing). The caller owns the descriptor.
absl::StatusOr<int> OpenRegularFile(const std::string& path, absl::string_view kind);

// The whole content of `path`, opened as OpenRegularFile does; a file of
// more than `max_bytes` is refused with InvalidArgument.
absl::StatusOr<std::string> ReadRegularFile(const std::string& path, absl::string_view kind,
                                            int64_t max_bytes);

// mkdir -p.
absl::Status MakeDirs(const std::string& path);

// Renames directory `from` to `to`, making `to`'s parent first. If `to`
// exists already it is replaced (the old one set aside first, then
// removed). NotFound if `from` is gone.
absl::Status MoveDir(const std::string& from, const std::string& to);

absl::Status FsyncDir(const std::string& path);

}  // namespace curator::files

#endif  // CURATOR_BASE_FILES_H_
