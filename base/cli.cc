#include "base/cli.h"

#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "base/build_info.h"

namespace curator {
namespace {

// The program's name, for --version (set once, before flags are parsed).
std::string* program_name = new std::string();

std::string SourcePath(absl::string_view file) {
  while (absl::ConsumePrefix(&file, "../") ||
         absl::ConsumePrefix(&file, "./")) {
  }
  return std::string(file);
}

bool Ours(absl::string_view file) { return !absl::StrContains(file, "absl/"); }

}  // namespace

std::string VersionLine(const std::string& program) {
  return absl::StrCat(program, " ", BuildVersion(), " (commit ", BuildCommit(),
                      ")");
}

void InitCommandLine(const std::string& program, const std::string& usage) {
  *program_name = program;
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = Ours;
  config.contains_help_flags = Ours;
  config.contains_helppackage_flags = Ours;
  config.version_string = [] { return VersionLine(*program_name) + "\n"; };
  config.normalize_filename = SourcePath;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);
}

}  // namespace curator
