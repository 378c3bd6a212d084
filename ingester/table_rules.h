// What the generic table loader (ingester/table_loader.h) accepts: the
// destination tables, the order to publish them in, their keys, and the
// checks a batch must pass before anything is published
// (docs/ARCHITECTURE.md, "Batches"). One list of rules per CU that loads
// this way.
#ifndef CURATOR_INGESTER_TABLE_RULES_H_
#define CURATOR_INGESTER_TABLE_RULES_H_

#include <optional>
#include <string>
#include <vector>

namespace curator::ingester {

struct RangeCheck {
  std::string column;
  double min;
  double max;
  bool max_exclusive = false;
};

struct TableRule {
  std::string table;
  std::vector<std::string> key;  // primary key columns
  std::vector<RangeCheck> ranges;
  // Queries listing problems, one text row each. "{load}" stands for this
  // table's load table, "{load:T}" for table T's, "{night}" for the
  // batch's night as a date literal.
  std::vector<std::string> checks;
};

// CU3's tables (multiframe metadata), in publishing order.
std::vector<TableRule> MetadataRules();

// The load table's name for a destination table.
std::string LoadTableName(const std::string& table);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_TABLE_RULES_H_
