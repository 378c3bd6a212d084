// Names and paths handed from one process to another, made safe to show
// and confined to the archive. Every process that opens a file named by
// another process (the daemon registering incoming/, a worker given a
// task, the ingester reading a batch) checks the name with these.
//
// All functions are pure or read the file system only; thread-safe.
#ifndef CURATOR_ARCHIVE_PATHS_H_
#define CURATOR_ARCHIVE_PATHS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace curator::paths {

// Any byte string as text that is safe in a message, a log line, a
// terminal and a PostgreSQL text column: valid UTF-8 without control
// characters. Printable ASCII and valid UTF-8 letters stay as they are;
// a backslash becomes "\\"; \n, \r, \t become "\n", "\r", "\t"; other
// control bytes and every byte that is not part of valid UTF-8 become
// "\xHH" (e.g. "w2007\xff.fit"); C1 controls, line separators and
// bidirectional overrides (which reorder what a terminal shows) become
// "\uHHHH". Unambiguous: different byte strings show differently.
std::string ShowBytes(absl::string_view bytes);

// True if `s` is well-formed UTF-8 as PostgreSQL's UTF8 encoding accepts
// it: no stray continuation bytes, no overlong forms, no surrogates,
// nothing above U+10FFFF, and no NUL (which text cannot hold).
bool IsValidUtf8(absl::string_view s);

// OK if `name` can be used as the last component of a path without
// leaving the directory it is joined to: not empty, at most 255 bytes
// (NAME_MAX), no '/', not "." or "..", no NUL, valid UTF-8 (every name
// Curator registers is). InvalidArgument otherwise:
//   "file_name '../../etc/x' is not a plain file name: it contains '/'"
// where `what` names the field ("file_name", "cat_name").
//
// Control characters (newline, tab, ...) are allowed: the file system
// allows them, registration records such names (refusing them would
// leave a delivered file unprocessed), and Curator never hands a name to
// a shell or a line-based format; it goes to open(2) and to PostgreSQL
// as a parameter, and into messages only through ShowBytes.
absl::Status CheckPlainName(absl::string_view name, absl::string_view what);

// Whether ResolveInside accepts a path that does not exist (yet).
enum class Missing {
  kRefuse,  // NotFound (a dangling symbolic link says so)
  kAllow,   // the existing part is resolved, the rest appended as written
};

// The real path of `path` (every symbolic link resolved, realpath(3)) if
// it lies inside the real path of `archive_root`. `path` must be
// absolute and have no ".." component (checked before anything is
// resolved). InvalidArgument naming the path otherwise, e.g.
//   "'/a/incoming/x.fit' resolves to '/etc/x.fit', outside the archive root /a"
// NotFound if `path` (or, with kAllow, a dangling symbolic link on its
// way) does not exist; NotFound/Unavailable if the root cannot be
// resolved.
absl::StatusOr<std::string> ResolveInside(const std::string& archive_root,
                                          const std::string& path,
                                          Missing missing = Missing::kRefuse);

// True if `real_path` (already resolved) is `real_root` or below it.
bool IsUnder(absl::string_view real_root, absl::string_view real_path);

// realpath(3) as a Status: NotFound if a component is missing.
absl::StatusOr<std::string> RealPath(const std::string& path);

}  // namespace curator::paths

#endif  // CURATOR_ARCHIVE_PATHS_H_
