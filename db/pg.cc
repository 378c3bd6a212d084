#include "db/pg.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "base/files.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::pg {
namespace {

absl::StatusCode CodeForSqlState(absl::string_view state) {
  if (state.substr(0, 2) == "08" || state == "57P01" || state == "57P02" ||
      state == "57P03" || state == "53300") {
    return absl::StatusCode::kUnavailable;
  }
  if (state == "40001" || state == "40P01") return absl::StatusCode::kAborted;
  if (state == "23505") return absl::StatusCode::kAlreadyExists;
  if (state.substr(0, 2) == "23") return absl::StatusCode::kFailedPrecondition;
  if (state.substr(0, 2) == "22") return absl::StatusCode::kInvalidArgument;
  if (state == "53100") return absl::StatusCode::kUnavailable;  // disk full
  return absl::StatusCode::kInternal;
}

std::string Shorten(absl::string_view sql) {
  std::string s(absl::StripAsciiWhitespace(sql));
  if (s.size() > 120) s = s.substr(0, 117) + "...";
  return s;
}

}  // namespace

Result::Result(pg_result* result) : result_(result) {}
Result::Result(Result&& other) noexcept
    : result_(std::exchange(other.result_, nullptr)) {}
Result& Result::operator=(Result&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) PQclear(result_);
    result_ = std::exchange(other.result_, nullptr);
  }
  return *this;
}
Result::~Result() {
  if (result_ != nullptr) PQclear(result_);
}
int Result::rows() const { return result_ ? PQntuples(result_) : 0; }
int Result::columns() const { return result_ ? PQnfields(result_) : 0; }
bool Result::IsNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}
std::string Result::Get(int row, int column) const {
  return PQgetvalue(result_, row, column);
}
int64_t Result::GetInt(int row, int column) const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQgetvalue(result_, row, column), &v);
  return v;
}
double Result::GetDouble(int row, int column) const {
  return std::strtod(PQgetvalue(result_, row, column), nullptr);
}
int64_t Result::AffectedRows() const {
  int64_t v = 0;
  (void)absl::SimpleAtoi(PQcmdTuples(result_), &v);
  return v;
}

std::string Connection::DefaultApplicationName() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return absl::StrCat(program_invocation_short_name, "@", host, ":", getpid());
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseConnInfo(
    const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat(
        "not a connection string: ", absl::StripAsciiWhitespace(message)));
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out.emplace_back(o->keyword, o->val);
  }
  PQconninfoFree(options);
  return out;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Connect(
    const std::string& conninfo) {
  // Curator's defaults first: the connection string (expanded from
  // "dbname") overrides any of them it sets. Keepalives probe an idle
  // link after 5 s, every 2 s, 3 times; unacknowledged data gives up
  // after 15 s: a dead database host or a cut link is noticed in about 11
  // to 15 s instead of the kernel's hours, and the server's session then
  // ends on its own side too when the server sets tcp_keepalives_* and
  // tcp_user_timeout (tests/support/pg_server.cc, deploy/local-postgres.sh;
  // the README says what a site sets).
  const std::string application_name = DefaultApplicationName();
  const char* keys[] = {"keepalives", "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "connect_timeout",
                        "application_name", "dbname", nullptr};
  const char* values[] = {"1", "5", "2", "3", "15000", "10", application_name.c_str(),
                          conninfo.c_str(), nullptr};
  pg_conn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to PostgreSQL: ", absl::StripAsciiWhitespace(message)));
  }
  // Server notices ("relation already exists, skipping") are not errors;
  // keep them out of stderr unless debugging.
  PQsetNoticeProcessor(
      conn,
      [](void*, const char* message) {
        CURATOR_LOG(DEBUG) << "PostgreSQL: " << absl::StripTrailingAsciiWhitespace(message);
      },
      nullptr);
  return std::unique_ptr<Connection>(new Connection(conn));
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::IsBroken() const { return PQstatus(conn_) != CONNECTION_OK; }

bool Connection::InTransaction() const {
  return PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

void Connection::Interrupt() {
  // shutdown(2), not close(2): the descriptor stays libpq's to close, and
  // any send or recv blocked on it returns at once.
  const int fd = PQsocket(conn_);
  if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

absl::Status Connection::ResultError(pg_result* result,
                                     absl::string_view sql) const {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = result ? PQresultErrorMessage(result) : "";
  if (message.empty()) message = PQerrorMessage(conn_);
  absl::StatusCode code = state ? CodeForSqlState(state)
                                : (PQstatus(conn_) != CONNECTION_OK
                                       ? absl::StatusCode::kUnavailable
                                       : absl::StatusCode::kInternal);
  return absl::Status(code, absl::StrCat(absl::StripAsciiWhitespace(message),
                                         state ? absl::StrCat(" [SQLSTATE ", state, "]") : "",
                                         " in: ", Shorten(sql)));
}

absl::StatusOr<Result> Connection::Exec(absl::string_view sql,
                                        const std::vector<Param>& params) {
  std::string query(sql);
  std::vector<const char*> values;
  for (const Param& p : params) values.push_back(p ? p->c_str() : nullptr);
  pg_result* r = PQexecParams(conn_, query.c_str(), static_cast<int>(values.size()),
                              nullptr, values.data(), nullptr, nullptr, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    absl::Status error = ResultError(r, sql);
    PQclear(r);
    return error;
  }
  return Result(r);
}

absl::Status Connection::ExecScript(absl::string_view sql) {
  std::string script(sql);
  pg_result* r = PQexec(conn_, script.c_str());
  ExecStatusType st = PQresultStatus(r);
  absl::Status status;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) status = ResultError(r, sql);
  PQclear(r);
  return status;
}

absl::StatusOr<int64_t> Connection::FinishCopy(absl::string_view copy_sql) {
  pg_result* r = PQgetResult(conn_);
  absl::Status error;
  int64_t rows = 0;
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    error = ResultError(r, copy_sql);
  } else {
    (void)absl::SimpleAtoi(PQcmdTuples(r), &rows);
  }
  PQclear(r);
  while ((r = PQgetResult(conn_)) != nullptr) PQclear(r);
  if (!error.ok()) return error;
  return rows;
}

absl::StatusOr<int64_t> Connection::CopyIn(absl::string_view copy_sql,
                                           absl::string_view data) {
  std::string query(copy_sql);
  pg_result* r = PQexec(conn_, query.c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    absl::Status error = ResultError(r, copy_sql);
    PQclear(r);
    return error;
  }
  PQclear(r);
  if (PQputCopyData(conn_, data.data(), static_cast<int>(data.size())) != 1 ||
      PQputCopyEnd(conn_, nullptr) != 1) {
    return absl::UnavailableError(absl::StrCat("COPY: ", PQerrorMessage(conn_)));
  }
  return FinishCopy(copy_sql);
}

absl::StatusOr<int64_t> Connection::CopyInFromFile(
    absl::string_view copy_sql, const std::string& path,
    const std::function<absl::StatusOr<absl::string_view>(absl::string_view)>& transform) {
  // Batch files only: a symbolic link is refused, not followed.
  CURATOR_ASSIGN_OR_RETURN(const int fd, files::OpenRegularFile(path, "batch files"));
  std::string query(copy_sql);
  pg_result* r = PQexec(conn_, query.c_str());
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    absl::Status error = ResultError(r, copy_sql);
    PQclear(r);
    close(fd);
    return error;
  }
  PQclear(r);
  std::vector<char> buffer(1 << 20);
  absl::Status io;
  while (true) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      io = ErrnoToStatus(errno, path);
      break;
    }
    if (n == 0) break;
    absl::string_view out(buffer.data(), n);
    if (transform) {
      absl::StatusOr<absl::string_view> t = transform(out);
      if (!t.ok()) {
        io = Annotate(t.status(), path);
        break;
      }
      out = *t;
      if (out.empty()) continue;
    }
    if (PQputCopyData(conn_, out.data(), static_cast<int>(out.size())) != 1) {
      io = absl::UnavailableError(absl::StrCat("COPY: ", PQerrorMessage(conn_)));
      break;
    }
  }
  close(fd);
  // On an error, abort the COPY so the server discards what it got.
  PQputCopyEnd(conn_, io.ok() ? nullptr : "input rejected by the loader");
  absl::StatusOr<int64_t> rows = FinishCopy(copy_sql);
  if (!io.ok()) return io;
  return rows;
}

absl::StatusOr<int64_t> Connection::CopyOut(
    absl::string_view copy_sql,
    const std::function<absl::Status(absl::string_view)>& sink) {
  std::string query(copy_sql);
  pg_result* r = PQexec(conn_, query.c_str());
  if (PQresultStatus(r) != PGRES_COPY_OUT) {
    absl::Status error = ResultError(r, copy_sql);
    PQclear(r);
    return error;
  }
  PQclear(r);
  absl::Status stop;
  while (true) {
    char* data = nullptr;
    const int n = PQgetCopyData(conn_, &data, /*async=*/0);
    if (n == -1) break;  // done; the result follows
    if (n < 0)
      return absl::UnavailableError(
          absl::StrCat("COPY: ", PQerrorMessage(conn_)));
    if (stop.ok()) stop = sink(absl::string_view(data, n));
    PQfreemem(data);
    // Having stopped, the rest is read and dropped: libpq has no way to
    // end a COPY TO early short of cancelling the query.
  }
  absl::StatusOr<int64_t> rows = FinishCopy(copy_sql);
  if (!stop.ok()) return stop;
  return rows;
}

absl::Status Connection::Begin() { return Exec("BEGIN").status(); }
absl::Status Connection::Commit() { return Exec("COMMIT").status(); }
absl::Status Connection::Rollback() { return Exec("ROLLBACK").status(); }

absl::StatusOr<Transaction> Transaction::Begin(Connection& conn) {
  CURATOR_RETURN_IF_ERROR(conn.Begin());
  return Transaction(&conn);
}

Transaction::Transaction(Transaction&& other) noexcept
    : conn_(other.conn_), open_(std::exchange(other.open_, false)) {}

Transaction::~Transaction() {
  if (open_) (void)conn_->Rollback();
}

absl::Status Transaction::Commit() {
  if (!open_) return absl::FailedPreconditionError("the transaction is not open");
  open_ = false;
  return conn_->Commit();
}

std::string Connection::QuoteIdentifier(absl::string_view name) const {
  char* quoted = PQescapeIdentifier(conn_, name.data(), name.size());
  std::string out = quoted ? quoted : "";
  PQfreemem(quoted);
  return out;
}

std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace curator::pg
