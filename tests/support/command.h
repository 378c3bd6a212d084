// Runs a shell command to completion and captures what it printed, for
// tests that drive command-line tools (curator-synth, fitsverify,
// source-extractor).
#ifndef CURATOR_TESTS_SUPPORT_COMMAND_H_
#define CURATOR_TESTS_SUPPORT_COMMAND_H_

#include <string>

namespace curator::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if it could not run or was killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

CommandResult RunCommand(const std::string& command);

// The whole content of a file ("" if it cannot be read).
std::string ReadFileToString(const std::string& path);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_COMMAND_H_
