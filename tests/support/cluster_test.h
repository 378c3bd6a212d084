// A fixture for tests that run Curator's daemons as real processes on
// loopback: curator-daemon (with its Load Monitor), curator-worker servers,
// curator-ingester and curatorctl, against the PipelineTest database and
// archive, all configured by one generated config file.
#ifndef CURATOR_TESTS_SUPPORT_CLUSTER_TEST_H_
#define CURATOR_TESTS_SUPPORT_CLUSTER_TEST_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/command.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"

namespace curator::testing {

class ClusterTest : public PipelineTest {
 protected:
  // Writes config_ with fresh ports: 100 ms polls and heartbeats, a 2 s
  // heartbeat timeout, 200 ms retry backoff, one slot per worker, and an
  // operator token. Plaintext gRPC, or with `tls` TLS with a test CA made
  // by deploy/make-test-ca.sh in tls_dir_.
  void WriteConfig(bool auto_approve, bool tls = false) {
    WriteConfigFor(auto_approve, conninfo(), archive_, tls);
  }
  void WriteConfigFor(bool auto_approve, const std::string& db, const std::string& archive,
                      bool tls = false);
  Process Start(std::vector<std::string> argv, const std::string& log);
  Process Daemon(const std::string& log = "daemon.log");
  // A worker named `id`; with `pause_file`, it stops before each task
  // after creating that file (curator-worker --pause_before_task).
  Process Worker(const std::string& id, const std::string& pause_file = "");
  // The test build of the worker with these flags of its hooks
  // (tests/support/hooked_worker_main.cc).
  Process HookedWorker(const std::string& id,
                       const std::vector<std::string>& flags);
  Process Ingester(const std::string& log = "ingester.log");
  CommandResult Ctl(const std::string& args);
  // Every task done and `batches` batches ingested, before `timeout`.
  bool AllIngested(int batches, absl::Duration timeout);
  // The source tree's file, e.g. "deploy/make-test-ca.sh".
  static std::string Source(const std::string& path);
  // Flips a byte of the first data file of a staged batch whose path
  // contains `batch_part` (e.g. "-cu4-"), as a bad disk would, so that the
  // ingester quarantines it; returns the file, "" if there is none.
  std::string DamageStagedBatch(const std::string& batch_part);
  // "http://127.0.0.1:<monitor port>".
  std::string MonitorUrl() const;

  // More of the config, written at its end (e.g. "cross_match { ... }"),
  // and more of its daemon section (e.g. "accept_redeliveries: true").
  std::string extra_config_;
  std::string extra_daemon_config_;
  // More of its database section (e.g. "shards { ... }").
  std::string extra_database_config_;
  // Set before WriteConfig: workers serve /metrics on
  // worker_metrics_port_ (so only one runs at a time).
  bool worker_metrics_ = false;
  int worker_metrics_port_ = 0;
  int port_ = 0;
  int ingester_port_ = 0;
  int monitor_port_ = 0;
  int ingester_metrics_port_ = 0;
  std::string config_;
  std::string tls_dir_;  // ca.pem, node.pem, node.key, token
};

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_CLUSTER_TEST_H_
