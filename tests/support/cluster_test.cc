#include "tests/support/cluster_test.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace curator::testing {

std::string ClusterTest::Source(const std::string& path) {
  return std::string(CURATOR_SOURCE_DIR) + "/" + path;
}

void ClusterTest::WriteConfigFor(bool auto_approve, const std::string& db,
                                 const std::string& archive, bool tls) {
  tls_dir_ = archive + "/tls";
  std::string security;
  if (tls) {
    CommandResult ca = RunCommand(absl::StrCat("bash ", Source("deploy/make-test-ca.sh"), " ",
                                               tls_dir_, " 2>&1"));
    ASSERT_EQ(ca.exit_code, 0) << ca.output;
    security = absl::StrCat("security { ca_file: \"", tls_dir_, "/ca.pem\" cert_file: \"",
                            tls_dir_, "/node.pem\" key_file: \"", tls_dir_,
                            "/node.key\" token_file: \"", tls_dir_, "/token\" }\n");
  } else {
    std::filesystem::create_directories(tls_dir_);
    std::ofstream(tls_dir_ + "/token") << "test-operator-token-0123456789\n";
    security = absl::StrCat("security { plaintext: true token_file: \"", tls_dir_,
                            "/token\" }\n");
  }
  port_ = FreePort();
  do ingester_port_ = FreePort(); while (ingester_port_ == port_);
  do monitor_port_ = FreePort(); while (monitor_port_ == port_ || monitor_port_ == ingester_port_);
  do ingester_metrics_port_ = FreePort();
  while (ingester_metrics_port_ == port_ || ingester_metrics_port_ == ingester_port_ ||
         ingester_metrics_port_ == monitor_port_);
  std::string worker_metrics;
  if (worker_metrics_) {
    do worker_metrics_port_ = FreePort();
    while (worker_metrics_port_ == port_ ||
           worker_metrics_port_ == ingester_port_ ||
           worker_metrics_port_ == monitor_port_ ||
           worker_metrics_port_ == ingester_metrics_port_);
    worker_metrics = absl::StrCat(
        " metrics_address: \"127.0.0.1:", worker_metrics_port_, "\"");
  }
  config_ = archive + "/curator.conf";
  std::ofstream(config_)
      << "archive_root: \"" << archive << "\"\n"
      << "database { conninfo: \"" << db << "\" " << extra_database_config_
      << "}\n"
      << "daemon { listen_address: \"127.0.0.1:" << port_
      << "\" monitor_address: \"127.0.0.1:" << monitor_port_
      << "\" auto_approve: " << (auto_approve ? "true" : "false")
      << " poll_interval_ms: 100 heartbeat_timeout_ms: 2000"
      << " retry_backoff_ms: 200"
      // Every process of the test, and other tests, share
      // this machine: its load says nothing about a worker.
      << " max_load_per_core: 1000 " << extra_daemon_config_ << "}\n"
      << "worker { listen_address: \"127.0.0.1:0\" daemon_address: "
      << "\"127.0.0.1:" << port_ << "\" slots: 1 threads_per_task: 1"
      << " heartbeat_interval_ms: 100 advertise_address: \"\"" << worker_metrics
      << " }\n"
      << "ingester { poll_interval_ms: 100 listen_address: \"127.0.0.1:"
      << ingester_port_
      << "\" metrics_address: \"127.0.0.1:" << ingester_metrics_port_
      << "\" }\n"
      << security << extra_config_;
}

std::string ClusterTest::DamageStagedBatch(const std::string& batch_part) {
  for (const auto& e :
       std::filesystem::recursive_directory_iterator(archive_ + "/staging")) {
    if (e.path().string().find(batch_part) != std::string::npos &&
        e.path().extension() == ".pgcopy") {
      std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(100);
      f.put('\x5a');
      return e.path().string();
    }
  }
  return "";
}

Process ClusterTest::Start(std::vector<std::string> argv, const std::string& log) {
  auto p = Process::Start(argv, archive_dir_.Join(log));
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

Process ClusterTest::Daemon(const std::string& log) {
  return Start({Bin("daemon/curator-daemon"), "--config", config_}, log);
}

Process ClusterTest::Worker(const std::string& id, const std::string& pause_file) {
  // The test build (with its hooks) only where a test holds a task.
  std::vector<std::string> argv = {
      Bin(pause_file.empty() ? "worker/curator-worker" : "tests/curator-worker-hooked"), "serve",
      "--config", config_, "--worker_id", id};
  if (!pause_file.empty()) {
    argv.push_back("--pause_before_task");
    argv.push_back(pause_file);
  }
  return Start(argv, id + ".log");
}

Process ClusterTest::HookedWorker(const std::string& id,
                                  const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {Bin("tests/curator-worker-hooked"),
                                   "serve",
                                   "--config",
                                   config_,
                                   "--worker_id",
                                   id};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return Start(argv, id + ".log");
}

Process ClusterTest::Ingester(const std::string& log) {
  return Start({Bin("ingester/curator-ingester"), "--config", config_}, log);
}

CommandResult ClusterTest::Ctl(const std::string& args) {
  return RunCommand(absl::StrCat(Bin("daemon/curatorctl"), " ", args, " --config ", config_,
                                 " --daemon 127.0.0.1:", port_));
}

bool ClusterTest::AllIngested(int batches, absl::Duration timeout) {
  return WaitUntil(
      [&] {
        return Count("SELECT count(*) FROM curation.batch WHERE state = 'ingested'") == batches &&
               Count("SELECT count(*) FROM curation.task WHERE state <> 'ingested'") == 0;
      },
      timeout);
}

std::string ClusterTest::MonitorUrl() const {
  return absl::StrCat("http://127.0.0.1:", monitor_port_);
}

}  // namespace curator::testing
