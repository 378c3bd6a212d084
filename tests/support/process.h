// A child process for tests that run Curator's binaries for real: started
// with posix_spawn, output to a log file, signalled, waited for. The
// destructor kills (SIGKILL) and reaps a child that is still running.
#ifndef CURATOR_TESTS_SUPPORT_PROCESS_H_
#define CURATOR_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace curator::testing {

class Process {
 public:
  // argv[0] is the program's path. stdout and stderr go to `log_path`.
  static absl::StatusOr<Process> Start(const std::vector<std::string>& argv,
                                       const std::string& log_path);
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  ~Process();

  pid_t pid() const { return pid_; }
  void Signal(int signal);
  // The exit code, or 128 + signal; nullopt if still running at the deadline.
  std::optional<int> Wait(absl::Duration timeout);
  std::string Log() const;

 private:
  Process(pid_t pid, int pidfd, std::string log) : pid_(pid), pidfd_(pidfd), log_(std::move(log)) {}
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::string log_;
  std::optional<int> exit_code_;
};

// Waits (inotify on its directory) until `path` exists; false at the
// deadline.
bool WaitForFile(const std::string& path, absl::Duration timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (for a server that
// must be told its port before it starts).
int FreePort();

// Checks `condition` until it holds or the deadline passes, waiting on a
// condition variable between checks; returns the last result.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_PROCESS_H_
