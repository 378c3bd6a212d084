// Which Curator this is: the project's version (CMakeLists.txt) and the git
// commit checked out when the build was configured ("unknown" outside a
// git checkout, unless configured with -DCURATOR_COMMIT=...). Defined in a
// file written at configure time (cmake/BuildInfo.cmake), in the library
// curator_build_info, so a new commit recompiles that one file.
#ifndef CURATOR_BASE_BUILD_INFO_H_
#define CURATOR_BASE_BUILD_INFO_H_

namespace curator {

const char* BuildVersion();  // "0.1.0"
const char* BuildCommit();   // 40 hex digits, or "unknown"

}  // namespace curator

#endif  // CURATOR_BASE_BUILD_INFO_H_
