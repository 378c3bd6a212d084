#include "ingester/loader.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "archive/layout.h"
#include "archive/batch.h"
#include "base/files.h"
#include "base/log.h"
#include "base/status.h"
#include "archive/task_log.h"
#include "ingester/batch_state.h"
#include "ingester/comp_file_loader.h"
#include "ingester/detection_loader.h"
#include "ingester/table_loader.h"
#include "ingester/table_rules.h"

namespace curator::ingester {
namespace {

namespace fs = std::filesystem;

// Problems found while validating: these quarantine the batch.
struct Problems {
  std::vector<std::string> lines;
  void Add(std::string line) { lines.push_back(std::move(line)); }
  bool empty() const { return lines.empty(); }
};

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

std::string JsonEscape(absl::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') { out += "\\n"; continue; }
    out.push_back(c);
  }
  return out;
}

}  // namespace

const char* OutcomeName(IngestOutcome::Kind kind) {
  switch (kind) {
    case IngestOutcome::Kind::kIngested: return "ingested";
    case IngestOutcome::Kind::kAlreadyIngested: return "already-ingested";
    case IngestOutcome::Kind::kWaiting: return "waiting";
    case IngestOutcome::Kind::kQuarantined: return "quarantined";
    case IngestOutcome::Kind::kBusy: return "busy";
  }
  return "unknown";
}

std::vector<std::string> Loader::ReadyBatches() const {
  std::vector<std::string> dirs = batch::StagedBatchDirs(options_.archive_root);
  // Within a night, CU3 first: the other CUs' ingests wait for it.
  std::stable_sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    const fs::path pa(a), pb(b);
    const bool cu3_a = absl::StrContains(pa.filename().string(), "-cu3-");
    const bool cu3_b = absl::StrContains(pb.filename().string(), "-cu3-");
    return std::make_pair(pa.parent_path().filename().string(), !cu3_a) <
           std::make_pair(pb.parent_path().filename().string(), !cu3_b);
  });
  return dirs;
}

absl::StatusOr<std::vector<IngestOutcome>> Loader::IngestReady() {
  std::vector<IngestOutcome> outcomes;
  for (const std::string& dir : ReadyBatches()) {
    CURATOR_ASSIGN_OR_RETURN(IngestOutcome o, IngestBatch(dir));
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

absl::Status Loader::RecordQuarantine(const std::string& dir, const std::string& batch_id,
                                      int cu, const std::string& night,
                                      const std::string& report) {
  CURATOR_LOG(WARNING) << "batch " << batch_id << " quarantined: " << report;
  if (cu == 0 || night.size() != 8) return absl::OkStatus();  // no usable manifest
  CURATOR_ASSIGN_OR_RETURN(int64_t event, tasklog::StartEvent(*conn_, cu, "ingest", night,
                                                              batch::ProducerName()));
  CURATOR_RETURN_IF_ERROR(
      conn_->Exec(absl::StrCat("INSERT INTO curation.batch (batch_id, cu, night, state, "
                               "ingest_event_id, report, ingest_finished_at) VALUES ($1, $2, $3, "
                               "'quarantined', $4, $5, now()) ON CONFLICT (batch_id) DO UPDATE "
                               "SET state = 'quarantined', ingest_event_id = $4, report = $5, "
                               "ingest_finished_at = now() WHERE curation.batch.state = ANY('",
                               AllowedFromSql(BatchState::kQuarantined), "')"),
                  {batch_id, std::to_string(cu), night, std::to_string(event), report})
          .status());
  tasklog::Step step{"validate", absl::Now(), absl::Now(), 0, 1, 0};
  step.messages.push_back({"error", dir, 0, "", report});
  return tasklog::Finish(*conn_, event, {step}, true, report);
}

absl::Status Loader::MoveToQuarantine(const std::string& dir, const std::string& batch_id,
                                      const std::string& night, const std::string& report) {
  CURATOR_RETURN_IF_ERROR(files::WriteAtomically(
      absl::StrCat(dir, "/REPORT.txt"),
      absl::StrCat("batch ", batch_id, " was quarantined at ",
                   absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()),
                   " by ", batch::ProducerName(), "\n\n", report, "\n")));
  return MoveOut(dir, layout::BatchDir(options_.archive_root, layout::kQuarantine,
                                       night.empty() ? "unknown" : night, batch_id));
}

absl::Status Loader::MoveOut(const std::string& from, const std::string& to) {
  absl::Status s = files::MoveDir(from, to);
  std::error_code ec;
  // Another ingester may have moved it first: then it is where it belongs.
  if (s.code() == absl::StatusCode::kNotFound && fs::exists(to, ec)) return absl::OkStatus();
  return s;
}

absl::StatusOr<IngestOutcome> Loader::IngestBatch(const std::string& dir) {
  const absl::Time start = absl::Now();
  const std::string batch_id = fs::path(dir).filename();
  IngestOutcome outcome;
  outcome.batch_id = batch_id;
  outcome.night = fs::path(dir).parent_path().filename();
  v1::Manifest m;
  absl::Time verified;
  std::optional<std::vector<TableRule>> rules;
  std::map<std::string, const v1::BatchFile*> file_of_table;
  Problems problems;        // validation: quarantine the batch
  std::string bad_batch;    // verification: quarantine the batch

  auto body = [&]() -> absl::Status {
    // Claim: one ingester per batch; others skip it.
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result lock,
        conn_->Exec("SELECT pg_try_advisory_xact_lock(hashtext('batch ' || $1))", {batch_id}));
    if (lock.Get(0, 0) != "t") {
      outcome.kind = IngestOutcome::Kind::kBusy;
      return absl::OkStatus();
    }
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result state,
        conn_->Exec("SELECT state FROM curation.batch WHERE batch_id = $1", {batch_id}));
    if (state.rows() == 1 && state.Get(0, 0) == StateName(BatchState::kIngested)) {
      outcome.kind = IngestOutcome::Kind::kAlreadyIngested;
      return absl::OkStatus();
    }
    CURATOR_RETURN_IF_ERROR(conn_->Exec("SAVEPOINT claimed").status());
    absl::StatusOr<v1::Manifest> read = batch::ReadManifest(dir);
    if (!read.ok()) {
      if (read.status().code() == absl::StatusCode::kNotFound) {
        outcome.kind = IngestOutcome::Kind::kBusy;  // moved away meanwhile
        return absl::OkStatus();
      }
      bad_batch = std::string(read.status().message());
      return absl::OkStatus();
    }
    m = *std::move(read);
    outcome.cu = m.cu();
    if (m.night().size() == 8) outcome.night = m.night();
    if (absl::Status v = batch::Verify(dir, m); !v.ok()) {
      bad_batch = std::string(v.message());
      return absl::OkStatus();
    }
    const std::string& night = m.night();
    if (m.cu() != 3) {
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result pre,
          conn_->Exec("SELECT count(*) FROM curation.batch WHERE night = $1 AND cu = 3 AND "
                      "state = 'ingested'",
                      {night}));
      if (pre.GetInt(0, 0) == 0) {
        outcome.kind = IngestOutcome::Kind::kWaiting;
        outcome.report = absl::StrCat("waiting for the CU3 ingest of night ", night);
        return conn_
            ->Exec(absl::StrCat("INSERT INTO curation.batch (batch_id, cu, night, state, "
                                "producer, report) VALUES ($1, $2, $3, 'waiting', $4, $5) "
                                "ON CONFLICT (batch_id) DO UPDATE SET report = $5 WHERE "
                                "curation.batch.state = ANY('",
                                AllowedFromSql(BatchState::kWaiting), "')"),
                   {batch_id, std::to_string(m.cu()), night, m.producer(), outcome.report})
            .status();
      }
    }
    rules = RulesForCu(m.cu());
    for (const v1::BatchFile& f : m.files()) file_of_table[f.table()] = &f;
    if (m.cu() == 3) {
      std::vector<std::string> wrong;
      if (!rules) wrong.push_back(absl::StrCat("no tables are loaded for CU ", m.cu()));
      std::set<std::string> expected;
      if (rules) for (const TableRule& r : *rules) expected.insert(r.table);
      for (const auto& [table, f] : file_of_table) {
        if (!expected.count(table)) wrong.push_back(absl::StrCat("unexpected table '", table, "'"));
      }
      for (const std::string& t : expected) {
        if (!file_of_table.count(t)) wrong.push_back(absl::StrCat("no file for table '", t, "'"));
      }
      if (file_of_table.size() != static_cast<size_t>(m.files_size())) {
        wrong.push_back("two files for one table");
      }
      if (!wrong.empty()) {
        bad_batch = absl::StrJoin(wrong, "\n");
        return absl::OkStatus();
      }
    }
    verified = absl::Now();

    CURATOR_ASSIGN_OR_RETURN(int64_t event, tasklog::StartEvent(*conn_, m.cu(), "ingest", night,
                                                                batch::ProducerName()));
    TablesLoad load;
    std::vector<std::string> left_out;
    if (m.cu() == 4) {
      CURATOR_ASSIGN_OR_RETURN(DetectionLoad d, LoadDetections(*conn_, dir, m, &problems.lines));
      load.rows = d.rows;
      load.rows_per_table = {absl::StrCat("\"detection\": ", d.rows)};
      load.steps = std::move(d.steps);
      left_out = std::move(d.left_out);
    } else if (m.cu() == 2) {
      CURATOR_ASSIGN_OR_RETURN(CompFileLoad c, LoadCompFiles(*conn_, options_.archive_root, dir, m,
                                                             &problems.lines));
      load.rows = c.rows;
      load.rows_per_table = {absl::StrCat("\"multiframe_detector.comp_file\": ", c.rows)};
      load.steps = std::move(c.steps);
      left_out = std::move(c.left_out);
    } else {
      CURATOR_ASSIGN_OR_RETURN(load, LoadTables(*conn_, dir, night, *rules, file_of_table,
                                                &problems.lines));
    }
    if (!problems.empty()) return absl::OkStatus();
    outcome.rows = load.rows;
    std::vector<std::string> rows_json = load.rows_per_table;
    auto step_ms = [&](size_t i) {
      return i < load.steps.size()
                 ? std::to_string(Ms(load.steps[i].finished - load.steps[i].started))
                 : std::string("0");
    };

    std::vector<std::string> failures_json;
    for (const v1::FileProblem& p : m.failures()) {
      failures_json.push_back(absl::StrCat("{\"path\": \"", JsonEscape(p.path()),
                                           "\", \"message\": \"", JsonEscape(p.message()), "\"}"));
    }
    for (const std::string& l : left_out) {
      failures_json.push_back(absl::StrCat("{\"path\": \"", JsonEscape(dir), "\", \"message\": \"",
                                           JsonEscape(l), "\"}"));
    }
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result recorded,
        conn_->Exec(
            absl::StrCat(
                "INSERT INTO curation.batch (batch_id, cu, night, cu_event_id, ingest_event_id, "
                "state, producer, created_at, ingest_started_at, ingest_finished_at, verify_ms, "
                "copy_ms, validate_ms, publish_ms, rows_per_table, failures) VALUES ($1, $2, $3, "
                "(SELECT cu_event_id FROM curation.cu_event WHERE cu_event_id = $4), $5, "
                "'ingested', $6, nullif($7, '')::timestamptz, $8, now(), $9, $10, $11, $12, "
                "$13::jsonb, $14::jsonb) ON CONFLICT (batch_id) DO UPDATE SET state = "
                "'ingested', ingest_event_id = $5, ingest_started_at = $8, ingest_finished_at = "
                "now(), verify_ms = $9, copy_ms = $10, validate_ms = $11, publish_ms = $12, "
                "rows_per_table = $13::jsonb, failures = $14::jsonb, report = NULL WHERE "
                "curation.batch.state = ANY('",
                AllowedFromSql(BatchState::kIngested), "')"),
            {batch_id, std::to_string(m.cu()), night, std::to_string(m.cu_event_id()),
             std::to_string(event), m.producer(), m.created(),
             absl::FormatTime(absl::RFC3339_full, start, absl::UTCTimeZone()),
             std::to_string(Ms(verified - start)),
             step_ms(0), step_ms(1), step_ms(2),
             absl::StrCat("{", absl::StrJoin(rows_json, ", "), "}"),
             absl::StrCat("[", absl::StrJoin(failures_json, ", "), "]")}));
    if (recorded.AffectedRows() != 1) {
      return absl::InternalError(absl::StrCat("batch ", batch_id,
                                              " changed state while locked: not recorded"));
    }
    std::vector<tasklog::Step> steps = {tasklog::Step{"verify", start, verified}};
    for (tasklog::Step& st : load.steps) steps.push_back(std::move(st));
    CURATOR_RETURN_IF_ERROR(tasklog::Finish(
        *conn_, event, steps, false,
        absl::StrCat("ingested batch ", batch_id, ": ", load.rows, " rows")));
    outcome.kind = IngestOutcome::Kind::kIngested;
    if (!options_.pause_before_commit_file.empty()) {
      (void)files::WriteAtomically(options_.pause_before_commit_file, batch_id);
      CURATOR_LOG(WARNING) << "test hook: paused before COMMIT of " << batch_id;
      for (;;) pause();
    }
    return absl::OkStatus();
  };

  // A CU4 batch's ids are reserved first, in a transaction of their own,
  // so the block outlives a failed load and is reused by the next one.
  if (absl::StatusOr<v1::Manifest> early = batch::ReadManifest(dir);
      early.ok() && early->cu() == 4 && early->batch_id() == batch_id) {
    CURATOR_RETURN_IF_ERROR(ReserveIdBlock(*conn_, *early).status());
  }
  CURATOR_RETURN_IF_ERROR(conn_->Begin());
  absl::Status status = body();
  if (!status.ok()) {
    (void)conn_->Rollback();
    return Annotate(status, absl::StrCat("ingesting batch ", batch_id));
  }
  std::string report = bad_batch;
  if (report.empty() && !problems.empty()) {
    report = absl::StrCat("validation failed:\n", absl::StrJoin(problems.lines, "\n"));
  }
  if (!report.empty()) {
    // Undo the load but keep the claim, and record why, in one commit.
    absl::Status q = conn_->Exec("ROLLBACK TO SAVEPOINT claimed").status();
    if (q.ok()) q = RecordQuarantine(dir, batch_id, m.cu(), outcome.night, report);
    if (q.ok()) q = conn_->Commit();
    if (!q.ok()) {
      (void)conn_->Rollback();
      return Annotate(q, absl::StrCat("quarantining batch ", batch_id));
    }
    CURATOR_RETURN_IF_ERROR(MoveToQuarantine(dir, batch_id, outcome.night, report));
    outcome.kind = IngestOutcome::Kind::kQuarantined;
    outcome.report = report;
    outcome.rows = 0;
  } else if (outcome.kind == IngestOutcome::Kind::kBusy ||
             outcome.kind == IngestOutcome::Kind::kAlreadyIngested) {
    (void)conn_->Rollback();
  } else {
    CURATOR_RETURN_IF_ERROR(conn_->Commit());
  }
  if (outcome.kind == IngestOutcome::Kind::kIngested ||
      outcome.kind == IngestOutcome::Kind::kAlreadyIngested) {
    CURATOR_RETURN_IF_ERROR(MoveOut(
        dir, layout::BatchDir(options_.archive_root, layout::kIngested, outcome.night, batch_id)));
  }
  outcome.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return outcome;
}

}  // namespace curator::ingester
