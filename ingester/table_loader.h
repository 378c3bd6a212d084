// The generic load of a batch into archive tables, by rules
// (ingester/table_rules.h): the batch must have exactly one file per rule's
// table; each is copied into a load table, validated by its rule (keys in
// the batch and against the archive, NOT NULL, ranges, the rule's own
// checks), then published into the archive tables in the rules' order.
// CU3's loader is one of these, with the metadata rules.
#ifndef CURATOR_INGESTER_TABLE_LOADER_H_
#define CURATOR_INGESTER_TABLE_LOADER_H_

#include <string>
#include <vector>

#include "ingester/batch_loader.h"
#include "ingester/table_rules.h"

namespace curator::ingester {

class TableLoader : public BatchLoader {
 public:
  explicit TableLoader(std::vector<TableRule> rules) : rules_(std::move(rules)) {}
  absl::StatusOr<LoadResult> Load(const LoadInput& in,
                                  std::vector<std::string>* problems) override;

 private:
  const std::vector<TableRule> rules_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_TABLE_LOADER_H_
