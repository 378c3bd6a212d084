#include "ingester/table_loader.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "ingester/batch_copy.h"

namespace curator::ingester {
namespace {

constexpr int kMaxLinesPerCheck = 10;

std::string Expand(const std::string& sql, const std::string& table, const std::string& night) {
  std::string out = absl::StrReplaceAll(
      sql, {{"{load}", LoadTableName(table)}, {"{night}", absl::StrCat("DATE '", night, "'")}});
  size_t pos;
  while ((pos = out.find("{load:")) != std::string::npos) {  // {load:T}
    size_t end = out.find('}', pos);
    out.replace(pos, end - pos + 1, LoadTableName(out.substr(pos + 6, end - pos - 6)));
  }
  return out;
}

}  // namespace

absl::StatusOr<LoadResult> TableLoader::Load(const LoadInput& in,
                                             std::vector<std::string>* problems) {
  pg::Connection& conn = in.conn;
  const std::string& dir = in.dir;
  const std::string& night = in.manifest.night();
  const std::vector<TableRule>& rules = rules_;
  LoadResult load;
  // Exactly one file per table of the rules.
  std::map<std::string, const v1::BatchFile*> file_of_table;
  for (const v1::BatchFile& f : in.manifest.files()) file_of_table[f.table()] = &f;
  {
    std::set<std::string> expected;
    for (const TableRule& r : rules) expected.insert(r.table);
    for (const auto& [table, f] : file_of_table) {
      if (!expected.count(table)) problems->push_back(absl::StrCat("unexpected table '", table, "'"));
    }
    for (const std::string& t : expected) {
      if (!file_of_table.count(t)) problems->push_back(absl::StrCat("no file for table '", t, "'"));
    }
    if (file_of_table.size() != static_cast<size_t>(in.manifest.files_size())) {
      problems->push_back("two files for one table");
    }
    if (!problems->empty()) return load;
  }
    // copy
    tasklog::Step copy_step{"copy", absl::Now()};
    std::map<std::string, std::vector<std::string>> not_null_columns;
    for (const TableRule& rule : rules) {
      const v1::BatchFile& f = *file_of_table.at(rule.table);
      // Only columns the archive table has, each named once.
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result cols,
          conn.Exec("SELECT column_name, is_nullable = 'NO' AND column_default IS NULL, "
                      "is_nullable = 'NO' FROM information_schema.columns WHERE "
                      "table_schema = 'public' AND table_name = $1",
                      {rule.table}));
      std::map<std::string, bool> required;
      std::set<std::string> not_null;
      for (int r = 0; r < cols.rows(); ++r) {
        required[cols.Get(r, 0)] = cols.Get(r, 1) == "t";
        if (cols.Get(r, 2) == "t") not_null.insert(cols.Get(r, 0));
      }
      std::set<std::string> seen;
      std::vector<std::string> quoted;
      for (const std::string& c : f.columns()) {
        if (not_null.count(c)) not_null_columns[rule.table].push_back(c);
        if (!required.count(c) || !seen.insert(c).second) {
          problems->push_back(absl::StrCat(rule.table, ": column '", c,
                                    "' is not in the table or is given twice"));
        }
        quoted.push_back(conn.QuoteIdentifier(c));
      }
      for (const auto& [c, needed] : required) {
        if (needed && !seen.count(c)) {
          problems->push_back(absl::StrCat(rule.table, ": required column '", c, "' is missing"));
        }
      }
      if (!problems->empty()) return load;
      const std::string column_list = absl::StrJoin(quoted, ", ");
      const std::string load_table = LoadTableName(rule.table);
      CURATOR_RETURN_IF_ERROR(
          conn.Exec(absl::StrCat("CREATE TEMP TABLE ", load_table, " ON COMMIT DROP AS SELECT ",
                                   column_list, " FROM ", rule.table, " WITH NO DATA"))
              .status());
      CURATOR_ASSIGN_OR_RETURN(
          std::optional<int64_t> copied,
          CopyBatchFile(conn,
                        absl::StrCat("COPY ", load_table, " (", column_list,
                                     ") FROM STDIN (FORMAT binary)"),
                        dir, f, problems));
      if (!copied) return load;
      copy_step.rows += *copied;
      copy_step.files.push_back({absl::StrCat(dir, "/", f.name()), 0, copy_step.started,
                                 absl::Now(), *copied});
    }
    copy_step.finished = absl::Now();
    if (!problems->empty()) return load;

    // validate
    tasklog::Step validate_step{"validate", absl::Now()};
    auto collect = [&](const std::string& sql) -> absl::Status {
      CURATOR_ASSIGN_OR_RETURN(pg::Result r,
                               conn.Exec(absl::StrCat(sql, " LIMIT ", kMaxLinesPerCheck + 1)));
      for (int i = 0; i < r.rows() && i < kMaxLinesPerCheck; ++i) problems->push_back(r.Get(i, 0));
      if (r.rows() > kMaxLinesPerCheck) problems->push_back("  ... and more like this");
      return absl::OkStatus();
    };
    for (const TableRule& rule : rules) {
      const std::string load_table = LoadTableName(rule.table);
      std::vector<std::string> key_text, key_cols;
      for (const std::string& k : rule.key) {
        key_cols.push_back(conn.QuoteIdentifier(k));
        key_text.push_back(absl::StrCat("l.", conn.QuoteIdentifier(k), "::text"));
      }
      const std::string key = absl::StrJoin(key_cols, ", ");
      const std::string key_shown = absl::StrJoin(key_text, " || '/' || ");
      CURATOR_RETURN_IF_ERROR(collect(absl::StrCat(
          "SELECT '", rule.table, ": key ' || ", key_shown, " || ' appears ' || count(*) || "
          "' times in the batch' FROM ", load_table, " l GROUP BY ", key,
          " HAVING count(*) > 1")));
      CURATOR_RETURN_IF_ERROR(collect(absl::StrCat(
          "SELECT '", rule.table, ": key ' || ", key_shown, " || ' is already in the archive' "
          "FROM ", load_table, " l JOIN ", rule.table, " a USING (", key, ")")));
      // NOT NULL, all columns of the table in one pass.
      std::vector<std::string> null_counts;
      for (const std::string& c : not_null_columns[rule.table]) {
        null_counts.push_back(absl::StrCat("CASE WHEN count(*) FILTER (WHERE l.",
                                           conn.QuoteIdentifier(c), " IS NULL) > 0 THEN '",
                                           rule.table, ": ' || count(*) FILTER (WHERE l.",
                                           conn.QuoteIdentifier(c), " IS NULL) || ' rows have no ",
                                           c, " (NOT NULL)' END"));
      }
      if (!null_counts.empty()) {
        CURATOR_RETURN_IF_ERROR(collect(absl::StrCat(
            "SELECT p FROM (SELECT unnest(ARRAY[", absl::StrJoin(null_counts, ", "),
            "]) AS p FROM ", load_table, " l) q WHERE p IS NOT NULL")));
      }
      for (const RangeCheck& range : rule.ranges) {
        const std::string q = conn.QuoteIdentifier(range.column);
        CURATOR_RETURN_IF_ERROR(collect(absl::StrCat(
            "SELECT '", rule.table, ": key ' || ", key_shown, " || ' has ", range.column,
            " = ' || l.", q, " || ', outside [", range.min, ", ", range.max,
            range.max_exclusive ? ")" : "]", "' FROM ", load_table, " l WHERE l.", q, " < ",
            range.min, " OR l.", q, range.max_exclusive ? " >= " : " > ", range.max,
            " OR l.", q, " = 'NaN'")));
      }
      for (const std::string& check : rule.checks) {
        CURATOR_RETURN_IF_ERROR(collect(Expand(check, rule.table, night)));
      }
    }
    validate_step.finished = absl::Now();
    validate_step.errors = static_cast<int>(problems->size());
    if (!problems->empty()) return load;

    // publish
    tasklog::Step publish_step{"publish", absl::Now()};
    
    for (const TableRule& rule : rules) {
      const v1::BatchFile& f = *file_of_table.at(rule.table);
      std::vector<std::string> quoted;
      for (const std::string& c : f.columns()) quoted.push_back(conn.QuoteIdentifier(c));
      const std::string column_list = absl::StrJoin(quoted, ", ");
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result r, conn.Exec(absl::StrCat("INSERT INTO ", rule.table, " (", column_list,
                                                 ") SELECT ", column_list, " FROM ",
                                                 LoadTableName(rule.table))));
      publish_step.rows += r.AffectedRows();
      load.rows_per_table[rule.table] = r.AffectedRows();
    }
    publish_step.finished = absl::Now();
    load.rows = publish_step.rows;

    load.steps = {std::move(copy_step), std::move(validate_step), std::move(publish_step)};
  return load;
}

}  // namespace curator::ingester
