// Status conventions shared by every part of Curator.
//
// absl::Status / absl::StatusOr<T> cross every module boundary; no exception
// does. What each code means to a caller, everywhere in Curator:
//
//   InvalidArgument     the input is bad (a corrupt file, a missing keyword,
//                       a malformed request or config): do not retry, report.
//   NotFound            the named thing (file, HDU, keyword, column, row)
//                       does not exist.
//   DataLoss            a file is truncated or unreadable past its header.
//   FailedPrecondition  not allowed in the current state (e.g. approving a
//                       task that already ran); retrying will not help
//                       until the state changes.
//   AlreadyExists       the thing was created before; usually harmless.
//   Unavailable         a systematic, transient failure (database gone,
//                       disk full, peer down): retry later with backoff.
//   DeadlineExceeded    a wait timed out.
//   Internal            a bug or a broken invariant.
#ifndef CURATOR_BASE_STATUS_H_
#define CURATOR_BASE_STATUS_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace curator {

// Returns `status` with `context` and ": " put before its message, keeping
// its code. OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// An errno value from a system call as a Status whose message names `what`
// (e.g. the path) and strerror's text. Disk-full and similar resource errors
// become Unavailable, a missing file NotFound.
absl::Status ErrnoToStatus(int errno_value, absl::string_view what);

}  // namespace curator

#define CURATOR_STATUS_CONCAT_INNER_(a, b) a##b
#define CURATOR_STATUS_CONCAT_(a, b) CURATOR_STATUS_CONCAT_INNER_(a, b)

// Returns from the calling function if `expr` (an absl::Status) is not OK.
#define CURATOR_RETURN_IF_ERROR(expr)                 \
  do {                                                \
    if (absl::Status curator_status_ = (expr);        \
        !curator_status_.ok()) {                      \
      return curator_status_;                         \
    }                                                 \
  } while (false)

// `lhs` = the value of `rexpr` (an absl::StatusOr<T>), or returns its error.
#define CURATOR_ASSIGN_OR_RETURN(lhs, rexpr)                                 \
  CURATOR_ASSIGN_OR_RETURN_IMPL_(                                            \
      CURATOR_STATUS_CONCAT_(curator_statusor_, __LINE__), lhs, rexpr)
#define CURATOR_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = *std::move(statusor)

#endif  // CURATOR_BASE_STATUS_H_
