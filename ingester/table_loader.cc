#include "ingester/table_loader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "ingester/batch_copy.h"

namespace curator::ingester {
namespace {

// Lines of a check kept per multiframe (and for the batch as a whole).
constexpr int kMaxLinesPerCheck = 3;
// Rounds of validation: after the multiframes that failed are taken out,
// the rest is validated again (what is left could depend on what went).
constexpr int kMaxRounds = 3;

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

// One line a check found.
struct Found {
  std::optional<int64_t> multiframe_id;  // nullopt: the batch's, no one multiframe's
  int hdu = 0;
  std::string item;
  std::string message;
};

// Every check of `rule`, each a query of (multiframe_id, hdu, item,
// message) rows (table_rules.h): keys repeated in the batch or already in
// the archive (but for rows of the events in `replaced_events`, a SQL
// array literal, which this batch's rows replace), NOT NULL, ranges, then
// the rule's own.
std::vector<std::string> ChecksOf(pg::Connection& conn, const TableRule& rule,
                                  const std::vector<std::string>& not_null,
                                  const std::string& night,
                                  const std::string& replaced_events) {
  const std::string load_table = LoadTableName(rule.table);
  const std::string mf = rule.multiframe_column.empty()
                             ? std::string("NULL::bigint")
                             : absl::StrCat("l.", conn.QuoteIdentifier(rule.multiframe_column));
  const std::string& hdu = rule.hdu;
  std::vector<std::string> key_text, key_cols;
  for (const std::string& k : rule.key) {
    key_cols.push_back(absl::StrCat("l.", conn.QuoteIdentifier(k)));
    key_text.push_back(absl::StrCat("l.", conn.QuoteIdentifier(k), "::text"));
  }
  const std::string key = absl::StrJoin(key_cols, ", ");
  const std::string key_shown = absl::StrJoin(key_text, " || '/' || ");
  std::vector<std::string> checks;
  // Every row of a repeated key: each multiframe involved goes.
  checks.push_back(absl::StrCat("SELECT DISTINCT m, h, '', '", rule.table,
                                ": key ' || k || ' appears ' || n || ' times in "
                                "the batch' FROM (SELECT ",
                                mf, " AS m, ", hdu, " AS h, ", key_shown,
                                " AS k, count(*) OVER "
                                "(PARTITION BY ",
                                key, ") AS n FROM ", load_table, " l) q WHERE n > 1"));
  std::vector<std::string> archive_key;
  for (const std::string& k : rule.key) {
    archive_key.push_back(
        absl::StrCat("a.", conn.QuoteIdentifier(k), " = l.", conn.QuoteIdentifier(k)));
  }
  checks.push_back(absl::StrCat(
      "SELECT ", mf, ", ", hdu, ", '', '", rule.table, ": key ' || ", key_shown,
      " || ' is already in the archive' FROM ", load_table, " l JOIN ",
      rule.table, " a ON ", absl::StrJoin(archive_key, " AND "),
      replaced_events.empty() ? ""
                              : absl::StrCat(" WHERE a.cu_event_id <> ALL('",
                                             replaced_events, "'::bigint[])")));
  // NOT NULL: all columns in one pass, counted per multiframe and HDU.
  std::vector<std::string> names, counts;
  for (const std::string& c : not_null) {
    const std::string q = conn.QuoteIdentifier(c);
    names.push_back(absl::StrCat("'", c, "'"));
    counts.push_back(absl::StrCat("CASE WHEN count(*) FILTER (WHERE l.", q, " IS NULL) > 0 THEN '",
                                  rule.table, ": ' || count(*) FILTER (WHERE l.", q,
                                  " IS NULL) || ' rows have no ", c, " (NOT NULL)' END"));
  }
  if (!counts.empty()) {
    checks.push_back(absl::StrCat("SELECT m, h, c, p FROM (SELECT ", mf, " AS m, ", hdu,
                                  " AS h, unnest(ARRAY[", absl::StrJoin(names, ", "),
                                  "]) AS c, unnest(ARRAY[", absl::StrJoin(counts, ", "),
                                  "]) AS p FROM ", load_table,
                                  " l GROUP BY 1, 2) q WHERE p IS "
                                  "NOT NULL"));
  }
  for (const RangeCheck& range : rule.ranges) {
    const std::string q = conn.QuoteIdentifier(range.column);
    checks.push_back(absl::StrCat(
        "SELECT ", mf, ", ", hdu, ", '", range.column, "', '", rule.table, ": key ' || ", key_shown,
        " || ' has ", range.column, " = ' || l.", q, " || ', outside [", range.min, ", ", range.max,
        range.max_exclusive ? ")" : "]", "' FROM ", load_table, " l WHERE l.", q, " < ", range.min,
        " OR l.", q, range.max_exclusive ? " >= " : " > ", range.max, " OR l.", q, " = 'NaN'"));
  }
  for (const std::string& check : rule.checks) checks.push_back(Expand(check, rule.table, night));
  return checks;
}

// Runs `checks`, keeping the first few lines of each per multiframe.
absl::StatusOr<std::vector<Found>> RunChecks(pg::Connection& conn,
                                             const std::vector<std::string>& checks) {
  std::vector<Found> found;
  for (const std::string& check : checks) {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Exec(absl::StrCat(
            "SELECT m, h, coalesce(i, ''), coalesce(g, 'a check found a row it cannot name'), n "
            "FROM (SELECT c.m, c.h::integer AS h, c.i::text AS i, c.g::text AS g, row_number() "
            "OVER (PARTITION BY c.m) AS r, count(*) OVER (PARTITION BY c.m) AS n FROM (",
            check, ") AS c(m, h, i, g)) q WHERE r <= ", kMaxLinesPerCheck, " ORDER BY m, r")));
    for (int i = 0; i < r.rows(); ++i) {
      Found& f = found.emplace_back();
      if (!r.IsNull(i, 0)) f.multiframe_id = r.GetInt(i, 0);
      f.hdu = r.IsNull(i, 1) ? 0 : static_cast<int>(r.GetInt(i, 1));
      f.item = r.Get(i, 2);
      f.message = r.Get(i, 3);
      const int64_t n = r.GetInt(i, 4);
      const bool last_shown = i + 1 == r.rows() || r.Get(i + 1, 0) != r.Get(i, 0) ||
                              r.IsNull(i + 1, 0) != r.IsNull(i, 0);
      if (last_shown && n > kMaxLinesPerCheck) {
        absl::StrAppend(&f.message, " (and ", n - kMaxLinesPerCheck, " more like this)");
      }
    }
  }
  return found;
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
      if (!expected.count(table))
        problems->push_back(absl::StrCat("unexpected table '", table, "'"));
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
        problems->push_back(
            absl::StrCat(rule.table, ": column '", c, "' is not in the table or is given twice"));
      }
      quoted.push_back(conn.QuoteIdentifier(c));
    }
    for (const auto& [c, needed] : required) {
      if (needed && !seen.count(c)) {
        problems->push_back(absl::StrCat(rule.table, ": required column '", c, "' is missing"));
      }
    }
    if (!rule.multiframe_column.empty() && !seen.count(rule.multiframe_column)) {
      problems->push_back(
          absl::StrCat(rule.table, ": column '", rule.multiframe_column, "' is missing"));
    }
    if (!problems->empty()) return load;
    const std::string column_list = absl::StrJoin(quoted, ", ");
    const std::string load_table = LoadTableName(rule.table);
    CURATOR_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("CREATE TEMP TABLE ", load_table, " ON COMMIT DROP AS SELECT ",
                               column_list, " FROM ", rule.table, " WITH NO DATA"))
            .status());
    CURATOR_ASSIGN_OR_RETURN(std::optional<int64_t> copied,
                             CopyBatchFile(conn,
                                           absl::StrCat("COPY ", load_table, " (", column_list,
                                                        ") FROM STDIN (FORMAT binary)"),
                                           dir, f, problems));
    if (!copied) return load;
    copy_step.rows += *copied;
    copy_step.files.push_back(
        {absl::StrCat(dir, "/", f.name()), 0, copy_step.started, absl::Now(), *copied});
  }
  copy_step.finished = absl::Now();
  if (!problems->empty()) return load;

  // validate: a problem of one multiframe takes it out of every load
  // table; one of no multiframe (or that will not go away) quarantines the
  // batch.
  tasklog::Step validate_step{"validate", absl::Now()};
  std::vector<std::string> replaced_ids;
  for (const ReplacedBatch& b : in.replaced)
    replaced_ids.push_back(std::to_string(b.cu_event_id));
  const std::string replaced_events =
      in.replaced.empty()
          ? ""
          : absl::StrCat("{", absl::StrJoin(replaced_ids, ","), "}");
  std::vector<std::string> checks;
  for (const TableRule& rule : rules) {
    for (std::string& c : ChecksOf(conn, rule, not_null_columns[rule.table],
                                   night, replaced_events)) {
      checks.push_back(std::move(c));
    }
  }
  std::map<int64_t, std::vector<Found>> why;  // the multiframes left out
  std::map<int64_t, std::map<std::string, int64_t>> rows_out;
  for (int round = 0;; ++round) {
    CURATOR_ASSIGN_OR_RETURN(std::vector<Found> found, RunChecks(conn, checks));
    if (found.empty()) break;
    std::vector<std::string> ids;
    for (const Found& f : found) {
      if (!f.multiframe_id) {
        problems->push_back(f.message);
      } else if (round + 1 == kMaxRounds) {
        problems->push_back(absl::StrCat("multiframe ", *f.multiframe_id, " still fails after ",
                                         kMaxRounds, " rounds of validation: ", f.message));
      } else {
        if (why[*f.multiframe_id].empty()) ids.push_back(std::to_string(*f.multiframe_id));
        why[*f.multiframe_id].push_back(f);
      }
    }
    if (!problems->empty()) {
      validate_step.finished = absl::Now();
      return load;
    }
    const std::string id_array = absl::StrCat("{", absl::StrJoin(ids, ","), "}");
    for (const TableRule& rule : rules) {
      if (rule.multiframe_column.empty()) continue;
      const std::string mf = conn.QuoteIdentifier(rule.multiframe_column);
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result r, conn.Exec(absl::StrCat("WITH d AS (DELETE FROM ", LoadTableName(rule.table),
                                               " WHERE ", mf, " = ANY($1::bigint[]) RETURNING ", mf,
                                               ") SELECT ", mf, ", count(*) FROM d GROUP BY 1"),
                                  {id_array}));
      for (int i = 0; i < r.rows(); ++i) rows_out[r.GetInt(i, 0)][rule.table] = r.GetInt(i, 1);
    }
  }
  std::map<int64_t, std::string> input_path;
  for (const v1::InputOutcome& i : in.manifest.inputs()) input_path[i.multiframe_id()] = i.path();
  for (const auto& [id, lines] : why) {
    v1::FileProblem& p = load.left_out.emplace_back();
    auto path = input_path.find(id);
    p.set_path(path != input_path.end() ? path->second : absl::StrCat("multiframe ", id));
    p.set_hdu(lines[0].hdu);
    p.set_item(lines[0].item);
    std::string text = std::filesystem::path(p.path()).filename().string();
    for (size_t i = 0; i < lines.size(); ++i) {
      absl::StrAppend(&text, i == 0 ? (lines[i].hdu ? " " : ": ") : "; ",
                      lines[i].hdu ? absl::StrCat("HDU ", lines[i].hdu, ": ") : "",
                      lines[i].message);
    }
    std::vector<std::string> gone;
    for (const TableRule& rule : rules) {
      auto n = rows_out[id].find(rule.table);
      gone.push_back(absl::StrCat(n == rows_out[id].end() ? 0 : n->second, " ", rule.table));
    }
    absl::StrAppend(&text, "; its rows are left out (", absl::StrJoin(gone, ", "), ")");
    p.set_message(std::move(text));
    validate_step.messages.push_back({"error", p.path(), p.hdu(), p.item(), p.message()});
    ++validate_step.errors;
  }
  validate_step.finished = absl::Now();

  // publish. A rerun's rows take the place of the replaced batches' by
  // key, so what other CUs set in them (CU2's comp_file) stays; the
  // replaced rows of its multiframes that no row of it took over then go,
  // children first.
  tasklog::Step publish_step{"publish", absl::Now()};
  for (const TableRule& rule : rules) {
    const v1::BatchFile& f = *file_of_table.at(rule.table);
    if (!in.replaced.empty() &&
        std::find(f.columns().begin(), f.columns().end(), "cu_event_id") ==
            f.columns().end()) {
      problems->push_back(absl::StrCat(
          rule.table,
          ": a batch that replaces another must give "
          "cu_event_id, which tells its rows from the replaced ones"));
      return load;
    }
    std::vector<std::string> quoted, updates;
    const std::set<std::string> key(rule.key.begin(), rule.key.end());
    for (const std::string& c : f.columns()) {
      quoted.push_back(conn.QuoteIdentifier(c));
      if (!key.count(c))
        updates.push_back(
            absl::StrCat(quoted.back(), " = EXCLUDED.", quoted.back()));
    }
    std::vector<std::string> key_quoted;
    for (const std::string& k : rule.key)
      key_quoted.push_back(conn.QuoteIdentifier(k));
    const std::string column_list = absl::StrJoin(quoted, ", ");
    std::string upsert;
    if (!in.replaced.empty() && !key_quoted.empty() && !updates.empty()) {
      upsert = absl::StrCat(" ON CONFLICT (", absl::StrJoin(key_quoted, ", "),
                            ") DO UPDATE SET ", absl::StrJoin(updates, ", "));
    }
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Exec(absl::StrCat("INSERT INTO ", rule.table, " (", column_list,
                               ") SELECT ", column_list, " FROM ",
                               LoadTableName(rule.table), upsert)));
    publish_step.rows += r.AffectedRows();
    load.rows_per_table[rule.table] = r.AffectedRows();
  }
  if (!in.replaced.empty()) {
    // Only the multiframes this batch holds: one it left out (a file
    // unreadable this time) keeps the rows the replaced batch gave it,
    // which the night's detections and previews may refer to.
    std::vector<std::string> held;
    for (const TableRule& rule : rules) {
      if (rule.multiframe_column.empty()) continue;
      held.push_back(absl::StrCat("SELECT ", conn.QuoteIdentifier(rule.multiframe_column),
                                  " FROM ", LoadTableName(rule.table)));
    }
    for (auto rule = rules.rbegin(); rule != rules.rend(); ++rule) {
      std::string sql = absl::StrCat("DELETE FROM ", rule->table, " WHERE cu_event_id = ANY('",
                                     replaced_events, "'::bigint[])");
      if (!rule->multiframe_column.empty() && !held.empty()) {
        absl::StrAppend(&sql, " AND ", conn.QuoteIdentifier(rule->multiframe_column), " IN (",
                        absl::StrJoin(held, " UNION "), ")");
      }
      CURATOR_RETURN_IF_ERROR(conn.Exec(sql).status());
    }
  }
  publish_step.finished = absl::Now();
  load.rows = publish_step.rows;

  load.steps = {std::move(copy_step), std::move(validate_step), std::move(publish_step)};
  return load;
}

}  // namespace curator::ingester
