#include "base/log.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace curator::log {
namespace {

Severity SeverityFromEnvironment() {
  const char* level = std::getenv("CURATOR_LOG_LEVEL");
  if (level == nullptr) return Severity::kInfo;
  std::string l = absl::AsciiStrToLower(level);
  if (l == "debug") return Severity::kDebug;
  if (l == "warning") return Severity::kWarning;
  if (l == "error") return Severity::kError;
  return Severity::kInfo;
}

// True when stderr is the journal stream systemd connected us to
// (JOURNAL_STREAM is "device:inode" of that stream; see systemd.exec(5)).
bool StderrIsJournal() {
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  std::vector<std::string> parts = absl::StrSplit(js, ':');
  uint64_t dev = 0, ino = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &dev) ||
      !absl::SimpleAtoi(parts[1], &ino)) {
    return false;
  }
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return st.st_dev == dev && st.st_ino == ino;
}

std::atomic<int> g_min_severity{static_cast<int>(SeverityFromEnvironment())};
// -1: not decided yet; 0: glog-style lines; 1: journal priority prefixes.
std::atomic<int> g_journal{-1};

bool UseJournalFormat() {
  int j = g_journal.load(std::memory_order_relaxed);
  if (j < 0) {
    j = StderrIsJournal() ? 1 : 0;
    g_journal.store(j, std::memory_order_relaxed);
  }
  return j == 1;
}

// sd-daemon(3) priorities: 7 debug, 6 info, 4 warning, 3 err, 2 crit.
constexpr int kJournalPriority[] = {7, 6, 4, 3, 2};
constexpr char kSeverityLetter[] = {'D', 'I', 'W', 'E', 'F'};

const char* BaseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

void SetMinSeverity(Severity severity) {
  g_min_severity.store(static_cast<int>(severity));
}

Severity MinSeverity() {
  return static_cast<Severity>(g_min_severity.load(std::memory_order_relaxed));
}

void SetJournalFormat(bool journal) { g_journal.store(journal ? 1 : 0); }

Message::Message(Severity severity, const char* file, int line)
    : severity_(severity), file_(file), line_(line) {}

Message::~Message() {
  const int s = static_cast<int>(severity_);
  std::string text = stream_.str();
  // One message is one journal entry: continuation lines are indented so a
  // multi-line message stays readable and attributable.
  for (size_t pos = text.find('\n'); pos != std::string::npos;
       pos = text.find('\n', pos + 2)) {
    text.insert(pos + 1, " ");
  }
  std::string line;
  if (UseJournalFormat()) {
    line = absl::StrFormat("<%d>%s:%d] %s\n", kJournalPriority[s],
                           BaseName(file_), line_, text);
  } else {
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    line = absl::StrFormat("%c%04d%02d%02d %02d:%02d:%02d.%06d %d %s:%d] %s\n",
                           kSeverityLetter[s], tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                           tm.tm_sec, static_cast<int>(tv.tv_usec),
                           static_cast<int>(gettid()), BaseName(file_), line_,
                           text);
  }
  // A single write keeps lines from different threads whole.
  ssize_t unused = write(STDERR_FILENO, line.data(), line.size());
  (void)unused;
  if (severity_ == Severity::kFatal) std::abort();
}

}  // namespace curator::log
