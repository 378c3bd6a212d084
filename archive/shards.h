// Detections on shard servers (docs/ARCHITECTURE.md, "Shards"). The head
// database holds everything but the detections; each night's detections
// live on one shard, in the same per-batch partitions a single server has,
// and the head's `detection` reaches them as foreign partitions
// (postgres_fdw), so readers query the head as they would one server.
// Curator decides where rows go and keeps a load atomic across servers:
// the ingester loads a shard directly (binary COPY) in a transaction it
// PREPAREs before the head commits and COMMITs PREPARED after; a crash in
// between is resolved from the head's own record of its transaction
// (ResolvePrepared).
#ifndef CURATOR_ARCHIVE_SHARDS_H_
#define CURATOR_ARCHIVE_SHARDS_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "curator/v1/config.pb.h"
#include "db/pg.h"

namespace curator::archive::shards {

struct Shard {
  std::string name;      // config's; the head's foreign server is shard_<name>
  std::string conninfo;  // as the ingester and the head reach it
};

std::vector<Shard> FromConfig(const v1::DatabaseConfig& database);

// The head's foreign server of a shard.
std::string ServerName(const std::string& shard);

// Brings every shard to the head's schema version (the same migrations),
// then makes or updates on the head the foreign server and user mapping
// of each, and records it in curation.shard. FailedPrecondition when the
// head already holds detections of its own (an archive is not moved to
// shards by migrate) or knows a shard the list lacks; Unavailable naming
// a shard it cannot reach. Nothing to do without shards.
absl::Status MigrateShards(pg::Connection& head,
                           const std::vector<Shard>& shards);

// Whether the head's detections are on shards (curation.shard has rows).
absl::StatusOr<bool> Sharded(pg::Connection& head);

// One connection per shard, made when first needed and made again after
// it was lost. Not thread-safe: one per ingesting thread.
class ShardSet {
 public:
  explicit ShardSet(std::vector<Shard> shards) : shards_(std::move(shards)) {}
  const std::vector<Shard>& shards() const { return shards_; }
  bool empty() const { return shards_.empty(); }
  // The shard's connection; Unavailable naming the shard if it cannot be
  // reached, NotFound if the config has no such shard.
  absl::StatusOr<pg::Connection*> Get(const std::string& name);
  // Forgets the connection (after an error), so Get connects again.
  void Drop(const std::string& name) {
    connections_.erase(name);
    resolved_.erase(name);
  }
  // Whether what was left prepared on the shard has been finished since
  // its connection was made (ResolvePrepared, ShardTransactions::Begin).
  bool Resolved(const std::string& name) const {
    return resolved_.count(name) > 0;
  }
  void MarkResolved(const std::string& name) { resolved_.insert(name); }

 private:
  std::vector<Shard> shards_;
  std::map<std::string, std::unique_ptr<pg::Connection>> connections_;
  std::set<std::string> resolved_;
};

// The shard a night's detections go to: the one it is on, else the one
// with the fewest nights (ties by the night's day number, modulo the
// shards), recorded in the head's transaction.
absl::StatusOr<std::string> ShardOfNight(pg::Connection& head,
                                         const ShardSet& set,
                                         const std::string& night);

// The transactions one batch's load opens on shards, begun on first use;
// prepared under a name holding the head transaction's id just before the
// head commits, committed after it. Whatever is still open when it goes
// is rolled back, prepared or not.
class ShardTransactions {
 public:
  // `head`: the head's connection, to resolve a shard reconnected
  // meanwhile before loading there; may be null (not resolved).
  explicit ShardTransactions(ShardSet* set, pg::Connection* head = nullptr)
      : set_(set), head_(head) {}
  ~ShardTransactions() { Abort(); }
  ShardTransactions(const ShardTransactions&) = delete;
  ShardTransactions& operator=(const ShardTransactions&) = delete;

  ShardSet* set() const { return set_; }
  // The shard's connection inside this batch's transaction there. An
  // error marks the shard unavailable() when it is the link's.
  absl::StatusOr<pg::Connection*> Begin(const std::string& shard);
  // The shard whose link failed during the load, with why; "" if none.
  const std::string& unavailable() const { return unavailable_; }
  const std::string& unavailable_reason() const { return unavailable_reason_; }
  // Notes a failed statement on `shard`: a lost link makes it unavailable.
  absl::Status Failed(const std::string& shard, absl::Status status);

  // PREPARE TRANSACTION on every shard begun, named
  // curator:<archive id>:<head transaction id>:<batch id>, with the head's
  // commit made synchronous. Call inside the head's transaction, after its
  // last write. On an error the head's transaction must be rolled back
  // whole: a PREPARE whose answer was lost may have happened, and only the
  // head's abort makes ResolvePrepared roll it back.
  absl::Status Prepare(pg::Connection& head, const std::string& batch_id);
  // COMMIT PREPARED on each, after the head committed. A failure is
  // logged: ResolvePrepared commits it later, from the head's record.
  void CommitPrepared();
  // ROLLBACK (PREPARED) of whatever is open.
  void Abort();
  // Forgets the prepared transactions without finishing them, when
  // whether the head committed is not known: ResolvePrepared decides.
  void Leave();

 private:
  struct Open {
    std::string shard;
    pg::Connection* conn;
    bool prepared = false;
  };
  ShardSet* set_;
  pg::Connection* head_;
  std::vector<Open> open_;
  std::string gid_;
  std::string unavailable_, unavailable_reason_;
};

// Finishes the prepared transactions ingesters left on the shards: each
// named for a head transaction, committed if that committed, rolled back
// if it aborted (or is too old to know and its batch is not ingested),
// left while it is still in progress. Shards it cannot reach are skipped.
// Returns how many it finished.
absl::StatusOr<int> ResolvePrepared(pg::Connection& head, ShardSet& set);
// The same for one shard, on its connection.
absl::StatusOr<int> ResolveShard(pg::Connection& head, ShardSet& set,
                                 const std::string& name,
                                 pg::Connection& shard);

// "curator:<archive id>:", the prefix of this archive's prepared
// transactions (curation.archive), so that a shard's others are not its.
absl::StatusOr<std::string> GidPrefix(pg::Connection& head);

}  // namespace curator::archive::shards

#endif  // CURATOR_ARCHIVE_SHARDS_H_
