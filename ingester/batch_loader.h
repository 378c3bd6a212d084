// How the ingester loads each CU's batches: one loader per CU, in a table
// keyed by the CU's id (archive/cu_registry.h), which the ingest looks up;
// nothing in the ingest branches on a CU's number. The ingester checks at
// start that its table covers every CU of the registry (CheckLoaders).
#ifndef CURATOR_INGESTER_BATCH_LOADER_H_
#define CURATOR_INGESTER_BATCH_LOADER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "archive/cu_registry.h"
#include "archive/shards.h"
#include "archive/task_log.h"
#include "curator/v1/batch.pb.h"
#include "db/pg.h"

namespace curator::ingester {

// A verified batch, inside the transaction that claimed it: whatever the
// loader writes commits with the claim and the batch's record, or not at
// all.
// A batch of the same CU and night that this one replaces (a rerun's), as
// loaded: the loader removes its rows, or lets this batch's rows take
// their place, in the same transaction (docs/ARCHITECTURE.md, "Reruns").
struct ReplacedBatch {
  std::string batch_id;
  int64_t cu_event_id = 0;  // the worker's event, whose id its rows carry
};

struct LoadInput {
  pg::Connection& conn;
  const std::string& archive_root;
  const std::string& dir;  // staging/<night>/<batch_id>
  const v1::Manifest& manifest;
  // The ingested batches it replaces; usually none. A loader of a CU that
  // can be rerun must honour them.
  const std::vector<ReplacedBatch>& replaced;
  // The batch's transactions on shard servers, which commit with `conn`'s
  // (docs/ARCHITECTURE.md, "Shards"); null, or without a ShardSet, where
  // the archive has none.
  archive::shards::ShardTransactions* shards = nullptr;
};

struct LoadResult {
  int64_t rows = 0;
  std::map<std::string, int64_t> rows_per_table;
  // Input files taken out of the batch (file, HDU, reason); the rest
  // loaded.
  std::vector<v1::FileProblem> left_out;
  std::vector<tasklog::Step> steps;  // copy, validate, publish, ...
  std::string shard;                 // where the rows went, when not the head
};

class BatchLoader {
 public:
  virtual ~BatchLoader() = default;
  // Before the load's transaction, in one of its own, so that what it
  // reserves (e.g. a block of ids) outlives a failed load and is reused by
  // the next one. Default: nothing.
  virtual absl::Status Prepare(pg::Connection& conn, const v1::Manifest& manifest) {
    (void)conn;
    (void)manifest;
    return absl::OkStatus();
  }
  // Loads the batch. What is wrong with the batch as a whole (a table it
  // does not load, columns it cannot take, a file that does not match the
  // manifest) goes to `problems`, and the batch is quarantined; errors are
  // systematic (the database is away) and leave the batch for later.
  virtual absl::StatusOr<LoadResult> Load(const LoadInput& in,
                                          std::vector<std::string>* problems) = 0;
  // After a batch of this CU committed, outside any transaction: tidying
  // that must not hold locks in the load's transaction (e.g. dropping
  // tables a rerun emptied). A failure is logged, never the batch's; the
  // next call tries again. Default: nothing.
  // `shards` is null where the archive has none.
  virtual absl::Status AfterCommit(pg::Connection& conn,
                                   const v1::Manifest& manifest,
                                   archive::shards::ShardSet* shards) {
    (void)conn;
    (void)manifest;
    (void)shards;
    return absl::OkStatus();
  }
};

using LoaderTable = std::map<int, std::unique_ptr<BatchLoader>>;

// The loaders of CU2, CU3 and CU4.
LoaderTable DefaultLoaders();

// The loaders of CU2, CU3 and CU4, made once for the process.
const LoaderTable& DefaultLoaderTable();

// FailedPrecondition naming every CU of `registry` without a loader.
absl::Status CheckLoaders(const LoaderTable& loaders, const archive::CuRegistry& registry);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_BATCH_LOADER_H_
