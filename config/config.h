// Loads Curator's configuration: a protobuf text-format file holding one
// curator.v1.Config message (proto/curator/v1/config.proto).
#ifndef CURATOR_CONFIG_CONFIG_H_
#define CURATOR_CONFIG_CONFIG_H_

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "curator/v1/config.pb.h"

namespace curator {

// Parses `text`; `source` names it in errors ("curator.conf:12:5: ...").
// Unknown fields are errors (a typo must not be silently ignored). The
// result is validated with ValidateConfig. InvalidArgument on any problem.
absl::StatusOr<v1::Config> ParseConfig(absl::string_view text,
                                       absl::string_view source);

// Reads and parses the file at `path`; NotFound if it does not exist.
absl::StatusOr<v1::Config> LoadConfig(const std::string& path);

// Checks the rules every process relies on: archive_root is an absolute
// path, database.conninfo is set, addresses are host:port with a port in
// 1..65535 (0, any free port, for the addresses a server listens on), worker slots in 1..1024, poll interval > 0. Sections that are
// absent are not checked; a daemon asks for its own with RequireSection.
// InvalidArgument naming the field on the first problem.
absl::Status ValidateConfig(const v1::Config& config);

// FailedPrecondition unless the named section ("daemon", "worker",
// "ingester") is present: each daemon calls this for the one it needs.
absl::Status RequireSection(const v1::Config& config, absl::string_view name);

}  // namespace curator

#endif  // CURATOR_CONFIG_CONFIG_H_
