#include "daemon/curatorctl_commands.h"

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "archive/batch_state.h"
#include "base/build_info.h"
#include "curator/v1/ctl.pb.h"
#include "curator/v1/services.pb.h"
#include "daemon/task_state.h"
#include "server/proto_json.h"

namespace curator::ctl {
namespace {

std::vector<std::string> TaskStates() {
  std::vector<std::string> out;
  for (daemon::TaskState s : daemon::AllTaskStates())
    out.push_back(daemon::TaskStateName(s));
  return out;
}

// As ListBatches answers: staged ones are ready or loading.
std::vector<std::string> BatchStates() {
  std::vector<std::string> out = {"ready", "loading"};
  for (archive::BatchState s : archive::AllBatchStates())
    out.push_back(archive::StateName(s));
  return out;
}

std::vector<std::string> CuNames() {
  std::vector<std::string> out;
  const auto* e = v1::Cu_descriptor();
  for (int i = 0; i < e->value_count(); ++i) {
    if (e->value(i)->number() != 0) out.push_back(e->value(i)->name());
  }
  return out;
}

ArgSpec Night(const char* help = "YYYYMMDD") {
  return {"night", "night", true, help, {}, true};
}
ArgSpec TaskIds(const char* help) {
  return {"task_ids", "int64[]", true, help, {}, true};
}
ArgSpec NightFilter() {
  return {"night", "night", false, "only this night (YYYYMMDD)"};
}
ArgSpec CuFilter() {
  return {"cu", "string", false, "only this CU", CuNames()};
}

// How an argument is written: "--state STATE", "--all", "TASK_ID...",
// "NIGHT"; with `optional` an option in brackets.
std::string Synopsis(const ArgSpec& a, bool optional) {
  const bool many = absl::EndsWith(a.type, "[]");
  std::string value = absl::string_view(a.type) == "night"
                          ? "NIGHT"
                          : absl::AsciiStrToUpper(a.name);
  if (!a.positional) {
    std::string s = absl::StrCat(
        "--", a.name,
        absl::string_view(a.type) == "bool" ? "" : absl::StrCat(" ", value));
    return optional && !a.required ? absl::StrCat("[", s, "]") : s;
  }
  if (many && absl::EndsWith(value, "S")) value.pop_back();
  std::string s = absl::StrCat(value, many ? "..." : "");
  return optional && !a.required ? absl::StrCat("[", s, "]") : s;
}

std::string CommandSynopsis(const CommandSpec& c) {
  std::vector<std::string> parts = {c.name};
  for (const ArgSpec& a : c.args) parts.push_back(Synopsis(a, true));
  return absl::StrJoin(parts, " ");
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
                                  text[i - 1] == '-' || text[i - 1] == '[')) {
      out += "\\-";
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Every option curatorctl has (its own and the site's), sorted; Abseil's
// own (--flagfile, --help...) are left to --helpfull.
std::vector<const absl::CommandLineFlag*> Options() {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!absl::StrContains(flag->Filename(), "absl/")) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->Name() < b->Name(); });
  return flags;
}

}  // namespace

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec>* commands = new std::vector<
      CommandSpec>{
      {"status",
       "tasks by state, workers alive, batches by state, dispatch paused or "
       "not, and the plan's "
       "estimated finish",
       {},
       "curator.v1.StatusSummary"},
      {"tasks",
       "the daemon's tasks: state, progress of running ones, batch, last error "
       "or what each "
       "waits for",
       {{"state", "string", false, "only tasks in this state", TaskStates()},
        NightFilter(),
        CuFilter()},
       "curator.v1.ListTasksResponse"},
      {"watch",
       "follow tasks live (progress, estimated time left) until everything, or "
       "the night, "
       "settles: nothing pending, approved, dispatched or running",
       {NightFilter(),
        {"interval", "number", false, "seconds between looks (default 2)"},
        {"timeout", "number", false,
         "give up after this many seconds (default: never)"}},
       "curator.v1.WatchUpdate",
       Where::kDaemon,
       "a task of it failed, or the night is unknown, or the timeout passed"},
      {"workers",
       "the workers, their load and last heartbeat",
       {},
       "curator.v1.ListWorkersResponse"},
      {"plan",
       "which worker would run what, the estimated start and finish, and the "
       "error of past "
       "estimates",
       {},
       "curator.v1.GetPlanResponse"},
      {"approve",
       "let pending tasks run",
       {{"task_ids", "int64[]", true, "tasks to approve (or --all)", {}, true},
        {"all", "bool", false, "every pending task"}},
       "curator.v1.ApproveResponse",
       Where::kDaemon,
       "a task could not be approved (named, with its state)"},
      {"reject",
       "approved tasks back to pending",
       {TaskIds("tasks")},
       "curator.v1.TaskIdsResponse",
       Where::kDaemon,
       "a task was refused (named, with its state)"},
      {"cancel",
       "stop tasks, also on their workers",
       {TaskIds("tasks")},
       "curator.v1.TaskIdsResponse",
       Where::kDaemon,
       "a task was refused (named, with its state)"},
      {"retry",
       "failed or cancelled tasks back to pending, with a fresh budget of "
       "attempts",
       {TaskIds("tasks")},
       "curator.v1.TaskIdsResponse",
       Where::kDaemon,
       "a task was refused (named, with its state)"},
      {"rerun",
       "finished tasks (done, ingested, failed, cancelled) back to pending, to "
       "be processed "
       "again; the new batch replaces the old",
       {TaskIds("tasks")},
       "curator.v1.TaskIdsResponse",
       Where::kDaemon,
       "a task was refused (named, with its state)"},
      {"pause",
       "stop dispatching new tasks (running ones go on)",
       {},
       "curator.v1.DispatchState"},
      {"resume", "dispatch again", {}, "curator.v1.DispatchState"},
      {"nights",
       "nights, their files, their tasks' states, deliveries and sources",
       {{"nights", "night[]", true, "only these nights"}},
       "curator.v1.ListNightsResponse"},
      {"batches",
       "batches: ready, loading, waiting, ingested, quarantined, with rows and "
       "timings",
       {{"state", "string", false, "only batches in this state", BatchStates()},
        NightFilter(),
        CuFilter()},
       "curator.v1.ListBatchesResponse"},
      {"log",
       "a task's attempts, steps, progress, and its errors and warnings per "
       "file",
       {{"task_id", "int64", true, "task", {}, true}},
       "curator.v1.GetTaskLogResponse",
       Where::kDaemon,
       "there is no such task"},
      {"cus",
       "the curation use cases the daemon knows, and what each waits for",
       {},
       "curator.v1.ListCusResponse"},
      {"audit",
       "who asked for what and when: every state-changing command, newest "
       "first",
       {{"limit", "int64", false,
         "at most this many entries (default 100, at most 1000)"},
        {"command", "string", false, "only this command (e.g. cancel, retire)"},
        {"before", "int64", false,
         "only entries older than this id (the next page)"}},
       "curator.v1.ListAuditResponse"},
      {"changes",
       "a night's files changed, new or gone since its tasks were made",
       {Night()},
       "curator.v1.ChangesResponse"},
      {"accept",
       "make a night's changed files its delivery and process again what they "
       "touch",
       {Night()},
       "curator.v1.ArchiveActionResponse",
       Where::kDaemon,
       "refused, with the reason (e.g. a task of the night is running)"},
      {"deprecate",
       "take frames out of the live archive (kept for audit)",
       {{"files", "string[]", true, "file names or paths of images", {}, true},
        {"reason", "string", false, "why", {}, true}},
       "curator.v1.ArchiveActionResponse",
       Where::kDaemon,
       "refused, with the reason"},
      {"undeprecate",
       "bring frames an operator deprecated back",
       {{"files", "string[]", true, "file names or paths of images", {}, true},
        {"reason", "string", false, "why"}},
       "curator.v1.ArchiveActionResponse",
       Where::kDaemon,
       "refused, with the reason"},
      {"retire",
       "take a night out of the live archive (its detections kept)",
       {Night(), {"reason", "string", false, "why", {}, true}},
       "curator.v1.ArchiveActionResponse",
       Where::kDaemon,
       "refused, with the reason"},
      {"restore",
       "bring a retired night back",
       {Night()},
       "curator.v1.ArchiveActionResponse",
       Where::kDaemon,
       "refused, with the reason"},
      {"reload",
       "process every CU of a night again from its files; readers see the old "
       "rows until the "
       "new ones are in",
       {Night()},
       "curator.v1.ArchiveActionResponse",
       Where::kDaemon,
       "refused, with the reason"},
      {"release create",
       "a frozen, read-only copy of the live archive in schema release_NAME, "
       "with its manifest "
       "(nights, rows and checksum per table)",
       {{"name", "string", true, "1 to 40 of a-z, 0-9 and _", {}, true},
        {"until", "night", false,
         "the last night it holds (default: every night)"}},
       "curator.v1.ReleaseInfo",
       Where::kDaemon,
       "a night it would hold is still loading (named), or the release exists"},
      {"release list",
       "the releases: nights, rows, checksum and size on disk per table",
       {},
       "curator.v1.ListReleasesResponse"},
      {"release verify",
       "recompute a release's rows and checksums",
       {{"name", "string", true, "the release", {}, true}},
       "curator.v1.VerifyReleaseResponse",
       Where::kDaemon,
       "a table differs from its manifest (each named)"},
      {"release drop",
       "drop a release: its schema and manifest",
       {{"name", "string", true, "the release", {}, true}},
       "curator.v1.DropReleaseResponse"},
      {"migrate",
       "bring the database schema up to date",
       {},
       "curator.v1.MigrateResult",
       Where::kLocal},
      {"shards",
       "the detections' shard servers: nights, detections, size, health",
       {},
       "curator.v1.ShardsResult",
       Where::kLocal,
       "a shard is unreachable, or at another schema version than the head"},
      {"register",
       "register the files of nights (ids at once)",
       {{"nights", "night[]", true, "nights (or --all)", {}, true},
        {"all", "bool", false,
         "every night under incoming/ with a transfer marker"}},
       "curator.v1.RegisterResult",
       Where::kLocal,
       "a night has problems (changed files, orphan catalogues), each named"},
      {"help",
       "the commands, or one command's arguments and exit codes",
       {{"command", "string", true, "a command"}},
       "",
       Where::kHere},
      {"describe",
       "every command, its arguments and their types, and the shape of its "
       "--json answer",
       {{"roff", "bool", false, "as the manual page curatorctl(1), in roff"}},
       "",
       Where::kHere},
  };
  return *commands;
}

const CommandSpec* FindCommand(const std::string& name) {
  for (const CommandSpec& c : Commands()) {
    if (name == c.name) return &c;
  }
  return nullptr;
}

const std::vector<ExitCode>& ExitCodes() {
  static const std::vector<ExitCode>* codes = new std::vector<ExitCode>{
      {0, "done"},
      {1,
       "bad usage: an unknown command or option, a missing or malformed "
       "argument (also when "
       "the daemon finds it malformed)"},
      {2,
       "done, with problems reported, or refused: the command's own reasons "
       "(see its help), "
       "no such task or night, a change without the certificate or token it "
       "needs"},
      {3, "failed: the database or the daemon unreachable, an internal error"},
  };
  return *codes;
}

std::vector<std::string> CommonOptions() {
  return {"config", "daemon", "json", "db", "archive"};
}

std::string UsageText() {
  std::string out =
      "curatorctl COMMAND [ARGUMENT...] [--config FILE] [--json]\n"
      "  The Curator operator's command line. `curatorctl help COMMAND` or\n"
      "  `curatorctl COMMAND --help` explains one command; `curatorctl\n"
      "  describe --json` describes them all for scripts.\n";
  const char* headings[] = {
      "Commands that ask curator-daemon (--config FILE [--daemon "
      "HOST:PORT]):",
      "Commands on the database itself (--config FILE, or --db CONNINFO "
      "[--archive DIR]):",
      "And:"};
  for (Where where : {Where::kDaemon, Where::kLocal, Where::kHere}) {
    absl::StrAppend(&out, "\n", headings[static_cast<int>(where)], "\n");
    for (const CommandSpec& c : Commands()) {
      if (c.where != where) continue;
      absl::StrAppend(&out, "  ", CommandSynopsis(c), "\n");
    }
  }
  absl::StrAppend(&out, "\nExit codes:\n");
  for (const ExitCode& e : ExitCodes())
    absl::StrAppend(&out, "  ", e.code, "  ", e.meaning, "\n");
  return out;
}

std::string CommandHelp(const CommandSpec& c) {
  std::string out =
      absl::StrCat("curatorctl ", CommandSynopsis(c), "\n  ", c.help, ".\n");
  if (!c.args.empty()) absl::StrAppend(&out, "\nArguments:\n");
  for (const ArgSpec& a : c.args) {
    absl::StrAppend(
        &out, "  ", Synopsis(a, false), "  ", a.help,
        a.required ? " (required)" : "",
        a.choices.empty()
            ? ""
            : absl::StrCat("; one of ", absl::StrJoin(a.choices, ", ")),
        "\n");
  }
  if (c.where == Where::kDaemon) {
    absl::StrAppend(
        &out,
        "\nAsks curator-daemon: --config FILE (and --daemon HOST:PORT unless "
        "daemon.listen_address is right).\n");
  } else if (c.where == Where::kLocal) {
    absl::StrAppend(&out,
                    "\nWorks on the database: --config FILE, or --db CONNINFO "
                    "(and --archive DIR).\n");
  }
  if (*c.returns != '\0') {
    absl::StrAppend(&out, "With --json, answers one JSON object: ", c.returns,
                    " (curatorctl describe --json shows its fields).\n");
  }
  absl::StrAppend(&out, "\nExit codes: 0 done; 1 bad usage; ");
  if (*c.exit_2 != '\0')
    absl::StrAppend(&out, "2 ", c.exit_2, ", or refused; ");
  else
    absl::StrAppend(&out, "2 refused; ");
  absl::StrAppend(&out, "3 failed (",
                  c.where == Where::kLocal ? "database" : "daemon",
                  " unreachable).\n");
  return out;
}

std::string DescribeJson() {
  using nlohmann::ordered_json;
  ordered_json options = ordered_json::array();
  for (const absl::CommandLineFlag* f : Options()) {
    options.push_back({{"name", f->Name()},
                       {"type", f->IsOfType<bool>() ? "bool" : "string"},
                       {"help", f->Help()},
                       {"default", f->DefaultValue()}});
  }
  ordered_json codes = ordered_json::object();
  for (const ExitCode& e : ExitCodes())
    codes[std::to_string(e.code)] = e.meaning;
  ordered_json commands = ordered_json::array();
  ordered_json schemas = ordered_json::object();
  const char* wheres[] = {"daemon", "local", "here"};
  for (const CommandSpec& c : Commands()) {
    ordered_json args = ordered_json::array();
    for (const ArgSpec& a : c.args) {
      ordered_json arg = {{"name", a.name},
                          {"type", a.type},
                          {"positional", a.positional},
                          {"required", a.required},
                          {"help", a.help}};
      if (!a.choices.empty()) arg["choices"] = a.choices;
      args.push_back(std::move(arg));
    }
    commands.push_back({{"name", c.name},
                        {"help", c.help},
                        {"where", wheres[static_cast<int>(c.where)]},
                        {"arguments", std::move(args)},
                        {"returns", c.returns},
                        {"exit_2", c.exit_2}});
    if (*c.returns != '\0') {
      const auto* d = google::protobuf::DescriptorPool::generated_pool()
                          ->FindMessageTypeByName(c.returns);
      if (d != nullptr) Describe(d, &schemas);
    }
  }
  ordered_json out = {
      {"program", "curatorctl"},         {"version", BuildVersion()},
      {"commit", BuildCommit()},         {"common_options", CommonOptions()},
      {"options", std::move(options)},   {"exit_codes", std::move(codes)},
      {"commands", std::move(commands)}, {"messages", std::move(schemas)}};
  return JsonText(out);
}

std::string DescribeRoff() {
  std::string out = absl::StrCat(
      ".TH CURATORCTL 1 \"\" \"Curator ", BuildVersion(),
      "\" \"Curator\"\n"
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
      "With \\fB\\-\\-json\\fR a command answers one JSON object: every field\n"
      "in a fixed order, numbers as numbers. \\fBdescribe \\-\\-json\\fR\n"
      "describes every command, its arguments and the fields of its answer,\n"
      "from which the Python module curator_client builds its API.\n"
      ".SH COMMANDS\n");
  for (const CommandSpec& c : Commands()) {
    std::vector<std::string> synopsis = {absl::StrCat("\\fB", c.name, "\\fR")};
    for (const ArgSpec& a : c.args) synopsis.push_back(Roff(Synopsis(a, true)));
    absl::StrAppend(&out, ".TP\n", absl::StrJoin(synopsis, " "), "\n",
                    Roff(c.help), ".\n");
    if (c.args.empty()) continue;
    absl::StrAppend(&out, ".RS\n");
    for (const ArgSpec& a : c.args) {
      absl::StrAppend(
          &out, ".TP\n\\fB", Roff(Synopsis(a, false)), "\\fR\n", Roff(a.help),
          a.required ? " (required)" : "",
          a.choices.empty()
              ? ""
              : absl::StrCat("; one of ", absl::StrJoin(a.choices, ", ")),
          ".\n");
    }
    absl::StrAppend(&out, ".RE\n");
  }
  absl::StrAppend(&out, ".SH OPTIONS\n");
  for (const absl::CommandLineFlag* f : Options()) {
    const std::string name(f->Name());
    const std::string value =
        f->IsOfType<bool>()
            ? ""
            : absl::StrCat(" \\fI", absl::AsciiStrToUpper(name), "\\fR");
    absl::StrAppend(&out, ".TP\n\\fB\\-\\-", name, "\\fR", value, "\n",
                    Roff(f->Help()), ".\n");
  }
  absl::StrAppend(&out, ".SH EXIT STATUS\n");
  for (const ExitCode& e : ExitCodes()) {
    absl::StrAppend(&out, ".TP\n", e.code, "\n", Roff(e.meaning), ".\n");
  }
  absl::StrAppend(
      &out,
      ".SH FILES\n"
      ".TP\n/etc/curator/curator.conf\n"
      "the site's configuration (protobuf text format); an annotated\n"
      "example is in /usr/share/doc/curator.\n"
      ".SH SEE ALSO\n"
      ".BR curator\\-daemon (1),\n"
      ".BR curator\\-worker (1),\n"
      ".BR curator\\-ingester (1),\n"
      "/usr/share/doc/curator/README.md\n");
  return out;
}

}  // namespace curator::ctl
