// Every PostgreSQL advisory lock Curator takes, in one place, as the SQL
// expression of its key ($1 being the locked thing's name where there is
// one). All are transaction-level (pg_advisory_xact_lock and its try
// form): released at COMMIT or ROLLBACK, and by the server when the
// session ends, so a killed process never leaves one behind.
#ifndef CURATOR_DB_LOCK_KEYS_H_
#define CURATOR_DB_LOCK_KEYS_H_

namespace curator::pg::lock_keys {

// Schema migrations: one process at a time.
inline constexpr char kMigrations[] = "4242001";
// Registration of one night ($1: YYYYMMDD).
inline constexpr char kRegisterNight[] = "hashtext('register ' || $1)";
// Loading one batch ($1: batch id): held by the ingester that loads it,
// for the whole load transaction; others skip the batch.
inline constexpr char kBatch[] = "hashtext('batch ' || $1)";
// Handing out blocks of ids (CU4 obj_id): one allocator at a time.
inline constexpr char kIdBlocks[] = "hashtext('curator obj_id blocks')";
// Loading a CU5 batch: one at a time, as each recomputes sources another
// night's load may touch too.
inline constexpr char kSources[] = "hashtext('curator sources')";

}  // namespace curator::pg::lock_keys

#endif  // CURATOR_DB_LOCK_KEYS_H_
