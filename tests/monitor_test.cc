// The Load Monitor and /metrics, served by a real curator-daemon while a
// real run is in progress: the JSON behind each page, the metrics, the
// refusal of anything but GET, and the page itself rendered by headless
// Chromium, where a failed task must show red and a running one amber.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/http.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

class MonitorTest : public testing::ClusterTest {
 protected:
  testing::HttpResult Get(const std::string& path) { return testing::Http("GET", monitor_port_, path); }
  std::string TaskState(const std::string& night, int cu) {
    auto r = conn_->Exec("SELECT state FROM curation.task WHERE night = $1::date AND cu = $2",
                         {night, std::to_string(cu)});
    return r.ok() && r->rows() == 1 ? r->Get(0, 0) : "";
  }
};

// Headless Chromium as the machine's probe runs it: no sandbox (root), no
// GPU, no background connections to Google's hosts. Returns its output.
testing::CommandResult Chromium(const std::string& profile, const std::string& args) {
  return testing::RunCommand(absl::StrCat(
      "timeout 120 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic "
      "--no-first-run --disable-background-networking --disable-component-update --disable-sync "
      "--disable-dev-shm-usage --user-data-dir=",
      profile, " ", args, " 2>/dev/null"));
}

TEST_F(MonitorTest, ShowsARunInProgressWithAFailedTaskInRed) {
  synth::Options survey = Survey(2, 2, 30, 128);
  Generate(survey);
  // CU2 of the second night cannot make its JPEG directory: it fails on
  // every attempt, and after the third it stays failed.
  const std::string bad_night = "20071022";
  fs::create_directories(archive_ + "/jpeg");
  std::ofstream(archive_ + "/jpeg/" + bad_night) << "not a directory\n";
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return TaskState(bad_night, 2) == "failed" &&
               Count("SELECT count(*) FROM curation.task WHERE state = 'ingested'") == 5 &&
               Count("SELECT count(*) FROM curation.batch WHERE state = 'ingested'") == 5;
      },
      absl::Seconds(90)))
      << daemon.Log() << w1.Log() << ingester.Log();

  // A third night arrives and is taken by a worker that holds its first
  // task: the run is in progress while the page is looked at.
  w1.Signal(SIGTERM);
  ASSERT_TRUE(w1.Wait(absl::Seconds(30)).has_value());
  const std::string held = archive_dir_.Join("w2-paused");
  testing::Process w2 = Worker("w2", held);
  survey.first_night = absl::CivilDay(2007, 10, 23);
  survey.nights = 1;
  Generate(survey);
  ASSERT_TRUE(testing::WaitForFile(held, absl::Seconds(60))) << daemon.Log() << w2.Log();
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count("SELECT count(*) FROM curation.task WHERE night = '2007-10-23' AND state = "
                     "'running'") == 1;
      },
      absl::Seconds(30)))
      << daemon.Log();

  // w1 stopped: tasks dispatched to it before its heartbeats aged out were
  // given back without using up their attempts, not failed.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE night = '2007-10-23' AND state = "
                  "'failed'"),
            0);

  // The JSON behind each page.
  testing::HttpResult nights = Get("/api/nights");
  ASSERT_EQ(nights.status, 200) << nights.body;
  EXPECT_EQ(nights.content_type, "application/json");
  EXPECT_THAT(nights.body, HasSubstr("\"night\":\"20071021\""));
  EXPECT_THAT(nights.body, HasSubstr("\"night\":\"20071023\""));
  EXPECT_THAT(nights.body, HasSubstr("\"CU2\":\"failed\""));
  EXPECT_THAT(nights.body, HasSubstr("\":\"running\""));
  testing::HttpResult workers = Get("/api/workers");
  EXPECT_THAT(workers.body, HasSubstr("\"worker_id\":\"w1\""));
  EXPECT_THAT(workers.body, HasSubstr("\"worker_id\":\"w2\""));
  EXPECT_THAT(workers.body, HasSubstr("\"running_tasks\":1"));
  testing::HttpResult batches = Get("/api/batches");
  EXPECT_THAT(batches.body, HasSubstr("\"state\":\"ingested\""));
  EXPECT_THAT(batches.body, HasSubstr("\"rows\":\"240\""));  // CU4: 2 frames x 4 x 30
  // The failed task's log names the path it could not create.
  auto failed = conn_->Exec("SELECT task_id FROM curation.task WHERE state = 'failed'");
  ASSERT_TRUE(failed.ok() && failed->rows() == 1);
  const std::string failed_id = failed->Get(0, 0);
  testing::HttpResult log = Get("/api/tasks/" + failed_id + "/log");
  EXPECT_EQ(log.status, 200);
  EXPECT_THAT(log.body, HasSubstr("\"state\":\"failed\""));
  EXPECT_THAT(log.body, HasSubstr("jpeg/" + bad_night));
  // Its three attempts, each failed, are on the record.
  EXPECT_THAT(log.body, HasSubstr("\"number\":3"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task_attempt WHERE task_id = " + failed_id +
                  " AND outcome = 'failed'"),
            3);
  EXPECT_EQ(Get("/api/tasks/999999/log").status, 404);
  EXPECT_EQ(Get("/api/nowhere").status, 404);

  // Metrics in Prometheus text format.
  testing::HttpResult metrics = Get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.content_type, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE curator_tasks gauge"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_tasks{state=\"failed\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_tasks{state=\"running\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_batches{state=\"ingested\"} 5\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_rows_ingested_total{cu=\"CU4\"} 480\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_daemon_worker_up{worker=\"w2\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_daemon_worker_running_tasks{worker=\"w2\"} 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("curator_log_messages_total{level=\"error\"}"));

  // The ingester's own /metrics.
  testing::HttpResult ingester_metrics = testing::Http("GET", ingester_metrics_port_, "/metrics");
  EXPECT_EQ(ingester_metrics.status, 200);
  EXPECT_THAT(ingester_metrics.body,
              HasSubstr("curator_ingester_batches_total{outcome=\"ingested\"} 5\n"));
  EXPECT_THAT(ingester_metrics.body, HasSubstr("curator_database_up 1\n"));
  EXPECT_THAT(ingester_metrics.body,
              HasSubstr("curator_ingester_rows_total{cu=\"CU4\"} 480\n"));

  // Read-only: nothing but GET is served, and nothing changed.
  const int64_t states = Count("SELECT count(*) FROM curation.task WHERE state = 'failed'");
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    testing::HttpResult r = testing::Http(method, monitor_port_, "/api/tasks/" + failed_id + "/log");
    EXPECT_EQ(r.status, 405) << method;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state = 'failed'"), states);

  // The page, rendered by a real browser.
  if (access("/usr/bin/chromium", X_OK) != 0) {
    GTEST_SKIP() << "/usr/bin/chromium is not installed (Debian package chromium): the page "
                    "was not rendered; its JSON and metrics were checked";
  }
  const std::string profile = archive_dir_.Join("chromium-profile");
  testing::CommandResult dom =
      Chromium(profile, "--virtual-time-budget=5000 --dump-dom " + MonitorUrl() + "/");
  ASSERT_EQ(dom.exit_code, 0) << dom.output;
  EXPECT_THAT(dom.output, HasSubstr("data-loaded=\"yes\""));
  for (const char* night : {"20071021", "20071022", "20071023"}) {
    EXPECT_THAT(dom.output, HasSubstr(absl::StrCat("<tr data-night=\"", night, "\">")));
  }
  EXPECT_THAT(dom.output, HasSubstr("class=\"state state-failed\" data-state=\"failed\""));
  EXPECT_THAT(dom.output, HasSubstr("<a href=\"/tasks/" + failed_id + "\">failed</a>"));
  EXPECT_THAT(dom.output, Not(HasSubstr("cannot reach the daemon")));

  // The screenshot, kept as an artifact: the failed cell is red and the
  // running one amber, in pixels.
  const std::string artifacts = std::string(CURATOR_BIN_DIR) + "/test-artifacts";
  fs::create_directories(artifacts);
  const std::string png = artifacts + "/load-monitor-nights.png";
  fs::remove(png);
  testing::CommandResult shot = Chromium(
      profile, "--virtual-time-budget=5000 --window-size=1280,800 --screenshot=" + png + " " +
                   MonitorUrl() + "/");
  ASSERT_EQ(shot.exit_code, 0) << shot.output;
  absl::StatusOr<testing::Image> image = testing::ReadPng(png);
  ASSERT_TRUE(image.ok()) << image.status();
  EXPECT_EQ(image->width, 1280);
  EXPECT_GT(testing::CountPixels(*image, 0xd3, 0x2f, 0x2f), 200) << "no red failed cell in " << png;
  EXPECT_GT(testing::CountPixels(*image, 0xff, 0xbf, 0x00), 200) << "no amber running cell in " << png;
  std::cout << "screenshot: " << png << "\n";

  // The task page shows the failed task's error.
  testing::CommandResult task_page = Chromium(
      profile, "--virtual-time-budget=5000 --dump-dom " + MonitorUrl() + "/tasks/" + failed_id);
  EXPECT_THAT(task_page.output, HasSubstr("jpeg/" + bad_night));
  w2.Signal(SIGKILL);
}

}  // namespace
}  // namespace curator
