// The command line every Curator program shares: its usage text; --help
// listing the program's own flags and the site's (config/site_flags.cc),
// not Abseil's (--helpfull lists those too); source paths shown as the
// source tree's ("daemon/main.cc", not "../../../daemon/main.cc"); and
// --version answering "PROGRAM VERSION (commit HASH)", the project's
// version and the commit the build was configured from
// (base/build_info.h). Call before absl::ParseCommandLine.
#ifndef CURATOR_BASE_CLI_H_
#define CURATOR_BASE_CLI_H_

#include <string>

namespace curator {

void InitCommandLine(const std::string& program, const std::string& usage);

// "curatorctl 0.2.0 (commit 1a53bf0...)".
std::string VersionLine(const std::string& program);

}  // namespace curator

#endif  // CURATOR_BASE_CLI_H_
