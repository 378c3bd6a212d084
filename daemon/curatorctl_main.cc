// curatorctl: the operator's command line.
//
//   curatorctl migrate  [--config F | --db CONNINFO]
//   curatorctl register NIGHT... | --all   [--config F | --archive DIR --db
//   CONNINFO] curatorctl tasks [--state S] | workers | plan | approve (--all |
//   ID...) |
//       reject ID... | cancel ID... | retry ID... | rerun ID... | cus |
//       pause | resume | changes NIGHT | accept NIGHT |
//       deprecate FILE... --reason T | undeprecate FILE... |
//       retire NIGHT --reason T | restore NIGHT | reload NIGHT
//       --config F [--daemon HOST:PORT] [--json]
//   curatorctl release create NAME [--until NIGHT] | release list |
//       release verify NAME | release drop NAME
//       --config F [--daemon HOST:PORT] [--json]
//   curatorctl describe --json     every command, its arguments and types
//
// The last group talks to curator-daemon over gRPC; --json prints the
// reply as JSON (protobuf's mapping) for scripts.
// Exit codes: 0 done; 1 bad usage (including an argument the daemon finds
// malformed); 2 done, with problems reported, or refused (changed files,
// orphan catalogues, refused approvals, no such task, a change without
// the certificate or token it needs, a release whose nights are still
// loading, a release that differs from its manifest); 3 failed (database
// or daemon unreachable, an internal error).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <map>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "curator/v1/services.grpc.pb.h"
#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>
#include "archive/layout.h"
#include "db/migrations.h"
#include "config/config.h"
#include "db/pg.h"
#include "server/rpc_security.h"
#include "config/site.h"
#include "archive/cu_registry.h"
#include "archive/file_registry.h"

ABSL_FLAG(bool, all, false,
          "register: every night under incoming/ with a transfer marker; approve: every "
          "pending task");
ABSL_DECLARE_FLAG(std::string, config);  // config/site_flags.cc
ABSL_FLAG(bool, json, false, "Answer in JSON");
ABSL_FLAG(std::string, until, "",
          "release create: the last night (YYYYMMDD) the release holds "
          "(default: every night)");
ABSL_FLAG(std::string, daemon, "", "host:port of curator-daemon (default: daemon.listen_address)");
ABSL_FLAG(std::string, state, "", "tasks: only tasks in this state");
ABSL_FLAG(std::string, reason, "",
          "deprecate, retire: why (kept with the change)");
ABSL_FLAG(bool, roff, false,
          "describe: as the manual page curatorctl(1), in roff");

namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "curatorctl: %s\n", message.c_str());
  return code;
}

// The exit code of an answer with `code`: the caller's mistake, a
// refusal, or a failure to get an answer at all.
int ExitFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 1;
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kAborted:
      return 2;
    default:
      return 3;
  }
}

}  // namespace

// Every command, its arguments and their types: the usage text and
// `curatorctl describe --json` (from which a client library can build its
// API) both come from here.
struct ArgSpec {
  const char* name;
  const char* type;  // "string", "int64", "int64[]", "bool", "night", "night[]"
  bool positional;
  const char* help;
};
struct CommandSpec {
  const char* name;
  const char* help;
  std::vector<ArgSpec> args;
};
const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec>* commands = new std::vector<
      CommandSpec>{
      {"migrate", "bring the database schema up to date", {}},
      {"register",
       "register the files of nights (ids at once)",
       {{"nights", "night[]", true, "YYYYMMDD nights"},
        {"all", "bool", false, "every night with a transfer marker"}}},
      {"tasks",
       "the daemon's tasks",
       {{"state", "string", false, "only tasks in this state"}}},
      {"workers", "the workers, their load and last heartbeat", {}},
      {"plan", "which worker would run what, and the estimated finish", {}},
      {"approve",
       "let pending tasks run",
       {{"task_ids", "int64[]", true, "tasks to approve"},
        {"all", "bool", false, "every pending task"}}},
      {"reject",
       "approved tasks back to pending",
       {{"task_ids", "int64[]", true, "tasks"}}},
      {"cancel",
       "stop tasks, also on their workers",
       {{"task_ids", "int64[]", true, "tasks"}}},
      {"retry",
       "failed or cancelled tasks back to pending, with a fresh budget of "
       "attempts",
       {{"task_ids", "int64[]", true, "tasks"}}},
      {"rerun",
       "finished tasks (done, ingested, failed, cancelled) back to pending, to "
       "be "
       "processed again; the new batch replaces the old",
       {{"task_ids", "int64[]", true, "tasks"}}},
      {"cus",
       "the curation use cases the daemon knows, and what each waits for",
       {}},
      {"nights", "nights, their files and their tasks' states", {}},
      {"batches",
       "batches: ready, waiting, ingested, quarantined, with rows and timings",
       {}},
      {"log",
       "a task's steps and its errors and warnings",
       {{"task_id", "int64", true, "task"}}},
      {"status", "tasks by state, workers alive, batches by state", {}},
      {"pause", "stop dispatching new tasks", {}},
      {"resume", "dispatch again", {}},
      {"changes",
       "a night's files changed, new or gone since its tasks were made",
       {{"night", "night", true, "YYYYMMDD"}}},
      {"accept",
       "make a night's changed files its delivery and process again what they "
       "touch",
       {{"night", "night", true, "YYYYMMDD"}}},
      {"deprecate",
       "take frames out of the live archive (kept for audit)",
       {{"files", "string[]", true, "file names or paths of images"},
        {"reason", "string", false, "why (required)"}}},
      {"undeprecate",
       "bring frames an operator deprecated back",
       {{"files", "string[]", true, "file names or paths of images"},
        {"reason", "string", false, "why"}}},
      {"retire",
       "take a night out of the live archive (its detections kept)",
       {{"night", "night", true, "YYYYMMDD"},
        {"reason", "string", false, "why (required)"}}},
      {"restore",
       "bring a retired night back",
       {{"night", "night", true, "YYYYMMDD"}}},
      {"reload",
       "process every CU of a night again from its files; readers see the old "
       "rows "
       "until the new ones are in",
       {{"night", "night", true, "YYYYMMDD"}}},
      {"release create",
       "a frozen, read-only copy of the live archive in schema "
       "release_NAME, with its manifest (nights, rows and checksum per table)",
       {{"name", "string", true, "1 to 40 of a-z, 0-9 and _"},
        {"until", "night", false,
         "the last night it holds (default: every night)"}}},
      {"release list",
       "the releases: nights, rows, checksum and size on disk per table",
       {}},
      {"release verify",
       "recompute a release's rows and checksums; exit 2 naming every table "
       "that differs from its manifest",
       {{"name", "string", true, "the release"}}},
      {"release drop",
       "drop a release: its schema and manifest",
       {{"name", "string", true, "the release"}}},
      {"describe", "these commands, as JSON with --json", {}},
  };
  return *commands;
}

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

int Describe() {
  std::vector<std::string> commands;
  for (const CommandSpec& c : Commands()) {
    std::vector<std::string> args;
    for (const ArgSpec& a : c.args) {
      args.push_back(absl::StrCat("{\"name\": ", JsonQuote(a.name), ", \"type\": ", JsonQuote(a.type),
                                  ", \"positional\": ", a.positional ? "true" : "false",
                                  ", \"help\": ", JsonQuote(a.help), "}"));
    }
    commands.push_back(absl::StrCat("{\"name\": ", JsonQuote(c.name), ", \"help\": ", JsonQuote(c.help),
                                    ", \"arguments\": [", absl::StrJoin(args, ", "), "]}"));
  }
  std::printf(
      "{\"program\": \"curatorctl\", \"common_options\": [{\"name\": \"json\", \"type\": "
      "\"bool\"}, {\"name\": \"config\", \"type\": \"string\"}, {\"name\": \"daemon\", \"type\": "
      "\"string\"}, {\"name\": \"db\", \"type\": \"string\"}, {\"name\": \"archive\", \"type\": "
      "\"string\"}], \"exit_codes\": {\"0\": \"done\", \"1\": \"bad usage\", \"2\": \"done, with "
      "problems reported, or refused\", \"3\": \"failed\"}, \"commands\": [%s]}\n",
      absl::StrJoin(commands, ", ").c_str());
  return 0;
}

// Text for a roff line: backslashes escaped, a '-' that starts a word (an
// option) a minus sign, a leading '.' or '\'' not taken as a request.
std::string Roff(absl::string_view text) {
  std::string out =
      text.empty() || (text[0] != '.' && text[0] != '\'') ? "" : "\\&";
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\') {
      out += "\\e";
    } else if (text[i] == '-' && (i == 0 || text[i - 1] == ' ' ||
                                  text[i - 1] == '-' || text[i - 1] == '(')) {
      out += "\\-";
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// How an argument is written: "--state STATE", "--all", "TASK_ID...",
// "TASK_ID"; an option in brackets in a synopsis.
std::string RoffArgument(const ArgSpec& a, bool in_synopsis) {
  const bool many = absl::EndsWith(a.type, "[]");
  std::string value = absl::AsciiStrToUpper(a.name);
  if (!a.positional) {
    return absl::StrCat(in_synopsis ? "[" : "", "\\fB\\-\\-", a.name, "\\fR",
                        absl::string_view(a.type) == "bool"
                            ? ""
                            : absl::StrCat(" \\fI", value, "\\fR"),
                        in_synopsis ? "]" : "");
  }
  if (many && absl::EndsWith(value, "S")) value.pop_back();
  return absl::StrCat("\\fI", value, "\\fR", many ? "..." : "");
}

// `curatorctl describe --roff`: the manual page curatorctl(1), which the
// build generates and the package installs. Its commands come from
// Commands() and its options from the flags' own help, as the usage text
// and `describe --json` do, so the page cannot drift from the program.
int DescribeRoff() {
  std::printf(
      ".TH CURATORCTL 1 \"\" \"Curator %s\" \"Curator\"\n"
      ".SH NAME\n"
      "curatorctl \\- the Curator operator's command line\n"
      ".SH SYNOPSIS\n"
      ".B curatorctl\n"
      ".I command\n"
      ".RI [ argument ...]\n"
      ".RB [ \\-\\-config\n"
      ".IR FILE ]\n"
      ".RB [ \\-\\-json ]\n"
      ".SH DESCRIPTION\n"
      "curatorctl brings the archive database's schema up to date,\n"
      "registers the files of nights, and asks curator-daemon about its\n"
      "tasks, workers, plans, nights and batches, or tells it what to run.\n"
      ".PP\n"
      "\\fBmigrate\\fR and \\fBregister\\fR work on the database (and the\n"
      "archive) themselves: they need \\fB\\-\\-config\\fR, or\n"
      "\\fB\\-\\-db\\fR (and \\fB\\-\\-archive\\fR). The other commands ask\n"
      "curator-daemon over gRPC, at \\fB\\-\\-daemon\\fR or the\n"
      "configuration's daemon.listen_address, with the configuration's TLS\n"
      "certificate or operator token.\n"
      ".PP\n"
      "With \\fB\\-\\-json\\fR a command answers in JSON (protobuf's\n"
      "mapping), for scripts. \\fBdescribe \\-\\-json\\fR describes every\n"
      "command and its arguments, from which the Python module\n"
      "curator_client builds its API.\n"
      ".SH COMMANDS\n",
      CURATOR_VERSION);
  for (const CommandSpec& c : Commands()) {
    std::vector<std::string> synopsis = {absl::StrCat("\\fB", c.name, "\\fR")};
    for (const ArgSpec& a : c.args) synopsis.push_back(RoffArgument(a, true));
    std::printf(".TP\n%s\n%s.\n", absl::StrJoin(synopsis, " ").c_str(),
                Roff(c.help).c_str());
    if (c.args.empty()) continue;
    std::printf(".RS\n");
    for (const ArgSpec& a : c.args) {
      std::printf(".TP\n%s\n%s.\n", RoffArgument(a, false).c_str(),
                  Roff(a.help).c_str());
    }
    std::printf(".RE\n");
  }
  // Every option curatorctl has (its own and the site's), sorted; absl's
  // own (--flagfile, --help...) are left to --helpfull.
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::StrContains(flag->Filename(), "absl/")) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->Name() < b->Name(); });
  std::printf(".SH OPTIONS\n");
  for (const absl::CommandLineFlag* f : flags) {
    const std::string name(f->Name());
    const std::string value =
        f->IsOfType<bool>()
            ? ""
            : absl::StrCat(" \\fI", absl::AsciiStrToUpper(name), "\\fR");
    std::printf(".TP\n\\fB\\-\\-%s\\fR%s\n%s.\n", name.c_str(), value.c_str(),
                Roff(f->Help()).c_str());
  }
  std::printf(
      ".SH EXIT STATUS\n"
      ".TP\n0\ndone.\n"
      ".TP\n1\nbad usage, including an argument the daemon finds malformed.\n"
      ".TP\n2\ndone, with problems reported, or refused: changed files,\n"
      "orphan catalogues, refused approvals, no such task, a change without\n"
      "the certificate or token it needs.\n"
      ".TP\n3\nfailed: the database or the daemon unreachable, an internal\n"
      "error.\n"
      ".SH FILES\n"
      ".TP\n/etc/curator/curator.conf\n"
      "the site's configuration (protobuf text format); an annotated\n"
      "example is in /usr/share/doc/curator.\n"
      ".SH SEE ALSO\n"
      ".BR curator\\-daemon (1),\n"
      ".BR curator\\-worker (1),\n"
      ".BR curator\\-ingester (1),\n"
      "/usr/share/doc/curator/README.md\n");
  return 0;
}

// "CU3" for a CU id, from the daemon's registry (ListCus), fetched once.
class CuNames {
 public:
  explicit CuNames(curator::v1::Coordinator::Stub* stub) : stub_(stub) {}
  std::string operator()(int cu) {
    if (names_.empty()) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      curator::v1::ListCusResponse cus;
      if (stub_->ListCus(&ctx, curator::v1::ListCusRequest(), &cus).ok()) {
        for (const auto& c : cus.cus()) {
          names_[c.cu()] = c.name();
          order_.push_back(c.name());
        }
      }
    }
    auto it = names_.find(cu);
    return it != names_.end() ? it->second : absl::StrCat("CU", cu);
  }
  // Every CU's name, in planning order.
  const std::vector<std::string>& order() {
    (*this)(0);
    return order_;
  }

 private:
  curator::v1::Coordinator::Stub* stub_;
  std::map<int, std::string> names_;
  std::vector<std::string> order_;
};

// A release's manifest, for people.
void PrintRelease(const curator::v1::ReleaseInfo& r) {
  const std::string nights =
      r.nights().empty() ? std::string("no nights")
      : r.nights_size() == 1
          ? absl::StrCat("1 night (", r.nights(0), ")")
          : absl::StrCat(r.nights_size(), " nights (", r.nights(0), " to ",
                         r.nights(r.nights_size() - 1), ")");
  std::printf(
      "release %s: schema %s, %s%s, made %s by %s with curator %s (event "
      "%lld), %.1f MB\n",
      r.name().c_str(), r.schema().c_str(), nights.c_str(),
      r.until().empty() ? "" : absl::StrCat(", until ", r.until()).c_str(),
      r.created_at().c_str(), r.producer().c_str(),
      r.software_version().c_str(), static_cast<long long>(r.cu_event_id()),
      r.bytes() / 1e6);
  std::printf("  %-24s %12s %10s  %s\n", "TABLE", "ROWS", "MB", "CHECKSUM");
  for (const auto& t : r.tables()) {
    std::printf("  %-24s %12lld %10.1f  %s\n", t.table().c_str(),
                static_cast<long long>(t.rows()), t.bytes() / 1e6,
                t.checksum().c_str());
  }
}

// The release commands ("release create" ...): the call, and the answer
// printed unless --json. `code` becomes 2 when verify finds a difference.
grpc::Status ReleaseCommand(curator::v1::Coordinator::Stub* stub,
                            grpc::ClientContext* ctx,
                            const std::string& command,
                            const std::vector<std::string>& args,
                            std::unique_ptr<google::protobuf::Message>* reply,
                            int* code) {
  const bool text = !absl::GetFlag(FLAGS_json);
  grpc::Status st;
  if (command == "release create" || command == "release verify") {
    // A release copies or reads the whole archive: 41-45 s per million
    // detections to make on the bench's machine, so about 12 h for a
    // billion (README, "Releases"). An interrupted curatorctl does not
    // stop the daemon; `release list` shows the release once it is made.
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::hours(48));
  }
  if (command == "release create") {
    curator::v1::CreateReleaseRequest r;
    r.set_name(args[0]);
    r.set_until(absl::GetFlag(FLAGS_until));
    auto out = std::make_unique<curator::v1::ReleaseInfo>();
    st = stub->CreateRelease(ctx, r, out.get());
    if (st.ok() && text) {
      PrintRelease(*out);
      std::printf("made in %.1f s\n", out->seconds());
    }
    *reply = std::move(out);
  } else if (command == "release list") {
    auto out = std::make_unique<curator::v1::ListReleasesResponse>();
    st = stub->ListReleases(ctx, curator::v1::ListReleasesRequest(), out.get());
    if (st.ok() && text) {
      if (out->releases().empty()) std::printf("no releases\n");
      for (const auto& r : out->releases()) PrintRelease(r);
    }
    *reply = std::move(out);
  } else if (command == "release verify") {
    curator::v1::ReleaseNameRequest r;
    r.set_name(args[0]);
    auto out = std::make_unique<curator::v1::VerifyReleaseResponse>();
    st = stub->VerifyRelease(ctx, r, out.get());
    if (st.ok() && text) {
      int64_t rows = 0;
      for (const auto& t : out->tables()) rows += t.rows();
      std::printf(
          "release %s: %s (%d tables, %lld rows, checked in %.1f s)\n",
          out->name().c_str(),
          out->unchanged() ? "unchanged, as its manifest says" : "CHANGED",
          out->tables_size(), static_cast<long long>(rows), out->seconds());
      for (const std::string& d : out->differences())
        std::printf("  %s\n", d.c_str());
    }
    if (st.ok() && !out->unchanged()) *code = 2;
    *reply = std::move(out);
  } else {  // release drop
    curator::v1::ReleaseNameRequest r;
    r.set_name(args[0]);
    auto out = std::make_unique<curator::v1::DropReleaseResponse>();
    st = stub->DropRelease(ctx, r, out.get());
    if (st.ok() && text) {
      std::printf("release %s dropped: %.1f MB freed (event %lld)\n",
                  out->name().c_str(), out->bytes() / 1e6,
                  static_cast<long long>(out->cu_event_id()));
    }
    *reply = std::move(out);
  }
  return st;
}

// The daemon commands.
int DaemonCommand(const std::string& command, const std::vector<std::string>& args) {
  // The config says how to reach the daemon: its address, TLS or
  // plaintext, and the operator token.
  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    return Fail(1, "give --config FILE: its security section says how to reach the daemon");
  }
  absl::StatusOr<curator::v1::Config> config = curator::LoadConfig(config_path);
  if (!config.ok()) return Fail(1, std::string(config.status().message()));
  absl::StatusOr<curator::RpcSecurity> security = curator::RpcSecurity::FromConfig(*config);
  if (!security.ok()) return Fail(1, std::string(security.status().message()));
  std::string address = absl::GetFlag(FLAGS_daemon);
  if (address.empty()) {
    address = config->daemon().listen_address();
    if (absl::StartsWith(address, "0.0.0.0:")) address = "127.0.0.1:" + address.substr(8);
  }
  if (address.empty()) return Fail(1, "give the daemon: --daemon HOST:PORT or daemon.listen_address");
  auto stub = curator::v1::Coordinator::NewStub(
      grpc::CreateChannel(address, security->ChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  security->Authorize(&ctx);
  std::unique_ptr<google::protobuf::Message> reply;
  grpc::Status st;
  int code = 0;
  CuNames cu_name(stub.get());
  if (command == "tasks") {
    curator::v1::ListTasksRequest r;
    r.set_state(absl::GetFlag(FLAGS_state));
    auto out = std::make_unique<curator::v1::ListTasksResponse>();
    st = stub->ListTasks(&ctx, r, out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%8s  %-8s  %-4s  %-10s  %5s  %8s  %-12s  %s\n", "TASK", "NIGHT", "CU", "STATE",
                  "FILES", "ATTEMPTS", "WORKER", "BATCH / LAST ERROR / WAITING FOR");
      for (const auto& t : out->tasks()) {
        std::string note = t.batch_id().empty() ? t.last_error() : t.batch_id();
        if (!t.waiting_for().empty()) {
          note = absl::StrCat("waits for ", absl::StrJoin(t.waiting_for(), "; "));
        }
        std::printf("%8lld  %-8s  %-4s  %-10s  %5d  %8d  %-12s  %s\n",
                    static_cast<long long>(t.task_id()), t.night().c_str(),
                    cu_name(t.cu()).c_str(), t.state().c_str(), t.files(), t.attempts(),
                    t.worker_id().c_str(), note.c_str());
      }
    }
    reply = std::move(out);
  } else if (command == "workers") {
    auto out = std::make_unique<curator::v1::ListWorkersResponse>();
    st = stub->ListWorkers(&ctx, curator::v1::ListWorkersRequest(), out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%-14s  %-22s  %-5s  %8s  %5s  %7s  %5s  %9s  %9s\n", "WORKER", "ADDRESS", "ALIVE",
                  "LAST BEAT", "SLOTS", "RUNNING", "LOAD", "FREE MEM", "FREE DISK");
      for (const auto& w : out->workers()) {
        std::printf("%-14s  %-22s  %-5s  %7.1fs  %5d  %7d  %5.2f  %8.1fG  %8.1fG\n",
                    w.worker_id().c_str(), w.address().c_str(), w.alive() ? "yes" : "NO",
                    w.seconds_since_heartbeat(), w.load().slots(), w.load().running_tasks(),
                    w.load().load_average_1m(), w.load().free_memory_bytes() / 1e9,
                    w.load().free_disk_bytes() / 1e9);
      }
    }
    reply = std::move(out);
  } else if (command == "plan") {
    auto out = std::make_unique<curator::v1::GetPlanResponse>();
    st = stub->GetPlan(&ctx, curator::v1::GetPlanRequest(), out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%8s  %-8s  %-4s  %-14s  %9s  %10s\n", "TASK", "NIGHT", "CU", "WORKER", "START IN",
                  "FINISH IN");
      for (const auto& e : out->entries()) {
        std::printf("%8lld  %-8s  %-4s  %-14s  %8.0fs  %9.0fs%s\n",
                    static_cast<long long>(e.task_id()), e.night().c_str(), cu_name(e.cu()).c_str(),
                    e.worker_id().c_str(), std::max(0.0, e.start_in_seconds()),
                    std::max(0.0, e.finish_in_seconds()),
                    e.starts_now() ? "  (starts when approved)" : "");
      }
      for (int64_t id : out->unplaceable()) {
        std::printf("%8lld  no worker can take it now\n", static_cast<long long>(id));
      }
      std::printf("estimated finish in %.0f s%s\n", out->finish_in_seconds(),
                  out->paused() ? "; dispatch is PAUSED" : "");
      // The workers the plan counts on, with their load.
      curator::v1::ListWorkersResponse workers;
      grpc::ClientContext wctx;
      if (stub->ListWorkers(&wctx, curator::v1::ListWorkersRequest(), &workers).ok()) {
        for (const auto& w : workers.workers()) {
          std::printf("worker %-12s %s  load %.2f on %d cores, %d of %d slots busy, %.1f GB free disk\n",
                      w.worker_id().c_str(), w.alive() ? "alive" : "SILENT", w.load().load_average_1m(),
                      w.load().cores(), w.load().running_tasks(), w.load().slots(),
                      w.load().free_disk_bytes() / 1e9);
        }
      }
    }
    reply = std::move(out);
  } else if (command == "approve") {
    curator::v1::ApproveRequest r;
    r.set_all(absl::GetFlag(FLAGS_all));
    for (const std::string& a : args) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(a, &id)) return Fail(1, "approve: task ids are numbers, not '" + a + "'");
      r.add_task_ids(id);
    }
    if (!r.all() && r.task_ids().empty()) return Fail(1, "approve: give task ids or --all");
    auto out = std::make_unique<curator::v1::ApproveResponse>();
    st = stub->Approve(&ctx, r, out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("approved %d task(s)\n", out->approved_size());
      for (const std::string& why : out->refused()) std::printf("  refused: %s\n", why.c_str());
    }
    if (st.ok() && out->refused_size() > 0) code = 2;
    reply = std::move(out);
  } else if (command == "nights") {
    auto out = std::make_unique<curator::v1::ListNightsResponse>();
    st = stub->ListNights(&ctx, curator::v1::ListNightsRequest(), out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%-8s  %-8s  %6s  %10s  %s\n", "NIGHT", "COMPLETE", "IMAGES", "CATALOGUES", "TASKS");
      for (const auto& n : out->nights()) {
        std::vector<std::string> tasks;
        for (const std::string& cu : cu_name.order()) {
          auto it = n.tasks().find(cu);
          if (it != n.tasks().end()) tasks.push_back(absl::StrCat(cu, " ", it->second));
        }
        std::string sources;
        if (n.sources().loaded()) {
          const auto& s = n.sources();
          sources = absl::StrCat("; sources: ", s.new_sources(), " new, ",
                                 s.updated_sources(), " updated, ",
                                 s.unmatched_sources(), " unmatched (",
                                 s.detections(), " detections linked)");
        }
        std::string life;
        if (n.retired()) absl::StrAppend(&life, "; RETIRED");
        if (n.delivery() > 1)
          absl::StrAppend(&life, "; delivery ", n.delivery());
        if (n.deprecated_frames() > 0) {
          absl::StrAppend(&life, "; ", n.deprecated_frames(),
                          " frames deprecated");
        }
        if (n.pending_changes() > 0) {
          absl::StrAppend(&life, "; ", n.pending_changes(),
                          " files changed, waiting (curatorctl changes ",
                          n.night(), ")");
        }
        std::printf("%-8s  %-8s  %6d  %10d  %s%s%s\n", n.night().c_str(),
                    n.transfer_complete() ? "yes" : "no", n.images(),
                    n.catalogues(), absl::StrJoin(tasks, ", ").c_str(),
                    sources.c_str(), life.c_str());
      }
    }
    reply = std::move(out);
  } else if (command == "batches") {
    auto out = std::make_unique<curator::v1::ListBatchesResponse>();
    st = stub->ListBatches(&ctx, curator::v1::ListBatchesRequest(), out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%-24s  %-4s  %-11s  %9s  %s\n", "BATCH", "CU", "STATE", "INGEST", "ROWS / REPORT");
      for (const auto& b : out->batches()) {
        std::string note = b.report().empty() ? b.rows_per_table() : b.report();
        if (!b.held_by().empty()) {
          note = absl::StrCat("held by ", b.held_by(), " since ", b.held_since());
        }
        std::printf("%-24s  %-4s  %-11s  %7.0fms  %s\n", b.batch_id().c_str(),
                    cu_name(b.cu()).c_str(), b.state().c_str(), b.ingest_ms(), note.c_str());
      }
    }
    reply = std::move(out);
  } else if (command == "log") {
    int64_t id = 0;
    if (args.size() != 1 || !absl::SimpleAtoi(args[0], &id)) return Fail(1, "log: give one task id");
    curator::v1::GetTaskLogRequest r;
    r.set_task_id(id);
    auto out = std::make_unique<curator::v1::GetTaskLogResponse>();
    st = stub->GetTaskLog(&ctx, r, out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      const auto& t = out->task();
      std::printf("task %lld: %s of %s, %s, attempt %d on %s%s%s\n",
                  static_cast<long long>(t.task_id()), cu_name(t.cu()).c_str(), t.night().c_str(),
                  t.state().c_str(),
                  t.attempts(), t.worker_id().empty() ? "-" : t.worker_id().c_str(),
                  t.last_error().empty() ? "" : "; last error: ", t.last_error().c_str());
      for (const auto& a : out->attempts()) {
        std::printf("  attempt %d on %s at %s: %s after %.1f s%s%s\n", a.number(),
                    a.worker_id().empty() ? "-" : a.worker_id().c_str(), a.started().c_str(),
                    a.outcome().empty() ? "running" : a.outcome().c_str(), a.seconds(),
                    a.error().empty() ? "" : ": ", a.error().c_str());
      }
      for (const auto& s : out->steps()) {
        std::printf("  step %-16s %7.3f s  %8lld rows  %5d files  %3d errors  %3d warnings\n",
                    s.step().c_str(), s.seconds(), static_cast<long long>(s.rows()), s.files(),
                    s.errors(), s.warnings());
      }
      for (const auto& l : out->lines()) {
        // Most messages name their file already.
        if (absl::StartsWith(l.message(), l.path())) {
          std::printf("  %-7s %s\n", l.level().c_str(), l.message().c_str());
          continue;
        }
        const std::string hdu = l.hdu() ? absl::StrCat(" HDU ", l.hdu()) : "";
        std::printf("  %-7s %s%s%s%s: %s\n", l.level().c_str(), l.path().c_str(), hdu.c_str(),
                    l.item().empty() ? "" : " ", l.item().c_str(), l.message().c_str());
      }
    }
    reply = std::move(out);
  } else if (command == "status") {
    curator::v1::ListTasksResponse tasks;
    curator::v1::ListWorkersResponse workers;
    curator::v1::ListBatchesResponse batches;
    curator::v1::GetPlanResponse plan;
    grpc::ClientContext c2, c3, c4;
    st = stub->ListTasks(&ctx, curator::v1::ListTasksRequest(), &tasks);
    if (st.ok()) st = stub->ListWorkers(&c2, curator::v1::ListWorkersRequest(), &workers);
    if (st.ok()) st = stub->ListBatches(&c3, curator::v1::ListBatchesRequest(), &batches);
    if (st.ok()) st = stub->GetPlan(&c4, curator::v1::GetPlanRequest(), &plan);
    std::map<std::string, int> by_state, batch_state;
    for (const auto& t : tasks.tasks()) by_state[t.state()]++;
    for (const auto& b : batches.batches()) batch_state[b.state()]++;
    int alive = 0;
    for (const auto& w : workers.workers()) alive += w.alive();
    auto join = [](const std::map<std::string, int>& m) {
      std::vector<std::string> parts;
      for (const auto& [k, v] : m) parts.push_back(absl::StrCat(v, " ", k));
      return parts.empty() ? std::string("none") : absl::StrJoin(parts, ", ");
    };
    const std::string text = absl::StrCat(
        "tasks: ", join(by_state), "\nworkers: ", alive, " alive of ", workers.workers_size(),
        "\nbatches: ", join(batch_state), "\ndispatch: ", plan.paused() ? "paused" : "running",
        "; estimated finish of what is pending: ", static_cast<int>(plan.finish_in_seconds()), " s\n");
    if (st.ok()) {
      if (absl::GetFlag(FLAGS_json)) {
        std::vector<std::string> parts;
        for (const auto& [k, v] : by_state) parts.push_back(absl::StrCat("\"", k, "\": ", v));
        std::vector<std::string> bparts;
        for (const auto& [k, v] : batch_state) bparts.push_back(absl::StrCat("\"", k, "\": ", v));
        std::printf("{\"tasks\": {%s}, \"workers_alive\": %d, \"workers\": %d, \"batches\": {%s}, "
                    "\"paused\": %s, \"finish_in_seconds\": %.0f}\n",
                    absl::StrJoin(parts, ", ").c_str(), alive, workers.workers_size(),
                    absl::StrJoin(bparts, ", ").c_str(), plan.paused() ? "true" : "false",
                    plan.finish_in_seconds());
      } else {
        std::printf("%s", text.c_str());
      }
      return 0;
    }
  } else if (command == "cus") {
    auto out = std::make_unique<curator::v1::ListCusResponse>();
    st = stub->ListCus(&ctx, curator::v1::ListCusRequest(), out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%-5s  %-24s  %-10s  %-22s  %s\n", "CU", "WHAT", "READS", "PROCESSED AFTER",
                  "INGESTED AFTER");
      for (const auto& c : out->cus()) {
        const auto list = [](const auto& l) {
          return l.empty() ? std::string("-") : absl::StrJoin(l, ", ");
        };
        std::printf("%-5s  %-24s  %-10s  %-22s  %s\n", c.name().c_str(), c.title().c_str(),
                    c.input().c_str(), list(c.before_processing()).c_str(),
                    list(c.before_ingest()).c_str());
      }
    }
    reply = std::move(out);
  } else if (absl::StartsWith(command, "release ")) {
    st = ReleaseCommand(stub.get(), &ctx, command, args, &reply, &code);
  } else if (command == "cancel" || command == "retry" || command == "reject" ||
             command == "rerun") {
    curator::v1::TaskIdsRequest r;
    for (const std::string& a : args) {
      int64_t id = 0;
      if (!absl::SimpleAtoi(a, &id)) return Fail(1, command + ": task ids are numbers, not '" + a + "'");
      r.add_task_ids(id);
    }
    if (r.task_ids().empty()) return Fail(1, command + ": give task ids");
    auto out = std::make_unique<curator::v1::TaskIdsResponse>();
    st = command == "cancel"  ? stub->Cancel(&ctx, r, out.get())
         : command == "retry" ? stub->Retry(&ctx, r, out.get())
         : command == "rerun" ? stub->Rerun(&ctx, r, out.get())
                              : stub->Reject(&ctx, r, out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%s: %d task(s)\n", command.c_str(), out->changed_size());
      for (const std::string& why : out->refused()) std::printf("  refused: %s\n", why.c_str());
    }
    if (st.ok() && out->refused_size() > 0) code = 2;
    reply = std::move(out);
  } else if (command == "changes") {
    if (args.size() != 1) return Fail(1, "changes: give one night (YYYYMMDD)");
    curator::v1::NightRequest r;
    r.set_night(args[0]);
    auto out = std::make_unique<curator::v1::ChangesResponse>();
    st = stub->ListChanges(&ctx, r, out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf(
          "night %s, delivery %d: %d changes%s\n", out->night().c_str(),
          out->delivery(), out->changes_size(),
          out->changes_size() > 0
              ? absl::StrCat(" (curatorctl accept ", out->night(), ")").c_str()
              : "");
      for (const auto& c : out->changes()) {
        std::printf(
            "  %-9s %-9s %s  (multiframe %lld -> %lld, %lld -> %lld bytes)\n",
            c.change().c_str(), c.kind().c_str(), c.path().c_str(),
            static_cast<long long>(c.old_multiframe_id()),
            static_cast<long long>(c.new_multiframe_id()),
            static_cast<long long>(c.old_bytes()),
            static_cast<long long>(c.new_bytes()));
      }
    }
    reply = std::move(out);
  } else if (command == "accept" || command == "retire" ||
             command == "restore" || command == "reload" ||
             command == "deprecate" || command == "undeprecate") {
    const bool on_files = command == "deprecate" || command == "undeprecate";
    if (on_files ? args.empty() : args.size() != 1) {
      return Fail(1, command + (on_files ? ": give image file names or paths"
                                         : ": give one night (YYYYMMDD)"));
    }
    auto out = std::make_unique<curator::v1::ArchiveActionResponse>();
    if (on_files) {
      curator::v1::FilesRequest r;
      for (const std::string& a : args) r.add_files(a);
      r.set_reason(absl::GetFlag(FLAGS_reason));
      st = command == "deprecate" ? stub->Deprecate(&ctx, r, out.get())
                                  : stub->Undeprecate(&ctx, r, out.get());
    } else {
      curator::v1::NightRequest r;
      r.set_night(args[0]);
      r.set_reason(absl::GetFlag(FLAGS_reason));
      st = command == "accept"    ? stub->Accept(&ctx, r, out.get())
           : command == "retire"  ? stub->Retire(&ctx, r, out.get())
           : command == "restore" ? stub->Restore(&ctx, r, out.get())
                                  : stub->Reload(&ctx, r, out.get());
    }
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("%s\n", out->summary().c_str());
      if (out->cu_event_id() != 0) {
        std::printf("  event %lld\n",
                    static_cast<long long>(out->cu_event_id()));
      }
      if (out->tasks_size() > 0) {
        std::printf("  tasks to run again: %s\n",
                    absl::StrJoin(out->tasks(), " ").c_str());
      }
      for (const std::string& why : out->refused())
        std::printf("  refused: %s\n", why.c_str());
    }
    if (st.ok() && out->refused_size() > 0) code = 2;
    reply = std::move(out);
  } else {  // pause, resume
    auto out = std::make_unique<curator::v1::DispatchState>();
    st = command == "pause" ? stub->Pause(&ctx, curator::v1::PauseRequest(), out.get())
                            : stub->Resume(&ctx, curator::v1::ResumeRequest(), out.get());
    if (st.ok() && !absl::GetFlag(FLAGS_json)) {
      std::printf("dispatch %s\n", out->paused() ? "paused" : "running");
    }
    reply = std::move(out);
  }
  if (!st.ok()) {
    return Fail(ExitFor(static_cast<absl::StatusCode>(st.error_code())),
                absl::StrCat("daemon at ", address, ": ", st.error_message()));
  }
  if (absl::GetFlag(FLAGS_json)) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.preserve_proto_field_names = true;
    options.always_print_primitive_fields = true;
    (void)google::protobuf::util::MessageToJsonString(*reply, &json, options);
    std::printf("%s\n", json.c_str());
  }
  return code;
}

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "curatorctl release create NAME [--until NIGHT] | release list |\n"
      "  release verify NAME | release drop NAME\n"
      "  --config FILE [--daemon HOST:PORT] [--json]\n"
      "curatorctl migrate | register NIGHT... | register --all\n"
      "  [--config FILE] [--archive DIR] [--db CONNINFO]\n"
      "curatorctl tasks [--state S] | workers | plan | approve (--all | ID...) "
      "| reject ID... |\n"
      "  cancel ID... | retry ID... | rerun ID... | cus | pause | resume |\n"
      "  changes NIGHT | accept NIGHT | deprecate FILE... --reason TEXT | "
      "undeprecate FILE... |\n"
      "  retire NIGHT --reason TEXT | restore NIGHT | reload NIGHT\n"
      "  --config FILE [--daemon HOST:PORT] [--json]");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) return Fail(1, "give a command: migrate, register, tasks, workers, plan, approve, pause or resume");
  const std::string command = args[1];
  if (command == "release") {
    const std::string sub = args.size() > 2 ? args[2] : "";
    const std::vector<std::string> rest(
        args.begin() + std::min<size_t>(args.size(), 3), args.end());
    if (sub != "create" && sub != "list" && sub != "verify" && sub != "drop") {
      return Fail(1,
                  "release: give create NAME [--until NIGHT], list, verify "
                  "NAME or drop NAME");
    }
    if (rest.size() != (sub == "list" ? 0u : 1u)) {
      return Fail(1, sub == "list" ? "release list takes no arguments"
                                   : absl::StrCat("release ", sub,
                                                  ": give one release NAME"));
    }
    if (sub != "create" && !absl::GetFlag(FLAGS_until).empty()) {
      return Fail(1, "--until goes with release create only");
    }
    return DaemonCommand("release " + sub, rest);
  }
  if (command == "describe")
    return absl::GetFlag(FLAGS_roff) ? DescribeRoff() : Describe();
  for (const char* c :
       {"tasks",       "workers", "plan",    "approve", "reject",  "cancel",
        "retry",       "rerun",   "cus",     "nights",  "batches", "log",
        "status",      "pause",   "resume",  "changes", "accept",  "deprecate",
        "undeprecate", "retire",  "restore", "reload"}) {
    if (command == c) return DaemonCommand(command, std::vector<std::string>(args.begin() + 2, args.end()));
  }
  if (command != "migrate" && command != "register") {
    std::vector<std::string> known;
    for (const CommandSpec& c : Commands()) known.push_back(c.name);
    return Fail(1, "unknown command '" + command + "'; known: " + absl::StrJoin(known, ", "));
  }
  absl::StatusOr<curator::Site> site = curator::SiteFromFlags(command == "register");
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  const std::string conninfo = site->config.database().conninfo();
  const std::string archive = site->config.archive_root();
  auto conn = curator::pg::Connection::Connect(conninfo);
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));

  if (command == "migrate") {
    auto applied = curator::migrations::Migrate(**conn);
    if (applied.ok()) {
      if (absl::Status s = curator::archive::SyncCuTable(**conn, curator::archive::CuRegistry::WithSources());
          !s.ok()) {
        return Fail(3, s.ToString());
      }
    }
    if (!applied.ok()) return Fail(3, applied.status().ToString());
    auto version = curator::migrations::CurrentVersion(**conn);
    if (applied->empty()) {
      std::printf("schema is up to date at version %d\n", version.ok() ? *version : 0);
    } else {
      std::vector<std::string> v;
      for (int a : *applied) v.push_back(std::to_string(a));
      std::printf("applied migrations %s; schema is at version %d\n",
                  absl::StrJoin(v, ", ").c_str(), version.ok() ? *version : 0);
    }
    return 0;
  }

  std::vector<std::string> nights(args.begin() + 2, args.end());
  if (absl::GetFlag(FLAGS_all)) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(
             absl::StrCat(archive, "/", curator::layout::kIncoming), ec)) {
      if (std::filesystem::exists(e.path() / curator::layout::kTransferMarker)) {
        nights.push_back(e.path().filename());
      }
    }
    std::sort(nights.begin(), nights.end());
  }
  if (nights.empty()) return Fail(1, "register: give NIGHT (YYYYMMDD) or --all");
  bool problems = false;
  for (const std::string& night : nights) {
    auto reg = curator::archive::RegisterNight(**conn, archive, night);
    if (!reg.ok()) return Fail(ExitFor(reg.status().code()), reg.status().ToString());
    int images = 0, catalogues = 0;
    for (const auto& f : reg->files) (f.is_catalogue ? catalogues : images)++;
    std::printf("%s  %d images, %d catalogues, %d newly registered%s\n", night.c_str(), images,
                catalogues, reg->new_files,
                reg->transfer_complete ? "" : " (transfer not complete)");
    for (const std::string& p : reg->problems) std::printf("  problem: %s\n", p.c_str());
    problems |= !reg->problems.empty();
  }
  return problems ? 2 : 0;
}
