// curatorctl's one table of commands: what each is called, its arguments
// and their types, what it answers with --json (a message of
// proto/curator/v1), and how it says so. The usage text of --help, the
// help of one command (`curatorctl help CMD`, `curatorctl CMD --help`),
// `curatorctl describe --json` (from which the Python client builds its
// API) and the manual page curatorctl(1) (`describe --roff`) all come
// from here, so none can drift from the program.
#ifndef CURATOR_DAEMON_CURATORCTL_COMMANDS_H_
#define CURATOR_DAEMON_CURATORCTL_COMMANDS_H_

#include <string>
#include <vector>

namespace curator::ctl {

struct ArgSpec {
  const char* name;
  // "string", "int64", "number", "bool", "night" (YYYYMMDD), or one of
  // those with "[]" for a list.
  const char* type;
  bool positional;
  const char* help;
  std::vector<std::string> choices = {};  // the values allowed, if few
  bool required = false;
};

enum class Where {
  kDaemon,  // asks curator-daemon over gRPC (needs --config)
  kLocal,   // works on the database and archive itself
  kHere,    // needs nothing (help, describe)
};

struct CommandSpec {
  const char* name;  // "tasks", "release create"
  const char* help;
  std::vector<ArgSpec> args;
  const char* returns;  // the --json answer's message, e.g.
                        // "curator.v1.ListTasksResponse"
  Where where = Where::kDaemon;
  // When it exits 2 (done with problems, or refused), beyond the
  // refusals every daemon command may give.
  const char* exit_2 = "";
};

const std::vector<CommandSpec>& Commands();
// nullptr if there is none of that name.
const CommandSpec* FindCommand(const std::string& name);

// The exit codes, as every command uses them.
struct ExitCode {
  int code;
  const char* meaning;
};
const std::vector<ExitCode>& ExitCodes();

// The options every command takes (--config, --json...).
std::vector<std::string> CommonOptions();

// The synopsis of every command, for --help.
std::string UsageText();
// One command's synopsis, help, arguments and exit codes.
std::string CommandHelp(const CommandSpec& command);
// `describe --json`: program, version, options, exit codes, commands
// (with their arguments and the message each answers with), and the
// schemas of those messages.
std::string DescribeJson();
// `describe --roff`: the manual page curatorctl(1).
std::string DescribeRoff();

}  // namespace curator::ctl

#endif  // CURATOR_DAEMON_CURATORCTL_COMMANDS_H_
