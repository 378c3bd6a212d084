#include "ingester/detection_loader.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "archive/batch_store.h"
#include "archive/live.h"
#include "archive/shards.h"
#include "base/status.h"
#include "ingester/detection_stream.h"

namespace curator::ingester {
namespace {

namespace shards = archive::shards;

// PostgreSQL refusing a file's bytes (SQLSTATE class 22 or 23, db/pg.h):
// the file's fault. Anything else is the database's or the disk's.
bool IsRefusal(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kFailedPrecondition ||
         s.code() == absl::StatusCode::kAlreadyExists;
}

// A file left out: the input's path, the first problem's HDU and column,
// and every problem (the first few) in one message naming the file.
v1::FileProblem LeftOut(const std::string& path, const std::vector<DetectionStream::Problem>& all,
                        int64_t detections) {
  constexpr size_t kShown = 4;
  v1::FileProblem p;
  p.set_path(path);
  std::string text = std::filesystem::path(path).filename().string();
  for (size_t i = 0; i < all.size() && i < kShown; ++i) {
    const DetectionStream::Problem& q = all[i];
    absl::StrAppend(&text, i == 0 ? (q.hdu ? " " : ": ") : "; ",
                    q.hdu ? absl::StrCat("HDU ", q.hdu, ": ") : "", q.message);
  }
  if (all.size() > kShown) absl::StrAppend(&text, "; and ", all.size() - kShown, " more");
  absl::StrAppend(&text, "; its ", detections, " detections are left out");
  if (!all.empty()) {
    p.set_hdu(all[0].hdu);
    p.set_item(all[0].item);
  }
  p.set_message(std::move(text));
  return p;
}

// The partition of detection holding `base`'s block of the night.
std::string PartitionName(const std::string& night, int64_t base) {
  return absl::StrCat("detection_", night, "_b", base);
}

// Where a batch's rows go: the head itself, or (sharded) the night's
// shard, inside the batch's transaction there. Every statement on it goes
// through Check, which notes a lost link as the shard being down.
struct Target {
  pg::Connection* conn;
  std::string shard;  // "" for the head
  shards::ShardTransactions* txs = nullptr;
  absl::Status Check(absl::Status s) const {
    return shard.empty() || s.ok() ? s : txs->Failed(shard, std::move(s));
  }
  absl::Status Run(const std::string& sql) const {
    return Check(conn->Exec(sql).status());
  }
};

absl::StatusOr<Target> TargetOf(const LoadInput& in) {
  shards::ShardSet* set = in.shards != nullptr ? in.shards->set() : nullptr;
  if (set == nullptr || set->empty()) {
    CURATOR_ASSIGN_OR_RETURN(bool sharded, shards::Sharded(in.conn));
    if (sharded) {
      return absl::FailedPreconditionError(
          "this archive's detections are on shards, but this ingester's config "
          "names none "
          "(database.shards)");
    }
    return Target{&in.conn, ""};
  }
  CURATOR_ASSIGN_OR_RETURN(
      std::string shard,
      shards::ShardOfNight(in.conn, *set, in.manifest.night()));
  CURATOR_ASSIGN_OR_RETURN(pg::Connection * conn, in.shards->Begin(shard));
  return Target{conn, shard, in.shards};
}

// Where a partition of the head's `detection` is: "" on the head, else
// the shard of its foreign server; nullopt if there is no such table.
absl::StatusOr<std::optional<std::string>> PlaceOf(pg::Connection& head,
                                                   const std::string& name) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      head.Exec("SELECT c.relkind, s.name FROM pg_class c LEFT JOIN "
                "pg_foreign_table f "
                "ON f.ftrelid = c.oid LEFT JOIN pg_foreign_server fs ON fs.oid "
                "= f.ftserver "
                "LEFT JOIN curation.shard s ON s.server = fs.srvname "
                "WHERE c.oid = to_regclass($1)",
                {name}));
  if (r.rows() == 0) return std::nullopt;
  if (r.Get(0, 0) != "f") return std::string();
  if (r.IsNull(0, 1)) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " is a foreign table of no shard in curation.shard"));
  }
  return r.Get(0, 1);
}

// A rerun's detections take the place of the replaced batches': their
// rows are deleted in the load's transaction, on every path that loads
// (even one that loads no rows), and the night's frames switch to the
// delivery these detections are of (archive/live.h). The DELETE locks
// only those rows; the parent is locked exclusively at the end of the load
// only, until its commit (see below); the emptied tables are dropped after
// the commit (AfterCommit), where the parent's exclusive lock is held for a
// moment. Their ids are not reused.
absl::Status ReplaceNight(const LoadInput& in) {
  bool emptied = false;
  for (const ReplacedBatch& old : in.replaced) {
    CURATOR_ASSIGN_OR_RETURN(std::optional<archive::IdBlock> old_block,
                             archive::BatchStore::IdBlockOf(in.conn, old.batch_id));
    if (!old_block) continue;  // it loaded no detections
    const std::string name = PartitionName(in.manifest.night(), old_block->base);
    CURATOR_ASSIGN_OR_RETURN(std::optional<std::string> place,
                             PlaceOf(in.conn, name));
    if (!place) continue;
    const std::string del =
        absl::StrCat("DELETE FROM ", in.conn.QuoteIdentifier(name));
    if (place->empty()) {
      CURATOR_RETURN_IF_ERROR(in.conn.Exec(del).status());
    } else {
      // On its shard, in this batch's transaction there: the delete
      // commits with the new rows or not at all.
      if (in.shards == nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(
            name, " is on shard ", *place, ", and this load has no shards"));
      }
      CURATOR_ASSIGN_OR_RETURN(pg::Connection * shard,
                               in.shards->Begin(*place));
      CURATOR_RETURN_IF_ERROR(
          in.shards->Failed(*place, shard->Exec(del).status()));
    }
    emptied = true;
  }
  if (emptied) {
    // A reader in READ COMMITTED plans its query (which partitions
    // `detection` has) before it takes the snapshot it runs with: planned
    // before this commit and run after it, it would see the old rows
    // deleted and not the new partition, neither night. The exclusive
    // lock, held from here to the commit, waits for the readers already
    // planned and makes the next ones plan after it. Bounded, as the
    // readers that come meanwhile queue behind it: a long reader or a
    // release being made fails the load, which is retried.
    CURATOR_RETURN_IF_ERROR(
        in.conn.Exec("SET LOCAL lock_timeout = '2s'").status());
    CURATOR_RETURN_IF_ERROR(
        in.conn.Exec("LOCK TABLE detection IN ACCESS EXCLUSIVE MODE").status());
    CURATOR_RETURN_IF_ERROR(
        in.conn.Exec("SET LOCAL lock_timeout = DEFAULT").status());
  }
  return archive::live::PublishDelivery(in.conn, in.manifest.night(),
                                        in.manifest.cu_event_id())
      .status();
}

}  // namespace

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
  // The batch as a whole: columns all in `detection`, obj_id first and
  // cu_event_id last (the fields the stream sets), and the ones the checks
  // read.
  CURATOR_ASSIGN_OR_RETURN(pg::Result cols,
                           conn.Exec("SELECT attname, attlen, attnotnull FROM pg_attribute WHERE "
                                     "attrelid = 'detection'::regclass AND attnum > 0 AND NOT "
                                     "attisdropped"));
  std::map<std::string, DetectionFile::Column> known;
  for (int i = 0; i < cols.rows(); ++i) {
    known[cols.Get(i, 0)] = {cols.Get(i, 0), static_cast<int32_t>(cols.GetInt(i, 1)),
                             cols.Get(i, 2) == "t"};
  }
  std::map<int64_t, std::string> input_path;  // by multiframe_id
  for (const v1::InputOutcome& i : m.inputs()) input_path[i.multiframe_id()] = i.path();
  std::vector<DetectionFile> files;
  std::vector<std::string> paths;  // the input file of each
  for (const v1::BatchFile& f : m.files()) {
    if (f.table() != "detection") {
      problems->push_back(absl::StrCat(f.name(), ": table '", f.table(), "' is not loaded by CU4"));
    }
    if (f.columns_size() < 2 || f.columns(0) != "obj_id" ||
        f.columns(f.columns_size() - 1) != "cu_event_id") {
      problems->push_back(
          absl::StrCat(f.name(), ": columns must start with obj_id and end with cu_event_id"));
    }
    DetectionFile& d = files.emplace_back();
    d.name = f.name();
    d.multiframe_id = f.multiframe_id();
    d.rows = f.rows();
    std::set<std::string> seen;
    for (int i = 0; i < f.columns_size(); ++i) {
      const std::string& c = f.columns(i);
      auto k = known.find(c);
      if (k == known.end()) {
        problems->push_back(absl::StrCat(f.name(), ": unknown column '", c, "'"));
        continue;
      }
      if (!seen.insert(c).second) {
        problems->push_back(absl::StrCat(f.name(), ": column '", c, "' is given twice"));
      }
      d.columns.push_back(k->second);
      if (c == "multiframe_id") d.multiframe_field = i;
      if (c == "ext_num") d.ext_field = i;
      if (c == "ra") d.ra_field = i;
      if (c == "dec") d.dec_field = i;
    }
    if (d.multiframe_field < 0 || d.ext_field < 0 || d.ra_field < 0 || d.dec_field < 0) {
      problems->push_back(
          absl::StrCat(f.name(), ": multiframe_id, ext_num, ra and dec are required"));
    }
    auto p = input_path.find(f.multiframe_id());
    paths.push_back(p != input_path.end() ? p->second : absl::StrCat(dir, "/", f.name()));
  }
  if (!problems->empty()) return load;
  if (block.count == 0) {  // every catalogue failed: nothing to attach
    CURATOR_RETURN_IF_ERROR(ReplaceNight(in));
    return load;
  }

  // The detectors of the batch's multiframes. A catalogue whose image has
  // no CU3 rows (its image failed CU3) is left out unread.
  std::vector<std::string> frame_ids;
  for (const DetectionFile& d : files) frame_ids.push_back(std::to_string(d.multiframe_id));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result present,
      conn.Exec("SELECT multiframe_id, ext_num FROM multiframe_detector WHERE multiframe_id = "
                "ANY($1::bigint[]) ORDER BY 1, 2",
                {absl::StrCat("{", absl::StrJoin(frame_ids, ","), "}")}));
  std::map<int64_t, std::vector<int>> detectors;
  for (int i = 0; i < present.rows(); ++i) {
    detectors[present.GetInt(i, 0)].push_back(static_cast<int>(present.GetInt(i, 1)));
  }
  tasklog::Step copy{"copy", absl::Now()};
  std::vector<bool> to_copy(files.size(), true);
  for (size_t i = 0; i < files.size(); ++i) {
    auto it = detectors.find(files[i].multiframe_id);
    if (it == detectors.end()) {
      to_copy[i] = false;
      v1::FileProblem& p = load.left_out.emplace_back();
      p.set_path(paths[i]);
      p.set_message(absl::StrCat("multiframe ", files[i].multiframe_id,
                                 " has no CU3 rows (its image failed CU3); its ", files[i].rows,
                                 " detections are left out"));
      copy.messages.push_back({"warning", p.path(), 0, "", p.message()});
      ++copy.warnings;
    } else {
      files[i].detectors = it->second;
    }
  }

  CURATOR_ASSIGN_OR_RETURN(const Target target, TargetOf(in));
  pg::Connection& data = *target.conn;

  // Copy, every file into one fresh table holding exactly the block. Each
  // stream sends PostgreSQL only rows it takes (ingester/detection_stream.h),
  // so a bad file never aborts the transaction; should the server refuse a
  // file all the same (a value the stream cannot judge), the copy starts
  // again without it from the savepoint. That is the only case where a
  // good file is read twice; more than kMaxRefused such files is not one bad
  // file, and the batch is quarantined. The savepoint is taken before the
  // table is made, so COPY ... FREEZE (which needs the table made in the
  // current subtransaction) still applies.
  constexpr size_t kMaxRefused = 3;
  const std::string partition = PartitionName(m.night(), block.base);
  const std::string part = conn.QuoteIdentifier(partition);
  struct Copied {
    std::vector<DetectionStream::Problem> problems;
    std::string refused;  // PostgreSQL's message, when it refused the file
    bool read_to_end = false;
    int64_t rows_read = 0, rows_sent = 0, first_obj_id = 0;
    absl::Time started, finished;
  };
  std::vector<Copied> copied(files.size());
  CURATOR_RETURN_IF_ERROR(target.Run("SAVEPOINT detection_copy"));
  while (true) {
    CURATOR_RETURN_IF_ERROR(target.Run(absl::StrCat(
        "CREATE TABLE ", part, " (LIKE detection INCLUDING DEFAULTS, ",
        "CHECK (obj_id >= ", block.base, " AND obj_id < ",
        block.base + block.count, "))")));
    IdRanges ids(block.count);
    bool again = false;
    for (size_t i = 0; i < files.size() && !again; ++i) {
      if (!to_copy[i] || !copied[i].refused.empty()) continue;
      const v1::BatchFile& f = m.files(static_cast<int>(i));
      std::vector<std::string> quoted;
      for (const std::string& c : f.columns()) quoted.push_back(conn.QuoteIdentifier(c));
      DetectionStream stream(files[i], block.base, m.cu_event_id(), &ids);
      Copied& c = copied[i];
      c.started = absl::Now();
      absl::StatusOr<int64_t> sent = data.CopyInFromFile(
          // FREEZE: the table is new in this (sub)transaction, so rows go in
          // frozen and all-visible; the index builds and later readers need
          // not set hint bits.
          absl::StrCat("COPY ", part, " (", absl::StrJoin(quoted, ", "),
                       ") FROM STDIN (FORMAT binary, FREEZE)"),
          absl::StrCat(dir, "/", f.name()),
          [&](absl::string_view chunk) -> absl::StatusOr<absl::string_view> {
            return stream.Feed(chunk);
          });
      if (!sent.ok()) {
        if (!IsRefusal(sent.status())) return target.Check(sent.status());
        // The transaction is aborted: back to the savepoint, without it.
        c.refused = std::string(sent.status().message());
        size_t refused = 0;
        for (const Copied& x : copied) refused += !x.refused.empty();
        if (refused > kMaxRefused) {
          std::vector<std::string> names;
          for (size_t j = 0; j < files.size(); ++j) {
            if (!copied[j].refused.empty()) names.push_back(files[j].name);
          }
          problems->push_back(absl::StrCat("PostgreSQL refused ", refused, " files of the batch (",
                                           absl::StrJoin(names, ", "),
                                           "), more than one bad file would explain; the last "
                                           "said: ",
                                           c.refused));
          return load;
        }
        CURATOR_RETURN_IF_ERROR(
            target.Run("ROLLBACK TO SAVEPOINT detection_copy"));
        again = true;
        break;
      }
      stream.Finish();
      if (*sent != stream.rows_sent()) {
        return absl::InternalError(absl::StrCat("COPY of ", f.name(), " took ", *sent,
                                                " rows, but ", stream.rows_sent(), " were sent"));
      }
      c.problems = stream.problems();
      c.read_to_end = stream.read_to_end();
      c.rows_read = stream.rows_read();
      c.rows_sent = stream.rows_sent();
      c.first_obj_id = stream.first_obj_id();
      c.finished = absl::Now();
    }
    if (!again) break;
  }
  CURATOR_RETURN_IF_ERROR(target.Run("RELEASE SAVEPOINT detection_copy"));
  copy.finished = absl::Now();

  // The verdicts: a file with a problem is left out, with its rows.
  tasklog::Step validate{"validate", absl::Now()};
  std::vector<const Copied*> excluded;
  for (size_t i = 0; i < files.size(); ++i) {
    if (!to_copy[i]) continue;
    const Copied& c = copied[i];
    tasklog::FileEntry entry{absl::StrCat(dir, "/", files[i].name), files[i].multiframe_id,
                             c.started, c.finished};
    copy.rows += c.rows_sent;
    const bool bad = !c.refused.empty() || !c.problems.empty();
    if (!bad) {
      entry.rows = c.rows_sent;
      load.rows += c.rows_sent;
    } else {
      std::vector<DetectionStream::Problem> why = c.problems;
      if (!c.refused.empty()) {
        why = {{0, "", absl::StrCat("PostgreSQL refused ", files[i].name, ": ", c.refused)}};
      }
      v1::FileProblem p = LeftOut(paths[i], why, c.read_to_end ? c.rows_read : files[i].rows);
      validate.messages.push_back({"error", p.path(), p.hdu(), p.item(), p.message()});
      ++validate.errors;
      entry.errors = 1;
      load.left_out.push_back(std::move(p));
      if (c.rows_sent > 0) excluded.push_back(&c);
    }
    copy.files.push_back(std::move(entry));
  }

  // Sorting a night's ids and pixels in memory, not in temporary files.
  CURATOR_RETURN_IF_ERROR(
      target.Run("SET LOCAL maintenance_work_mem = '512MB'"));
  if (load.rows == 0) {
    // Nothing left to attach.
    CURATOR_RETURN_IF_ERROR(target.Run(absl::StrCat("DROP TABLE ", part)));
    CURATOR_RETURN_IF_ERROR(ReplaceNight(in));
    validate.finished = absl::Now();
    load.rows_per_table["detection"] = 0;
    load.steps = {std::move(copy), std::move(validate)};
    return load;
  }
  bool keyed = false;
  if (!excluded.empty()) {
    // The rows a rejected file had sent before its first bad row. Its ids
    // are one run, so with the primary key (built now rather than below;
    // every id sent is unique) the DELETE reads only those rows, not the
    // night's table: measured on PostgreSQL 15, 30 000 rows of a 3M-row
    // table go in 25 ms by the key against 0.5 s by a scan, beside 15 s
    // for the COPY. The index keeps entries for the dead rows until
    // autovacuum, and their ids stay unused: a gap in the block, never a
    // duplicate. (A savepoint per file instead would forbid FREEZE.)
    CURATOR_RETURN_IF_ERROR(target.Run(
        absl::StrCat("ALTER TABLE ", part, " ADD PRIMARY KEY (obj_id)")));
    keyed = true;
    for (const Copied* c : excluded) {
      CURATOR_RETURN_IF_ERROR(target.Run(absl::StrCat(
          "DELETE FROM ", part, " WHERE obj_id >= ", c->first_obj_id,
          " AND obj_id < ", c->first_obj_id + c->rows_sent)));
    }
  }
  validate.finished = absl::Now();

  // Indexes on the new table, then it becomes a partition: the parent's
  // primary key and Q3C index adopt them.
  tasklog::Step attach{"index and attach", absl::Now()};
  if (!keyed) {
    CURATOR_RETURN_IF_ERROR(target.Run(
        absl::StrCat("ALTER TABLE ", part, " ADD PRIMARY KEY (obj_id)")));
  }
  CURATOR_RETURN_IF_ERROR(target.Run(
      absl::StrCat("CREATE INDEX ON ", part, " (q3c_ang2ipix(ra, dec))")));
  // Statistics are left to autovacuum: ANALYZE here would lengthen the
  // load for the planner's benefit only.
  const std::string bounds =
      absl::StrCat(" FOR VALUES FROM (", block.base, ") TO (",
                   block.base + block.count, ")");
  CURATOR_RETURN_IF_ERROR(target.Run(
      absl::StrCat("ALTER TABLE detection ATTACH PARTITION ", part, bounds)));
  if (!target.shard.empty()) {
    // On the head, the same partition, foreign: readers of the head's
    // `detection` reach the shard's table (its indexes serve them there).
    // Made on its own, then attached: CREATE ... PARTITION OF would hold
    // the parent's exclusive lock until the commit; ATTACH does not.
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result name, conn.Exec("SELECT quote_literal($1)", {partition}));
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result columns,
        conn.Exec("SELECT string_agg(quote_ident(attname) || ' ' || "
                  "format_type(atttypid, atttypmod) || CASE WHEN attnotnull "
                  "THEN ' NOT NULL' ELSE '' END, ', ' ORDER BY attnum) FROM "
                  "pg_attribute WHERE attrelid = 'detection'::regclass AND "
                  "attnum > 0 AND NOT attisdropped"));
    CURATOR_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat(
                      "CREATE FOREIGN TABLE ", part, " (", columns.Get(0, 0),
                      ") SERVER ",
                      conn.QuoteIdentifier(shards::ServerName(target.shard)),
                      " OPTIONS (schema_name 'public', table_name ",
                      name.Get(0, 0), ")"))
            .status());
    CURATOR_RETURN_IF_ERROR(
        conn.Exec(absl::StrCat("ALTER TABLE detection ATTACH PARTITION ", part,
                               bounds))
            .status());
  }
  CURATOR_RETURN_IF_ERROR(ReplaceNight(in));
  attach.finished = absl::Now();
  attach.rows = load.rows;
  load.shard = target.shard;
  load.rows_per_table["detection"] = load.rows;
  load.steps = {std::move(copy), std::move(validate), std::move(attach)};
  return load;
}

namespace {

// Drops `name` on `conn` if it is there and empty, in a transaction of its
// own with a short lock timeout; `what` is DROP TABLE or DROP FOREIGN
// TABLE. `rows_from` is where its rows are counted (the shard, for the
// head's foreign table).
absl::Status DropEmptied(pg::Connection& conn, pg::Connection& rows_from,
                         const std::string& name, const std::string& what) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result empty,
      rows_from.Exec(absl::StrCat("SELECT NOT EXISTS (SELECT 1 FROM ",
                                  rows_from.QuoteIdentifier(name), ")")));
  if (empty.Get(0, 0) != "t") {
    return absl::InternalError(absl::StrCat(
        name, " belongs to a replaced batch but is not empty: not dropped"));
  }
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(conn));
  CURATOR_RETURN_IF_ERROR(conn.Exec("SET LOCAL lock_timeout = '2s'").status());
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat(what, " ", conn.QuoteIdentifier(name))).status());
  return tx.Commit();
}

}  // namespace

absl::Status DetectionLoader::AfterCommit(pg::Connection& conn,
                                          const v1::Manifest& m,
                                          shards::ShardSet* set) {
  (void)m;
  // Every partition of a replaced batch still there, whichever rerun
  // emptied it: one left by a drop that timed out goes now.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result replaced,
      conn.Exec(
          "SELECT 'detection_' || to_char(b.night, 'YYYYMMDD') || '_b' || "
          "i.base "
          "FROM curation.id_block i JOIN curation.batch b USING (batch_id) "
          "WHERE b.state = 'replaced' AND i.id_kind = 'obj_id'"));
  std::vector<std::string> names;
  for (int i = 0; i < replaced.rows(); ++i) names.push_back(replaced.Get(i, 0));
  if (names.empty()) return absl::OkStatus();
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result left,
      conn.Exec("SELECT c.relname, c.relkind FROM pg_class c WHERE c.relname = "
                "ANY($1::text[]) "
                "AND c.relkind IN ('r', 'f') AND c.relnamespace = "
                "(SELECT relnamespace FROM pg_class WHERE oid = "
                "'detection'::regclass)",
                {pg::TextArray(names)}));
  for (int i = 0; i < left.rows(); ++i) {
    const std::string name = left.Get(i, 0);
    if (left.Get(i, 1) == "r") {
      CURATOR_RETURN_IF_ERROR(DropEmptied(conn, conn, name, "DROP TABLE"));
      continue;
    }
    // The head's foreign table goes first, so no reader of the head meets
    // a partition whose table is gone; the shard's table after it (below).
    CURATOR_ASSIGN_OR_RETURN(std::optional<std::string> shard,
                             PlaceOf(conn, name));
    if (!shard || shard->empty()) continue;
    if (set == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          name, " is on shard ", *shard, ", and this ingester has no shards"));
    }
    CURATOR_ASSIGN_OR_RETURN(pg::Connection * on_shard, set->Get(*shard));
    CURATOR_RETURN_IF_ERROR(
        DropEmptied(conn, *on_shard, name, "DROP FOREIGN TABLE"));
  }
  if (set == nullptr) return absl::OkStatus();
  for (const shards::Shard& shard : set->shards()) {
    absl::StatusOr<pg::Connection*> on_shard = set->Get(shard.name);
    if (!on_shard.ok()) continue;  // down: tidied after a later batch
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result there,
        (*on_shard)->Exec(
            "SELECT relname FROM pg_class WHERE relname = ANY($1::text[]) AND "
            "relkind = 'r' AND relnamespace = 'public'::regnamespace",
            {pg::TextArray(names)}));
    for (int i = 0; i < there.rows(); ++i) {
      CURATOR_RETURN_IF_ERROR(
          DropEmptied(**on_shard, **on_shard, there.Get(i, 0), "DROP TABLE"));
    }
  }
  return absl::OkStatus();
}

}  // namespace curator::ingester
