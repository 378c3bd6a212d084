// Logging for Curator's daemons and tools.
//
// Debian 12's Abseil (20220623) has no absl/log. Curator writes one line per
// message to stderr with a single write(2), which suits both places its
// output goes:
//  - under systemd, stderr is the journal (JOURNAL_STREAM names it); each
//    line then starts with the syslog priority in sd-daemon(3) form ("<6>"),
//    so journalctl -p warning filters correctly, and no timestamp is added
//    because journald stamps every line itself;
//  - on a terminal or in a test log, lines are glog-style:
//    "I20261121 05:00:00.123456 4242 fits.cc:87] message".
// No dependency, no log files to rotate: journald already does that.
//
// Thread-safe. CURATOR_LOG(FATAL) and a failed CURATOR_CHECK abort after
// writing: they are for broken invariants, never for bad input.
#ifndef CURATOR_BASE_LOG_H_
#define CURATOR_BASE_LOG_H_

#include <sstream>

namespace curator::log {

enum class Severity { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3,
                      kFatal = 4 };

// Messages below this severity are dropped. Default kInfo; the environment
// variable CURATOR_LOG_LEVEL (debug, info, warning, error) overrides it at
// start-up.
void SetMinSeverity(Severity severity);
Severity MinSeverity();

// Forces one output form (for tests); otherwise it is chosen from the
// environment at first use.
void SetJournalFormat(bool journal);

// One log line under construction; written when destroyed.
class Message {
 public:
  Message(Severity severity, const char* file, int line);
  ~Message();
  Message(const Message&) = delete;
  Message& operator=(const Message&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  Severity severity_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
};

// Makes `CURATOR_LOG(X) << ...` a void expression so the macro can sit in
// a conditional without dangling-else surprises.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace curator::log

#define CURATOR_LOG_SEVERITY_DEBUG ::curator::log::Severity::kDebug
#define CURATOR_LOG_SEVERITY_INFO ::curator::log::Severity::kInfo
#define CURATOR_LOG_SEVERITY_WARNING ::curator::log::Severity::kWarning
#define CURATOR_LOG_SEVERITY_ERROR ::curator::log::Severity::kError
#define CURATOR_LOG_SEVERITY_FATAL ::curator::log::Severity::kFatal

// CURATOR_LOG(INFO) << "registered " << n << " files";
#define CURATOR_LOG(severity)                                         \
  (CURATOR_LOG_SEVERITY_##severity < ::curator::log::MinSeverity() && \
   CURATOR_LOG_SEVERITY_##severity != ::curator::log::Severity::kFatal) \
      ? (void)0                                                       \
      : ::curator::log::Voidify() &                                   \
            ::curator::log::Message(CURATOR_LOG_SEVERITY_##severity,  \
                                    __FILE__, __LINE__)               \
                .stream()

// Aborts with the condition's text (and anything streamed) when false.
#define CURATOR_CHECK(condition)                                         \
  (condition) ? (void)0                                                  \
              : ::curator::log::Voidify() &                              \
                    ::curator::log::Message(                             \
                        ::curator::log::Severity::kFatal, __FILE__,      \
                        __LINE__)                                        \
                            .stream()                                    \
                        << "Check failed: " #condition " "

#endif  // CURATOR_BASE_LOG_H_
