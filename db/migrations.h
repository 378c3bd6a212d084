// Numbered schema migrations (deploy/migrations/NNNN_name.sql), compiled
// into every binary. Applied by `curatorctl migrate` and by tests; never by
// hand.
#ifndef CURATOR_DB_MIGRATIONS_H_
#define CURATOR_DB_MIGRATIONS_H_

#include <vector>

#include "absl/status/statusor.h"
#include "db/pg.h"

namespace curator::migrations {

struct Migration {
  int version;
  const char* name;
  const char* sql;
};

// Every migration in deploy/migrations, by version.
const std::vector<Migration>& Embedded();

// Applies, in one transaction under an advisory lock (so two processes
// migrating at once are safe), every embedded migration the database has
// not had yet, in order; records each in curation.schema_migration.
// Returns the versions applied (empty if it was up to date).
absl::StatusOr<std::vector<int>> Migrate(pg::Connection& conn);

// The highest applied version; 0 for an empty database.
absl::StatusOr<int> CurrentVersion(pg::Connection& conn);

}  // namespace curator::migrations

#endif  // CURATOR_DB_MIGRATIONS_H_
