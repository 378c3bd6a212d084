#include "ingester/detection_loader.h"

#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "db/pgcopy.h"
#include "base/status.h"
#include "archive/batch_store.h"
#include "ingester/batch_copy.h"

namespace curator::ingester {

absl::Status DetectionLoader::Prepare(pg::Connection& conn, const v1::Manifest& m) {
  int64_t count = 0;
  for (const v1::BatchFile& f : m.files()) count += f.rows();
  return archive::BatchStore::ReserveIdBlock(conn, m, count).status();
}

absl::StatusOr<LoadResult> DetectionLoader::Load(const LoadInput& in,
                                                 std::vector<std::string>* problems) {
  pg::Connection& conn = in.conn;
  const std::string& dir = in.dir;
  const v1::Manifest& m = in.manifest;
  LoadResult load;
  CURATOR_ASSIGN_OR_RETURN(std::optional<archive::IdBlock> reserved,
                           archive::BatchStore::IdBlockOf(conn, m.batch_id()));
  if (!reserved) {
    return absl::InternalError(absl::StrCat("batch ", m.batch_id(), " has no id block"));
  }
  const archive::IdBlock block = *reserved;
  int64_t manifest_rows = 0;
  for (const v1::BatchFile& f : m.files()) manifest_rows += f.rows();
  if (manifest_rows != block.count) {
    problems->push_back(absl::StrCat("the manifest lists ", manifest_rows,
                                     " detections but the batch's id block holds ", block.count));
    return load;
  }
  // Columns: all in `detection`, obj_id first and cu_event_id last (the
  // fields the rewriter sets).
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result cols, conn.Exec("SELECT column_name FROM information_schema.columns WHERE "
                                 "table_schema = 'public' AND table_name = 'detection'"));
  std::set<std::string> known;
  for (int i = 0; i < cols.rows(); ++i) known.insert(cols.Get(i, 0));
  std::vector<int64_t> frame_ids;
  for (const v1::BatchFile& f : m.files()) {
    if (f.table() != "detection") {
      problems->push_back(absl::StrCat(f.name(), ": table '", f.table(), "' is not loaded by CU4"));
    }
    if (f.columns_size() < 2 || f.columns(0) != "obj_id" ||
        f.columns(f.columns_size() - 1) != "cu_event_id") {
      problems->push_back(absl::StrCat(f.name(), ": columns must start with obj_id and end with "
                                       "cu_event_id"));
    }
    for (const std::string& c : f.columns()) {
      if (!known.count(c)) problems->push_back(absl::StrCat(f.name(), ": unknown column '", c, "'"));
    }
    frame_ids.push_back(f.multiframe_id());
  }
  if (!problems->empty()) return load;

  if (block.count == 0) return load;  // every catalogue failed: nothing to attach

  // Catalogues whose image has no CU3 rows stay out.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result present,
      conn.Exec("SELECT DISTINCT multiframe_id FROM multiframe_detector WHERE multiframe_id = "
                "ANY($1::bigint[])",
                {absl::StrCat("{", absl::StrJoin(frame_ids, ","), "}")}));
  std::set<int64_t> with_detectors;
  for (int i = 0; i < present.rows(); ++i) with_detectors.insert(present.GetInt(i, 0));

  tasklog::Step copy{"copy", absl::Now()};
  std::map<std::pair<int64_t, int>, pgcopy::IdRewriter::DetectorTally> tallies;
  const std::string partition = absl::StrCat("detection_", m.night(), "_b", block.base);
  const std::string part = conn.QuoteIdentifier(partition);
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("CREATE TABLE ", part, " (LIKE detection INCLUDING DEFAULTS, CHECK "
                             "(obj_id >= ", block.base, " AND obj_id < ", block.base + block.count,
                             "))"))
          .status());
  std::map<int64_t, std::string> input_path;
  for (const v1::InputOutcome& i : m.inputs()) input_path[i.multiframe_id()] = i.path();
  for (const v1::BatchFile& f : m.files()) {
    if (!with_detectors.count(f.multiframe_id())) {
      v1::FileProblem* p = &load.left_out.emplace_back();
      p->set_path(input_path.count(f.multiframe_id()) ? input_path[f.multiframe_id()]
                                                      : absl::StrCat(dir, "/", f.name()));
      p->set_message(absl::StrCat("multiframe ", f.multiframe_id(),
                                  " has no CU3 rows (its image failed CU3); its ", f.rows(),
                                  " detections are left out"));
      continue;
    }
    std::vector<std::string> quoted;
    for (const std::string& c : f.columns()) quoted.push_back(conn.QuoteIdentifier(c));
    pgcopy::IdRewriter rewriter(block.base, block.count, m.cu_event_id());
    auto field = [&](const char* name) {
      for (int i = 0; i < f.columns_size(); ++i) {
        if (f.columns(i) == name) return i;
      }
      return -1;
    };
    const int mf_field = field("multiframe_id"), ext_field = field("ext_num"),
              ra_field = field("ra"), dec_field = field("dec");
    if (mf_field < 0 || ext_field < 0 || ra_field < 0 || dec_field < 0) {
      problems->push_back(absl::StrCat(f.name(), ": multiframe_id, ext_num, ra and dec are required"));
      return load;
    }
    // The rows are checked as they stream past: no second scan.
    rewriter.WatchDetections(mf_field, ext_field, ra_field, dec_field);
    CURATOR_ASSIGN_OR_RETURN(
        std::optional<int64_t> copied,
        CopyBatchFile(
            conn,
            // FREEZE: the table is new in this transaction, so rows go in
            // frozen and all-visible; the validation scan and later readers
            // need not set hint bits.
            absl::StrCat("COPY ", part, " (", absl::StrJoin(quoted, ", "),
                         ") FROM STDIN (FORMAT binary, FREEZE)"),
            dir, f, problems, [&](absl::string_view chunk) { return rewriter.Feed(chunk); },
            [&] { return rewriter.Finish(); }));
    if (!copied) return load;
    copy.rows += *copied;
    for (const auto& [key, t] : rewriter.tallies()) {
      auto& sum = tallies[key];
      sum.rows += t.rows;
      sum.bad_ra += t.bad_ra;
      sum.bad_dec += t.bad_dec;
    }
    copy.files.push_back({absl::StrCat(dir, "/", f.name()), f.multiframe_id(), {}, absl::Now(), *copied});
  }
  copy.finished = absl::Now();
  for (const v1::FileProblem& l : load.left_out) {
    copy.messages.push_back({"warning", l.path(), 0, "", l.message()});
  }
  copy.warnings = static_cast<int>(load.left_out.size());
  load.rows = copy.rows;

  // Per detector, from the tallies made while streaming: it exists in
  // multiframe_detector, and its positions are in range.
  tasklog::Step validate{"validate", absl::Now()};
  std::vector<std::string> mf_ids, ext_nums;
  for (const auto& [key, t] : tallies) {
    mf_ids.push_back(std::to_string(key.first));
    ext_nums.push_back(std::to_string(key.second));
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result missing,
      conn.Exec("SELECT t.mf, t.ext FROM unnest($1::bigint[], $2::smallint[]) AS t(mf, ext) "
                "WHERE NOT EXISTS (SELECT 1 FROM multiframe_detector d WHERE d.multiframe_id = "
                "t.mf AND d.ext_num = t.ext) ORDER BY 1, 2",
                {absl::StrCat("{", absl::StrJoin(mf_ids, ","), "}"),
                 absl::StrCat("{", absl::StrJoin(ext_nums, ","), "}")}));
  for (int i = 0; i < missing.rows(); ++i) {
    const auto& t = tallies[{missing.GetInt(i, 0), static_cast<int>(missing.GetInt(i, 1))}];
    problems->push_back(absl::StrCat("detector ", missing.Get(i, 0), "/", missing.Get(i, 1),
                                     ": no such multiframe_detector row (", t.rows, " detections)"));
  }
  for (const auto& [key, t] : tallies) {
    const std::string which = absl::StrCat("detector ", key.first, "/", key.second);
    if (t.bad_ra > 0) {
      problems->push_back(absl::StrCat(which, ": ", t.bad_ra, " detections with RA outside [0, 360)"));
    }
    if (t.bad_dec > 0) {
      problems->push_back(absl::StrCat(which, ": ", t.bad_dec,
                                       " detections with Dec outside [-90, 90]"));
    }
  }
  validate.finished = absl::Now();
  validate.errors = static_cast<int>(problems->size());
  if (!problems->empty()) return load;

  // Indexes on the new table, then it becomes a partition: the parent's
  // primary key and Q3C index adopt them.
  tasklog::Step attach{"index and attach", absl::Now()};
  // Sorting a night's ids and pixels in memory, not in temporary files.
  CURATOR_RETURN_IF_ERROR(conn.Exec("SET LOCAL maintenance_work_mem = '512MB'").status());
  CURATOR_RETURN_IF_ERROR(conn.Exec(absl::StrCat("ALTER TABLE ", part, " ADD PRIMARY KEY (obj_id)")).status());
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("CREATE INDEX ON ", part, " (q3c_ang2ipix(ra, dec))")).status());
  // Statistics are left to autovacuum: ANALYZE here would lengthen the
  // load for the planner's benefit only.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("ALTER TABLE detection ATTACH PARTITION ", part, " FOR VALUES FROM (",
                             block.base, ") TO (", block.base + block.count, ")"))
          .status());
  attach.finished = absl::Now();
  attach.rows = load.rows;
  load.rows_per_table["detection"] = load.rows;
  load.steps = {std::move(copy), std::move(validate), std::move(attach)};
  return load;
}

}  // namespace curator::ingester
