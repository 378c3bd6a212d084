// A private PostgreSQL 15 server for tests and local runs.
//
// Start() runs initdb in a new temporary directory and starts `postgres`
// listening only on a Unix socket in that directory (no TCP port, so
// parallel test binaries never collide), with durability turned off
// (fsync, synchronous_commit, full_page_writes): these clusters are
// thrown away.
//
// PostgreSQL refuses to run as root. Under root the server runs as the
// `postgres` account (or $CURATOR_PG_USER), which owns the directory; as
// a normal user it runs as that user. The server gets PR_SET_PDEATHSIG, so
// it dies with the process that started it even if that process crashes;
// the destructor stops it and removes the directory.
//
// Server binaries: $CURATOR_PG_BINDIR, else /usr/lib/postgresql/15/bin.
#ifndef CURATOR_TESTS_SUPPORT_PG_SERVER_H_
#define CURATOR_TESTS_SUPPORT_PG_SERVER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace curator::testing {

class PgServer {
 public:
  static absl::StatusOr<std::unique_ptr<PgServer>> Start(
      absl::Duration timeout = absl::Seconds(60));
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // A libpq connection string for database `dbname` as the superuser.
  std::string ConnInfo(const std::string& dbname = "postgres") const;
  // Creates an empty database; AlreadyExists if it is there.
  absl::Status CreateDatabase(const std::string& dbname);
  absl::Status DropDatabase(const std::string& dbname);

  // Fast shutdown (clients disconnected); idempotent. The directory stays
  // until destruction.
  absl::Status Stop();
  // Starts the stopped server again on its data and socket (Stop first if
  // it runs): a database that went away and came back.
  absl::Status Restart(absl::Duration timeout = absl::Seconds(60));

  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }
  // The server's log (dir/postgres.log), for failure messages.
  std::string LogTail(size_t max_bytes = 4000) const;

 private:
  PgServer() = default;
  absl::Status Init(absl::Duration timeout);
  absl::Status StartServer(absl::Time deadline);
  absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& args, const std::string& log);
  absl::Status WaitReady(absl::Time deadline);

  std::string dir_;
  std::string bindir_;
  pid_t pid_ = -1;
  uid_t run_uid_ = 0;
  gid_t run_gid_ = 0;
  bool switch_user_ = false;
};

// The superuser name of every PgServer cluster.
inline constexpr char kPgSuperuser[] = "curator";

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_PG_SERVER_H_
