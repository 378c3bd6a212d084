// GoogleTest fixture giving each test a fresh, empty database on a private
// PostgreSQL server (tests/support/pg_server.h). The server is started on
// first use and shared by the tests of one test binary; it is stopped and
// its directory removed when the binary exits, and it dies with the binary
// if that crashes.
#ifndef CURATOR_TESTS_SUPPORT_PG_TEST_H_
#define CURATOR_TESTS_SUPPORT_PG_TEST_H_

#include <string>

#include "gtest/gtest.h"
#include "tests/support/pg_server.h"

namespace curator::testing {

// The shared server of this process; nullptr (and the error in `error`)
// if it could not be started.
PgServer* SharedPgServer(std::string* error = nullptr);

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  PgServer& server() { return *server_; }
  // Connection string of this test's own database.
  const std::string& conninfo() const { return conninfo_; }
  const std::string& dbname() const { return dbname_; }

 private:
  PgServer* server_ = nullptr;
  std::string dbname_;
  std::string conninfo_;
};

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_PG_TEST_H_
