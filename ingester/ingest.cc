#include "ingester/ingest.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "archive/batch.h"
#include "archive/batch_store.h"
#include "archive/layout.h"
#include "archive/task_log.h"
#include "base/files.h"
#include "base/log.h"
#include "base/status.h"

namespace curator::ingester {
namespace {

namespace fs = std::filesystem;
using archive::BatchState;
using archive::BatchStore;

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

const char* OutcomeName(IngestOutcome::Kind kind) {
  switch (kind) {
    case IngestOutcome::Kind::kIngested: return "ingested";
    case IngestOutcome::Kind::kAlreadyIngested: return "already-ingested";
    case IngestOutcome::Kind::kWaiting: return "waiting";
    case IngestOutcome::Kind::kQuarantined: return "quarantined";
    case IngestOutcome::Kind::kBusy: return "busy";
    case IngestOutcome::Kind::kReplaced:
      return "replaced";
  }
  return "unknown";
}

const std::vector<IngestOutcome::Kind>& AllOutcomes() {
  static const std::vector<IngestOutcome::Kind>* all =
      new std::vector<IngestOutcome::Kind>{
          IngestOutcome::Kind::kIngested, IngestOutcome::Kind::kAlreadyIngested,
          IngestOutcome::Kind::kWaiting,  IngestOutcome::Kind::kQuarantined,
          IngestOutcome::Kind::kBusy,     IngestOutcome::Kind::kReplaced};
  return *all;
}

IngestOptions DefaultIngestOptions(const std::string& archive_root) {
  IngestOptions o;
  o.archive_root = archive_root;
  o.loaders = &DefaultLoaderTable();
  return o;
}

std::vector<std::string> Ingester::ReadyBatches() const {
  std::vector<std::string> dirs = batch::StagedBatchDirs(options_.archive_root);
  // Within a night, by the registry's rank of the batch's CU: the CUs
  // whose ingest others wait for come first.
  std::map<std::string, int> rank;
  for (const std::string& dir : dirs) {
    absl::StatusOr<v1::Manifest> m = batch::ReadManifest(dir);
    const archive::CuSpec* spec = m.ok() ? options_.registry->Find(m->cu()) : nullptr;
    rank[dir] = spec != nullptr ? spec->rank : -1;  // unreadable: first, to be quarantined
  }
  std::stable_sort(dirs.begin(), dirs.end(), [&](const std::string& a, const std::string& b) {
    return std::make_pair(fs::path(a).parent_path().filename().string(), rank[a]) <
           std::make_pair(fs::path(b).parent_path().filename().string(), rank[b]);
  });
  return dirs;
}

absl::StatusOr<std::vector<IngestOutcome>> Ingester::IngestReady() {
  std::vector<IngestOutcome> outcomes;
  for (const std::string& dir : ReadyBatches()) {
    CURATOR_ASSIGN_OR_RETURN(IngestOutcome o, IngestBatch(dir));
    outcomes.push_back(std::move(o));
  }
  return outcomes;
}

absl::Status Ingester::MoveToQuarantine(const std::string& dir, const std::string& batch_id,
                                        const std::string& night, const std::string& report) {
  CURATOR_RETURN_IF_ERROR(files::WriteAtomically(
      absl::StrCat(dir, "/REPORT.txt"),
      absl::StrCat("batch ", batch_id, " was quarantined at ",
                   absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()),
                   " by ", batch::ProducerName(), "\n\n", report, "\n")));
  return MoveOut(dir, layout::BatchDir(options_.archive_root, layout::kQuarantine,
                                       night.empty() ? "unknown" : night, batch_id));
}

absl::Status Ingester::MoveOut(const std::string& from, const std::string& to) {
  absl::Status s = files::MoveDir(from, to);
  std::error_code ec;
  // Another ingester may have moved it first: then it is where it belongs.
  if (s.code() == absl::StatusCode::kNotFound && fs::exists(to, ec)) s = absl::OkStatus();
  if (!s.ok()) return s;
  // An empty night directory in staging is left by nobody on purpose
  // (fails with ENOTEMPTY while other batches of the night are there).
  (void)rmdir(fs::path(from).parent_path().c_str());
  return absl::OkStatus();
}

absl::StatusOr<IngestOutcome> Ingester::Quarantine(const std::string& dir, IngestOutcome outcome,
                                                   int64_t cu_event_id,
                                                   const std::string& report) {
  CURATOR_LOG(WARNING) << "batch " << outcome.batch_id << " quarantined: " << report;
  // Undo the load but keep the claim, and record why, in one commit.
  absl::Status q = conn_->Exec("ROLLBACK TO SAVEPOINT claimed").status();
  if (q.ok() && outcome.cu != 0 && outcome.night.size() == 8) {
    absl::StatusOr<int64_t> event = tasklog::StartEvent(*conn_, outcome.cu, "ingest",
                                                        outcome.night, batch::ProducerName());
    q = event.status();
    if (q.ok()) {
      q = BatchStore::RecordQuarantined(*conn_, outcome.batch_id, outcome.cu, outcome.night,
                                        cu_event_id, *event, report);
    }
    if (q.ok()) {
      tasklog::Step step{"validate", absl::Now(), absl::Now(), 0, 1, 0};
      step.messages.push_back({"error", dir, 0, "", report});
      q = tasklog::Finish(*conn_, *event, {step}, true, report);
    }
  }
  if (q.ok()) q = conn_->Commit();
  if (!q.ok()) {
    (void)conn_->Rollback();
    return Annotate(q, absl::StrCat("quarantining batch ", outcome.batch_id));
  }
  CURATOR_RETURN_IF_ERROR(MoveToQuarantine(dir, outcome.batch_id, outcome.night, report));
  outcome.kind = IngestOutcome::Kind::kQuarantined;
  outcome.report = report;
  outcome.rows = 0;
  return outcome;
}

absl::StatusOr<IngestOutcome> Ingester::WaitForShard(
    IngestOutcome outcome, const v1::Manifest& m,
    archive::shards::ShardTransactions& txs) {
  outcome.kind = IngestOutcome::Kind::kWaiting;
  outcome.shard = txs.unavailable();
  outcome.report =
      absl::StrCat("waiting for shard ", txs.unavailable(), ", which is down (",
                   txs.unavailable_reason(), "); loaded when it is back");
  txs.Abort();
  CURATOR_LOG(WARNING) << "batch " << outcome.batch_id << ": "
                       << outcome.report;
  // The whole transaction rolled back, not to a savepoint: its id names
  // what may be prepared on a shard, and only its abort makes
  // ResolvePrepared roll that back. Then claimed again, and why recorded.
  CURATOR_RETURN_IF_ERROR(conn_->Rollback());
  CURATOR_RETURN_IF_ERROR(conn_->Begin());
  CURATOR_ASSIGN_OR_RETURN(bool claimed,
                           BatchStore::TryClaim(*conn_, outcome.batch_id));
  if (!claimed) {
    CURATOR_RETURN_IF_ERROR(conn_->Rollback());
    outcome.kind = IngestOutcome::Kind::kBusy;
    return outcome;
  }
  CURATOR_RETURN_IF_ERROR(BatchStore::RecordWaiting(*conn_, m, outcome.report));
  CURATOR_RETURN_IF_ERROR(conn_->Commit());
  return outcome;
}

absl::StatusOr<IngestOutcome> Ingester::IngestBatch(const std::string& dir) {
  const absl::Time start = absl::Now();
  IngestOutcome outcome;
  outcome.batch_id = fs::path(dir).filename();
  outcome.night = fs::path(dir).parent_path().filename();
  const std::string& batch_id = outcome.batch_id;

  // What a loader reserves before the load (CU4's id block) is reserved
  // in a transaction of its own, so it outlives a failed load.
  if (absl::StatusOr<v1::Manifest> early = batch::ReadManifest(dir);
      early.ok() && early->batch_id() == batch_id && options_.registry->Find(early->cu())) {
    auto loader = options_.loaders->find(early->cu());
    if (loader != options_.loaders->end()) {
      CURATOR_RETURN_IF_ERROR(loader->second->Prepare(*conn_, *early));
    }
  }

  CURATOR_RETURN_IF_ERROR(conn_->Begin());
  // Anything but a clean end leaves the transaction rolled back.
  struct Rollback {
    pg::Connection* conn;
    bool armed = true;
    ~Rollback() {
      if (armed && conn->InTransaction()) (void)conn->Rollback();
    }
  } rollback{conn_};
  // The load's transactions on shards, if it opens any: rolled back
  // unless prepared and committed below.
  archive::shards::ShardTransactions shard_txs(options_.shards, conn_);

  // Claim.
  CURATOR_ASSIGN_OR_RETURN(bool claimed, BatchStore::TryClaim(*conn_, batch_id));
  if (!claimed) {
    outcome.kind = IngestOutcome::Kind::kBusy;
    return outcome;
  }
  CURATOR_ASSIGN_OR_RETURN(std::optional<BatchState> state, BatchStore::StateOf(*conn_, batch_id));
  if (state == BatchState::kIngested || state == BatchState::kReplaced) {
    outcome.kind = state == BatchState::kIngested
                       ? IngestOutcome::Kind::kAlreadyIngested
                       : IngestOutcome::Kind::kReplaced;
    CURATOR_RETURN_IF_ERROR(conn_->Rollback());
    CURATOR_RETURN_IF_ERROR(MoveOut(
        dir, layout::BatchDir(options_.archive_root, layout::kIngested, outcome.night, batch_id)));
    return outcome;
  }
  CURATOR_RETURN_IF_ERROR(conn_->Exec("SAVEPOINT claimed").status());

  // Verify.
  absl::StatusOr<v1::Manifest> read = batch::ReadManifest(dir);
  if (!read.ok()) {
    if (read.status().code() == absl::StatusCode::kNotFound) {
      outcome.kind = IngestOutcome::Kind::kBusy;  // moved away meanwhile
      return outcome;
    }
    return Quarantine(dir, outcome, 0, std::string(read.status().message()));
  }
  const v1::Manifest m = *std::move(read);
  outcome.cu = m.cu();
  if (m.night().size() == 8) outcome.night = m.night();
  if (absl::Status v = batch::Verify(dir, m); !v.ok()) {
    return Quarantine(dir, outcome, m.cu_event_id(), std::string(v.message()));
  }
  const archive::CuSpec* spec = options_.registry->Find(m.cu());
  auto loader = options_.loaders->find(m.cu());
  if (spec == nullptr || loader == options_.loaders->end()) {
    return Quarantine(dir, outcome, m.cu_event_id(),
                      absl::StrCat("this ingester loads no batches of CU ", m.cu(), " (it loads ",
                                   options_.registry->KnownNames(), ")"));
  }
  const absl::Time verified = absl::Now();

  // Prerequisites.
  CURATOR_ASSIGN_OR_RETURN(
      std::vector<std::string> unmet,
      BatchStore::UnmetIngestPrerequisites(*conn_, *options_.registry, m.cu(), m.night()));
  if (!unmet.empty()) {
    outcome.kind = IngestOutcome::Kind::kWaiting;
    outcome.report = absl::StrCat("waiting for ", absl::StrJoin(unmet, ", "));
    CURATOR_RETURN_IF_ERROR(BatchStore::RecordWaiting(*conn_, m, outcome.report));
    CURATOR_RETURN_IF_ERROR(conn_->Commit());
    return outcome;
  }

  // Replace. The batches the manifest names must be of its CU and night;
  // besides those, a rerun's batch replaces every loaded batch of its CU
  // and night of a lower generation (its task's earlier runs, including
  // one the daemon never heard of), and a batch of a lower generation
  // than one loaded is itself replaced, unloaded.
  std::vector<ReplacedBatch> replaced;
  std::vector<std::string> to_record;  // replaced, in the commit
  for (const std::string& old_id : m.replaces()) {
    if (old_id == batch_id) {
      return Quarantine(dir, outcome, m.cu_event_id(),
                        absl::StrCat("the manifest says batch ", batch_id, " replaces itself"));
    }
    CURATOR_ASSIGN_OR_RETURN(std::optional<archive::BatchRow> old,
                             BatchStore::Find(*conn_, old_id));
    if (!old) continue;  // never seen: if it comes, its generation is lower
    if (old->cu != m.cu() || old->night != m.night()) {
      return Quarantine(dir, outcome, m.cu_event_id(),
                        absl::StrCat("batch ", batch_id, " (", options_.registry->Name(m.cu()),
                                     ", night ", m.night(), ") cannot replace batch ", old_id,
                                     ", which is of ", options_.registry->Name(old->cu),
                                     ", night ", old->night));
    }
    if (old->state == BatchState::kWaiting || old->state == BatchState::kQuarantined) {
      to_record.push_back(old_id);
    }
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<BatchStore::Loaded> loaded,
                           BatchStore::LoadedOf(*conn_, m.cu(), m.night()));
  for (const BatchStore::Loaded& old : loaded) {
    if (old.batch_id == batch_id) continue;
    if (old.generation > m.generation()) {
      CURATOR_LOG(WARNING) << "batch " << batch_id << " (generation " << m.generation()
                           << ") is older than batch " << old.batch_id << " (generation "
                           << old.generation << "), loaded already: not loaded";
      CURATOR_RETURN_IF_ERROR(
          BatchStore::RecordReplaced(*conn_, batch_id, m.cu(), m.night(), old.batch_id));
      CURATOR_RETURN_IF_ERROR(conn_->Commit());
      rollback.armed = false;
      CURATOR_RETURN_IF_ERROR(MoveOut(
          dir, layout::BatchDir(options_.archive_root, layout::kIngested, outcome.night,
                                batch_id)));
      outcome.kind = IngestOutcome::Kind::kReplaced;
      outcome.report = absl::StrCat("replaced by batch ", old.batch_id);
      return outcome;
    }
    if (old.generation == m.generation()) continue;  // not a rerun of it
    CURATOR_ASSIGN_OR_RETURN(bool old_claimed, BatchStore::TryClaim(*conn_, old.batch_id));
    if (!old_claimed) {
      outcome.kind = IngestOutcome::Kind::kBusy;
      outcome.report = absl::StrCat("batch ", old.batch_id, ", which it replaces, is claimed");
      return outcome;
    }
    replaced.push_back({old.batch_id, old.cu_event_id});
    to_record.push_back(old.batch_id);
  }

  // Load.
  CURATOR_ASSIGN_OR_RETURN(int64_t event, tasklog::StartEvent(*conn_, m.cu(), "ingest", m.night(),
                                                              batch::ProducerName()));
  std::vector<std::string> problems;
  absl::StatusOr<LoadResult> loaded_or = loader->second->Load(
      LoadInput{*conn_, options_.archive_root, dir, m, replaced, &shard_txs},
      &problems);
  if (!loaded_or.ok() && !shard_txs.unavailable().empty()) {
    return WaitForShard(outcome, m, shard_txs);
  }
  CURATOR_RETURN_IF_ERROR(loaded_or.status());
  LoadResult load = *std::move(loaded_or);
  if (!problems.empty()) {
    shard_txs.Abort();
    return Quarantine(dir, outcome, m.cu_event_id(),
                      absl::StrCat("validation failed:\n", absl::StrJoin(problems, "\n")));
  }

  // Record.
  archive::IngestRecord record;
  record.ingest_event_id = event;
  record.started = start;
  record.verify_ms = Ms(verified - start);
  const auto step_ms = [&](size_t i) {
    return i < load.steps.size() ? Ms(load.steps[i].finished - load.steps[i].started) : 0.0;
  };
  record.copy_ms = step_ms(0);
  record.validate_ms = step_ms(1);
  record.publish_ms = step_ms(2);
  record.rows_per_table = load.rows_per_table;
  record.failures.assign(m.failures().begin(), m.failures().end());
  record.failures.insert(record.failures.end(), load.left_out.begin(), load.left_out.end());
  CURATOR_RETURN_IF_ERROR(BatchStore::RecordIngested(*conn_, m, record));
  for (const std::string& old_id : to_record) {
    CURATOR_RETURN_IF_ERROR(
        BatchStore::RecordReplaced(*conn_, old_id, m.cu(), m.night(), batch_id));
  }
  std::vector<tasklog::Step> steps = {tasklog::Step{"verify", start, verified}};
  for (tasklog::Step& s : load.steps) steps.push_back(std::move(s));
  std::string summary =
      absl::StrCat("ingested batch ", batch_id, ": ", load.rows, " rows");
  if (!to_record.empty()) {
    absl::StrAppend(&summary, ", replacing batch ", absl::StrJoin(to_record, ", "));
  }
  CURATOR_RETURN_IF_ERROR(
      tasklog::Finish(*conn_, event, steps, false, summary));
  // Two-phase commit where the load wrote to shards (docs/ARCHITECTURE.md,
  // "Shards"): each shard's transaction prepared, then the head's commit
  // decides, then each is committed. A crash or a lost link anywhere in
  // between is finished by ResolvePrepared from the head's record.
  if (absl::Status p = shard_txs.Prepare(*conn_, batch_id); !p.ok()) {
    if (!shard_txs.unavailable().empty())
      return WaitForShard(outcome, m, shard_txs);
    return p;
  }
  if (options_.hooks != nullptr) options_.hooks->BeforeCommit(batch_id);
  if (absl::Status c = conn_->Commit(); !c.ok()) {
    // Whether the head committed is not known here (the link may have
    // gone with the COMMIT): the prepared transactions wait for
    // ResolvePrepared, which asks the head.
    shard_txs.Leave();
    return c;
  }
  rollback.armed = false;
  shard_txs.CommitPrepared();
  if (absl::Status after =
          loader->second->AfterCommit(*conn_, m, options_.shards);
      !after.ok()) {
    CURATOR_LOG(WARNING) << "batch " << batch_id << " is ingested; tidying after it: " << after
                         << " (tried again after the next batch of its CU)";
  }
  outcome.kind = IngestOutcome::Kind::kIngested;
  outcome.rows = load.rows;
  outcome.files_left_out = static_cast<int>(load.left_out.size());
  outcome.shard = load.shard;

  // Move.
  CURATOR_RETURN_IF_ERROR(MoveOut(
      dir, layout::BatchDir(options_.archive_root, layout::kIngested, outcome.night, batch_id)));
  outcome.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return outcome;
}

}  // namespace curator::ingester
