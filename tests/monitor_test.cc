// The Load Monitor and /metrics, served by a real curator-daemon while a
// real run is in progress: the JSON behind each page, the metrics, the
// refusal of anything but GET, and the page itself rendered by headless
// Chromium, where a failed task must show red and a running one amber.
// Then the HTTPS monitor with operator actions, driven by Chromium: the
// pause banner, progress, a quarantined batch, the charts, and a task
// cancelled after signing in with the token (and refused before).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
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

// Runs tests/support/browser.py: the steps (see there) in one tab of
// headless Chromium; returns each step's value.
absl::StatusOr<nlohmann::json> Browse(const std::string& script,
                                      const std::string& dir,
                                      const nlohmann::json& steps) {
  const std::string file = dir + "/steps.json";
  std::ofstream(file) << steps.dump();
  testing::CommandResult r = testing::RunCommand(
      absl::StrCat("timeout 300 python3 ", script, " /usr/bin/chromium ", dir,
                   "/profile ", file, " 2>", dir, "/browser.err"));
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("browser.py: ", r.output, "\n",
                     testing::ReadFileToString(dir + "/browser.err")));
  }
  return nlohmann::json::parse(r.output);
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
  // The running task has its progress bar; the ingested batches are points
  // of the rows/s chart.
  auto running =
      conn_->Exec("SELECT task_id FROM curation.task WHERE state = 'running'");
  ASSERT_TRUE(running.ok() && running->rows() == 1);
  EXPECT_THAT(dom.output, HasSubstr("data-task=\"" + running->Get(0, 0) +
                                    "\" class=\"task-progress\""));
  EXPECT_THAT(dom.output,
              HasSubstr("<svg class=\"chart\" id=\"throughput-chart\""));
  EXPECT_THAT(dom.output, HasSubstr("class=\"point\""));
  // Without actions configured there are none: no sign-in, no buttons, no
  // /api/session.
  EXPECT_THAT(dom.output, Not(HasSubstr("id=\"signin\"")));
  EXPECT_THAT(dom.output, Not(HasSubstr("id=\"cancel-")));
  EXPECT_EQ(Get("/api/session").status, 404);
  // Without JavaScript: the server-rendered summary.
  testing::HttpResult page = Get("/");
  EXPECT_THAT(
      page.body,
      HasSubstr(
          "<noscript><main class=\"noscript\"><p>Dispatch is <strong>running"));
  EXPECT_THAT(page.body,
              HasSubstr("<td class=\"state state-failed\">failed</td><td "
                        "class=\"num\">1</td>"));

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

TEST_F(MonitorTest, OperatorActionsOverHttpsOnlyAfterSigningIn) {
  if (access("/usr/bin/chromium", X_OK) != 0) {
    GTEST_SKIP()
        << "/usr/bin/chromium is not installed (Debian package chromium)";
  }
  int https_port = 0;
  do https_port = testing::FreePort();
  while (https_port == monitor_port_);
  extra_daemon_config_ = absl::StrCat(
      "monitor_actions { enabled: true https_address: "
      "\"127.0.0.1:",
      https_port, "\" }");
  synth::Options survey = Survey(1, 2, 20, 128);
  Generate(survey);
  WriteConfig(/*auto_approve=*/true, /*tls=*/true);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM curation.task WHERE state = 'done'") ==
               3;
      },
      absl::Seconds(60)))
      << daemon.Log() << w1.Log();
  // The worker stops; the CU4 batch is damaged in staging, and the
  // ingester quarantines it. Its task's retry (which would make a batch of
  // the same id) is held by a worker that stops before each task: the
  // quarantined batch stays, and there is a running task to cancel.
  w1.Signal(SIGTERM);
  ASSERT_TRUE(w1.Wait(absl::Seconds(30)).has_value());
  const std::string damaged = DamageStagedBatch("-cu4-");
  ASSERT_FALSE(damaged.empty());
  testing::Process ingester = Ingester();
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM curation.batch WHERE state = "
                   "'quarantined'") == 1 &&
               Count(
                   "SELECT count(*) FROM curation.batch WHERE state = "
                   "'ingested'") == 2;
      },
      absl::Seconds(90)))
      << daemon.Log() << ingester.Log();
  const std::string held = archive_dir_.Join("w2-paused");
  testing::Process w2 = Worker("w2", held);
  ASSERT_TRUE(testing::WaitForFile(held, absl::Seconds(60)))
      << daemon.Log() << w2.Log();
  int64_t running = 0;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        running = Count(
            "SELECT coalesce(min(task_id), 0) FROM curation.task WHERE state = "
            "'running'");
        return running != 0;
      },
      absl::Seconds(30)))
      << daemon.Log();
  testing::CommandResult pause = Ctl("pause");
  ASSERT_EQ(pause.exit_code, 0) << pause.output;

  const std::string url = absl::StrCat("https://127.0.0.1:", https_port);
  const std::string id = std::to_string(running);
  const std::string token(absl::StripAsciiWhitespace(
      testing::ReadFileToString(tls_dir_ + "/token")));
  auto fetch = [](const std::string& path, const std::string& csrf,
                  const std::string& body) {
    return absl::StrCat(
        "fetch('", path,
        "', {method: 'POST', headers: {'Content-Type': "
        "'application/json', 'X-CSRF-Token': ",
        csrf, "}, body: '", body,
        "'}).then(async r => r.status + ' ' + ((await r.json()).error || ''))");
  };
  const std::string cancel_body = absl::StrCat("{\"task_ids\": [", id, "]}");
  const nlohmann::json steps = nlohmann::json::array({
      {{"navigate", url + "/"}},
      // 1: the page, its sign-in form and the pause banner.
      {{"wait",
        "document.body.dataset.loaded === 'yes' && "
        "!!document.getElementById('signin') "
        "&& document.getElementById('paused-banner') && "
        "document.getElementById('paused-banner').textContent"}},
      // 2-4: refused before signing in, with and without the form's CSRF
      // token, and a wrong token refused.
      {{"eval", fetch("/api/actions/cancel", "session.csrf", cancel_body)}},
      {{"eval", fetch("/api/actions/cancel", "'forged'", cancel_body)}},
      {{"eval", fetch("/api/signin", "session.csrf",
                      "{\"token\": \"not-the-token-at-all\"}")}},
      // 5: a sign-in without the CSRF token.
      {{"eval", fetch("/api/signin", "''",
                      absl::StrCat("{\"token\": \"", token, "\"}"))}},
      // 6-7: sign in on the form; the task gets its cancel button.
      {{"eval",
        absl::StrCat(
            "document.getElementById('token').value = '", token,
            "'; document.getElementById('signin-token').click(); 'clicked'")}},
      {{"wait", absl::StrCat("!!document.getElementById('signed-in') && "
                             "!!document.getElementById('cancel-",
                             id, "')")}},
      // 8: signed in, a wrong CSRF token is still refused.
      {{"eval", fetch("/api/actions/cancel", "'forged'", cancel_body)}},
      // 9: the running task's progress bar and the rows/s chart's points.
      {{"eval",
        absl::StrCat(
            "[!!document.querySelector('progress.task-progress[data-task=\"",
            id,
            "\"]'), document.querySelectorAll('#throughput-chart "
            "circle.point').length]")}},
      // 10: the page as the operator sees it (kept as an artifact).
      {{"screenshot", std::string(CURATOR_BIN_DIR) +
                          "/test-artifacts/load-monitor-actions.png"}},
      // 11-12: cancel it on the page.
      {{"eval",
        absl::StrCat(
            "window.confirm = () => true; document.getElementById('cancel-", id,
            "').click(); 'clicked'")}},
      {{"wait",
        absl::StrCat(
            "(() => { const f = document.getElementById('flash'); const c = "
            "document.querySelector('tr[data-task=\"",
            id,
            "\"] td.state'); "
            "return f.className === 'ok' && f.textContent.includes('cancel "
            "task ",
            id,
            "') && c && c.dataset.state !== 'running' && c.dataset.state; "
            "})()")}},
      // 13-14: the quarantined batch in its colour.
      {{"navigate", url + "/batches"}},
      {{"wait",
        "document.querySelector('td.state-quarantined') && "
        "getComputedStyle(document.querySelector('td.state-quarantined'))."
        "backgroundColor"}},
      // 15-16: the first night's tasks on a time axis.
      {{"navigate", url + "/timeline?night=20071021"}},
      {{"wait",
        "document.querySelectorAll('#timeline-chart rect.bar').length"}},
      // 17-18: the audit page says who cancelled it.
      {{"navigate", url + "/audit"}},
      {{"wait",
        absl::StrCat("[...document.querySelectorAll('#audit tr')].map(r => "
                     "r.textContent).find(t => t.includes('cancel') && "
                     "t.includes('tasks ",
                     id, "'))")}},
  });
  const std::string browser_dir = archive_dir_.Join("browser");
  fs::create_directories(browser_dir);
  fs::create_directories(std::string(CURATOR_BIN_DIR) + "/test-artifacts");
  absl::StatusOr<nlohmann::json> r =
      Browse(Source("tests/support/browser.py"), browser_dir, steps);
  ASSERT_TRUE(r.ok()) << r.status() << daemon.Log();
  const nlohmann::json& v = *r;
  ASSERT_EQ(v.size(), steps.size()) << v.dump();
  EXPECT_THAT(v[1].get<std::string>(), HasSubstr("Dispatch is paused"));
  EXPECT_THAT(v[2].get<std::string>(), HasSubstr("401 sign in first"));
  EXPECT_THAT(v[3].get<std::string>(), HasSubstr("401 sign in first"));
  EXPECT_EQ(v[4].get<std::string>(), "401 the token is wrong");
  EXPECT_THAT(v[5].get<std::string>(),
              HasSubstr("403 the CSRF token is missing or wrong"));
  EXPECT_THAT(v[8].get<std::string>(),
              HasSubstr("403 the CSRF token is missing or wrong"));
  EXPECT_EQ(v[9][0], true) << "no progress bar for running task " << id;
  EXPECT_GE(v[9][1].get<int>(), 2) << "the rows/s chart has no points";
  EXPECT_EQ(v[12].get<std::string>(), "cancelled");
  EXPECT_EQ(v[14].get<std::string>(), "rgb(136, 14, 79)");
  EXPECT_GE(v[16].get<int>(), 3);

  // The daemon has it cancelled, and says who did it.
  testing::CommandResult tasks = Ctl("tasks --json");
  ASSERT_EQ(tasks.exit_code, 0) << tasks.output;
  const nlohmann::json listed = nlohmann::json::parse(tasks.output);
  bool found = false;
  for (const nlohmann::json& t : listed["tasks"]) {
    if (std::to_string(t["task_id"].get<int64_t>()) == id) {  // a number
      found = true;
      EXPECT_EQ(t["state"], "cancelled");
    }
  }
  EXPECT_TRUE(found) << tasks.output;
  EXPECT_THAT(v[18].get<std::string>(), HasSubstr("token"));
  EXPECT_THAT(v[18].get<std::string>(), HasSubstr("page"));
  testing::HttpResult audit = Get("/api/audit?command=cancel");
  ASSERT_EQ(audit.status, 200) << audit.body;
  const nlohmann::json entries = nlohmann::json::parse(audit.body)["entries"];
  ASSERT_EQ(entries.size(), 1u) << audit.body;
  EXPECT_EQ(entries[0]["who"], "token");
  EXPECT_EQ(entries[0]["via"], "page");
  EXPECT_EQ(entries[0]["target"], "tasks " + id);
  EXPECT_EQ(entries[0]["outcome"], "ok, 1 changed");
  // The sign-in is on record too; the refused attempts are not (they
  // changed nothing, and an anonymous caller must not fill the table).
  EXPECT_THAT(Get("/api/audit?command=sign%20in").body,
              HasSubstr("\"who\":\"token\""));

  // A client certificate the CA signed signs in too, as cert:<CN>.
  const std::string jar = browser_dir + "/cookies";
  const std::string curl =
      absl::StrCat("curl -sk --cert ", tls_dir_, "/node.pem --key ", tls_dir_,
                   "/node.key -c ", jar, " -b ", jar, " ");
  const nlohmann::json session = nlohmann::json::parse(
      testing::RunCommand(curl + url + "/api/session").output, nullptr, false);
  ASSERT_TRUE(session.is_object());
  EXPECT_EQ(session["certificate"], "cert:curator-node");
  EXPECT_EQ(session["signed_in"], false);
  testing::CommandResult signin = testing::RunCommand(absl::StrCat(
      curl, "-X POST -H 'Content-Type: application/json' -H 'X-CSRF-Token: ",
      session["csrf"].get<std::string>(), "' -d '{\"certificate\": true}' ",
      url, "/api/signin"));
  EXPECT_THAT(signin.output, HasSubstr("\"who\":\"cert:curator-node\""));

  // The plain-HTTP monitor never acts, even with actions on.
  EXPECT_EQ(testing::Http("POST", monitor_port_, "/api/actions/cancel").status,
            405);
  EXPECT_EQ(Get("/api/session").status, 404);
  w2.Signal(SIGKILL);
}

}  // namespace
}  // namespace curator
