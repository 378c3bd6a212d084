// curator-ingester's server: the poller (ingester/poller.h) that loads
// ready batches, grpc.health.v1 and reflection on ingester.listen_address
// (SERVING while it polls, NOT_SERVING once it is stopping), and /metrics
// on ingester.metrics_address.
//
// Lifecycle, as the daemon's and the worker's: Create, Start,
// Shutdown(deadline), Wait. Shutdown lets the batch in hand finish until
// the deadline, then breaks the database link so a load blocked on a dead
// peer ends at once (the batch stays in staging; its transaction is rolled
// back).
#ifndef CURATOR_INGESTER_SERVER_H_
#define CURATOR_INGESTER_SERVER_H_

#include <grpcpp/server.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "archive/cu_registry.h"
#include "curator/v1/config.pb.h"
#include "ingester/batch_loader.h"
#include "ingester/ingest.h"
#include "ingester/poller.h"
#include "server/http_server.h"

namespace curator::ingester {

// What an ingester loads, for tests to replace: the CU registry, the
// loaders (default: DefaultLoaders(), owned by the server) and test hooks.
struct IngesterParts {
  const archive::CuRegistry* registry = &archive::CuRegistry::WithSources();
  const LoaderTable* loaders = nullptr;
  IngestHooks* hooks = nullptr;
};

class IngesterServer {
 public:
  // InvalidArgument for a bad config; FailedPrecondition if a CU of the
  // registry has no loader.
  static absl::StatusOr<std::unique_ptr<IngesterServer>> Create(const v1::Config& config,
                                                                IngesterParts parts = {});
  ~IngesterServer();
  absl::Status Start();
  void Shutdown(absl::Duration deadline);
  void Wait();
  int health_port() const { return health_port_; }
  int metrics_port() const { return metrics_ != nullptr ? metrics_->port() : 0; }
  int64_t batches_ingested() const { return poller_->batches_ingested(); }

 private:
  IngesterServer() = default;
  v1::Config config_;
  LoaderTable own_loaders_;
  // Declared before the poller, which uses it, so it outlives it.
  std::unique_ptr<archive::shards::ShardSet> shards_;
  std::unique_ptr<Poller> poller_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::unique_ptr<grpc::Server> health_;
  std::unique_ptr<HttpServer> metrics_;
  int health_port_ = 0;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_SERVER_H_
