#include "tests/support/pg_test.h"

#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace curator::testing {

PgServer* SharedPgServer(std::string* error) {
  static std::mutex mu;
  static std::unique_ptr<PgServer> server;
  static std::string start_error;
  std::lock_guard<std::mutex> lock(mu);
  if (server == nullptr && start_error.empty()) {
    auto started = PgServer::Start();
    if (started.ok()) {
      server = *std::move(started);
    } else {
      start_error = started.status().ToString();
    }
  }
  if (error != nullptr) *error = start_error;
  return server.get();
}

void PgTest::SetUp() {
  std::string error;
  server_ = SharedPgServer(&error);
  ASSERT_NE(server_, nullptr) << "cannot start PostgreSQL: " << error;
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = absl::AsciiStrToLower(
      absl::StrCat(info->test_suite_name(), "_", info->name()));
  for (char& c : name) {
    if (!absl::ascii_isalnum(c)) c = '_';
  }
  dbname_ = absl::StrCat("t", getpid(), "_", counter++, "_", name.substr(0, 40));
  absl::Status status = server_->CreateDatabase(dbname_);
  ASSERT_TRUE(status.ok()) << status;
  conninfo_ = server_->ConnInfo(dbname_);
}

void PgTest::TearDown() {
  if (server_ != nullptr && !dbname_.empty()) {
    absl::Status status = server_->DropDatabase(dbname_);
    EXPECT_TRUE(status.ok()) << status;
  }
}

}  // namespace curator::testing
