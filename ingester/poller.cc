#include "ingester/poller.h"

#include "server/http_server.h"
#include "base/log.h"
#include "db/pg.h"

namespace curator::ingester {

absl::StatusOr<std::unique_ptr<Poller>> Poller::Create(const v1::Config& config,
                                                       LoaderOptions options) {
  const uint32_t ms = config.has_ingester() ? config.ingester().poll_interval_ms() : 1000;
  if (ms == 0) return absl::InvalidArgumentError("ingester.poll_interval_ms must be > 0");
  options.archive_root = config.archive_root();
  return std::unique_ptr<Poller>(
      new Poller(config.database().conninfo(), std::move(options), absl::Milliseconds(ms)));
}

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

void Poller::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  cv_.notify_all();
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
  for (IngestOutcome::Kind k :
       {IngestOutcome::Kind::kIngested, IngestOutcome::Kind::kAlreadyIngested,
        IngestOutcome::Kind::kWaiting, IngestOutcome::Kind::kQuarantined,
        IngestOutcome::Kind::kBusy}) {
    auto it = outcomes_.find(OutcomeName(k));
    m.Add("curator_ingester_batches_total", "counter",
          "Batches handled by this ingester, by outcome.", {{"outcome", OutcomeName(k)}},
          it == outcomes_.end() ? 0 : it->second);
  }
  m.Add("curator_ingester_rows_total", "counter", "Rows published by this ingester.", {}, rows_);
  m.Add("curator_ingester_ingest_seconds_total", "counter",
        "Time spent loading the batches it ingested.", {}, seconds_);
  m.Add("curator_ingester_rows_per_second", "gauge", "Rate of the last batch ingested.", {},
        last_rows_per_second_);
  m.Add("curator_ingester_errors_total", "counter",
        "Batches left in staging by a systematic error (database gone, disk full).", {}, errors_);
  m.Add("curator_ingester_database_up", "gauge", "1 while connected to the database.", {},
        connected_ ? 1 : 0);
  return m.str();
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
        connected_ = true;
      } else {
        CURATOR_LOG(WARNING) << c.status() << "; retrying in " << backoff;
        wait = backoff;
        backoff = std::min(backoff * 2, absl::Minutes(1));
      }
    }
    if (conn != nullptr) {
      Loader loader(conn.get(), options_);
      for (const std::string& dir : loader.ReadyBatches()) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) return;
        }
        absl::StatusOr<IngestOutcome> o = loader.IngestBatch(dir);
        if (!o.ok()) {
          CURATOR_LOG(ERROR) << o.status();
          std::lock_guard<std::mutex> lock(mu_);
          ++errors_;
          if (o.status().code() == absl::StatusCode::kUnavailable) {
            conn.reset();  // reconnect on the next pass
            connected_ = false;
            break;
          }
          continue;
        }
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++outcomes_[OutcomeName(o->kind)];
          if (o->kind == IngestOutcome::Kind::kIngested) {
            ++ingested_;
            rows_ += o->rows;
            seconds_ += o->seconds;
            if (o->seconds > 0) last_rows_per_second_ = o->rows / o->seconds;
          }
        }
        if (o->kind == IngestOutcome::Kind::kIngested) {
          CURATOR_LOG(INFO) << "ingested " << o->batch_id << ": " << o->rows << " rows in "
                            << o->seconds << " s";
        } else if (o->kind != IngestOutcome::Kind::kBusy) {
          CURATOR_LOG(INFO) << o->batch_id << ": " << OutcomeName(o->kind) << " "
                            << o->report;
        }
      }
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoMilliseconds(wait), [this] { return stopping_ || woken_; });
    if (stopping_) return;
    woken_ = false;
  }
}

}  // namespace curator::ingester
