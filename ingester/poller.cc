#include "ingester/poller.h"

#include "common/log.h"
#include "common/pg.h"

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
          if (o.status().code() == absl::StatusCode::kUnavailable) {
            conn.reset();  // reconnect on the next pass
            break;
          }
          continue;
        }
        if (o->kind == IngestOutcome::Kind::kIngested) {
          CURATOR_LOG(INFO) << "ingested " << o->batch_id << ": " << o->rows << " rows in "
                            << o->seconds << " s";
          std::lock_guard<std::mutex> lock(mu_);
          ++ingested_;
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
