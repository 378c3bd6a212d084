// The PostgreSQL test helper itself: a real server, a fresh database per
// test, Q3C available, and the server gone when the helper is.
#include <signal.h>
#include <sys/stat.h>

#include <pqxx/pqxx>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/pg_server.h"
#include "tests/support/pg_test.h"

namespace curator::testing {
namespace {

class PgServerTest : public PgTest {};

TEST_F(PgServerTest, FreshDatabaseIsEmptyAndWritable) {
  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM pg_tables WHERE schemaname = "
                     "'public'")[0]
                .as<int>(),
            0);
  tx.exec0("CREATE TABLE t (id int PRIMARY KEY, name text)");
  tx.exec0("INSERT INTO t VALUES (1, 'w20071021_00001.fit')");
  tx.commit();
  pqxx::work check(c);
  EXPECT_EQ(check.exec1("SELECT name FROM t WHERE id = 1")[0].as<std::string>(),
            "w20071021_00001.fit");
}

TEST_F(PgServerTest, EachTestGetsItsOwnDatabase) {
  // The previous test's table must not be visible here.
  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT to_regclass('public.t') IS NULL")[0].as<bool>(),
            true);
  EXPECT_EQ(tx.exec1("SELECT current_database()")[0].as<std::string>(),
            dbname());
}

TEST_F(PgServerTest, ServerIsPostgres15WithQ3c) {
  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  EXPECT_GE(tx.exec1("SHOW server_version_num")[0].as<int>(), 150000);
  tx.exec0("CREATE EXTENSION q3c");
  // A point 1 arcsec from the centre is inside a 2 arcsec cone, and one
  // 3 arcsec away is not.
  EXPECT_TRUE(tx.exec1("SELECT q3c_join(150.0, 2.0, 150.0, 2.0 + 1/3600.0, "
                       "2/3600.0)")[0]
                  .as<bool>());
  EXPECT_FALSE(tx.exec1("SELECT q3c_join(150.0, 2.0, 150.0, 2.0 + 3/3600.0, "
                        "2/3600.0)")[0]
                   .as<bool>());
}

TEST(PgServerLifecycle, StopsAndRemovesItsDirectory) {
  std::string dir;
  pid_t pid = -1;
  {
    auto server = PgServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    dir = (*server)->dir();
    pid = (*server)->pid();
    ASSERT_TRUE((*server)->CreateDatabase("lifecycle").ok());
    EXPECT_EQ((*server)->CreateDatabase("lifecycle").code(),
              absl::StatusCode::kAlreadyExists);
    pqxx::connection c((*server)->ConnInfo("lifecycle"));
    EXPECT_TRUE(c.is_open());
  }
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << dir << " still exists";
  EXPECT_NE(kill(pid, 0), 0) << "postgres pid " << pid << " still running";
}

TEST(PgServerLifecycle, RestartsOnItsDataAndSocket) {
  auto server = PgServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->CreateDatabase("kept").ok());
  {
    pqxx::connection c((*server)->ConnInfo("kept"));
    pqxx::work tx(c);
    tx.exec0("CREATE TABLE t AS SELECT 42 AS v");
    tx.commit();
  }
  ASSERT_TRUE((*server)->Stop().ok());
  EXPECT_THROW(pqxx::connection((*server)->ConnInfo("kept")), std::exception);
  ASSERT_TRUE((*server)->Restart().ok()) << (*server)->LogTail();
  pqxx::connection c((*server)->ConnInfo("kept"));
  pqxx::work tx(c);
  EXPECT_EQ(tx.exec1("SELECT v FROM t")[0].as<int>(), 42);
  // Keepalives are set for TCP clients (this connection is a Unix socket,
  // for which SHOW says 0).
  EXPECT_EQ(tx.exec1("SELECT source || ' ' || reset_val FROM pg_settings WHERE name = "
                     "'tcp_keepalives_idle'")[0]
                .as<std::string>(),
            "command line 5");
}

}  // namespace
}  // namespace curator::testing
