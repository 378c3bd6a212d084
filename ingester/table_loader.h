// The generic load of a batch into archive tables (CU3 today): COPY each
// file into a load table, validate it by its TableRule (keys in the batch
// and against the archive, NOT NULL, ranges, the rule's own checks), then
// publish into the archive tables in order. Runs inside the transaction
// that claimed the batch.
#ifndef CURATOR_INGESTER_TABLE_LOADER_H_
#define CURATOR_INGESTER_TABLE_LOADER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/pg.h"
#include "archive/task_log.h"
#include "curator/v1/batch.pb.h"
#include "ingester/table_rules.h"

namespace curator::ingester {

struct TablesLoad {
  int64_t rows = 0;
  std::vector<std::string> rows_per_table;  // JSON members: "table": rows
  std::vector<tasklog::Step> steps;          // copy, validate, publish
};

// Validation problems go to `problems` (the caller quarantines the batch);
// errors are systematic.
absl::StatusOr<TablesLoad> LoadTables(pg::Connection& conn, const std::string& dir,
                                      const std::string& night,
                                      const std::vector<TableRule>& rules,
                                      const std::map<std::string, const v1::BatchFile*>& file_of_table,
                                      std::vector<std::string>* problems);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_TABLE_LOADER_H_
