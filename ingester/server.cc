#include "ingester/server.h"

#include <grpcpp/health_check_service_interface.h>

#include "base/log.h"
#include "base/status.h"
#include "server/grpc_server.h"
#include "server/metrics.h"
#include "server/rpc_security.h"

namespace curator::ingester {

absl::StatusOr<std::unique_ptr<IngesterServer>> IngesterServer::Create(const v1::Config& config,
                                                                        IngesterParts parts) {
  const uint32_t ms = config.has_ingester() ? config.ingester().poll_interval_ms() : 1000;
  if (ms == 0) return absl::InvalidArgumentError("ingester.poll_interval_ms must be > 0");
  std::unique_ptr<IngesterServer> s(new IngesterServer());
  s->config_ = config;
  if (parts.loaders == nullptr) {
    s->own_loaders_ = DefaultLoaders();
    parts.loaders = &s->own_loaders_;
  }
  CURATOR_RETURN_IF_ERROR(CheckLoaders(*parts.loaders, *parts.registry));
  if (!config.ingester().listen_address().empty()) {
    absl::StatusOr<RpcSecurity> security = RpcSecurity::FromConfig(config);
    if (!security.ok()) return absl::InvalidArgumentError(security.status().message());
    CURATOR_ASSIGN_OR_RETURN(s->credentials_, security->ServerCredentials());
  }
  IngestOptions options;
  options.archive_root = config.archive_root();
  options.registry = parts.registry;
  options.loaders = parts.loaders;
  options.hooks = parts.hooks;
  s->shards_ = std::make_unique<archive::shards::ShardSet>(
      archive::shards::FromConfig(config.database()));
  if (!s->shards_->empty()) options.shards = s->shards_.get();
  Retention retention;
  if (config.ingester().keep_ingested_days() > 0) {
    retention.max_age = absl::Hours(24) * config.ingester().keep_ingested_days();
  }
  retention.max_bytes = static_cast<int64_t>(config.ingester().keep_ingested_bytes());
  s->poller_ = std::make_unique<Poller>(config.database().conninfo(), options,
                                        absl::Milliseconds(ms), retention);
  return s;
}

IngesterServer::~IngesterServer() {
  Shutdown(absl::Seconds(10));
  Wait();
}

absl::Status IngesterServer::Start() {
  if (const std::string& listen = config_.ingester().listen_address(); !listen.empty()) {
    CURATOR_ASSIGN_OR_RETURN(health_, StartGrpcServer(listen, credentials_, {}, &health_port_));
    CURATOR_LOG(INFO) << "curator-ingester serving health on port " << health_port_;
  }
  if (const std::string& address = config_.ingester().metrics_address(); !address.empty()) {
    metrics_ = std::make_unique<HttpServer>();
    Poller* poller = poller_.get();
    metrics_->Get("/metrics", [poller](const HttpRequest&) {
      return HttpResponse{200, kMetricsContentType, poller->Metrics()};
    });
    CURATOR_RETURN_IF_ERROR(metrics_->Start(address));
    CURATOR_LOG(INFO) << "curator-ingester serving /metrics on port " << metrics_->port();
  }
  poller_->Start();
  CURATOR_LOG(INFO) << "curator-ingester polling " << config_.archive_root() << "/staging";
  return absl::OkStatus();
}

void IngesterServer::Shutdown(absl::Duration deadline) {
  if (poller_ == nullptr) return;  // Create failed
  if (health_ != nullptr) health_->GetHealthCheckService()->SetServingStatus(false);
  poller_->Shutdown();
  if (!poller_->WaitFor(deadline)) {
    CURATOR_LOG(WARNING) << "the batch in hand did not finish within "
                         << absl::FormatDuration(deadline)
                         << "; breaking the database link (it stays in staging)";
    poller_->Interrupt();
  }
}

void IngesterServer::Wait() {
  if (poller_ == nullptr) return;
  poller_->Wait();
  if (metrics_ != nullptr) metrics_->Stop();
  if (health_ != nullptr) {
    health_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    health_->Wait();
    health_.reset();
  }
}

}  // namespace curator::ingester
