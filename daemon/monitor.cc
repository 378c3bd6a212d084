#include "daemon/monitor.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "server/metrics.h"

namespace curator::daemon {
namespace monitor {
const std::map<std::string, std::string>& EmbeddedFiles();  // monitor_assets.cc
}  // namespace monitor
namespace {

using Json = nlohmann::ordered_json;

HttpResponse JsonResponse(const Json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.content_type = "application/json";
  // Bytes that are not UTF-8 (a file name from a tape) are replaced, not
  // an exception.
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  return r;
}

HttpResponse ErrorResponse(const absl::Status& status) {
  const int code = status.code() == absl::StatusCode::kNotFound          ? 404
                   : status.code() == absl::StatusCode::kInvalidArgument ? 400
                                                                         : 503;
  return JsonResponse(Json{{"error", std::string(status.message())}}, code);
}

absl::StatusOr<Json> ProtoJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(m, &text, o).ok()) {
    return absl::InternalError("cannot print JSON");
  }
  return Json::parse(text);
}

template <typename T>
HttpResponse ProtoResponse(const absl::StatusOr<T>& result) {
  if (!result.ok()) return ErrorResponse(result.status());
  absl::StatusOr<Json> json = ProtoJson(*result);
  if (!json.ok()) return ErrorResponse(json.status());
  return JsonResponse(*json);
}

template <typename T>
HttpResponse JsonOr(const absl::StatusOr<T>& result) {
  if (!result.ok()) return ErrorResponse(result.status());
  return JsonResponse(*result);
}

// ?name=N within [0, max]; `fallback` when absent or not a number.
int IntParam(const HttpRequest& req, const std::string& name, int fallback,
             int max) {
  int v = 0;
  if (!absl::SimpleAtoi(QueryValue(req.query, name), &v) || v < 0)
    return fallback;
  return std::min(v, max);
}

// A listing bounded by ?limit= and ?offset=: the slice, with the total.
template <typename Field>
void Bound(const HttpRequest& req, Field* list, Json* meta) {
  const int limit = IntParam(req, "limit", 1000, 5000);
  const int total = list->size();
  const int begin = std::min(IntParam(req, "offset", 0, total), total);
  const int end = std::min(total, begin + limit);
  list->DeleteSubrange(end, total - end);
  list->DeleteSubrange(0, begin);
  (*meta)["total"] = total;
  (*meta)["offset"] = begin;
  (*meta)["limit"] = limit;
}

// A listing's JSON, its list (`field`) bounded as Bound says.
template <typename T, typename Field>
HttpResponse BoundedResponse(const HttpRequest& req, absl::StatusOr<T> result,
                             Field* (T::*field)()) {
  if (!result.ok()) return ErrorResponse(result.status());
  Json meta;
  Bound(req, ((*result).*field)(), &meta);
  absl::StatusOr<Json> json = ProtoJson(*result);
  if (!json.ok()) return ErrorResponse(json.status());
  json->update(meta);
  return JsonResponse(*json);
}

HttpResponse Asset(const std::string& name, const std::string& type) {
  HttpResponse r;
  r.content_type = type;
  r.body = monitor::EmbeddedFiles().at(name);
  return r;
}

std::string Escape(const std::string& s) {
  return absl::StrReplaceAll(
      s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

// What a browser without JavaScript shows: dispatch paused or not, tasks
// and batches per state, and where the JSON is.
std::string NoScriptSummary(ReadQueries* q) {
  std::string out =
      absl::StrCat("<p>Dispatch is <strong>",
                   q->paused() ? "paused" : "running", "</strong>.</p>");
  std::map<std::string, int> tasks, batches;
  if (auto t = q->ListTasks(""); t.ok()) {
    for (const v1::TaskInfo& i : t->tasks()) ++tasks[i.state()];
  }
  if (auto b = q->ListBatches(); b.ok()) {
    for (const v1::BatchInfo& i : b->batches()) ++batches[i.state()];
  }
  for (const auto& [title, counts] :
       {std::pair{"Tasks", &tasks}, std::pair{"Batches", &batches}}) {
    absl::StrAppend(&out, "<table class=\"summary\"><tr><th>", title,
                    "</th><th>count</th></tr>");
    for (const auto& [state, n] : *counts) {
      absl::StrAppend(&out, "<tr><td class=\"state state-", Escape(state),
                      "\">", Escape(state), "</td><td class=\"num\">", n,
                      "</td></tr>");
    }
    absl::StrAppend(&out, "</table>");
  }
  absl::StrAppend(
      &out,
      "<p>The pages need JavaScript; their data is at <a href=\"/api/tasks\">"
      "/api/tasks</a>, <a href=\"/api/batches\">/api/batches</a>, <a "
      "href=\"/api/nights\">/api/nights</a> and <a "
      "href=\"/metrics\">/metrics</a>.</p>");
  return out;
}

}  // namespace

std::vector<MonitorRoute> MonitorRoutes(Daemon* d) {
  std::vector<MonitorRoute> routes;
  ReadQueries* q = &d->queries();
  auto add = [&routes](std::string pattern, HttpServer::Handler h) {
    routes.push_back({std::move(pattern), std::move(h)});
  };
  for (const char* page :
       {"/", "/workers", "/batches", "/timeline", "/audit", "/tasks/\\d+"}) {
    add(page, [q](const HttpRequest&) {
      HttpResponse r = Asset("index.html", "text/html; charset=utf-8");
      r.body =
          absl::StrReplaceAll(r.body, {{"<!--SUMMARY-->", NoScriptSummary(q)}});
      return r;
    });
  }
  add("/monitor.js", [](const HttpRequest&) {
    return Asset("monitor.js", "text/javascript; charset=utf-8");
  });
  add("/monitor.css", [](const HttpRequest&) {
    return Asset("monitor.css", "text/css; charset=utf-8");
  });
  add("/api/nights",
      [q](const HttpRequest&) { return ProtoResponse(q->ListNights()); });
  add("/api/tasks", [q](const HttpRequest& req) {
    return BoundedResponse(req, q->ListTasks(QueryValue(req.query, "state")),
                           &v1::ListTasksResponse::mutable_tasks);
  });
  add("/api/workers",
      [q](const HttpRequest&) { return ProtoResponse(q->ListWorkers()); });
  add("/api/batches", [q](const HttpRequest& req) {
    return BoundedResponse(req, q->ListBatches(),
                           &v1::ListBatchesResponse::mutable_batches);
  });
  add("/api/plan",
      [q](const HttpRequest&) { return ProtoResponse(q->GetPlan()); });
  add("/api/cus", [q](const HttpRequest&) {
    return ProtoResponse(absl::StatusOr<v1::ListCusResponse>(q->ListCus()));
  });
  add("/api/status", [q](const HttpRequest&) {
    return JsonResponse(
        Json{{"paused", q->paused()}, {"database_up", q->database_up()}});
  });
  add("/api/task_errors",
      [q](const HttpRequest&) { return JsonOr(q->TaskErrors()); });
  add("/api/throughput", [q](const HttpRequest& req) {
    return JsonOr(q->Throughput(IntParam(req, "limit", 500, 5000)));
  });
  add("/api/timeline", [q](const HttpRequest& req) {
    return JsonOr(q->Timeline(QueryValue(req.query, "night")));
  });
  add("/api/tasks/(\\d+)/log", [q](const HttpRequest& req) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(req.captures.at(0), &id)) {
      return ErrorResponse(absl::NotFoundError("no such task"));
    }
    return ProtoResponse(q->GetTaskLog(id));
  });
  add("/api/tasks/(\\d+)/files", [q](const HttpRequest& req) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(req.captures.at(0), &id)) {
      return ErrorResponse(absl::NotFoundError("no such task"));
    }
    return JsonOr(q->FileLog(id, IntParam(req, "limit", 500, 5000),
                             IntParam(req, "offset", 0, 1 << 30)));
  });
  add("/api/audit", [d](const HttpRequest& req) {
    v1::ListAuditRequest r;
    r.set_limit(IntParam(req, "limit", 100, 1000));
    int64_t before = 0;
    if (absl::SimpleAtoi(QueryValue(req.query, "before_id"), &before))
      r.set_before_id(before);
    r.set_command(QueryValue(req.query, "command"));
    return ProtoResponse(d->audit().List(r));
  });
  add("/metrics", [d](const HttpRequest&) {
    HttpResponse r;
    r.content_type = kMetricsContentType;
    r.body = d->Metrics();
    return r;
  });
  return routes;
}

void AddMonitorRoutes(Daemon* d, HttpServer* http) {
  for (MonitorRoute& r : MonitorRoutes(d))
    http->Get(r.pattern, std::move(r.handler));
}

}  // namespace curator::daemon
