#include "daemon/releases.h"

#include <map>
#include <optional>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/clock.h"
#include "base/log.h"
#include "base/status.h"

#ifndef CURATOR_VERSION
#define CURATOR_VERSION "unknown"
#endif

namespace curator::daemon {
namespace {

// One table of a release, copied from the live archive. `select` may name
// {schema} (the release's, for tables copied before this one: every table
// is restricted to the rows of the release's frames) and {nights} (the
// condition on multiframe.night). Order matters: each table is restricted
// by the copies made before it.
struct TableSpec {
  const char* name;
  const char* select;
  const char* key;  // its primary key
  std::vector<const char*>
      indexes;  // its other indexes, as in the live archive
};

const std::vector<TableSpec>& Tables() {
  static const std::vector<TableSpec>* tables = new std::vector<TableSpec>{
      {"multiframe",
       "SELECT * FROM live_multiframe WHERE {nights}",
       "multiframe_id",
       {"night"}},
      {"multiframe_detector",
       "SELECT d.* FROM live_multiframe_detector d WHERE d.multiframe_id IN "
       "(SELECT multiframe_id FROM {schema}.multiframe)",
       "multiframe_id, ext_num",
       {}},
      {"multiframe_header_card",
       "SELECT c.* FROM multiframe_header_card c WHERE c.multiframe_id IN "
       "(SELECT multiframe_id FROM {schema}.multiframe)",
       "multiframe_id, hdu, card_num",
       {}},
      {"detection",
       "SELECT d.* FROM live_detection d WHERE d.multiframe_id IN (SELECT "
       "multiframe_id FROM {schema}.multiframe)",
       "obj_id",
       {"q3c_ang2ipix(ra, dec)"}},
      // The links of the released detections; the sources they link to,
      // with their statistics as the live archive has them now (README,
      // "Releases"); the summaries of the released nights.
      {"source_detection",
       "SELECT l.* FROM source_detection l WHERE l.obj_id IN (SELECT obj_id "
       "FROM {schema}.detection)",
       "obj_id",
       {"source_id", "night"}},
      {"source",
       "SELECT s.* FROM source s WHERE s.source_id IN (SELECT source_id FROM "
       "{schema}.source_detection)",
       "source_id",
       {"q3c_ang2ipix(ra, dec)"}},
      {"source_night",
       "SELECT n.* FROM source_night n WHERE n.night IN (SELECT night FROM "
       "{schema}.multiframe)",
       "night",
       {}},
  };
  return *tables;
}

// The content checksum of a table: its rows, and the sum over its rows of
// the first 64 bits of md5(the row as text) read as a signed 64-bit
// number, summed as numeric (which cannot overflow). A sum does not
// depend on the order of the rows, so the same rows in another physical
// order (a copy, a dump and restore, VACUUM FULL) give the same figure,
// while any changed value changes its row's md5, and a row added or
// removed changes the count. Computed by the database, in SQL.
constexpr char kChecksumSql[] =
    "SELECT count(*), coalesce(sum(('x' || substr(md5(t::text), 1, "
    "16))::bit(64)::bigint), 0)::text FROM {table} t";
// A row's text depends on settings (digits of floats, the date style, the
// time zone): fixed for every checksum, in its transaction.
constexpr char kStableText[] =
    "SET LOCAL extra_float_digits = 1; SET LOCAL DateStyle = 'ISO, YMD'; SET "
    "LOCAL TimeZone = 'UTC'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL "
    "bytea_output = 'hex'";
// The trigger on every table of a release
// (deploy/migrations/0013_releases.sql).
constexpr char kTrigger[] = "release_frozen";

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 40) return false;
  for (char c : name) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_'))
      return false;
  }
  return true;
}

// "2007-10-21" for a valid "20071021", else nullopt.
std::optional<std::string> NightDate(const std::string& night) {
  int y = 0, m = 0, d = 0;
  if (night.size() != 8 || !absl::c_all_of(night, absl::ascii_isdigit) ||
      !absl::SimpleAtoi(night.substr(0, 4), &y) ||
      !absl::SimpleAtoi(night.substr(4, 2), &m) ||
      !absl::SimpleAtoi(night.substr(6, 2), &d)) {
    return std::nullopt;
  }
  const absl::CivilDay day(y, m, d);
  if (day.year() != y || day.month() != m || day.day() != d)
    return std::nullopt;
  return absl::StrCat(night.substr(0, 4), "-", night.substr(4, 2), "-",
                      night.substr(6, 2));
}

std::string Quote(pg::Connection& conn, const std::string& schema,
                  const std::string& table) {
  return absl::StrCat(conn.QuoteIdentifier(schema), ".",
                      conn.QuoteIdentifier(table));
}

struct Sum {
  int64_t rows = 0;
  std::string checksum;
};

absl::StatusOr<Sum> Checksum(pg::Connection& conn, const std::string& table) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrReplaceAll(kChecksumSql, {{"{table}", table}})));
  return Sum{r.GetInt(0, 0), r.Get(0, 1)};
}

// Bytes on disk of every table of `schema`, with its indexes and TOAST.
absl::StatusOr<std::map<std::string, int64_t>> TableBytes(
    pg::Connection& conn, const std::string& schema) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
          "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 "
          "AND c.relkind = 'r'",
          {schema}));
  std::map<std::string, int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out[r.Get(i, 0)] = r.GetInt(i, 1);
  return out;
}

// The manifest's tables of `name`, by table name.
absl::StatusOr<std::map<std::string, Sum>> Manifest(pg::Connection& conn,
                                                    const std::string& name) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec("SELECT table_name, rows, checksum::text FROM "
                              "curation.release_table WHERE release = $1",
                              {name}));
  std::map<std::string, Sum> out;
  for (int i = 0; i < r.rows(); ++i)
    out[r.Get(i, 0)] = Sum{r.GetInt(i, 1), r.Get(i, 2)};
  return out;
}

// A release's row and its event, for ReadRelease.
constexpr char kReleaseQuery[] =
    "SELECT r.name, r.schema_name, coalesce(to_char(r.until_night, "
    "'YYYYMMDD'), ''), array_to_string(ARRAY(SELECT to_char(n, 'YYYYMMDD') "
    "FROM unnest(r.nights) n ORDER BY n), ','), to_char(r.created_at AT TIME "
    "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), r.software_version, "
    "r.cu_event_id, e.producer FROM curation.release r JOIN curation.cu_event "
    "e USING (cu_event_id)";

v1::ReleaseInfo ReadRelease(const pg::Result& r, int i) {
  v1::ReleaseInfo info;
  info.set_name(r.Get(i, 0));
  info.set_schema(r.Get(i, 1));
  info.set_until(r.Get(i, 2));
  for (absl::string_view n :
       absl::StrSplit(r.Get(i, 3), ',', absl::SkipEmpty())) {
    info.add_nights(std::string(n));
  }
  info.set_created_at(r.Get(i, 4));
  info.set_software_version(r.Get(i, 5));
  info.set_cu_event_id(r.GetInt(i, 6));
  info.set_producer(r.Get(i, 7));
  return info;
}

// Tables and their bytes into `info`, in the order of Tables() (others,
// which a release of a later version could have, after them by name).
void AddTables(const std::map<std::string, Sum>& sums,
               const std::map<std::string, int64_t>& bytes,
               v1::ReleaseInfo* info) {
  std::vector<std::string> order;
  for (const TableSpec& t : Tables()) {
    if (sums.count(t.name)) order.push_back(t.name);
  }
  for (const auto& [table, sum] : sums) {
    if (absl::c_find(order, table) == order.end()) order.push_back(table);
  }
  int64_t total = 0;
  for (const std::string& table : order) {
    v1::ReleaseTableInfo* t = info->add_tables();
    t->set_table(table);
    t->set_rows(sums.at(table).rows);
    t->set_checksum(sums.at(table).checksum);
    auto b = bytes.find(table);
    t->set_bytes(b == bytes.end() ? 0 : b->second);
    total += t->bytes();
  }
  info->set_bytes(total);
}

// Why nights cannot be released yet: their tasks that are not settled.
std::string StillLoading(const std::vector<TaskRow>& tasks,
                         const archive::CuRegistry& registry) {
  std::map<std::string, std::vector<std::string>> by_night;
  for (const TaskRow& t : tasks) {
    by_night[t.night].push_back(absl::StrCat("task ", t.task_id, " ",
                                             registry.Name(t.cu), " ",
                                             TaskStateName(t.state)));
  }
  std::vector<std::string> nights;
  for (const auto& [night, list] : by_night) {
    nights.push_back(absl::StrCat(night, " (", absl::StrJoin(list, ", "), ")"));
  }
  return absl::StrCat(
      "nights still loading: ", absl::StrJoin(nights, "; "),
      ". A release holds only nights whose every task is ingested, failed or "
      "cancelled; try again when they are, or give --until a night before "
      "them");
}

}  // namespace

std::string Releases::SchemaOf(const std::string& name) {
  return absl::StrCat("release_", name);
}

absl::StatusOr<v1::ReleaseInfo> Releases::Create(const std::string& name,
                                                 const std::string& until,
                                                 const std::string& who) {
  if (!ValidName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("a release's name is 1 to 40 of a-z, 0-9 and _ (it names "
                     "the schema release_<name>), not '",
                     name, "'"));
  }
  std::optional<std::string> until_date;
  if (!until.empty()) {
    until_date = NightDate(until);
    if (!until_date) {
      return absl::InvalidArgumentError(
          absl::StrCat("--until is a night, YYYYMMDD, not '", until, "'"));
    }
  }
  const absl::Time started = absl::Now();
  const std::string schema = SchemaOf(name);
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease lease, pool_->Get());
  pg::Connection& conn = *lease;
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(conn));
  // One snapshot for every table and for the tasks' states: the copy is
  // of one moment, and of nights whose loads had all ended by then.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ").status());
  CURATOR_RETURN_IF_ERROR(conn.ExecScript(kStableText));
  // The tables before the snapshot: a partition detached (a night
  // retired) after the snapshot would otherwise vanish from the copy
  // while its frames stay in it.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("LOCK TABLE multiframe, multiframe_detector, "
                "multiframe_header_card, detection, source, source_detection, "
                "source_night IN ACCESS SHARE MODE")
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result existing,
      conn.Exec("SELECT state FROM curation.release WHERE name = $1", {name}));
  if (existing.rows() == 1 && existing.Get(0, 0) != "dropped") {
    return absl::AlreadyExistsError(absl::StrCat("release ", name, " exists"));
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result other_schema,
      conn.Exec("SELECT 1 FROM pg_namespace WHERE nspname = $1", {schema}));
  if (other_schema.rows() > 0) {
    return absl::AlreadyExistsError(absl::StrCat(
        "a schema ", schema, " exists that is no release of Curator's"));
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<TaskRow> loading,
                           tasks_->Unsettled(conn, until));
  if (!loading.empty()) {
    return absl::FailedPreconditionError(StillLoading(loading, *registry_));
  }

  CURATOR_ASSIGN_OR_RETURN(
      pg::Result event,
      conn.Exec(
          "INSERT INTO curation.cu_event (kind, night, producer, message) "
          "VALUES ('release create', $1, $2, $3) RETURNING cu_event_id",
          {until_date ? pg::Param(*until_date) : pg::Param(), who,
           absl::StrCat("release ", name)}));
  const std::string event_id = event.Get(0, 0);
  // A dropped release's row makes way (its events stay). The primary key
  // makes a second create of the same name at the same time wait for
  // this one, then fail (AlreadyExists).
  CURATOR_RETURN_IF_ERROR(conn.Exec("DELETE FROM curation.release WHERE name = "
                                    "$1 AND state = 'dropped'",
                                    {name})
                              .status());
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(
              "INSERT INTO curation.release (name, schema_name, until_night, "
              "nights, software_version, cu_event_id) VALUES ($1, $2, $3, "
              "'{}', $4, $5)",
              {name, schema, until_date ? pg::Param(*until_date) : pg::Param(),
               std::string(CURATOR_VERSION), event_id})
          .status());

  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("CREATE SCHEMA ", conn.QuoteIdentifier(schema)))
          .status());
  const std::string nights =
      until_date ? absl::StrCat("night <= DATE '", *until_date, "'")
                 : std::string("true");
  std::map<std::string, Sum> sums;
  int64_t total_rows = 0;
  for (const TableSpec& t : Tables()) {
    const std::string table = Quote(conn, schema, t.name);
    const std::string select = absl::StrReplaceAll(
        t.select,
        {{"{schema}", conn.QuoteIdentifier(schema)}, {"{nights}", nights}});
    CURATOR_RETURN_IF_ERROR(
        Annotate(conn.Exec(absl::StrCat("CREATE TABLE ", table, " AS ", select))
                     .status(),
                 absl::StrCat("release ", name, ": copying ", t.name)));
    CURATOR_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("ALTER TABLE ", table, " ADD PRIMARY KEY (",
                               t.key, ")"))
            .status());
    for (const char* index : t.indexes) {
      CURATOR_RETURN_IF_ERROR(
          conn.Exec(absl::StrCat("CREATE INDEX ON ", table, " (", index, ")"))
              .status());
    }
    CURATOR_RETURN_IF_ERROR(
        conn
            .Exec(absl::StrCat(
                "CREATE TRIGGER ", kTrigger,
                " BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ", table,
                " FOR EACH STATEMENT EXECUTE FUNCTION "
                "curation.release_frozen('",
                name, "')"))
            .status());
    // Statistics for the planner: a release is queried, and never
    // changes again, so autovacuum has no reason to come by.
    CURATOR_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("ANALYZE ", table)).status());
    CURATOR_ASSIGN_OR_RETURN(Sum sum, Checksum(conn, table));
    CURATOR_RETURN_IF_ERROR(
        conn.Exec("INSERT INTO curation.release_table (release, table_name, "
                  "rows, checksum) VALUES ($1, $2, $3, $4::numeric)",
                  {name, t.name, std::to_string(sum.rows), sum.checksum})
            .status());
    total_rows += sum.rows;
    sums[t.name] = sum;
  }
  if (sums["multiframe"].rows == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the live archive has no frames",
                     until.empty() ? "" : " of nights up to ", until,
                     ": nothing to release"));
  }
  // The owner's writes are stopped by the trigger; nobody else gets any,
  // even where default privileges would give them.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL "
                             "TABLES IN SCHEMA ",
                             conn.QuoteIdentifier(schema), " FROM PUBLIC"))
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result made,
      conn.Exec(
          absl::StrCat(
              "UPDATE curation.release SET nights = ARRAY(SELECT DISTINCT "
              "night FROM ",
              Quote(conn, schema, "multiframe"),
              " ORDER BY night) WHERE name = $1 RETURNING cardinality(nights)"),
          {name}));
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(
              "UPDATE curation.cu_event SET status = 'done', finished_at = "
              "clock_timestamp(), rows = $2, message = $3 WHERE cu_event_id = "
              "$1",
              {event_id, std::to_string(total_rows),
               absl::StrCat("release ", name, ": ", made.Get(0, 0), " nights, ",
                            sums["detection"].rows, " detections, ", total_rows,
                            " rows in ", schema)})
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result info,
      conn.Exec(absl::StrCat(kReleaseQuery, " WHERE r.name = $1"), {name}));
  CURATOR_ASSIGN_OR_RETURN(auto bytes, TableBytes(conn, schema));
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  v1::ReleaseInfo out = ReadRelease(info, 0);
  AddTables(sums, bytes, &out);
  out.set_seconds(absl::ToDoubleSeconds(absl::Now() - started));
  CURATOR_LOG(INFO) << "release " << name << " made for " << who << ": "
                    << total_rows << " rows, " << out.bytes() << " bytes, in "
                    << out.seconds() << " s";
  return out;
}

absl::StatusOr<v1::ListReleasesResponse> Releases::List() {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease conn, pool_->Get());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn->Exec(absl::StrCat(
          kReleaseQuery,
          " WHERE r.state = 'frozen' ORDER BY r.created_at, r.name")));
  v1::ListReleasesResponse out;
  for (int i = 0; i < r.rows(); ++i) {
    v1::ReleaseInfo info = ReadRelease(r, i);
    CURATOR_ASSIGN_OR_RETURN(auto sums, Manifest(*conn, info.name()));
    CURATOR_ASSIGN_OR_RETURN(auto bytes, TableBytes(*conn, info.schema()));
    AddTables(sums, bytes, &info);
    *out.add_releases() = std::move(info);
  }
  return out;
}

absl::StatusOr<v1::VerifyReleaseResponse> Releases::Verify(
    const std::string& name) {
  const absl::Time started = absl::Now();
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease lease, pool_->Get());
  pg::Connection& conn = *lease;
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(conn));
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
          .status());
  CURATOR_RETURN_IF_ERROR(conn.ExecScript(kStableText));
  CURATOR_ASSIGN_OR_RETURN(pg::Result r,
                           conn.Exec("SELECT schema_name FROM curation.release "
                                     "WHERE name = $1 AND state = 'frozen'",
                                     {name}));
  if (r.rows() == 0)
    return absl::NotFoundError(absl::StrCat("no release ", name));
  const std::string schema = r.Get(0, 0);
  CURATOR_ASSIGN_OR_RETURN(auto manifest, Manifest(conn, name));
  // What the schema holds: each relation, and whether its write trigger
  // is there and fires (enabled for ordinary sessions: 'O' or 'A').
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result held, conn.Exec("SELECT c.relname, EXISTS (SELECT 1 FROM "
                                 "pg_trigger g WHERE g.tgrelid = c.oid AND "
                                 "g.tgname = $2 AND g.tgenabled IN ('O', 'A')) "
                                 "FROM pg_class c JOIN pg_namespace n ON n.oid "
                                 "= c.relnamespace WHERE n.nspname = $1 AND "
                                 "c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER "
                                 "BY 1",
                                 {schema, kTrigger}));
  std::map<std::string, bool> guarded;
  for (int i = 0; i < held.rows(); ++i)
    guarded[held.Get(i, 0)] = held.Get(i, 1) == "t";

  v1::VerifyReleaseResponse out;
  out.set_name(name);
  if (guarded.empty()) {
    out.add_differences(
        absl::StrCat("schema ", schema, " is missing or empty"));
  }
  std::map<std::string, Sum> now;
  for (const auto& [table, want] : manifest) {
    if (!guarded.count(table)) {
      out.add_differences(absl::StrCat(table, ": missing from ", schema));
      continue;
    }
    CURATOR_ASSIGN_OR_RETURN(Sum got,
                             Checksum(conn, Quote(conn, schema, table)));
    now[table] = got;
    if (got.rows != want.rows) {
      out.add_differences(absl::StrCat(table, ": ", got.rows,
                                       " rows, the manifest says ", want.rows));
    }
    if (got.checksum != want.checksum) {
      out.add_differences(absl::StrCat(table, ": checksum ", got.checksum,
                                       ", the manifest says ", want.checksum));
    }
    if (!guarded.at(table)) {
      out.add_differences(absl::StrCat(
          table, ": its ", kTrigger,
          " trigger is missing or disabled (writes are possible)"));
    }
  }
  for (const auto& [table, ok] : guarded) {
    if (!manifest.count(table)) {
      out.add_differences(
          absl::StrCat(table, ": in ", schema, " but not in the manifest"));
    }
  }
  CURATOR_ASSIGN_OR_RETURN(auto bytes, TableBytes(conn, schema));
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  v1::ReleaseInfo tables;
  AddTables(now, bytes, &tables);
  *out.mutable_tables() = tables.tables();
  out.set_unchanged(out.differences().empty());
  out.set_seconds(absl::ToDoubleSeconds(absl::Now() - started));
  return out;
}

absl::StatusOr<v1::DropReleaseResponse> Releases::Drop(const std::string& name,
                                                       const std::string& who) {
  CURATOR_ASSIGN_OR_RETURN(pg::ConnectionPool::Lease lease, pool_->Get());
  pg::Connection& conn = *lease;
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(conn));
  // The row lock makes a second drop at the same time wait, then find
  // the release gone.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          "UPDATE curation.release SET state = 'dropped', dropped_at = now() "
          "WHERE name = $1 AND state = 'frozen' RETURNING schema_name",
          {name}));
  if (r.rows() == 0) {
    CURATOR_ASSIGN_OR_RETURN(pg::Result was,
                             conn.Exec("SELECT to_char(dropped_at AT TIME ZONE "
                                       "'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM "
                                       "curation.release WHERE name = $1",
                                       {name}));
    return absl::NotFoundError(was.rows() == 0
                                   ? absl::StrCat("no release ", name)
                                   : absl::StrCat("no release ", name,
                                                  ": it was dropped at ",
                                                  was.Get(0, 0), " UTC"));
  }
  const std::string schema = r.Get(0, 0);
  CURATOR_ASSIGN_OR_RETURN(auto bytes, TableBytes(conn, schema));
  int64_t total = 0;
  for (const auto& [table, b] : bytes) total += b;
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result event,
      conn.Exec("INSERT INTO curation.cu_event (kind, producer, status, "
                "finished_at, message) VALUES ('release drop', $1, 'done', "
                "clock_timestamp(), $2) RETURNING cu_event_id",
                {who, absl::StrCat("release ", name, ": ", schema, " dropped, ",
                                   total, " bytes freed")}));
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(
              "UPDATE curation.release SET drop_event_id = $2 WHERE name = $1",
              {name, event.Get(0, 0)})
          .status());
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("DELETE FROM curation.release_table WHERE release = $1", {name})
          .status());
  // Dropping waits for the queries that read the release; a drop that
  // would wait long gives up, and the operator tries again.
  CURATOR_RETURN_IF_ERROR(conn.Exec("SET LOCAL lock_timeout = '10s'").status());
  absl::Status dropped =
      conn.Exec(absl::StrCat("DROP SCHEMA IF EXISTS ",
                             conn.QuoteIdentifier(schema), " CASCADE"))
          .status();
  if (absl::StrContains(dropped.message(),
                        "[SQLSTATE 55P03]")) {  // lock_not_available
    return absl::UnavailableError(
        absl::StrCat("release ", name,
                     " is being read (a query holds its tables): try again "
                     "when it is done"));
  }
  CURATOR_RETURN_IF_ERROR(dropped);
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  CURATOR_LOG(INFO) << "release " << name << " dropped for " << who << ": "
                    << total << " bytes freed";
  v1::DropReleaseResponse out;
  out.set_name(name);
  out.set_cu_event_id(event.GetInt(0, 0));
  out.set_bytes(total);
  return out;
}

}  // namespace curator::daemon
