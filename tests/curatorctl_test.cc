// The command line as an operator and a script meet it, against real
// processes: every program's --help and --version; every curatorctl
// command's exit code for success, bad usage, refusal and an unreachable
// daemon; --json that parses, has the same shape from call to call and
// gives numbers as numbers; the audit log of who did what; and `watch`
// following a night until it settles.
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/command.h"
#include "tests/support/process.h"

namespace curator {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

class CuratorctlTest : public testing::ClusterTest {
 protected:
  // stdout only, parsed; fails the test if it is not one JSON value.
  json CtlJson(const std::string& args, int want_exit = 0) {
    testing::CommandResult r = Ctl(args + " --json 2>/dev/null");
    EXPECT_EQ(r.exit_code, want_exit) << args << ": " << r.output;
    json j = json::parse(r.output, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << args << ": not JSON: " << r.output;
    return j;
  }
  // The key paths of a JSON value (arrays by their first element), to
  // compare shapes.
  static void Shape(const json& j, const std::string& at,
                    std::set<std::string>* out) {
    if (j.is_object()) {
      for (const auto& [k, v] : j.items()) {
        out->insert(at + "." + k + ":" + v.type_name());
        Shape(v, at + "." + k, out);
      }
    } else if (j.is_array() && !j.empty()) {
      Shape(j[0], at + "[]", out);
    }
  }
  std::vector<std::string> Commands() {
    testing::CommandResult d = testing::RunCommand(
        absl::StrCat(Bin("daemon/curatorctl"), " describe --json"));
    EXPECT_EQ(d.exit_code, 0) << d.output;
    std::vector<std::string> out;
    for (const auto& c : json::parse(d.output)["commands"])
      out.push_back(c["name"]);
    return out;
  }
};

TEST_F(CuratorctlTest, EveryProgramHasHelpWithItsOwnFlagsAndAVersion) {
  const std::vector<std::pair<std::string, std::string>> programs = {
      {"daemon/curator-daemon", "--config"},
      {"worker/curator-worker", "--jpeg_quality"},
      {"ingester/curator-ingester", "--once"},
      {"synth/curator-synth", "--frames"},
      {"daemon/curatorctl", "--reason"}};
  for (const auto& [path, own_flag] : programs) {
    const std::string name = path.substr(path.find('/') + 1);
    testing::CommandResult help =
        testing::RunCommand(absl::StrCat(Bin(path), " --help 2>&1"));
    EXPECT_EQ(help.exit_code, 0) << name << help.output;
    EXPECT_THAT(help.output, HasSubstr(own_flag)) << name;
    EXPECT_THAT(help.output, Not(HasSubstr("No flags matched"))) << name;
    EXPECT_THAT(help.output, Not(HasSubstr("absl/"))) << name;
    EXPECT_THAT(help.output, Not(HasSubstr("../")))
        << name;  // paths as in the tree
    testing::CommandResult version =
        testing::RunCommand(absl::StrCat(Bin(path), " --version 2>&1"));
    EXPECT_EQ(version.exit_code, 0) << name;
    EXPECT_TRUE(std::regex_search(
        version.output,
        std::regex(name +
                   " \\d+\\.\\d+\\.\\d+ \\(commit [0-9a-f]{40}|unknown\\)")))
        << version.output;
  }
  // curatorctl's --help lists every command of its table, and each has
  // help of its own.
  testing::CommandResult help = testing::RunCommand(
      absl::StrCat(Bin("daemon/curatorctl"), " --help 2>&1"));
  for (const std::string& c : Commands()) {
    EXPECT_THAT(help.output, HasSubstr("  " + c)) << c;
    const std::vector<std::string> words = absl::StrSplit(c, ' ');
    testing::CommandResult one = testing::RunCommand(
        absl::StrCat(Bin("daemon/curatorctl"), " ", c, " --help 2>&1"));
    EXPECT_EQ(one.exit_code, 0) << c << one.output;
    EXPECT_THAT(one.output, HasSubstr("curatorctl " + c)) << c;
    EXPECT_THAT(one.output, HasSubstr("Exit codes")) << c;
    EXPECT_EQ(
        testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"), " help ", c))
            .output,
        one.output);
  }
}

// Arguments that make every command work (or be refused), by command.
const std::map<std::string, std::string>& GoodArguments() {
  static const auto* args =
      new std::map<std::string, std::string>{{"tasks", "--state pending"},
                                             {"approve", "--all"},
                                             {"reject", "1"},
                                             {"cancel", "999999"},
                                             {"retry", "999999"},
                                             {"rerun", "999999"},
                                             {"nights", "20071021"},
                                             {"batches", "--cu CU3"},
                                             {"log", "1"},
                                             {"changes", "20071021"},
                                             {"accept", "20071021"},
                                             {"deprecate", "x.fit --reason=r"},
                                             {"undeprecate", "x.fit"},
                                             {"retire", "20071021 --reason=r"},
                                             {"restore", "20071021"},
                                             {"reload", "20071021"},
                                             {"release create", "r1"},
                                             {"release verify", "r1"},
                                             {"release drop", "r1"},
                                             {"watch", "--timeout 1"},
                                             {"audit", "--limit 5"},
                                             {"register", "20071021"}};
  return *args;
}

TEST_F(CuratorctlTest, ExitCodesAsDocumented) {
  Generate(Survey(1, 2, 20, 64));
  WriteConfig(/*auto_approve=*/false);
  const auto args_of = [](const std::string& c) {
    auto it = GoodArguments().find(c);
    return it == GoodArguments().end() ? std::string() : it->second;
  };
  // No daemon yet: every command that asks it fails with 3, naming the
  // address.
  for (const std::string& c : Commands()) {
    if (c == "migrate" || c == "register" || c == "shards" || c == "help" ||
        c == "describe")
      continue;
    testing::CommandResult r = Ctl(absl::StrCat(c, " ", args_of(c), " 2>&1"));
    EXPECT_EQ(r.exit_code, 3) << c << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr(absl::StrCat("127.0.0.1:", port_))) << c;
  }
  // Bad usage, for every command: an option that does not go with it,
  // and one that does not exist.
  for (const std::string& c : Commands()) {
    const std::string stray =
        c == "release create" ? "--state=x" : "--until=20071021";
    EXPECT_EQ(Ctl(absl::StrCat(c, " ", args_of(c), " ", stray)).exit_code, 1)
        << c;
    EXPECT_EQ(Ctl(absl::StrCat(c, " --no_such_option")).exit_code, 1) << c;
  }
  for (const std::string bad :
       {"frobnicate", "tasks --state=bogus", "tasks --night=2007",
        "tasks --cu=fits", "log", "log abc", "log 1 2", "cancel", "cancel x",
        "approve", "accept 2007", "retire 20071021", "deprecate x.fit",
        "nights 71021", "release", "release create", "release list extra",
        "status extra"}) {
    testing::CommandResult r = Ctl(std::string(bad) + " 2>&1");
    EXPECT_EQ(r.exit_code, 1) << bad << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("curatorctl: ")) << bad;
  }

  testing::Process daemon = Daemon();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task") > 0; },
      absl::Seconds(30)))
      << daemon.Log();
  // Success.
  for (const std::string ok :
       {"status", "tasks", "tasks --state pending --night 20071021 --cu CU3",
        "workers", "plan", "nights", "nights 20071021", "batches", "log 1",
        "cus", "audit", "release list", "pause", "resume",
        "restore 20071021"}) {
    testing::CommandResult r = Ctl(std::string(ok) + " 2>&1");
    EXPECT_EQ(r.exit_code, 0) << ok << ": " << r.output;
  }
  // Refusals: no such task or night, nothing to act on, or without the
  // token.
  for (const std::string refused :
       {"log 999999", "cancel 999999", "retry 999999", "rerun 999999",
        "reject 999999", "nights 19990101", "release verify nosuch",
        "release drop nosuch", "watch --timeout 1"}) {
    testing::CommandResult r = Ctl(std::string(refused) + " 2>&1");
    EXPECT_EQ(r.exit_code, 2) << refused << ": " << r.output;
  }
  const std::string anonymous = testing::ReadFileToString(config_);
  std::string text = anonymous;
  const size_t at = text.find(" token_file:");
  ASSERT_NE(at, std::string::npos);
  text.erase(at, text.find(" }", at) - at);
  std::ofstream(config_ + ".anonymous") << text;
  for (const std::string change :
       {"pause", "approve --all", "cancel 1", "retire 20071021 --reason=x",
        "release create r9"}) {
    testing::CommandResult r = testing::RunCommand(absl::StrCat(
        Bin("daemon/curatorctl"), " ", change, " --config ", config_,
        ".anonymous --daemon 127.0.0.1:", port_, " 2>&1"));
    EXPECT_EQ(r.exit_code, 2) << change << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("token")) << change;
  }
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.task WHERE state <> 'pending'"), 0);
}

TEST_F(CuratorctlTest, JsonParsesHasOneShapeAndNumbersAsNumbers) {
  Generate(Survey(2, 2, 20, 64));
  WriteConfig(/*auto_approve=*/true);
  json migrate = CtlJson("migrate");
  EXPECT_GT(migrate["version"].get<int>(), 13);
  EXPECT_TRUE(migrate["applied"].is_array());
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(2 * 3, absl::Seconds(120)))
      << daemon.Log() << worker.Log();
  json reg = CtlJson("register 20071021");
  EXPECT_EQ(reg["nights"][0]["images"], 2);
  EXPECT_EQ(reg["nights"][0]["new_files"], 0);

  for (const std::string c :
       {"status", "tasks", "workers", "plan", "nights", "batches", "log 1",
        "cus", "audit", "release list", "changes 20071021",
        "tasks --night 20071022 --cu CU4"}) {
    json a = CtlJson(c), b = CtlJson(c);
    std::set<std::string> sa, sb;
    Shape(a, "", &sa);
    Shape(b, "", &sb);
    EXPECT_EQ(sa, sb) << c;
    EXPECT_FALSE(sa.empty()) << c;
    if (c != "workers" && c != "status" && c != "plan") {
      EXPECT_EQ(a.dump(), b.dump())
          << c;  // the same content prints the same bytes
    }
  }
  // Every state, with 0 where there are none; ids as numbers.
  json status = CtlJson("status");
  for (const char* s : {"pending", "approved", "dispatched", "running", "done",
                        "ingested", "failed", "cancelled"}) {
    EXPECT_TRUE(status["tasks"][s].is_number_integer()) << s << status.dump();
  }
  EXPECT_EQ(status["tasks"]["ingested"], 6);
  EXPECT_EQ(status["tasks"]["failed"], 0);
  EXPECT_EQ(status["batches"]["ingested"], 6);
  json tasks = CtlJson("tasks --night 20071022 --cu CU4");
  ASSERT_EQ(tasks["tasks"].size(), 1u) << tasks.dump();
  EXPECT_TRUE(tasks["tasks"][0]["task_id"].is_number_integer());
  EXPECT_EQ(tasks["tasks"][0]["cu"], "CU4");
  json batches = CtlJson("batches --cu CU4 --night 20071021");
  ASSERT_EQ(batches["batches"].size(), 1u);
  EXPECT_EQ(batches["batches"][0]["rows_by_table"]["detection"], 2 * 4 * 20);
  EXPECT_TRUE(batches["batches"][0]["rows"].is_number_integer());
  json log = CtlJson("log 1");
  EXPECT_TRUE(log["task"]["task_id"].is_number_integer());
  // describe: every command says what it answers, and that is described.
  json d =
      json::parse(testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"),
                                                   " describe --json"))
                      .output);
  for (const auto& c : d["commands"]) {
    if (c["returns"] == "") continue;
    EXPECT_TRUE(d["messages"].contains(c["returns"].get<std::string>()))
        << c["name"];
  }
  EXPECT_EQ(d["messages"]["curator.v1.Cu"]["enum"][2], "CU3");
}

TEST_F(CuratorctlTest, AuditSaysWhoDidWhatAndWatchFollowsANightUntilItSettles) {
  Generate(Survey(1, 3, 20, 64));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task") == 3; },
      absl::Seconds(30)))
      << daemon.Log();
  EXPECT_EQ(Ctl("pause").exit_code, 0);
  EXPECT_EQ(Ctl("cancel 999999").exit_code, 2);
  EXPECT_EQ(Ctl("resume").exit_code, 0);
  // Refused (the night has work to do), and recorded so; a hostile
  // reason is kept, cleaned, never lost.
  testing::CommandResult retire = Ctl(absl::StrCat(
      "retire 20071021 --reason=\"$(printf 'bad\\001night')\" 2>&1"));
  EXPECT_EQ(retire.exit_code, 2) << retire.output;
  EXPECT_EQ(Ctl("restore 20071021").exit_code, 0);
  json audit = CtlJson("audit");
  ASSERT_GE(audit["entries"].size(), 5u) << audit.dump();
  const json& newest = audit["entries"][0];
  EXPECT_EQ(newest["command"], "restore");
  EXPECT_EQ(newest["who"], "token");
  EXPECT_EQ(newest["via"], "grpc");
  EXPECT_EQ(newest["target"], "night 20071021");
  EXPECT_THAT(newest["outcome"].get<std::string>(), HasSubstr("ok"));
  EXPECT_EQ(audit["entries"][1]["command"], "retire");
  EXPECT_EQ(audit["entries"][1]["reason"], "bad?night");
  EXPECT_THAT(audit["entries"][1]["outcome"].get<std::string>(),
              HasSubstr("refused: night"));
  EXPECT_EQ(audit["entries"][2]["command"], "resume");
  EXPECT_EQ(audit["entries"][3]["command"], "cancel");
  EXPECT_THAT(audit["entries"][3]["outcome"].get<std::string>(),
              HasSubstr("1 refused"));
  EXPECT_EQ(audit["entries"][4]["command"], "pause");
  EXPECT_EQ(audit["entries"][4]["outcome"], "ok, dispatch paused");
  // Paged and filtered.
  json page = CtlJson(absl::StrCat("audit --limit 2 --before ",
                                   audit["entries"][1]["id"].get<int64_t>()));
  ASSERT_EQ(page["entries"].size(), 2u);
  EXPECT_EQ(page["entries"][0]["command"], "resume");
  json only = CtlJson("audit --command pause");
  ASSERT_EQ(only["entries"].size(), 1u);
  testing::CommandResult text = Ctl("audit");
  EXPECT_THAT(text.output, HasSubstr("night 20071021"));
  // Not even the database login can rewrite or delete the record.
  for (const char* forge : {"UPDATE curation.audit SET who = 'someone else'",
                            "UPDATE curation.audit SET outcome = 'ok'",
                            "DELETE FROM curation.audit"}) {
    pqxx::connection c(conninfo());
    pqxx::work tx(c);
    EXPECT_THROW(tx.exec(forge), pqxx::sql_error) << forge;
  }
  EXPECT_EQ(CtlJson("audit")["entries"], audit["entries"]);

  // Pending tasks: watch says they wait for approval, and gives up at its
  // timeout with 2.
  testing::CommandResult waiting =
      Ctl("watch --night 20071021 --timeout 2 --interval 0.5 2>&1");
  EXPECT_EQ(waiting.exit_code, 2) << waiting.output;
  EXPECT_THAT(waiting.output,
              HasSubstr("pending approval (curatorctl approve --all)"));
  EXPECT_THAT(waiting.output, HasSubstr("not settled after 2 s"));
  ASSERT_EQ(Ctl("approve --all").exit_code, 0);
  testing::CommandResult watch =
      Ctl("watch --night 20071021 --interval 0.2 --timeout 120 --json 2>&1");
  EXPECT_EQ(watch.exit_code, 0) << watch.output;
  std::vector<json> lines;
  for (absl::string_view l :
       absl::StrSplit(watch.output, '\n', absl::SkipEmpty())) {
    lines.push_back(json::parse(l));
  }
  ASSERT_GE(lines.size(), 2u) << watch.output;
  EXPECT_TRUE(lines.back()["settled"].get<bool>());
  EXPECT_EQ(lines.back()["totals"]["tasks"]["ingested"], 3);
  std::set<std::string> states;
  for (const json& l : lines) {
    EXPECT_EQ(l["at"].get<std::string>().size(), 20u);
    for (const json& t : l["changed"]) states.insert(t["state"]);
  }
  EXPECT_TRUE(states.count("ingested")) << watch.output;
  EXPECT_GE(states.size(), 2u) << watch.output;  // it saw tasks move
  testing::CommandResult done = Ctl("watch --night 20071021");
  EXPECT_EQ(done.exit_code, 0);
  EXPECT_THAT(done.output, HasSubstr("settled after"));
  EXPECT_THAT(done.output, HasSubstr("3 ingested"));
}

}  // namespace
}  // namespace curator
