#include "ingester/poller.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "archive/batch_store.h"
#include "base/log.h"
#include "server/metrics.h"

namespace curator::ingester {

Poller::~Poller() {
  Shutdown();
  Wait();
}

void Poller::Start() { thread_ = std::thread([this] { Run(); }); }

void Poller::Shutdown() {
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = true;
  cv_.notify_all();
}

void Poller::Interrupt() {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_ != nullptr) active_->Interrupt();
}

void Poller::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

bool Poller::WaitFor(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [this] { return ended_; });
}

void Poller::Wait() {
  if (thread_.joinable()) thread_.join();
}

int64_t Poller::batches_ingested() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ingested_;
}

std::string Poller::Metrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  MetricsText m;
  m.AddBuildInfo();
  m.Add("curator_database_up", "gauge",
        "1 while this process reaches its database.", {}, connected_ ? 1 : 0);
  for (IngestOutcome::Kind k : AllOutcomes()) {
    auto it = outcomes_.find(OutcomeName(k));
    m.Add("curator_ingester_batches_total", "counter",
          "Batches handled by this ingester, by outcome.", {{"outcome", OutcomeName(k)}},
          it == outcomes_.end() ? 0 : it->second);
  }
  // Every CU's series from the start, so that rate() sees the first batch.
  std::map<int, std::pair<int64_t, HistogramData>> by_cu;
  for (const archive::CuSpec& spec : options_.registry->specs()) {
    by_cu[spec.cu] = {0, EmptyHistogram()};
  }
  for (const auto& [cu, loaded] : loaded_)
    by_cu[cu] = {loaded.rows, loaded.seconds.data()};
  for (const auto& [cu, loaded] : by_cu) {
    m.Add("curator_ingester_rows_total", "counter",
          "Rows published by this ingester, by CU.",
          {{"cu", options_.registry->Name(cu)}},
          static_cast<double>(loaded.first));
  }
  for (const auto& [cu, loaded] : by_cu) {
    m.AddHistogram("curator_ingester_batch_duration_seconds",
                   "Batches this ingester loaded, by CU: seconds from the "
                   "start of verification to the commit.",
                   {{"cu", options_.registry->Name(cu)}}, loaded.second);
  }
  for (const auto& [shard, c] : by_shard_) {
    m.Add("curator_ingester_shard_rows_total", "counter",
          "Detections this ingester loaded into each shard server.",
          {{"shard", shard}}, static_cast<double>(c.rows));
    m.Add("curator_ingester_shard_batches_total", "counter",
          "Batches this ingester loaded into each shard server.",
          {{"shard", shard}}, static_cast<double>(c.batches));
    m.Add("curator_ingester_shard_waits_total", "counter",
          "Batches left waiting because their shard server was down.",
          {{"shard", shard}}, static_cast<double>(c.waits));
  }
  m.Add("curator_ingester_files_left_out_total", "counter",
        "Input files taken out of batches at ingest, the rest of each batch "
        "loaded.",
        {}, files_left_out_);
  m.Add("curator_ingester_errors_total", "counter",
        "Batches left in staging by a systematic error (database gone, disk "
        "full).",
        {}, errors_);
  m.Add("curator_ingester_pruned_batches_total", "counter",
        "Ingested batches removed from ingested/ past their retention.", {}, pruned_batches_);
  return m.str();
}

void Poller::Record(const IngestOutcome& o) {
  std::lock_guard<std::mutex> lock(mu_);
  ++outcomes_[OutcomeName(o.kind)];
  if (!o.shard.empty()) {
    ShardCounts& c = by_shard_[o.shard];
    if (o.kind == IngestOutcome::Kind::kIngested) {
      c.rows += o.rows;
      ++c.batches;
    } else if (o.kind == IngestOutcome::Kind::kWaiting) {
      ++c.waits;
    }
  }
  if (o.kind == IngestOutcome::Kind::kIngested) {
    ++ingested_;
    Loaded& loaded = loaded_[o.cu];
    loaded.rows += o.rows;
    loaded.seconds.Observe(o.seconds);
    files_left_out_ += o.files_left_out;
  }
}

void Poller::NoteBusy(pg::Connection& conn, const std::string& batch_id) {
  const absl::Time now = absl::Now();
  Busy& b = busy_.try_emplace(batch_id, Busy{now}).first->second;
  if (now - b.since < absl::Minutes(1) || now - b.said < absl::Minutes(10)) return;
  b.said = now;
  absl::StatusOr<std::map<std::string, archive::BatchHolder>> holders =
      archive::BatchStore::Holders(conn, {batch_id});
  std::string who = "another session";
  if (holders.ok() && holders->count(batch_id)) {
    const archive::BatchHolder& h = holders->at(batch_id);
    who = absl::StrCat(h.session, " (its transaction started ", h.since, ")");
  }
  CURATOR_LOG(WARNING) << "batch " << batch_id << " has been held for "
                       << absl::FormatDuration(absl::Trunc(now - b.since, absl::Seconds(1)))
                       << " by " << who
                       << ": another ingester loading it, or a session whose client is gone "
                          "that the server has not ended yet (its tcp_keepalives_* settings)";
}

void Poller::Run() {
  std::unique_ptr<pg::Connection> conn;
  absl::Duration backoff = interval_;
  while (true) {
    absl::Duration wait = interval_;
    if (conn == nullptr) {
      auto c = pg::Connection::Connect(conninfo_);
      if (c.ok()) {
        conn = *std::move(c);
        backoff = interval_;
        std::lock_guard<std::mutex> lock(mu_);
        if (errors_ > 0 && !connected_) {
          CURATOR_LOG(INFO) << "connected to the database again; batches left in staging are "
                               "loaded now";
        }
        connected_ = true;
        active_ = conn.get();
      } else {
        CURATOR_LOG(WARNING) << c.status() << "; retrying in " << backoff;
        wait = backoff;
        backoff = std::min(backoff * 2, absl::Minutes(1));
      }
    }
    if (absl::Now() - last_pruned_ > absl::Hours(1)) {
      last_pruned_ = absl::Now();
      const Pruned p = PruneIngested(options_.archive_root, retention_, last_pruned_);
      if (p.batches > 0) {
        CURATOR_LOG(INFO) << "removed " << p.batches << " ingested batches from ingested/ ("
                          << p.bytes << " bytes) past their retention";
        std::lock_guard<std::mutex> lock(mu_);
        pruned_batches_ += p.batches;
      }
    }
    if (conn != nullptr && options_.shards != nullptr) {
      // What an ingester that stopped between prepare and commit left on
      // the shards, finished before anything else loads there.
      absl::StatusOr<int> resolved =
          archive::shards::ResolvePrepared(*conn, *options_.shards);
      if (!resolved.ok())
        CURATOR_LOG(WARNING)
            << "resolving prepared shard transactions: " << resolved.status();
    }
    std::vector<std::string> ready;
    if (conn != nullptr) ready = Ingester(conn.get(), options_).ReadyBatches();
    if (conn != nullptr && ready.empty() && !conn->Exec("SELECT 1").ok()) {
      // Nothing to load, so nothing else would notice a lost link: without
      // this query curator_database_up would stay 1 while the ingester
      // is idle, however long the database has been gone.
      CURATOR_LOG(WARNING) << "lost the database; reconnecting";
      std::lock_guard<std::mutex> lock(mu_);
      active_ = nullptr;
      conn.reset();
      connected_ = false;
    }
    if (conn != nullptr) {
      Ingester ingester(conn.get(), options_);
      for (const std::string& dir : ready) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) break;
        }
        absl::StatusOr<IngestOutcome> o = ingester.IngestBatch(dir);
        if (!o.ok()) {
          CURATOR_LOG(ERROR) << o.status();
          std::lock_guard<std::mutex> lock(mu_);
          ++errors_;
          if (o.status().code() == absl::StatusCode::kUnavailable || conn->IsBroken()) {
            CURATOR_LOG(WARNING) << "lost the database; the batch stays in staging and is "
                                    "loaded again once it is back";
            active_ = nullptr;
            conn.reset();  // reconnect on the next pass
            connected_ = false;
            break;
          }
          continue;
        }
        Record(*o);
        if (o->kind == IngestOutcome::Kind::kBusy) {
          NoteBusy(*conn, o->batch_id);
        } else {
          busy_.erase(o->batch_id);
        }
        if (o->kind == IngestOutcome::Kind::kIngested) {
          CURATOR_LOG(INFO) << "ingested " << o->batch_id << ": " << o->rows << " rows in "
                            << o->seconds << " s"
                            << (o->files_left_out ? absl::StrCat(", ", o->files_left_out,
                                                                 " files left out")
                                                  : "");
        } else if (o->kind != IngestOutcome::Kind::kBusy) {
          CURATOR_LOG(INFO) << o->batch_id << ": " << OutcomeName(o->kind) << " " << o->report;
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (!stopping_) {
      cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [this] { return stopping_ || woken_; });
    }
    woken_ = false;
    if (stopping_) {
      active_ = nullptr;
      ended_ = true;
      cv_.notify_all();
      return;
    }
  }
}

}  // namespace curator::ingester
