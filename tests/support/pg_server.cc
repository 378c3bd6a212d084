#include "tests/support/pg_server.h"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace curator::testing {
namespace {

std::string ReadTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > max_bytes) text = text.substr(text.size() - max_bytes);
  return text;
}

int PidFdOpen(pid_t pid) {
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
}

// Waits up to `timeout` for the process behind `pidfd` to exit; true if it
// did. Does not reap it.
bool WaitPidFd(int pidfd, absl::Duration timeout) {
  struct pollfd p = {pidfd, POLLIN, 0};
  int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  return poll(&p, 1, ms) > 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgServer>> PgServer::Start(
    absl::Duration timeout) {
  std::unique_ptr<PgServer> server(new PgServer());
  absl::Status status = server->Init(timeout);
  if (!status.ok()) return status;
  return server;
}

// Runs argv as the server account with output to `log`; returns the pid.
absl::StatusOr<pid_t> PgServer::Spawn(const std::vector<std::string>& args,
                                      const std::string& log) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return ErrnoToStatus(errno, "fork");
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    if (switch_user_ && (setgroups(0, nullptr) != 0 ||
                         setgid(run_gid_) != 0 || setuid(run_uid_) != 0)) {
      _exit(126);
    }
    // After setuid, which would clear it: die with whoever started us.
    prctl(PR_SET_PDEATHSIG, SIGQUIT);
    if (getppid() != parent) _exit(125);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

absl::Status PgServer::Init(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  const char* bindir = std::getenv("CURATOR_PG_BINDIR");
  bindir_ = bindir != nullptr ? bindir : "/usr/lib/postgresql/15/bin";
  if (access((bindir_ + "/postgres").c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no PostgreSQL server binaries in ", bindir_,
        " (install postgresql-15: deploy/install-deps.sh, or set "
        "CURATOR_PG_BINDIR)"));
  }
  // A short base path: the socket path must fit in 107 bytes.
  char templ[] = "/tmp/curator-pg-XXXXXX";
  if (mkdtemp(templ) == nullptr) return ErrnoToStatus(errno, "mkdtemp");
  dir_ = templ;

  if (geteuid() == 0) {
    const char* user = std::getenv("CURATOR_PG_USER");
    if (user == nullptr) user = "postgres";
    struct passwd* pw = getpwnam(user);
    if (pw == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "running as root, PostgreSQL needs an unprivileged account; '",
          user, "' does not exist (set CURATOR_PG_USER)"));
    }
    run_uid_ = pw->pw_uid;
    run_gid_ = pw->pw_gid;
    switch_user_ = true;
    if (chown(dir_.c_str(), run_uid_, run_gid_) != 0) {
      return ErrnoToStatus(errno, absl::StrCat("chown ", dir_));
    }
  }

  const std::string data = dir_ + "/data";
  const std::string initdb_log = dir_ + "/initdb.log";
  CURATOR_ASSIGN_OR_RETURN(
      pid_t initdb,
      Spawn({bindir_ + "/initdb", "-D", data, "-U", kPgSuperuser, "-A",
             "trust", "-E", "UTF8", "--no-locale", "--no-sync"},
            initdb_log));
  int wstatus = 0;
  if (waitpid(initdb, &wstatus, 0) < 0 || !WIFEXITED(wstatus) ||
      WEXITSTATUS(wstatus) != 0) {
    return absl::InternalError(absl::StrCat("initdb failed (status ", wstatus,
                                            "): ", ReadTail(initdb_log, 2000)));
  }
  return StartServer(deadline);
}

absl::Status PgServer::StartServer(absl::Time deadline) {
  // Keepalives and a user timeout, as a site configures its server: a
  // session whose client vanished (a cut link) ends within seconds, and
  // with it the locks it held.
  CURATOR_ASSIGN_OR_RETURN(pid_, Spawn({bindir_ + "/postgres",
                                        "-D",
                                        dir_ + "/data",
                                        "-k",
                                        dir_,
                                        "-c",
                                        "listen_addresses=",
                                        "-c",
                                        "fsync=off",
                                        "-c",
                                        "synchronous_commit=off",
                                        "-c",
                                        "full_page_writes=off",
                                        "-c",
                                        "max_connections=200",
                                        "-c",
                                        "max_prepared_transactions=50",
                                        "-c",
                                        "shared_preload_libraries=",
                                        "-c",
                                        "log_min_messages=warning",
                                        "-c",
                                        "tcp_keepalives_idle=5",
                                        "-c",
                                        "tcp_keepalives_interval=2",
                                        "-c",
                                        "tcp_keepalives_count=3",
                                        "-c",
                                        "tcp_user_timeout=15000"},
                                       dir_ + "/postgres.log"));
  return WaitReady(deadline);
}

absl::Status PgServer::Restart(absl::Duration timeout) {
  CURATOR_RETURN_IF_ERROR(Stop());
  return StartServer(absl::Now() + timeout);
}

absl::Status PgServer::WaitReady(absl::Time deadline) {
  // Wake on every change in the data directory (postmaster.pid is
  // rewritten as the server comes up) and on the server's exit; between
  // wake-ups ask the server whether it accepts connections.
  int pidfd = PidFdOpen(pid_);
  int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  absl::Cleanup close_fds = [&] {
    if (pidfd >= 0) close(pidfd);
    if (ino >= 0) close(ino);
  };
  if (ino >= 0) {
    inotify_add_watch(ino, (dir_ + "/data").c_str(),
                      IN_MODIFY | IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO);
    inotify_add_watch(ino, dir_.c_str(), IN_CREATE);
  }
  const std::string conninfo = ConnInfo("postgres");
  while (true) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return absl::OkStatus();
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "PostgreSQL did not become ready in time: ", LogTail()));
    }
    struct pollfd fds[2] = {{pidfd, POLLIN, 0}, {ino, POLLIN, 0}};
    // The events drive the loop; the cap only guards against a missed one.
    int ms = static_cast<int>(
        std::min<int64_t>(absl::ToInt64Milliseconds(left), 500));
    poll(fds, 2, ms);
    if (fds[0].revents & POLLIN) {
      int wstatus = 0;
      waitpid(pid_, &wstatus, 0);
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("PostgreSQL exited while starting: ", LogTail()));
    }
    if (fds[1].revents & POLLIN) {
      char buffer[4096];
      while (read(ino, buffer, sizeof buffer) > 0) {
      }
    }
  }
}

PgServer::~PgServer() {
  absl::Status ignored = Stop();
  (void)ignored;
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::Status PgServer::Stop() {
  if (pid_ <= 0) return absl::OkStatus();
  int pidfd = PidFdOpen(pid_);
  kill(pid_, SIGINT);  // fast shutdown: disconnect clients, then exit
  if (pidfd >= 0 && !WaitPidFd(pidfd, absl::Seconds(30))) {
    kill(pid_, SIGKILL);
  }
  if (pidfd >= 0) close(pidfd);
  int wstatus = 0;
  waitpid(pid_, &wstatus, 0);
  pid_ = -1;
  return absl::OkStatus();
}

std::string PgServer::ConnInfo(const std::string& dbname) const {
  return absl::StrCat("host=", dir_, " port=5432 user=", kPgSuperuser,
                      " dbname=", dbname);
}

std::string PgServer::LogTail(size_t max_bytes) const {
  return ReadTail(dir_ + "/postgres.log", max_bytes);
}

namespace {

absl::Status ExecOnAdminDb(const std::string& conninfo,
                           const std::string& sql) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  absl::Cleanup finish = [conn] { PQfinish(conn); };
  if (PQstatus(conn) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("connect: ", PQerrorMessage(conn)));
  }
  PGresult* result = PQexec(conn, sql.c_str());
  absl::Cleanup clear = [result] { PQclear(result); };
  if (PQresultStatus(result) != PGRES_COMMAND_OK) {
    std::string state = PQresultErrorField(result, PG_DIAG_SQLSTATE)
                             ? PQresultErrorField(result, PG_DIAG_SQLSTATE)
                             : "";
    std::string message = absl::StrCat(sql, ": ", PQerrorMessage(conn));
    if (state == "42P04") return absl::AlreadyExistsError(message);
    return absl::InternalError(message);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PgServer::CreateDatabase(const std::string& dbname) {
  return ExecOnAdminDb(ConnInfo("postgres"),
                       absl::StrCat("CREATE DATABASE \"", dbname, "\""));
}

absl::Status PgServer::DropDatabase(const std::string& dbname) {
  return ExecOnAdminDb(
      ConnInfo("postgres"),
      absl::StrCat("DROP DATABASE IF EXISTS \"", dbname, "\" WITH (FORCE)"));
}

}  // namespace curator::testing
