#include "daemon/monitor.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <map>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/metrics.h"

namespace curator::daemon {
namespace monitor {
const std::map<std::string, std::string>& EmbeddedFiles();  // monitor_assets.cc
}  // namespace monitor
namespace {

HttpResponse Json(const absl::Status& status) {
  HttpResponse r;
  r.status = status.code() == absl::StatusCode::kNotFound ? 404 : 503;
  r.content_type = "application/json";
  std::string message;
  google::protobuf::util::JsonPrintOptions o;
  // A one-field JSON object, escaped by the protobuf printer.
  google::protobuf::Value v;
  v.set_string_value(std::string(status.message()));
  (void)google::protobuf::util::MessageToJsonString(v, &message, o);
  r.body = absl::StrCat("{\"error\":", message, "}\n");
  return r;
}

template <typename T>
HttpResponse Json(const absl::StatusOr<T>& result) {
  if (!result.ok()) return Json(result.status());
  HttpResponse r;
  r.content_type = "application/json";
  google::protobuf::util::JsonPrintOptions o;
  o.always_print_primitive_fields = true;
  o.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(*result, &r.body, o).ok()) {
    return Json(absl::InternalError("cannot print JSON"));
  }
  r.body += '\n';
  return r;
}

HttpResponse Asset(const std::string& name, const std::string& type) {
  HttpResponse r;
  r.content_type = type;
  r.body = monitor::EmbeddedFiles().at(name);
  return r;
}

}  // namespace

void AddMonitorRoutes(Daemon* d, HttpServer* http) {
  for (const char* page : {"/", "/workers", "/batches", "/tasks/\\d+"}) {
    http->Get(page, [](const HttpRequest&) {
      return Asset("index.html", "text/html; charset=utf-8");
    });
  }
  http->Get("/monitor.js", [](const HttpRequest&) {
    return Asset("monitor.js", "text/javascript; charset=utf-8");
  });
  http->Get("/monitor.css", [](const HttpRequest&) {
    return Asset("monitor.css", "text/css; charset=utf-8");
  });
  ReadQueries* q = &d->queries();
  http->Get("/api/nights", [q](const HttpRequest&) { return Json(q->ListNights()); });
  http->Get("/api/tasks", [q](const HttpRequest&) { return Json(q->ListTasks("")); });
  http->Get("/api/workers", [q](const HttpRequest&) { return Json(q->ListWorkers()); });
  http->Get("/api/batches", [q](const HttpRequest&) { return Json(q->ListBatches()); });
  http->Get("/api/plan", [q](const HttpRequest&) { return Json(q->GetPlan()); });
  http->Get("/api/cus", [q](const HttpRequest&) {
    return Json(absl::StatusOr<v1::ListCusResponse>(q->ListCus()));
  });
  http->Get("/api/tasks/(\\d+)/log", [q](const HttpRequest& req) {
    int64_t id = 0;
    if (!absl::SimpleAtoi(req.captures.at(0), &id)) {
      return Json(absl::NotFoundError("no such task"));
    }
    return Json(q->GetTaskLog(id));
  });
  http->Get("/metrics", [d](const HttpRequest&) {
    HttpResponse r;
    r.content_type = kMetricsContentType;
    r.body = d->Metrics();
    return r;
  });
}

}  // namespace curator::daemon
