// A thin libpq wrapper: one connection, parameterised statements, and
// binary COPY from a file, all with absl::Status errors that keep
// PostgreSQL's message and SQLSTATE.
//
// libpqxx 6.4 does not expose its connection's PGconn, and binary COPY
// must run in the same transaction as the validation that follows it, so
// the database paths that load data use this wrapper throughout.
//
// Codes: Unavailable for a lost or refused connection (SQLSTATE class 08,
// admin shutdown: retry later), Aborted for serialization failures and
// deadlocks (retry the transaction), AlreadyExists for unique violations,
// FailedPrecondition for other integrity violations, InvalidArgument for
// bad data, Internal otherwise.
//
// Every connection has TCP keepalives and a user timeout (a dead peer is
// noticed in seconds, not after the kernel's two hours), a connect
// timeout, and an application_name saying which process holds it
// ("curator-ingester@pixel00:4242", seen in pg_stat_activity), unless the
// connection string sets them itself.
//
// Thread-compatible: one connection per thread; Interrupt() alone may be
// called from another thread.
#ifndef CURATOR_DB_PG_H_
#define CURATOR_DB_PG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct pg_conn;
struct pg_result;

namespace curator::pg {

class Result {
 public:
  Result() = default;
  explicit Result(pg_result* result);
  Result(Result&&) noexcept;
  Result& operator=(Result&&) noexcept;
  ~Result();

  int rows() const;
  int columns() const;
  bool IsNull(int row, int column) const;
  std::string Get(int row, int column) const;  // "" for NULL
  int64_t GetInt(int row, int column) const;
  double GetDouble(int row, int column) const;
  // Rows affected by INSERT/UPDATE/DELETE/COPY.
  int64_t AffectedRows() const;

 private:
  pg_result* result_ = nullptr;
};

using Param = std::optional<std::string>;  // nullopt is SQL NULL

// A text[] literal of `items`, each quoted, for a $n::text[] parameter.
std::string TextArray(const std::vector<std::string>& items);

// The keywords and values a libpq connection string sets (PQconninfoParse),
// in libpq's order; InvalidArgument with libpq's message if it is not one.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseConnInfo(
    const std::string& conninfo);

class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Connect(
      const std::string& conninfo);
  // "<program>@<host>:<pid>", the default application_name.
  static std::string DefaultApplicationName();
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with $1.. parameters (text format).
  absl::StatusOr<Result> Exec(absl::string_view sql,
                              const std::vector<Param>& params = {});
  // Runs a script of several statements without parameters (PQexec).
  absl::Status ExecScript(absl::string_view sql);
  // Runs `copy_sql` (a COPY ... FROM STDIN) and streams the file at
  // `path` to it; returns the rows PostgreSQL reports it copied. `path`
  // must be a regular file itself (files::OpenRegularFile): a symbolic
  // link is refused with InvalidArgument before the COPY starts.
  // `transform`, if given, sees every chunk read and returns what to send.
  absl::StatusOr<int64_t> CopyInFromFile(
      absl::string_view copy_sql, const std::string& path,
      const std::function<absl::StatusOr<absl::string_view>(absl::string_view)>& transform =
          nullptr);
  // Same, from memory.
  absl::StatusOr<int64_t> CopyIn(absl::string_view copy_sql,
                                 absl::string_view data);

  // Runs `copy_sql` (a COPY ... TO STDOUT) and hands each chunk
  // PostgreSQL sends (in binary COPY: the header, then one row per chunk,
  // then the trailer) to `sink`, in order; returns the rows copied. An
  // error of `sink` stops the copy and is returned.
  absl::StatusOr<int64_t> CopyOut(
      absl::string_view copy_sql,
      const std::function<absl::Status(absl::string_view)>& sink);

  // BEGIN / COMMIT / ROLLBACK.
  absl::Status Begin();
  absl::Status Commit();
  absl::Status Rollback();

  // True once the connection is lost: every call will fail with
  // Unavailable; make a new one.
  bool IsBroken() const;
  // True while a transaction is open (or failed and not rolled back).
  bool InTransaction() const;
  // Unblocks a call blocked on the network in another thread (it fails
  // with Unavailable) and breaks the connection: for a shutdown that must
  // not wait for a dead peer. Thread-safe.
  void Interrupt();

  // "schema"."table" quoting of an identifier.
  std::string QuoteIdentifier(absl::string_view name) const;
  pg_conn* raw() { return conn_; }

 private:
  explicit Connection(pg_conn* conn) : conn_(conn) {}
  absl::Status ResultError(pg_result* result, absl::string_view sql) const;
  absl::StatusOr<int64_t> FinishCopy(absl::string_view copy_sql);
  pg_conn* conn_;
};

// BEGIN ... COMMIT, rolled back unless committed. Store methods that must
// be atomic with their caller's other writes take one.
class Transaction {
 public:
  static absl::StatusOr<Transaction> Begin(Connection& conn);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Connection& conn() { return *conn_; }
  absl::Status Commit();

 private:
  explicit Transaction(Connection* conn) : conn_(conn) {}
  Connection* conn_;
  bool open_ = true;
};

}  // namespace curator::pg

#endif  // CURATOR_DB_PG_H_
