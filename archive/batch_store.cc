#include "archive/batch_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/status.h"
#include "db/histograms.h"
#include "db/lock_keys.h"

namespace curator::archive {
namespace {

std::string Ms(double ms) { return std::to_string(ms); }

}  // namespace

absl::StatusOr<bool> BatchStore::TryClaim(pg::Connection& conn, const std::string& batch_id) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat("SELECT pg_try_advisory_xact_lock(", pg::lock_keys::kBatch, ")"),
                {batch_id}));
  return r.Get(0, 0) == "t";
}

absl::StatusOr<std::optional<BatchState>> BatchStore::StateOf(pg::Connection& conn,
                                                              const std::string& batch_id) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r, conn.Exec("SELECT state FROM curation.batch WHERE batch_id = $1", {batch_id}));
  if (r.rows() == 0) return std::nullopt;
  CURATOR_ASSIGN_OR_RETURN(BatchState s, BatchStateFromDatabase(r.Get(0, 0)));
  return s;
}

absl::StatusOr<std::optional<BatchRow>> BatchStore::Find(
    pg::Connection& conn, const std::string& batch_id) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT cu, to_char(night, 'YYYYMMDD'), state, "
                "coalesce(cu_event_id, 0), coalesce(replaced_by, ''), generation FROM "
                "curation.batch WHERE batch_id = $1",
                {batch_id}));
  if (r.rows() == 0) return std::nullopt;
  BatchRow row;
  row.cu = static_cast<int>(r.GetInt(0, 0));
  row.night = r.Get(0, 1);
  CURATOR_ASSIGN_OR_RETURN(row.state, BatchStateFromDatabase(r.Get(0, 2)));
  row.cu_event_id = r.GetInt(0, 3);
  row.replaced_by = r.Get(0, 4);
  row.generation = static_cast<int>(r.GetInt(0, 5));
  return row;
}

absl::Status BatchStore::RecordWaiting(pg::Connection& conn, const v1::Manifest& m,
                                       const std::string& why) {
  return conn
      .Exec(absl::StrCat("INSERT INTO curation.batch (batch_id, cu, night, state, producer, "
                         "report) VALUES ($1, $2, $3, 'waiting', $4, $5) ON CONFLICT (batch_id) "
                         "DO UPDATE SET report = $5 WHERE curation.batch.state = ANY('",
                         AllowedFromSql(BatchState::kWaiting), "')"),
            {m.batch_id(), std::to_string(m.cu()), m.night(), m.producer(), why})
      .status();
}

absl::Status BatchStore::RecordIngested(pg::Connection& conn, const v1::Manifest& m,
                                        const IngestRecord& r) {
  std::vector<std::string> tables, rows;
  for (const auto& [table, n] : r.rows_per_table) {
    tables.push_back(table);
    rows.push_back(std::to_string(n));
  }
  std::vector<std::string> paths, hdus, items, messages;
  for (const v1::FileProblem& p : r.failures) {
    paths.push_back(p.path());
    hdus.push_back(std::to_string(p.hdu()));
    items.push_back(p.item());
    messages.push_back(p.message());
  }
  // JSON made by PostgreSQL from arrays: every path and message escaped
  // as JSON wants, whatever characters it holds.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result recorded,
      conn.Exec(
          absl::StrCat(
              "INSERT INTO curation.batch (batch_id, cu, night, cu_event_id, ingest_event_id, "
              "state, producer, created_at, ingest_started_at, ingest_finished_at, verify_ms, "
              "copy_ms, validate_ms, publish_ms, rows_per_table, failures, report, generation) "
              "VALUES ($1, $2, $3, (SELECT cu_event_id FROM curation.cu_event WHERE cu_event_id = $4), $5, "
              "'ingested', $6, nullif($7, '')::timestamptz, $8::timestamptz, clock_timestamp(), "
              "$9, $10, $11, $12, (SELECT coalesce(jsonb_object_agg(t, n), '{}') FROM "
              "unnest($13::text[], $14::bigint[]) AS x(t, n)), (SELECT coalesce(jsonb_agg("
              "jsonb_build_object('path', p, 'hdu', h, 'item', i, 'message', g)), '[]') FROM "
              "unnest($15::text[], $16::integer[], $17::text[], $18::text[]) AS y(p, h, i, g)), "
              "NULL, $19) ON CONFLICT (batch_id) DO UPDATE SET state = 'ingested', generation = $19, "
              "cu_event_id = "
              "EXCLUDED.cu_event_id, ingest_event_id = $5, ingest_started_at = "
              "EXCLUDED.ingest_started_at, ingest_finished_at = clock_timestamp(), verify_ms = "
              "$9, copy_ms = $10, validate_ms = $11, publish_ms = $12, rows_per_table = "
              "EXCLUDED.rows_per_table, failures = EXCLUDED.failures, report = NULL WHERE "
              "curation.batch.state = ANY('",
              AllowedFromSql(BatchState::kIngested), "')"),
          {m.batch_id(), std::to_string(m.cu()), m.night(), std::to_string(m.cu_event_id()),
           std::to_string(r.ingest_event_id), m.producer(), m.created(),
           absl::FormatTime(absl::RFC3339_full, r.started, absl::UTCTimeZone()), Ms(r.verify_ms),
           Ms(r.copy_ms), Ms(r.validate_ms), Ms(r.publish_ms), pg::TextArray(tables),
           pg::TextArray(rows), pg::TextArray(paths), pg::TextArray(hdus), pg::TextArray(items),
           pg::TextArray(messages), std::to_string(m.generation())}));
  if (recorded.AffectedRows() != 1) {
    return absl::InternalError(
        absl::StrCat("batch ", m.batch_id(), " changed state while claimed: not recorded"));
  }
  return absl::OkStatus();
}

absl::Status BatchStore::RecordQuarantined(pg::Connection& conn, const std::string& batch_id,
                                           int cu, const std::string& night, int64_t cu_event_id,
                                           int64_t ingest_event_id, const std::string& report) {
  if (cu == 0 || night.size() != 8) return absl::OkStatus();
  return conn
      .Exec(absl::StrCat("INSERT INTO curation.batch (batch_id, cu, night, cu_event_id, state, "
                         "ingest_event_id, report, ingest_finished_at) VALUES ($1, $2, $3, "
                         "(SELECT cu_event_id FROM curation.cu_event WHERE cu_event_id = $4), "
                         "'quarantined', nullif($5, 0), $6, clock_timestamp()) ON CONFLICT "
                         "(batch_id) DO UPDATE SET state = 'quarantined', cu_event_id = "
                         "EXCLUDED.cu_event_id, ingest_event_id = EXCLUDED.ingest_event_id, report "
                         "= $6, ingest_finished_at = clock_timestamp() WHERE curation.batch.state "
                         "= ANY('",
                         AllowedFromSql(BatchState::kQuarantined), "')"),
            {batch_id, std::to_string(cu), night, std::to_string(cu_event_id),
             std::to_string(ingest_event_id), report})
      .status();
}

absl::StatusOr<std::vector<BatchStore::Loaded>> BatchStore::LoadedOf(pg::Connection& conn, int cu,
                                                                  const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT batch_id, coalesce(cu_event_id, 0), generation FROM curation.batch WHERE "
                "cu = $1 AND night = $2::date AND state = 'ingested' ORDER BY generation, batch_id",
                {std::to_string(cu), night}));
  std::vector<Loaded> out;
  for (int i = 0; i < r.rows(); ++i) {
    out.push_back({r.Get(i, 0), r.GetInt(i, 1), static_cast<int>(r.GetInt(i, 2))});
  }
  return out;
}

absl::Status BatchStore::RecordReplaced(pg::Connection& conn,
                                        const std::string& batch_id, int cu,
                                        const std::string& night,
                                        const std::string& replaced_by) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          absl::StrCat(
              "INSERT INTO curation.batch (batch_id, cu, night, state, "
              "replaced_by, report) VALUES ($1, $2, $3, 'replaced', $4, "
              "'replaced "
              "by batch ' || $4) ON CONFLICT (batch_id) DO UPDATE SET state = "
              "'replaced', replaced_by = $4, report = 'replaced by batch ' || "
              "$4 "
              "WHERE curation.batch.state = ANY('",
              AllowedFromSql(BatchState::kReplaced), "')"),
          {batch_id, std::to_string(cu), night, replaced_by}));
  if (r.AffectedRows() != 1) {
    return absl::InternalError(absl::StrCat("batch ", batch_id,
                                            " changed state while claimed: not "
                                            "recorded as replaced by ",
                                            replaced_by));
  }
  return absl::OkStatus();
}

absl::StatusOr<IdBlock> BatchStore::ReserveIdBlock(pg::Connection& conn, const v1::Manifest& m,
                                                   int64_t count) {
  CURATOR_ASSIGN_OR_RETURN(pg::Transaction tx, pg::Transaction::Begin(conn));
  // One allocator at a time, for every ingester.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", pg::lock_keys::kIdBlocks, ")"))
          .status());
  CURATOR_ASSIGN_OR_RETURN(std::optional<IdBlock> found, IdBlockOf(conn, m.batch_id()));
  if (found) return *found;
  // The block refers to the batch's row: made now if the batch has none.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("INSERT INTO curation.batch (batch_id, cu, night, state, producer) VALUES ($1, "
                "$2, $3, 'waiting', $4) ON CONFLICT (batch_id) DO NOTHING",
                {m.batch_id(), std::to_string(m.cu()), m.night(), m.producer()})
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result next,
      conn.Exec("SELECT coalesce(max(base + count), 1) FROM curation.id_block WHERE id_kind = "
                "'obj_id'"));
  const IdBlock block{next.GetInt(0, 0), count};
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("INSERT INTO curation.id_block (batch_id, id_kind, base, count) VALUES ($1, "
                "'obj_id', $2, $3)",
                {m.batch_id(), std::to_string(block.base), std::to_string(block.count)})
          .status());
  CURATOR_RETURN_IF_ERROR(tx.Commit());
  return block;
}

absl::StatusOr<std::optional<IdBlock>> BatchStore::IdBlockOf(pg::Connection& conn,
                                                             const std::string& batch_id) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT base, count FROM curation.id_block WHERE batch_id = $1", {batch_id}));
  if (r.rows() == 0) return std::nullopt;
  return IdBlock{r.GetInt(0, 0), r.GetInt(0, 1)};
}

absl::StatusOr<std::vector<std::string>> BatchStore::UnmetIngestPrerequisites(
    pg::Connection& conn, const CuRegistry& registry, int cu, const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(const CuSpec* spec, registry.Get(cu));
  std::vector<std::string> unmet;
  for (const Prerequisite& p : spec->before_ingest) {
    const bool ingested = p.stage == Stage::kIngested;
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Exec(absl::StrCat(
                      "SELECT EXISTS (SELECT 1 FROM curation.batch b WHERE b.night = $1::date AND "
                      "b.cu = $2 AND b.state = ANY($3::text[])), coalesce((SELECT "
                      "string_agg('task ' || t.task_id || ' is ' || t.state, ', ' ORDER BY "
                      "t.task_id) FROM curation.task t WHERE t.night = $1::date AND t.cu = $2 AND "
                      "t.state = ANY($4::text[])), '')"),
                  {night, std::to_string(p.cu),
                   ingested ? "{ingested}" : "{waiting,ingested}",
                   ingested ? "{pending,approved,dispatched,running,done}"
                            : "{pending,approved,dispatched,running}"}));
    if (r.Get(0, 0) == "t" && r.Get(0, 1).empty()) continue;
    std::string what = absl::StrCat("the ", registry.Name(p.cu),
                                    ingested ? " ingest" : " processing", " of night ", night);
    if (!r.Get(0, 1).empty()) absl::StrAppend(&what, " (", r.Get(0, 1), ")");
    unmet.push_back(std::move(what));
  }
  return unmet;
}

absl::StatusOr<std::vector<BatchRecord>> BatchStore::List(pg::Connection& conn) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT batch_id, cu, to_char(night, 'YYYYMMDD'), state, "
                "coalesce(rows_per_table::text, ''), coalesce(copy_ms + validate_ms + "
                "publish_ms, 0), coalesce(report, ''), coalesce((SELECT sum(value::bigint) FROM "
                "jsonb_each_text(rows_per_table)), 0) FROM curation.batch ORDER BY night, cu, "
                "batch_id"));
  std::vector<BatchRecord> out;
  for (int i = 0; i < r.rows(); ++i) {
    BatchRecord b;
    b.batch_id = r.Get(i, 0);
    b.cu = static_cast<int>(r.GetInt(i, 1));
    b.night = r.Get(i, 2);
    CURATOR_ASSIGN_OR_RETURN(b.state, BatchStateFromDatabase(r.Get(i, 3)));
    b.rows_per_table = r.Get(i, 4);
    b.ingest_ms = r.GetDouble(i, 5);
    b.report = r.Get(i, 6);
    b.rows = r.GetInt(i, 7);
    out.push_back(std::move(b));
  }
  return out;
}

absl::StatusOr<std::map<std::string, BatchHolder>> BatchStore::Holders(
    pg::Connection& conn, const std::vector<std::string>& batch_ids) {
  std::map<std::string, BatchHolder> out;
  if (batch_ids.empty()) return out;
  // The key as pg_locks shows a bigint advisory key: high and low halves.
  const std::string key = absl::StrReplaceAll(pg::lock_keys::kBatch, {{"$1", "x.id"}});
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(absl::StrCat(
                    "SELECT x.id, coalesce(nullif(a.application_name, ''), 'pid ' || l.pid) || "
                    "coalesce(' from ' || host(a.client_addr), ''), coalesce(to_char(a.xact_start "
                    "AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '') FROM "
                    "unnest($1::text[]) AS x(id) JOIN pg_locks l ON l.locktype = 'advisory' AND "
                    "l.objsubid = 1 AND l.granted AND ((l.classid::bigint << 32) | "
                    "l.objid::bigint) = (",
                    key, ")::bigint LEFT JOIN pg_stat_activity a ON a.pid = l.pid"),
                {pg::TextArray(batch_ids)}));
  for (int i = 0; i < r.rows(); ++i) out[r.Get(i, 0)] = BatchHolder{r.Get(i, 1), r.Get(i, 2)};
  return out;
}

absl::StatusOr<std::map<int, BatchStore::Loads>> BatchStore::LoadsByCu(
    pg::Connection& conn, const CuRegistry& registry) {
  // Loaded: copy_ms is written by RecordIngested only.
  constexpr char kLoaded[] =
      "FROM curation.batch WHERE state IN ('ingested', 'replaced') "
      "AND copy_ms IS NOT NULL";
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result rows,
      conn.Exec(absl::StrCat(
          "SELECT cu, coalesce(sum((SELECT sum(value::bigint) FROM "
          "jsonb_each_text(rows_per_table))), 0) ",
          kLoaded, " GROUP BY cu")));
  CURATOR_ASSIGN_OR_RETURN(
      auto seconds,
      pg::Histograms(
          conn,
          absl::StrCat("SELECT cu::bigint AS key, (coalesce(verify_ms, 0) + "
                       "copy_ms + coalesce(validate_ms, 0) + "
                       "coalesce(publish_ms, 0)) / 1000 AS value ",
                       kLoaded)));
  std::map<int, Loads> out;
  for (const CuSpec& spec : registry.specs())
    out[spec.cu].seconds = EmptyHistogram();
  for (int i = 0; i < rows.rows(); ++i) {
    out[static_cast<int>(rows.GetInt(i, 0))].rows = rows.GetInt(i, 1);
  }
  for (auto& [cu, h] : seconds)
    out[static_cast<int>(cu)].seconds = std::move(h);
  return out;
}

}  // namespace curator::archive
