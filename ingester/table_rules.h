// What the generic table loader (ingester/table_loader.h) accepts: the
// destination tables, the order to publish them in, their keys, and the
// checks a batch's rows must pass before anything is published
// (docs/ARCHITECTURE.md, "Batches" and "Bad input"). One list of rules per
// CU that loads this way.
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
  // Queries listing problems, one row each, of four columns:
  //   multiframe_id (bigint): the multiframe (input file) the problem is
  //     in, which is then left out of every table of the batch; NULL when
  //     the problem is no one multiframe's, which quarantines the batch;
  //   hdu (integer): where in the file, 0 when not one HDU;
  //   item (text): the keyword or column, '' when none;
  //   message (text): what is wrong, naming the table and key.
  // "{load}" stands for this table's load table (alias the rows `l`),
  // "{load:T}" for table T's, "{night}" for the batch's night as a date
  // literal.
  std::vector<std::string> checks;
  // The column tying each row to its multiframe; the generated checks
  // (keys, NOT NULL, ranges) report it. Empty: the rows are no
  // multiframe's, and every problem in them quarantines the batch.
  std::string multiframe_column = "multiframe_id";
  // The HDU a row comes from, as SQL over the load table's row `l`.
  std::string hdu = "0";
};

// CU3's tables (multiframe metadata), in publishing order.
std::vector<TableRule> MetadataRules();

// The load table's name for a destination table.
std::string LoadTableName(const std::string& table);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_TABLE_RULES_H_
