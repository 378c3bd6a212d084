#include "db/migrations.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "db/lock_keys.h"

namespace curator::migrations {
namespace {

constexpr char kBootstrap[] = R"sql(
  CREATE SCHEMA IF NOT EXISTS curation;
  CREATE TABLE IF NOT EXISTS curation.schema_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  );
)sql";


absl::StatusOr<std::vector<int>> MigrateInTransaction(pg::Connection& conn) {
  CURATOR_RETURN_IF_ERROR(conn.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", pg::lock_keys::kMigrations, ")")).status());
  CURATOR_RETURN_IF_ERROR(conn.ExecScript(kBootstrap));
  CURATOR_ASSIGN_OR_RETURN(pg::Result applied,
                           conn.Exec("SELECT version FROM curation.schema_migration"));
  std::set<int> done;
  for (int r = 0; r < applied.rows(); ++r) done.insert(static_cast<int>(applied.GetInt(r, 0)));
  std::vector<int> now;
  for (const Migration& m : Embedded()) {
    if (done.count(m.version)) continue;
    CURATOR_RETURN_IF_ERROR(Annotate(conn.ExecScript(m.sql),
                                     absl::StrCat("migration ", m.version, "_", m.name)));
    CURATOR_RETURN_IF_ERROR(
        conn.Exec("INSERT INTO curation.schema_migration (version, name) VALUES ($1, $2)",
                  {std::to_string(m.version), std::string(m.name)})
            .status());
    now.push_back(m.version);
  }
  return now;
}

}  // namespace

absl::StatusOr<std::vector<int>> Migrate(pg::Connection& conn) {
  CURATOR_RETURN_IF_ERROR(conn.Begin());
  absl::StatusOr<std::vector<int>> applied = MigrateInTransaction(conn);
  if (!applied.ok()) {
    (void)conn.Rollback();
    return applied.status();
  }
  CURATOR_RETURN_IF_ERROR(conn.Commit());
  return applied;
}

absl::StatusOr<int> CurrentVersion(pg::Connection& conn) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result v, conn.Exec("SELECT to_regclass('curation.schema_migration') IS NOT NULL"));
  if (v.Get(0, 0) != "t") return 0;
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result m, conn.Exec("SELECT coalesce(max(version), 0) FROM curation.schema_migration"));
  return static_cast<int>(m.GetInt(0, 0));
}

}  // namespace curator::migrations
