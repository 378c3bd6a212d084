#include "base/log.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace curator::log {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

std::string Capture(void (*write)()) {
  ::testing::internal::CaptureStderr();
  write();
  return ::testing::internal::GetCapturedStderr();
}

TEST(LogTest, JournalLinesCarrySyslogPriority) {
  SetJournalFormat(true);
  std::string out = Capture([] { CURATOR_LOG(WARNING) << "disk " << 97 << "% full"; });
  EXPECT_THAT(out, StartsWith("<4>log_test.cc:"));
  EXPECT_THAT(out, HasSubstr("] disk 97% full\n"));
  out = Capture([] { CURATOR_LOG(ERROR) << "db gone"; });
  EXPECT_THAT(out, StartsWith("<3>"));
}

TEST(LogTest, TerminalLinesAreGlogStyle) {
  SetJournalFormat(false);
  std::string out = Capture([] { CURATOR_LOG(INFO) << "registered 8 files"; });
  EXPECT_THAT(out, MatchesRegex("I[0-9]{8} [0-9:.]{15} [0-9]+ log_test.cc:[0-9]+\\] "
                                "registered 8 files\n"));
}

TEST(LogTest, MultiLineMessageStaysOneIndentedEntry) {
  SetJournalFormat(true);
  std::string out = Capture([] { CURATOR_LOG(INFO) << "a\nb"; });
  EXPECT_THAT(out, HasSubstr("] a\n b\n"));
}

TEST(LogTest, MinimumSeverityDropsLowerMessages) {
  SetJournalFormat(true);
  SetMinSeverity(Severity::kWarning);
  std::string out = Capture([] {
    CURATOR_LOG(INFO) << "hidden";
    CURATOR_LOG(WARNING) << "shown";
  });
  SetMinSeverity(Severity::kInfo);
  EXPECT_THAT(out, Not(HasSubstr("hidden")));
  EXPECT_THAT(out, HasSubstr("shown"));
}

TEST(LogDeathTest, FailedCheckAbortsWithCondition) {
  EXPECT_DEATH({ int x = 1; CURATOR_CHECK(x == 2) << "x was " << x; },
               "Check failed: x == 2 x was 1");
}

}  // namespace
}  // namespace curator::log
