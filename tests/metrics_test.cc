// /metrics of the three processes, real ones on loopback, after a real
// run: what each counts agrees with the archive and with the others, a
// restarted daemon reports the same counters, curator_database_up follows
// the database, and `promtool check metrics` (Prometheus' own linter,
// Debian package prometheus) finds nothing to say about any of them.
#include <signal.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/build_info.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/http.h"

namespace curator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The value of the sample `series` (its name and labels as written, e.g.
// `curator_tasks{state="done"}`); NaN if there is none.
double Value(const std::string& text, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, series + " ")) {
      double v = 0;
      return absl::SimpleAtod(line, &v) ? v : std::nan("");
    }
  }
  return std::nan("");
}

// The sum of every sample named `name`, whatever its labels.
double Sum(const std::string& text, const std::string& name) {
  double sum = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    const bool ours = absl::StartsWith(line, name + "{") ||
                      absl::StartsWith(line, name + " ");
    double v = 0;
    if (ours && absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &v)) {
      sum += v;
    }
  }
  return sum;
}

// Every line of the family `name`: its HELP, TYPE and samples.
std::string Family(const std::string& text, const std::string& name) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "# HELP ") ||
        absl::ConsumePrefix(&rest, "# TYPE ")) {
      if (absl::StartsWith(rest, name + " ")) absl::StrAppend(&out, line, "\n");
    } else if (absl::StartsWith(line, name)) {
      absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

class MetricsTest : public testing::ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    worker_metrics_ = true;
  }
  std::string Scrape(int port) {
    testing::HttpResult r = testing::Http("GET", port, "/metrics");
    EXPECT_EQ(r.status, 200) << "port " << port;
    EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
  }
  std::string DaemonMetrics() { return Scrape(monitor_port_); }
  std::string WorkerMetrics() { return Scrape(worker_metrics_port_); }
  std::string IngesterMetrics() { return Scrape(ingester_metrics_port_); }
  // `promtool check metrics` on `text`: its exit code and what it said.
  testing::CommandResult Promtool(const std::string& name,
                                  const std::string& text) {
    const std::string file = archive_dir_.Join(name + ".prom");
    std::ofstream(file) << text;
    return testing::RunCommand(
        absl::StrCat("promtool check metrics < ", file, " 2>&1"));
  }
};

TEST_F(MetricsTest, ARunCountedAlikeByEveryProcessAndAcceptedByPromtool) {
  Generate(Survey(1, 2, 20, 128));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(3, absl::Seconds(90)))
      << daemon.Log() << w1.Log() << ingester.Log();
  // The ingester counts a batch once its transaction has committed.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Value(IngesterMetrics(),
                     "curator_ingester_batches_total{outcome=\"ingested\"}") ==
               3;
      },
      absl::Seconds(10)))
      << IngesterMetrics();
  const std::string d = DaemonMetrics(), w = WorkerMetrics(),
                    i = IngesterMetrics();
  const double detections =
      static_cast<double>(Count("SELECT count(*) FROM detection"));
  ASSERT_EQ(detections, 2 * 4 * 20);

  // Every process: which build it is, and that it reaches the database.
  const std::string build =
      absl::StrCat("curator_build_info{version=\"", BuildVersion(),
                   "\",commit=\"", BuildCommit(), "\"} 1\n");
  for (const std::string* text : {&d, &w, &i}) {
    EXPECT_THAT(*text, HasSubstr(build));
    EXPECT_EQ(Value(*text, "curator_database_up"), 1) << *text;
    // Counters, not precomputed rates.
    EXPECT_THAT(*text, Not(HasSubstr("per_second")));
  }

  // The daemon, from the database: one attempt per task, each timed.
  EXPECT_EQ(
      Sum(d, "curator_task_duration_seconds_count"),
      Count("SELECT count(*) FROM curation.task WHERE state = 'ingested'"));
  for (const char* cu : {"CU2", "CU3", "CU4"}) {
    SCOPED_TRACE(cu);
    const auto of = [&](const std::string& text, const std::string& name) {
      return Value(text, absl::StrCat(name, "{cu=\"", cu, "\"}"));
    };
    const auto attempts = [&](const std::string& outcome) {
      return Value(d, absl::StrCat("curator_task_attempts_total{cu=\"", cu,
                                   "\",outcome=\"", outcome, "\"}"));
    };
    EXPECT_EQ(of(d, "curator_task_duration_seconds_count"), 1);
    EXPECT_EQ(
        Value(d, absl::StrCat("curator_task_duration_seconds_bucket{cu=\"", cu,
                              "\",le=\"+Inf\"}")),
        1);
    EXPECT_EQ(attempts("done"), 1);
    EXPECT_EQ(attempts("failed"), 0);
    EXPECT_EQ(of(d, "curator_batch_ingest_duration_seconds_count"), 1);
    EXPECT_EQ(of(i, "curator_ingester_batch_duration_seconds_count"), 1);
    // The worker's own timing of each task lies within the daemon's
    // (dispatch to the done report).
    EXPECT_EQ(of(w, "curator_worker_task_duration_seconds_count"), 1);
    EXPECT_GT(of(w, "curator_worker_task_duration_seconds_sum"), 0);
    EXPECT_LE(of(w, "curator_worker_task_duration_seconds_sum"),
              of(d, "curator_task_duration_seconds_sum"));
  }
  EXPECT_EQ(Value(d, "curator_rows_ingested_total{cu=\"CU4\"}"), detections);
  EXPECT_EQ(Value(i, "curator_ingester_rows_total{cu=\"CU4\"}"), detections);
  EXPECT_EQ(Sum(d, "curator_rows_ingested_total"),
            Sum(i, "curator_ingester_rows_total"));
  EXPECT_EQ(Sum(w, "curator_worker_task_duration_seconds_count"),
            Value(w, "curator_worker_tasks_total{outcome=\"done\"}"));
  EXPECT_EQ(Value(w, "curator_worker_tasks_total{outcome=\"done\"}"), 3);
  EXPECT_EQ(Value(d, "curator_daemon_worker_slots{worker=\"w1\"}"), 1);
  EXPECT_EQ(Value(w, "curator_worker_slots"), 1);

  // A restarted daemon reports the same counters and histograms: they
  // come from the database, not from the process.
  daemon.Signal(SIGTERM);
  ASSERT_TRUE(daemon.Wait(absl::Seconds(30)).has_value());
  testing::Process restarted = Daemon("daemon-restarted.log");
  std::string again;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        testing::HttpResult r = testing::Http("GET", monitor_port_, "/metrics");
        again = r.body;
        return r.status == 200 && Value(again, "curator_database_up") == 1;
      },
      absl::Seconds(30)))
      << restarted.Log();
  for (const char* family :
       {"curator_task_attempts_total", "curator_task_duration_seconds",
        "curator_rows_ingested_total", "curator_batch_ingest_duration_seconds",
        "curator_log_messages_total"}) {
    EXPECT_EQ(Family(again, family), Family(d, family)) << family;
    EXPECT_NE(Family(d, family), "") << family;
  }

  // Prometheus' linter: no complaint about any of the three.
  if (testing::RunCommand("command -v promtool").exit_code != 0) {
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus): "
                    "the metrics were checked, but not by Prometheus' linter";
  }
  for (const auto& [name, text] :
       {std::pair<std::string, std::string>{"daemon", again},
        {"worker", w},
        {"ingester", i}}) {
    testing::CommandResult checked = Promtool(name, text);
    EXPECT_EQ(checked.exit_code, 0) << name << ":\n"
                                    << checked.output << "\n"
                                    << text;
    EXPECT_EQ(checked.output, "") << name << ":\n" << text;
  }
}

TEST_F(MetricsTest, DatabaseUpFollowsTheDatabaseInEveryProcess) {
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  testing::Process ingester = Ingester();
  // What each of the three says; "" while one does not answer.
  const auto up = [&] {
    std::string says;
    for (int port :
         {monitor_port_, worker_metrics_port_, ingester_metrics_port_}) {
      testing::HttpResult r = testing::Http("GET", port, "/metrics");
      if (r.status != 200) return std::string();
      absl::StrAppend(&says, Value(r.body, "curator_database_up"));
    }
    return says;
  };
  ASSERT_TRUE(
      testing::WaitUntil([&] { return up() == "111"; }, absl::Seconds(30)))
      << up() << daemon.Log() << w1.Log() << ingester.Log();
  // The database goes away while nothing is running: each notices on its
  // own (the daemon at the scrape, the worker's probe, the idle
  // ingester's poll).
  ASSERT_TRUE(server().Stop().ok());
  ASSERT_TRUE(
      testing::WaitUntil([&] { return up() == "000"; }, absl::Seconds(30)))
      << up() << w1.Log() << ingester.Log();
  ASSERT_TRUE(server().Restart().ok()) << server().LogTail();
  ASSERT_TRUE(
      testing::WaitUntil([&] { return up() == "111"; }, absl::Seconds(60)))
      << up() << daemon.Log() << w1.Log() << ingester.Log();
}

}  // namespace
}  // namespace curator
