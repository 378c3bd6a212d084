// curatorctl: the operator's command line. Its commands, their arguments,
// answers and exit codes are one table (daemon/curatorctl_commands.h);
// `curatorctl --help` lists them, `curatorctl help COMMAND` explains one.
//
// Most commands ask curator-daemon over gRPC; migrate and register work
// on the database themselves. --json prints the answer as one JSON object
// (server/proto_json.h: every field in a fixed order, numbers as
// numbers) for scripts. Exit codes: 0 done; 1 bad usage; 2 done with
// problems reported, or refused; 3 failed (unreachable, internal error).
#include <grpcpp/create_channel.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "archive/cu_registry.h"
#include "archive/file_registry.h"
#include "archive/layout.h"
#include "archive/shards.h"
#include "base/cli.h"
#include "config/config.h"
#include "config/site.h"
#include "curator/v1/ctl.pb.h"
#include "curator/v1/services.grpc.pb.h"
#include "daemon/curatorctl_commands.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "server/proto_json.h"
#include "server/rpc_security.h"

ABSL_DECLARE_FLAG(std::string, config);  // config/site_flags.cc
ABSL_FLAG(bool, json, false, "answer in JSON, one object (watch: one a line)");
ABSL_FLAG(std::string, daemon, "",
          "host:port of curator-daemon (default: the config's "
          "daemon.listen_address)");
ABSL_FLAG(bool, all, false,
          "register: every night under incoming/ with a transfer marker; "
          "approve: every pending "
          "task");
ABSL_FLAG(std::string, state, "", "tasks, batches: only those in this state");
ABSL_FLAG(std::string, night, "",
          "tasks, batches, watch: only this night (YYYYMMDD)");
ABSL_FLAG(std::string, cu, "", "tasks, batches: only this CU (e.g. CU4 or 4)");
ABSL_FLAG(std::string, reason, "",
          "deprecate, undeprecate, retire: why (kept with the change)");
ABSL_FLAG(std::string, until, "",
          "release create: the last night (YYYYMMDD) the release holds "
          "(default: every night)");
ABSL_FLAG(double, interval, 2, "watch: seconds between looks");
ABSL_FLAG(double, timeout, 0,
          "watch: give up after this many seconds (0: never)");
ABSL_FLAG(int64_t, limit, 0, "audit: at most this many entries (default 100)");
ABSL_FLAG(std::string, command, "", "audit: only entries of this command");
ABSL_FLAG(int64_t, before, 0, "audit: only entries older than this id");
ABSL_FLAG(bool, roff, false,
          "describe: as the manual page curatorctl(1), in roff");

namespace {

namespace v1 = curator::v1;
using curator::ctl::ArgSpec;
using curator::ctl::CommandSpec;
using curator::ctl::Where;

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

bool Json() { return absl::GetFlag(FLAGS_json); }

void PrintJson(const google::protobuf::Message& m) {
  std::printf("%s\n", curator::JsonText(curator::ProtoToJson(m)).c_str());
  std::fflush(stdout);
}

// "850 ms", "12 s", "3 min 4 s", "2 h 5 min"; "-" for an unknown (< 0).
std::string Duration(double seconds) {
  if (seconds < 0) return "-";
  if (seconds < 1) return absl::StrCat(static_cast<int>(seconds * 1000), " ms");
  const int64_t s = static_cast<int64_t>(seconds + 0.5);
  if (s < 60) return absl::StrCat(s, " s");
  if (s < 3600) return absl::StrCat(s / 60, " min ", s % 60, " s");
  return absl::StrCat(s / 3600, " h ", (s % 3600) / 60, " min");
}

// 2411917 -> "2,411,917".
std::string Count(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

// YYYYMMDD, and a real date (20071340 is not).
bool IsNight(const std::string& s) { return curator::archive::IsNightName(s); }

// "CU4" or "4" -> 4; 0 if it is neither.
int ParseCu(const std::string& s) {
  int n = 0;
  absl::string_view digits = s;
  if (absl::StartsWithIgnoreCase(digits, "cu")) digits.remove_prefix(2);
  return absl::SimpleAtoi(digits, &n) && n > 0 ? n : 0;
}

// "CU3" for a CU id, from the daemon's registry (ListCus), fetched once.
class CuNames {
 public:
  explicit CuNames(v1::Coordinator::Stub* stub) : stub_(stub) {}
  std::string operator()(int cu) {
    Fetch();
    auto it = names_.find(cu);
    return it != names_.end() ? it->second : absl::StrCat("CU", cu);
  }
  // Every CU's name, in planning order.
  const std::vector<std::string>& order() {
    Fetch();
    return order_;
  }

 private:
  void Fetch() {
    if (fetched_) return;
    fetched_ = true;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    v1::ListCusResponse cus;
    if (stub_->ListCus(&ctx, v1::ListCusRequest(), &cus).ok()) {
      for (const auto& c : cus.cus()) {
        names_[c.cu()] = c.name();
        order_.push_back(c.name());
      }
    }
  }
  v1::Coordinator::Stub* stub_;
  bool fetched_ = false;
  std::map<int, std::string> names_;
  std::vector<std::string> order_;
};

// The filters of tasks, batches and watch, checked.
struct Filter {
  std::string state, night;
  int cu = 0;
  bool Keeps(const std::string& s, const std::string& n, int c) const {
    return (state.empty() || s == state) && (night.empty() || n == night) &&
           (cu == 0 || c == cu);
  }
};

// One call to the daemon.
struct Daemon {
  std::string address;
  std::unique_ptr<v1::Coordinator::Stub> stub;
  curator::RpcSecurity security;
  std::unique_ptr<grpc::ClientContext> Context(
      std::chrono::seconds deadline = std::chrono::seconds(30)) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + deadline);
    security.Authorize(ctx.get());
    return ctx;
  }
  int Failed(const grpc::Status& st) const {
    return Fail(ExitFor(static_cast<absl::StatusCode>(st.error_code())),
                absl::StrCat("daemon at ", address, ": ", st.error_message()));
  }
};

std::string Progress(const v1::TaskInfo& t) {
  if (t.state() != "running" && t.state() != "dispatched") return "";
  std::string out = absl::StrCat(t.files_done(), "/", t.files(), " files");
  if (t.remaining_seconds() > 0)
    absl::StrAppend(&out, ", about ", Duration(t.remaining_seconds()), " left");
  else if (t.elapsed_seconds() > 0)
    absl::StrAppend(&out, ", ", Duration(t.elapsed_seconds()), " so far");
  return out;
}

std::string TaskNote(const v1::TaskInfo& t) {
  if (!t.waiting_for().empty())
    return absl::StrCat("waits for ", absl::StrJoin(t.waiting_for(), "; "));
  if (const std::string p = Progress(t); !p.empty()) return p;
  return t.batch_id().empty() ? t.last_error() : t.batch_id();
}

void PrintTasks(const v1::ListTasksResponse& out, CuNames& cu_name) {
  std::printf("%8s  %-8s  %-4s  %-10s  %5s  %8s  %-12s  %s\n", "TASK", "NIGHT",
              "CU", "STATE", "FILES", "ATTEMPTS", "WORKER",
              "PROGRESS / BATCH / LAST ERROR / WAITING FOR");
  for (const auto& t : out.tasks()) {
    std::printf("%8lld  %-8s  %-4s  %-10s  %5d  %8d  %-12s  %s\n",
                static_cast<long long>(t.task_id()), t.night().c_str(),
                cu_name(t.cu()).c_str(), t.state().c_str(), t.files(),
                t.attempts(), t.worker_id().c_str(), TaskNote(t).c_str());
  }
}

v1::StatusSummary Summarize(const v1::ListTasksResponse& tasks,
                            const v1::ListBatchesResponse& batches) {
  v1::StatusSummary s;
  for (const auto& name : curator::ctl::FindCommand("tasks")->args[0].choices) {
    (*s.mutable_tasks())[name] = 0;
  }
  for (const auto& name :
       curator::ctl::FindCommand("batches")->args[0].choices) {
    (*s.mutable_batches())[name] = 0;
  }
  for (const auto& t : tasks.tasks()) (*s.mutable_tasks())[t.state()]++;
  for (const auto& b : batches.batches()) (*s.mutable_batches())[b.state()]++;
  return s;
}

std::string JoinCounts(const google::protobuf::Map<std::string, int32_t>& m,
                       const std::vector<std::string>& order) {
  std::vector<std::string> parts;
  for (const std::string& k : order) {
    auto it = m.find(k);
    if (it != m.end() && it->second > 0)
      parts.push_back(absl::StrCat(it->second, " ", k));
  }
  return parts.empty() ? std::string("none") : absl::StrJoin(parts, ", ");
}

// A release's manifest, for people.
void PrintRelease(const v1::ReleaseInfo& r) {
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
  std::printf("  %-24s %14s %10s  %s\n", "TABLE", "ROWS", "MB", "CHECKSUM");
  for (const auto& t : r.tables()) {
    std::printf("  %-24s %14s %10.1f  %s\n", t.table().c_str(),
                Count(t.rows()).c_str(), t.bytes() / 1e6, t.checksum().c_str());
  }
}

// The answer of a call: printed for people by `text` unless --json;
// `code` is the exit code of a call that succeeded.
template <typename Reply, typename Print>
int Answer(const Daemon& d, const grpc::Status& st, const Reply& reply,
           Print text, int code = 0) {
  if (!st.ok()) return d.Failed(st);
  if (Json()) {
    PrintJson(reply);
  } else {
    text(reply);
  }
  return code;
}

int Tasks(Daemon& d, CuNames& cu_name, const Filter& f) {
  v1::ListTasksRequest r;
  r.set_state(f.state);
  r.set_night(f.night);
  r.set_cu(static_cast<v1::Cu>(f.cu));
  v1::ListTasksResponse out;
  grpc::Status st = d.stub->ListTasks(d.Context().get(), r, &out);
  // Filtered here too, whatever the daemon's version does with them.
  v1::ListTasksResponse kept;
  for (const auto& t : out.tasks()) {
    if (f.Keeps(t.state(), t.night(), t.cu())) *kept.add_tasks() = t;
  }
  return Answer(d, st, kept, [&](const auto& k) { PrintTasks(k, cu_name); });
}

int Batches(Daemon& d, CuNames& cu_name, const Filter& f) {
  v1::ListBatchesResponse out, kept;
  grpc::Status st =
      d.stub->ListBatches(d.Context().get(), v1::ListBatchesRequest(), &out);
  for (const auto& b : out.batches()) {
    if (f.Keeps(b.state(), b.night(), b.cu())) *kept.add_batches() = b;
  }
  return Answer(d, st, kept, [&](const v1::ListBatchesResponse& k) {
    std::printf("%-24s  %-8s  %-4s  %-11s  %12s  %10s  %s\n", "BATCH", "NIGHT",
                "CU", "STATE", "ROWS", "INGEST", "TABLES / REPORT");
    for (const auto& b : k.batches()) {
      std::vector<std::string> tables;
      for (const auto& [table, n] : b.rows_by_table()) {
        tables.push_back(absl::StrCat(table, " ", Count(n)));
      }
      std::sort(tables.begin(), tables.end());
      std::string note =
          b.report().empty() ? absl::StrJoin(tables, ", ") : b.report();
      if (!b.held_by().empty())
        note = absl::StrCat("held by ", b.held_by(), " since ", b.held_since());
      std::printf(
          "%-24s  %-8s  %-4s  %-11s  %12s  %10s  %s\n", b.batch_id().c_str(),
          b.night().c_str(), cu_name(b.cu()).c_str(), b.state().c_str(),
          Count(b.rows()).c_str(),
          b.ingest_ms() > 0 ? Duration(b.ingest_ms() / 1000).c_str() : "-",
          note.c_str());
    }
  });
}

int Nights(Daemon& d, CuNames& cu_name, const std::vector<std::string>& only) {
  v1::ListNightsResponse out, kept;
  grpc::Status st =
      d.stub->ListNights(d.Context().get(), v1::ListNightsRequest(), &out);
  const std::set<std::string> wanted(only.begin(), only.end());
  for (const auto& n : out.nights()) {
    if (wanted.empty() || wanted.count(n.night())) *kept.add_nights() = n;
  }
  if (st.ok() && !wanted.empty() &&
      kept.nights_size() < static_cast<int>(wanted.size())) {
    std::vector<std::string> missing;
    for (const std::string& n : wanted) {
      bool found = false;
      for (const auto& k : kept.nights()) found |= k.night() == n;
      if (!found) missing.push_back(n);
    }
    if (kept.nights().empty()) {
      return Fail(
          2, absl::StrCat("no such night: ", absl::StrJoin(missing, ", ")));
    }
    std::fprintf(stderr, "curatorctl: no such night: %s\n",
                 absl::StrJoin(missing, ", ").c_str());
  }
  const bool some_missing =
      !wanted.empty() && kept.nights_size() < static_cast<int>(wanted.size());
  return Answer(
      d, st, kept,
      [&](const v1::ListNightsResponse& k) {
        std::printf("%-8s  %-8s  %6s  %10s  %s\n", "NIGHT", "COMPLETE",
                    "IMAGES", "CATALOGUES", "TASKS");
        for (const auto& n : k.nights()) {
          std::vector<std::string> tasks;
          for (const std::string& cu : cu_name.order()) {
            auto it = n.tasks().find(cu);
            if (it != n.tasks().end())
              tasks.push_back(absl::StrCat(cu, " ", it->second));
          }
          std::string more;
          if (n.sources().loaded()) {
            const auto& s = n.sources();
            more = absl::StrCat("; sources: ", Count(s.new_sources()), " new, ",
                                Count(s.updated_sources()), " updated, ",
                                Count(s.unmatched_sources()), " unmatched (",
                                Count(s.detections()), " detections linked)");
          }
          if (n.retired()) absl::StrAppend(&more, "; RETIRED");
          if (n.delivery() > 1)
            absl::StrAppend(&more, "; delivery ", n.delivery());
          if (n.deprecated_frames() > 0) {
            absl::StrAppend(&more, "; ", n.deprecated_frames(),
                            " frames deprecated");
          }
          if (n.pending_changes() > 0) {
            absl::StrAppend(&more, "; ", n.pending_changes(),
                            " files changed, waiting (curatorctl changes ",
                            n.night(), ")");
          }
          std::printf("%-8s  %-8s  %6d  %10d  %s%s\n", n.night().c_str(),
                      n.transfer_complete() ? "yes" : "no", n.images(),
                      n.catalogues(), absl::StrJoin(tasks, ", ").c_str(),
                      more.c_str());
        }
      },
      some_missing ? 2 : 0);
}

int Plan(Daemon& d, CuNames& cu_name) {
  v1::GetPlanResponse out;
  grpc::Status st =
      d.stub->GetPlan(d.Context().get(), v1::GetPlanRequest(), &out);
  return Answer(d, st, out, [&](const v1::GetPlanResponse& p) {
    std::printf("%8s  %-8s  %-4s  %-14s  %12s  %12s  %s\n", "TASK", "NIGHT",
                "CU", "WORKER", "START IN", "FINISH IN", "ESTIMATE");
    for (const auto& e : p.entries()) {
      std::printf("%8lld  %-8s  %-4s  %-14s  %12s  %12s  %s%s\n",
                  static_cast<long long>(e.task_id()), e.night().c_str(),
                  cu_name(e.cu()).c_str(), e.worker_id().c_str(),
                  Duration(std::max(0.0, e.start_in_seconds())).c_str(),
                  Duration(std::max(0.0, e.finish_in_seconds())).c_str(),
                  e.estimate_basis().c_str(),
                  e.starts_now() ? "  (starts when approved)" : "");
    }
    for (int64_t id : p.unplaceable()) {
      std::printf("%8lld  no worker can take it now\n",
                  static_cast<long long>(id));
    }
    const std::string running =
        p.running_tasks() > 0 ? absl::StrCat(", after the ", p.running_tasks(),
                                             " task(s) on workers now")
                              : "";
    std::printf("estimated finish in %s%s%s\n",
                Duration(p.finish_in_seconds()).c_str(), running.c_str(),
                p.paused() ? "; dispatch is PAUSED" : "");
    if (p.estimates_compared() > 0) {
      std::printf(
          "past estimates (last %d tasks): median error %.0f%%, 90th "
          "percentile %.0f%%, %s by %.0f%% on average\n",
          p.estimates_compared(), 100 * p.estimate_error_median(),
          100 * p.estimate_error_p90(),
          p.estimate_error_mean_signed() > 0 ? "too short" : "too long",
          100 * std::abs(p.estimate_error_mean_signed()));
    } else {
      std::printf("past estimates: none finished yet to compare\n");
    }
    // The workers the plan counts on, with their load.
    v1::ListWorkersResponse workers;
    if (d.stub
            ->ListWorkers(d.Context().get(), v1::ListWorkersRequest(), &workers)
            .ok()) {
      for (const auto& w : workers.workers()) {
        std::printf(
            "worker %-12s %s  load %.2f on %d cores, %d of %d slots busy, %.1f "
            "GB free disk\n",
            w.worker_id().c_str(), w.alive() ? "alive" : "SILENT",
            w.load().load_average_1m(), w.load().cores(),
            w.load().running_tasks(), w.load().slots(),
            w.load().free_disk_bytes() / 1e9);
      }
    }
  });
}

int Log(Daemon& d, CuNames& cu_name, int64_t id) {
  v1::GetTaskLogRequest r;
  r.set_task_id(id);
  v1::GetTaskLogResponse out;
  grpc::Status st = d.stub->GetTaskLog(d.Context().get(), r, &out);
  return Answer(d, st, out, [&](const v1::GetTaskLogResponse& l) {
    const auto& t = l.task();
    std::printf(
        "task %lld: %s of %s, %s, attempt %d on %s%s%s\n",
        static_cast<long long>(t.task_id()), cu_name(t.cu()).c_str(),
        t.night().c_str(), t.state().c_str(), t.attempts(),
        t.worker_id().empty() ? "-" : t.worker_id().c_str(),
        t.last_error().empty() ? "" : "; last error: ", t.last_error().c_str());
    if (const std::string p = Progress(t); !p.empty())
      std::printf("  progress: %s\n", p.c_str());
    for (const auto& a : l.attempts()) {
      std::printf("  attempt %d on %s at %s: %s after %s%s%s\n", a.number(),
                  a.worker_id().empty() ? "-" : a.worker_id().c_str(),
                  a.started().c_str(),
                  a.outcome().empty() ? "running" : a.outcome().c_str(),
                  Duration(a.seconds()).c_str(), a.error().empty() ? "" : ": ",
                  a.error().c_str());
    }
    for (const auto& s : l.steps()) {
      std::printf(
          "  step %-16s %10s  %12s rows  %5d files  %3d errors  %3d warnings\n",
          s.step().c_str(), Duration(s.seconds()).c_str(),
          Count(s.rows()).c_str(), s.files(), s.errors(), s.warnings());
    }
    for (const auto& line : l.lines()) {
      // Most messages name their file already.
      if (absl::StartsWith(line.message(), line.path())) {
        std::printf("  %-7s %s\n", line.level().c_str(),
                    line.message().c_str());
        continue;
      }
      const std::string hdu =
          line.hdu() ? absl::StrCat(" HDU ", line.hdu()) : "";
      std::printf("  %-7s %s%s%s%s: %s\n", line.level().c_str(),
                  line.path().c_str(), hdu.c_str(),
                  line.item().empty() ? "" : " ", line.item().c_str(),
                  line.message().c_str());
    }
  });
}

// Tasks, workers, batches and plan, in one summary.
int Status(Daemon& d) {
  v1::ListTasksResponse tasks;
  v1::ListWorkersResponse workers;
  v1::ListBatchesResponse batches;
  v1::GetPlanResponse plan;
  grpc::Status st =
      d.stub->ListTasks(d.Context().get(), v1::ListTasksRequest(), &tasks);
  if (st.ok())
    st = d.stub->ListWorkers(d.Context().get(), v1::ListWorkersRequest(),
                             &workers);
  if (st.ok())
    st = d.stub->ListBatches(d.Context().get(), v1::ListBatchesRequest(),
                             &batches);
  if (st.ok())
    st = d.stub->GetPlan(d.Context().get(), v1::GetPlanRequest(), &plan);
  v1::StatusSummary s = Summarize(tasks, batches);
  for (const auto& w : workers.workers())
    s.set_workers_alive(s.workers_alive() + w.alive());
  s.set_workers(workers.workers_size());
  s.set_paused(plan.paused());
  s.set_finish_in_seconds(plan.finish_in_seconds());
  return Answer(d, st, s, [&](const v1::StatusSummary& x) {
    std::printf(
        "tasks: %s\nworkers: %d alive of %d\nbatches: %s\ndispatch: %s; "
        "estimated finish of what "
        "is left: %s\n",
        JoinCounts(x.tasks(),
                   curator::ctl::FindCommand("tasks")->args[0].choices)
            .c_str(),
        x.workers_alive(), x.workers(),
        JoinCounts(x.batches(),
                   curator::ctl::FindCommand("batches")->args[0].choices)
            .c_str(),
        x.paused() ? "PAUSED" : "running",
        Duration(x.finish_in_seconds()).c_str());
  });
}

std::string Now() {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(),
                          absl::UTCTimeZone());
}

// Follows the tasks (of a night) until they settle: every one ingested,
// failed or cancelled, and no batch of theirs ready, loading or waiting.
// A line for each task whose state, worker or progress moved; a daemon
// that stops answering for a while (a restart) is waited for.
int Watch(Daemon& d, CuNames& cu_name, const std::string& night) {
  const absl::Duration interval =
      absl::Seconds(std::max(0.1, absl::GetFlag(FLAGS_interval)));
  const double timeout = absl::GetFlag(FLAGS_timeout);
  const absl::Time start = absl::Now();
  const absl::Time give_up =
      timeout > 0 ? start + absl::Seconds(timeout) : absl::InfiniteFuture();
  std::map<int64_t, std::string> seen;  // task -> what was last said of it
  bool answered_once = false, said_approval = false, said_unreachable = false;
  Filter f{.state = "", .night = night, .cu = 0};
  while (true) {
    v1::ListTasksRequest r;
    r.set_night(night);
    v1::ListTasksResponse tasks, kept;
    v1::ListBatchesResponse batches, kept_batches;
    grpc::Status st =
        d.stub->ListTasks(d.Context(std::chrono::seconds(10)).get(), r, &tasks);
    if (st.ok()) {
      st = d.stub->ListBatches(d.Context(std::chrono::seconds(10)).get(),
                               v1::ListBatchesRequest(), &batches);
    }
    if (!st.ok()) {
      if (!answered_once) return d.Failed(st);
      if (!said_unreachable) {
        std::fprintf(stderr, "curatorctl: daemon at %s: %s; still watching\n",
                     d.address.c_str(), st.error_message().c_str());
        said_unreachable = true;
      }
    } else {
      said_unreachable = false;
      for (const auto& t : tasks.tasks()) {
        if (f.Keeps(t.state(), t.night(), t.cu())) *kept.add_tasks() = t;
      }
      // A night the daemon does not know (a typo) would never settle.
      if (!answered_once && !night.empty() && kept.tasks().empty()) {
        v1::ListNightsResponse nights;
        if (d.stub
                ->ListNights(d.Context().get(), v1::ListNightsRequest(),
                             &nights)
                .ok()) {
          bool known = false;
          for (const auto& n : nights.nights()) known |= n.night() == night;
          if (!known) return Fail(2, absl::StrCat("no such night: ", night));
        }
      }
      answered_once = true;
      for (const auto& b : batches.batches()) {
        if (f.Keeps(b.state(), b.night(), b.cu()))
          *kept_batches.add_batches() = b;
      }
      v1::WatchUpdate u;
      u.set_at(Now());
      int busy = 0, pending = 0, failed = 0;
      for (const auto& t : kept.tasks()) {
        const std::string said =
            absl::StrCat(t.state(), "|", t.worker_id(), "|", t.files_done());
        if (seen[t.task_id()] != said) {
          seen[t.task_id()] = said;
          *u.add_changed() = t;
        }
        const std::string& s = t.state();
        if (s != "ingested" && s != "failed" && s != "cancelled") ++busy;
        pending += s == "pending";
        // Failed now: a quarantined batch sends its task back (counted
        // only if it then fails); a cancel is the operator's own choice.
        failed += s == "failed";
      }
      int unloaded = 0;
      for (const auto& b : kept_batches.batches()) {
        unloaded += b.state() == "ready" || b.state() == "loading" ||
                    b.state() == "waiting";
      }
      *u.mutable_totals() = Summarize(kept, kept_batches);
      u.set_settled(busy == 0 && unloaded == 0 &&
                    (!night.empty() ? kept.tasks_size() > 0 : true));
      if (Json()) {
        if (u.changed_size() > 0 || u.settled()) PrintJson(u);
      } else {
        const std::string clock =
            absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone());
        for (const auto& t : u.changed()) {
          std::vector<std::string> parts;
          if (!t.worker_id().empty())
            parts.push_back(absl::StrCat("on ", t.worker_id()));
          std::string note = TaskNote(t);
          if (!note.empty() && note == t.batch_id())
            note = absl::StrCat("batch ", note);
          if (!note.empty()) parts.push_back(note);
          std::printf("%s  task %-5lld %-4s %s  %-10s  %s\n", clock.c_str(),
                      static_cast<long long>(t.task_id()),
                      cu_name(t.cu()).c_str(), t.night().c_str(),
                      t.state().c_str(), absl::StrJoin(parts, ", ").c_str());
        }
        if (pending > 0 && pending == busy && !said_approval) {
          std::printf(
              "%s  %d task(s) pending approval (curatorctl approve --all)\n",
              clock.c_str(), pending);
          said_approval = true;
        }
        std::fflush(stdout);
      }
      if (u.settled()) {
        if (!Json()) {
          std::printf(
              "settled after %s: %s; batches: %s\n",
              Duration(absl::ToDoubleSeconds(absl::Now() - start)).c_str(),
              JoinCounts(u.totals().tasks(),
                         curator::ctl::FindCommand("tasks")->args[0].choices)
                  .c_str(),
              JoinCounts(u.totals().batches(),
                         curator::ctl::FindCommand("batches")->args[0].choices)
                  .c_str());
        }
        return failed > 0 ? 2 : 0;
      }
    }
    if (absl::Now() + interval > give_up) {
      return Fail(2,
                  absl::StrCat("watch: not settled after ", Duration(timeout)));
    }
    absl::SleepFor(interval);
  }
}

int Audit(Daemon& d) {
  v1::ListAuditRequest r;
  r.set_limit(static_cast<int32_t>(
      std::clamp<int64_t>(absl::GetFlag(FLAGS_limit), -1, 100000)));
  r.set_before_id(absl::GetFlag(FLAGS_before));
  r.set_command(absl::GetFlag(FLAGS_command));
  v1::ListAuditResponse out;
  grpc::Status st = d.stub->ListAudit(d.Context().get(), r, &out);
  return Answer(d, st, out, [&](const v1::ListAuditResponse& a) {
    std::printf("%6s  %-24s  %-16s  %-6s  %-14s  %-24s  %s\n", "ID", "AT",
                "WHO", "VIA", "COMMAND", "TARGET", "OUTCOME");
    for (const auto& e : a.entries()) {
      std::printf("%6lld  %-24s  %-16s  %-6s  %-14s  %-24s  %s%s\n",
                  static_cast<long long>(e.id()), e.at().c_str(),
                  e.who().c_str(), e.via().c_str(), e.command().c_str(),
                  e.target().c_str(), e.outcome().c_str(),
                  e.reason().empty()
                      ? ""
                      : absl::StrCat(" (reason: ", e.reason(), ")").c_str());
    }
    if (a.entries_size() > 0 &&
        a.entries_size() == (r.limit() ? r.limit() : 100)) {
      std::printf("older: curatorctl audit --before %lld\n",
                  static_cast<long long>(a.entries(a.entries_size() - 1).id()));
    }
  });
}

int Release(Daemon& d, const std::string& command,
            const std::vector<std::string>& args) {
  // A release copies or reads the whole archive: 41-45 s per million
  // detections to make on the bench's machine, so about 12 h for a
  // billion (README, "Releases"). An interrupted curatorctl does not stop
  // the daemon; `release list` shows the release once it is made.
  const auto long_call = std::chrono::hours(48);
  if (command == "release create") {
    v1::CreateReleaseRequest r;
    r.set_name(args[0]);
    r.set_until(absl::GetFlag(FLAGS_until));
    v1::ReleaseInfo out;
    grpc::Status st =
        d.stub->CreateRelease(d.Context(long_call).get(), r, &out);
    return Answer(d, st, out, [](const v1::ReleaseInfo& x) {
      PrintRelease(x);
      std::printf("made in %s\n", Duration(x.seconds()).c_str());
    });
  }
  if (command == "release list") {
    v1::ListReleasesResponse out;
    grpc::Status st = d.stub->ListReleases(d.Context().get(),
                                           v1::ListReleasesRequest(), &out);
    return Answer(d, st, out, [](const v1::ListReleasesResponse& x) {
      if (x.releases().empty()) std::printf("no releases\n");
      for (const auto& r : x.releases()) PrintRelease(r);
    });
  }
  v1::ReleaseNameRequest r;
  r.set_name(args[0]);
  if (command == "release verify") {
    v1::VerifyReleaseResponse out;
    grpc::Status st =
        d.stub->VerifyRelease(d.Context(long_call).get(), r, &out);
    return Answer(
        d, st, out,
        [](const v1::VerifyReleaseResponse& x) {
          int64_t rows = 0;
          for (const auto& t : x.tables()) rows += t.rows();
          std::printf(
              "release %s: %s (%d tables, %s rows, checked in %s)\n",
              x.name().c_str(),
              x.unchanged() ? "unchanged, as its manifest says" : "CHANGED",
              x.tables_size(), Count(rows).c_str(),
              Duration(x.seconds()).c_str());
          for (const std::string& diff : x.differences())
            std::printf("  %s\n", diff.c_str());
        },
        st.ok() && !out.unchanged() ? 2 : 0);
  }
  v1::DropReleaseResponse out;
  grpc::Status st = d.stub->DropRelease(d.Context().get(), r, &out);
  return Answer(d, st, out, [](const v1::DropReleaseResponse& x) {
    std::printf("release %s dropped: %.1f MB freed (event %lld)\n",
                x.name().c_str(), x.bytes() / 1e6,
                static_cast<long long>(x.cu_event_id()));
  });
}

int ArchiveAction(Daemon& d, const std::string& command,
                  const std::vector<std::string>& args) {
  v1::ArchiveActionResponse out;
  grpc::Status st;
  if (command == "deprecate" || command == "undeprecate") {
    v1::FilesRequest r;
    for (const std::string& a : args) r.add_files(a);
    r.set_reason(absl::GetFlag(FLAGS_reason));
    st = command == "deprecate"
             ? d.stub->Deprecate(d.Context().get(), r, &out)
             : d.stub->Undeprecate(d.Context().get(), r, &out);
  } else {
    v1::NightRequest r;
    r.set_night(args[0]);
    r.set_reason(absl::GetFlag(FLAGS_reason));
    auto ctx = d.Context();
    st = command == "accept"    ? d.stub->Accept(ctx.get(), r, &out)
         : command == "retire"  ? d.stub->Retire(ctx.get(), r, &out)
         : command == "restore" ? d.stub->Restore(ctx.get(), r, &out)
                                : d.stub->Reload(ctx.get(), r, &out);
  }
  return Answer(
      d, st, out,
      [](const v1::ArchiveActionResponse& x) {
        std::printf("%s\n", x.summary().c_str());
        if (x.cu_event_id() != 0) {
          std::printf("  event %lld\n",
                      static_cast<long long>(x.cu_event_id()));
        }
        if (x.tasks_size() > 0) {
          std::printf("  tasks to run again: %s\n",
                      absl::StrJoin(x.tasks(), " ").c_str());
        }
        for (const std::string& why : x.refused())
          std::printf("  refused: %s\n", why.c_str());
      },
      out.refused_size() > 0 ? 2 : 0);
}

int TaskCommand(Daemon& d, const std::string& command,
                const std::vector<int64_t>& ids) {
  if (command == "approve") {
    v1::ApproveRequest r;
    r.set_all(absl::GetFlag(FLAGS_all));
    for (int64_t id : ids) r.add_task_ids(id);
    v1::ApproveResponse out;
    grpc::Status st = d.stub->Approve(d.Context().get(), r, &out);
    return Answer(
        d, st, out,
        [](const v1::ApproveResponse& x) {
          std::printf("approved %d task(s)%s\n", x.approved_size(),
                      x.approved().empty()
                          ? ""
                          : absl::StrCat(": ", absl::StrJoin(x.approved(), " "))
                                .c_str());
          for (const std::string& why : x.refused())
            std::printf("  refused: %s\n", why.c_str());
        },
        out.refused_size() > 0 ? 2 : 0);
  }
  v1::TaskIdsRequest r;
  for (int64_t id : ids) r.add_task_ids(id);
  v1::TaskIdsResponse out;
  auto ctx = d.Context();
  grpc::Status st = command == "cancel"  ? d.stub->Cancel(ctx.get(), r, &out)
                    : command == "retry" ? d.stub->Retry(ctx.get(), r, &out)
                    : command == "rerun" ? d.stub->Rerun(ctx.get(), r, &out)
                                         : d.stub->Reject(ctx.get(), r, &out);
  return Answer(
      d, st, out,
      [&](const v1::TaskIdsResponse& x) {
        std::printf(
            "%s: %d task(s)%s\n", command.c_str(), x.changed_size(),
            x.changed().empty()
                ? ""
                : absl::StrCat(": ", absl::StrJoin(x.changed(), " ")).c_str());
        for (const std::string& why : x.refused())
          std::printf("  refused: %s\n", why.c_str());
      },
      out.refused_size() > 0 ? 2 : 0);
}

// Connects to the daemon the config names (or --daemon).
int Connect(Daemon* d) {
  const std::string config_path = absl::GetFlag(FLAGS_config);
  if (config_path.empty()) {
    return Fail(1,
                "give --config FILE: its security section says how to reach "
                "the daemon");
  }
  absl::StatusOr<v1::Config> config = curator::LoadConfig(config_path);
  if (!config.ok()) return Fail(1, std::string(config.status().message()));
  absl::StatusOr<curator::RpcSecurity> security =
      curator::RpcSecurity::FromConfig(*config);
  if (!security.ok()) return Fail(1, std::string(security.status().message()));
  d->address = absl::GetFlag(FLAGS_daemon);
  if (d->address.empty()) {
    d->address = config->daemon().listen_address();
    if (absl::StartsWith(d->address, "0.0.0.0:"))
      d->address = "127.0.0.1:" + d->address.substr(8);
  }
  if (d->address.empty()) {
    return Fail(1,
                "give the daemon: --daemon HOST:PORT or daemon.listen_address");
  }
  d->security = *std::move(security);
  d->stub = v1::Coordinator::NewStub(
      grpc::CreateChannel(d->address, d->security.ChannelCredentials()));
  return 0;
}

int DaemonCommand(const CommandSpec& spec,
                  const std::vector<std::string>& args) {
  Daemon d;
  if (int code = Connect(&d); code != 0) return code;
  CuNames cu_name(d.stub.get());
  const std::string command = spec.name;
  Filter f{.state = absl::GetFlag(FLAGS_state),
           .night = absl::GetFlag(FLAGS_night),
           .cu = ParseCu(absl::GetFlag(FLAGS_cu))};
  if (command == "status") return Status(d);
  if (command == "tasks") return Tasks(d, cu_name, f);
  if (command == "batches") return Batches(d, cu_name, f);
  if (command == "watch") return Watch(d, cu_name, f.night);
  if (command == "nights") return Nights(d, cu_name, args);
  if (command == "plan") return Plan(d, cu_name);
  if (command == "audit") return Audit(d);
  if (command == "log") return Log(d, cu_name, std::stoll(args[0]));
  if (absl::StartsWith(command, "release ")) return Release(d, command, args);
  if (command == "approve" || command == "reject" || command == "cancel" ||
      command == "retry" || command == "rerun") {
    std::vector<int64_t> ids;
    for (const std::string& a : args) ids.push_back(std::stoll(a));
    return TaskCommand(d, command, ids);
  }
  if (command == "workers") {
    v1::ListWorkersResponse out;
    grpc::Status st =
        d.stub->ListWorkers(d.Context().get(), v1::ListWorkersRequest(), &out);
    return Answer(d, st, out, [](const v1::ListWorkersResponse& x) {
      std::printf("%-14s  %-22s  %-5s  %9s  %5s  %7s  %5s  %9s  %9s\n",
                  "WORKER", "ADDRESS", "ALIVE", "LAST BEAT", "SLOTS", "RUNNING",
                  "LOAD", "FREE MEM", "FREE DISK");
      for (const auto& w : x.workers()) {
        std::printf(
            "%-14s  %-22s  %-5s  %9s  %5d  %7d  %5.2f  %8.1fG  %8.1fG\n",
            w.worker_id().c_str(), w.address().c_str(),
            w.alive() ? "yes" : "NO",
            Duration(w.seconds_since_heartbeat()).c_str(), w.load().slots(),
            w.load().running_tasks(), w.load().load_average_1m(),
            w.load().free_memory_bytes() / 1e9,
            w.load().free_disk_bytes() / 1e9);
      }
    });
  }
  if (command == "cus") {
    v1::ListCusResponse out;
    grpc::Status st =
        d.stub->ListCus(d.Context().get(), v1::ListCusRequest(), &out);
    return Answer(d, st, out, [](const v1::ListCusResponse& x) {
      std::printf("%-5s  %-24s  %-10s  %-22s  %s\n", "CU", "WHAT", "READS", "PROCESSED AFTER",
                  "INGESTED AFTER");
      for (const auto& c : x.cus()) {
        const auto list = [](const auto& l) {
          return l.empty() ? std::string("-") : absl::StrJoin(l, ", ");
        };
        std::printf("%-5s  %-24s  %-10s  %-22s  %s\n", c.name().c_str(), c.title().c_str(),
                    c.input().c_str(), list(c.before_processing()).c_str(),
                    list(c.before_ingest()).c_str());
      }
    });
  }
  if (command == "changes") {
    v1::NightRequest r;
    r.set_night(args[0]);
    v1::ChangesResponse out;
    grpc::Status st = d.stub->ListChanges(d.Context().get(), r, &out);
    return Answer(d, st, out, [](const v1::ChangesResponse& x) {
      std::printf(
          "night %s, delivery %d: %d changes%s\n", x.night().c_str(),
          x.delivery(), x.changes_size(),
          x.changes_size() > 0
              ? absl::StrCat(" (curatorctl accept ", x.night(), ")").c_str()
              : "");
      for (const auto& c : x.changes()) {
        std::printf(
            "  %-9s %-9s %s  (multiframe %lld -> %lld, %s -> %s bytes)\n",
            c.change().c_str(), c.kind().c_str(), c.path().c_str(),
            static_cast<long long>(c.old_multiframe_id()),
            static_cast<long long>(c.new_multiframe_id()),
            Count(c.old_bytes()).c_str(), Count(c.new_bytes()).c_str());
      }
    });
  }
  if (command == "pause" || command == "resume") {
    v1::DispatchState out;
    grpc::Status st =
        command == "pause"
            ? d.stub->Pause(d.Context().get(), v1::PauseRequest(), &out)
            : d.stub->Resume(d.Context().get(), v1::ResumeRequest(), &out);
    return Answer(d, st, out, [](const v1::DispatchState& x) {
      std::printf("dispatch %s\n", x.paused() ? "paused" : "running");
    });
  }
  return ArchiveAction(d, command, args);
}

// shards: the head's record of each shard, and each shard asked now.
int ShardsCommand(curator::pg::Connection& head, const v1::Config& config) {
  namespace shards = curator::archive::shards;
  v1::ShardsResult out;
  auto version = curator::migrations::CurrentVersion(head);
  if (!version.ok()) return Fail(3, version.status().ToString());
  out.set_head_schema_version(*version);
  // The head's shards, and the config's (one the head does not know yet
  // is listed too: migrate adds it).
  auto known = head.Exec(
      "SELECT s.name, s.server, (SELECT count(*) FROM curation.night_shard n "
      "WHERE n.shard = s.name), (SELECT coalesce(sum((b.rows_per_table->>"
      "'detection')::bigint), 0) FROM curation.batch b JOIN "
      "curation.night_shard n ON n.night = b.night WHERE n.shard = s.name "
      "AND b.cu = 4 AND b.state = 'ingested') FROM curation.shard s ORDER BY "
      "1");
  if (!known.ok()) return Fail(3, known.status().ToString());
  std::map<std::string, v1::ShardInfo> by_name;
  for (int i = 0; i < known->rows(); ++i) {
    v1::ShardInfo& s = by_name[known->Get(i, 0)];
    s.set_name(known->Get(i, 0));
    s.set_server(known->Get(i, 1));
    s.set_nights(static_cast<int32_t>(known->GetInt(i, 2)));
    s.set_detections(known->GetInt(i, 3));
  }
  std::map<std::string, std::string> conninfo;
  for (const shards::Shard& c : shards::FromConfig(config.database())) {
    conninfo[c.name] = c.conninfo;
    v1::ShardInfo& s = by_name[c.name];
    s.set_name(c.name);
  }
  bool trouble = false;
  for (auto& [name, s] : by_name) {
    auto it = conninfo.find(name);
    if (it == conninfo.end()) {
      s.set_error("not in database.shards of this config");
      trouble = true;
      continue;
    }
    if (auto keys = curator::pg::ParseConnInfo(it->second); keys.ok()) {
      std::map<std::string, std::string> k(keys->begin(), keys->end());
      s.set_address(absl::StrCat(k.count("host") ? k["host"] : "localhost", ":",
                                 k.count("port") ? k["port"] : "5432", "/",
                                 k.count("dbname") ? k["dbname"] : ""));
    }
    const absl::Time t0 = absl::Now();
    auto conn = curator::pg::Connection::Connect(it->second);
    absl::StatusOr<curator::pg::Result> r =
        conn.ok()
            ? (*conn)->Exec(
                  "SELECT (SELECT max(version) FROM "
                  "curation.schema_migration), "
                  "pg_database_size(current_database()), "
                  "(SELECT count(*) FROM pg_inherits WHERE inhparent = "
                  "'detection'::regclass), "
                  "(SELECT count(*) FROM pg_prepared_xacts WHERE gid LIKE "
                  "'curator:%' AND database = current_database())")
            : absl::StatusOr<curator::pg::Result>(conn.status());
    if (!r.ok()) {
      s.set_error(std::string(r.status().message()));
      trouble = true;
      continue;
    }
    s.set_reachable(true);
    s.set_latency_ms(absl::ToDoubleMilliseconds(absl::Now() - t0));
    s.set_schema_version(static_cast<int32_t>(r->GetInt(0, 0)));
    s.set_bytes(r->GetInt(0, 1));
    s.set_partitions(static_cast<int32_t>(r->GetInt(0, 2)));
    s.set_prepared(static_cast<int32_t>(r->GetInt(0, 3)));
    if (s.schema_version() != *version) {
      s.set_error(absl::StrCat("schema version ", s.schema_version(),
                               ", the head's is ", *version,
                               ": run curatorctl migrate"));
      trouble = true;
    }
  }
  for (auto& [name, s] : by_name) *out.add_shards() = s;
  if (Json()) {
    PrintJson(out);
  } else if (out.shards().empty()) {
    std::printf("no shards: the database holds every detection itself\n");
  } else {
    std::printf("%-12s %-24s %7s %14s %10s %6s %9s  %s\n", "SHARD", "ADDRESS",
                "NIGHTS", "DETECTIONS", "SIZE", "PARTS", "LATENCY", "HEALTH");
    for (const v1::ShardInfo& s : out.shards()) {
      std::printf(
          "%-12s %-24s %7d %14s %10s %6d %9s  %s\n", s.name().c_str(),
          s.address().c_str(), s.nights(), Count(s.detections()).c_str(),
          s.reachable() ? absl::StrFormat("%.1f MB", s.bytes() / 1e6).c_str()
                        : "-",
          s.partitions(),
          s.reachable() ? absl::StrFormat("%.1f ms", s.latency_ms()).c_str()
                        : "-",
          !s.error().empty() ? s.error().c_str()
          : s.prepared() > 0 ? absl::StrCat("ok; ", s.prepared(),
                                            " prepared transactions to finish")
                                   .c_str()
                             : "ok");
    }
  }
  return trouble ? 2 : 0;
}

// migrate and register: on the database (and archive) themselves.
int LocalCommand(const std::string& command, std::vector<std::string> nights) {
  absl::StatusOr<curator::Site> site = curator::SiteFromFlags(command == "register");
  if (!site.ok()) return Fail(1, std::string(site.status().message()));
  const std::string archive = site->config.archive_root();
  auto conn =
      curator::pg::Connection::Connect(site->config.database().conninfo());
  if (!conn.ok()) return Fail(3, std::string(conn.status().message()));
  if (command == "migrate") {
    auto applied = curator::migrations::Migrate(**conn);
    if (!applied.ok()) return Fail(3, applied.status().ToString());
    if (absl::Status s = curator::archive::SyncCuTable(
            **conn, curator::archive::CuRegistry::WithSources());
        !s.ok()) {
      return Fail(3, s.ToString());
    }
    if (absl::Status s = curator::archive::shards::MigrateShards(
            **conn,
            curator::archive::shards::FromConfig(site->config.database()));
        !s.ok()) {
      return Fail(s.code() == absl::StatusCode::kFailedPrecondition ? 2 : 3,
                  s.ToString());
    }
    auto version = curator::migrations::CurrentVersion(**conn);
    if (!version.ok()) return Fail(3, version.status().ToString());
    v1::MigrateResult out;
    for (int a : *applied) out.add_applied(a);
    out.set_version(*version);
    if (Json()) {
      PrintJson(out);
    } else if (applied->empty()) {
      std::printf("schema is up to date at version %d\n", *version);
    } else {
      std::printf("applied migrations %s; schema is at version %d\n",
                  absl::StrJoin(*applied, ", ").c_str(), *version);
    }
    return 0;
  }
  if (command == "shards") return ShardsCommand(**conn, site->config);
  if (absl::GetFlag(FLAGS_all)) {
    const std::string incoming =
        absl::StrCat(archive, "/", curator::layout::kIncoming);
    std::error_code ec;
    std::filesystem::directory_iterator it(incoming, ec), end;
    if (ec)
      return Fail(3, absl::StrCat("register --all: cannot list ", incoming,
                                  ": ", ec.message()));
    for (; it != end; it.increment(ec)) {
      if (ec)
        return Fail(3, absl::StrCat("register --all: listing ", incoming, ": ",
                                    ec.message()));
      const std::string name = it->path().filename();
      std::error_code marker_ec;
      if (IsNight(name) &&
          std::filesystem::exists(it->path() / curator::layout::kTransferMarker,
                                  marker_ec)) {
        nights.push_back(name);
      }
    }
    std::sort(nights.begin(), nights.end());
  }
  if (nights.empty()) return Fail(1, "register: give NIGHT (YYYYMMDD) or --all");
  v1::RegisterResult out;
  for (const std::string& night : nights) {
    auto reg = curator::archive::RegisterNight(**conn, archive, night);
    if (!reg.ok()) return Fail(ExitFor(reg.status().code()), reg.status().ToString());
    v1::NightRegistration* n = out.add_nights();
    n->set_night(night);
    for (const auto& file : reg->files) {
      file.is_catalogue ? n->set_catalogues(n->catalogues() + 1)
                        : n->set_images(n->images() + 1);
    }
    n->set_new_files(reg->new_files);
    n->set_transfer_complete(reg->transfer_complete);
    for (const std::string& p : reg->problems) n->add_problems(p);
    if (!Json()) {
      std::printf("%s  %d images, %d catalogues, %d newly registered%s\n",
                  night.c_str(), n->images(), n->catalogues(), n->new_files(),
                  n->transfer_complete() ? "" : " (transfer not complete)");
      for (const std::string& p : n->problems())
        std::printf("  problem: %s\n", p.c_str());
    }
  }
  if (Json()) PrintJson(out);
  bool problems = false;
  for (const auto& n : out.nights()) problems |= n.problems_size() > 0;
  return problems ? 2 : 0;
}

// Checks the arguments and options against the command's table entry:
// positional ones by count and type, options by whether they go with the
// command at all and by their choices. Empty if they fit, else why not.
std::string CheckArguments(const CommandSpec& c,
                           const std::vector<std::string>& args) {
  const ArgSpec* positional = nullptr;
  for (const ArgSpec& a : c.args) {
    if (a.positional) positional = &a;
  }
  const bool many =
      positional != nullptr && absl::EndsWith(positional->type, "[]");
  if (positional == nullptr && !args.empty()) {
    return absl::StrCat(c.name, " takes no arguments, not '", args[0], "'");
  }
  if (positional != nullptr && !many && args.size() > 1) {
    return absl::StrCat(c.name, ": give one ",
                        absl::AsciiStrToUpper(positional->name));
  }
  const bool has_all =
      c.name == std::string("approve") || c.name == std::string("register");
  if (positional != nullptr && positional->required && args.empty() &&
      !(has_all && absl::GetFlag(FLAGS_all))) {
    return absl::StrCat(c.name, ": give ",
                        absl::AsciiStrToUpper(positional->name),
                        many ? "..." : "", has_all ? " or --all" : "");
  }
  if (positional != nullptr) {
    const std::string base(absl::StripSuffix(positional->type, "[]"));
    for (const std::string& a : args) {
      int64_t n = 0;
      if (base == "int64" && !absl::SimpleAtoi(a, &n)) {
        return absl::StrCat(c.name, ": ", positional->name,
                            " are numbers, not '", a, "'");
      }
      if (base == "night" && !IsNight(a)) {
        return absl::StrCat(c.name, ": '", a, "' is not a night (YYYYMMDD)");
      }
    }
  }
  // Options: only those of the command, with allowed values.
  std::set<std::string> common;
  for (const std::string& o : curator::ctl::CommonOptions()) common.insert(o);
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), "absl/") ||
        common.count(std::string(name)))
      continue;
    // Given (to something else than its default: Abseil keeps whether a
    // flag was on the command line to itself).
    if (flag->CurrentValue() == flag->DefaultValue()) continue;
    const ArgSpec* spec = nullptr;
    for (const ArgSpec& a : c.args) {
      if (!a.positional && name == a.name) spec = &a;
    }
    if (spec == nullptr)
      return absl::StrCat("--", name, " does not go with ", c.name);
    const std::string value = flag->CurrentValue();
    if (!spec->choices.empty()) {
      bool ok = false;
      for (const std::string& choice : spec->choices) {
        ok |= name == "cu" ? ParseCu(value) != 0 : choice == value;
      }
      if (!ok) {
        return absl::StrCat("--", name, " is one of ",
                            absl::StrJoin(spec->choices, ", "), ", not '",
                            value, "'");
      }
    }
    if (absl::string_view(spec->type) == "night" && !IsNight(value)) {
      return absl::StrCat("--", name, ": '", value,
                          "' is not a night (YYYYMMDD)");
    }
  }
  if (absl::GetFlag(FLAGS_interval) <= 0 || absl::GetFlag(FLAGS_timeout) < 0) {
    return "--interval is more than 0 seconds and --timeout 0 (never) or more";
  }
  for (const ArgSpec& a : c.args) {
    if (a.positional || !a.required) continue;
    const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(a.name);
    if (flag != nullptr && flag->CurrentValue().empty()) {
      return absl::StrCat(c.name, ": give --", a.name);
    }
  }
  return "";
}

// The command named by argv (one word, or two for "release create"), or
// nullptr; `rest` gets the words after it.
const CommandSpec* ParseCommand(const std::vector<std::string>& words,
                                std::vector<std::string>* rest) {
  if (words.empty()) return nullptr;
  size_t used = 1;
  const CommandSpec* c = curator::ctl::FindCommand(words[0]);
  if (c == nullptr && words.size() > 1) {
    c = curator::ctl::FindCommand(words[0] + " " + words[1]);
    used = 2;
  }
  if (rest != nullptr)
    rest->assign(words.begin() + std::min(used, words.size()), words.end());
  return c;
}

int Help(const std::vector<std::string>& words) {
  if (words.empty()) {
    std::printf("%s", curator::ctl::UsageText().c_str());
    return 0;
  }
  const CommandSpec* c = ParseCommand(words, nullptr);
  if (c == nullptr) {
    return Fail(1, absl::StrCat("no command '", absl::StrJoin(words, " "),
                                "'; curatorctl --help lists them"));
  }
  std::printf("%s", curator::ctl::CommandHelp(*c).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // `curatorctl COMMAND --help`: that command's help, before Abseil's
  // --help (the whole usage) takes it.
  std::vector<std::string> words;
  bool help = false, short_help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    short_help |= a == "-h";
    if (a == "--help" || a == "-help" || a == "-h")
      help = true;
    else if (!absl::StartsWith(a, "-"))
      words.push_back(a);
  }
  if (help && ParseCommand(words, nullptr) != nullptr) return Help(words);
  if (short_help) return Help({});  // -h alone, which Abseil does not know

  curator::InitCommandLine("curatorctl", curator::ctl::UsageText());
  std::vector<char*> parsed = curator::ParseCommandLine(argc, argv);
  words.assign(parsed.begin() + 1, parsed.end());
  if (words.empty()) {
    std::fprintf(stderr, "%s", curator::ctl::UsageText().c_str());
    return Fail(1, "give a command");
  }
  std::vector<std::string> args;
  const CommandSpec* c = ParseCommand(words, &args);
  if (c == nullptr) {
    std::vector<std::string> known;
    for (const CommandSpec& k : curator::ctl::Commands())
      known.push_back(k.name);
    return Fail(1, absl::StrCat("unknown command '", words[0],
                                "'; known: ", absl::StrJoin(known, ", ")));
  }
  if (c->name == std::string("help")) return Help(args);
  if (std::string why = CheckArguments(*c, args); !why.empty())
    return Fail(1, why);
  if (c->name == std::string("describe")) {
    std::printf("%s%s",
                absl::GetFlag(FLAGS_roff)
                    ? curator::ctl::DescribeRoff().c_str()
                    : curator::ctl::DescribeJson().c_str(),
                absl::GetFlag(FLAGS_roff) ? "" : "\n");
    return 0;
  }
  if (c->where == Where::kLocal) return LocalCommand(c->name, args);
  return DaemonCommand(*c, args);
}
