#include "server/http_server.h"

#include <httplib.h>

#include <cmath>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace curator {

struct HttpServer::Impl {
  httplib::Server server;
};

HttpServer::HttpServer() : impl_(std::make_unique<Impl>()) {
  // Pages are served with their scripts as separate files, so a strict
  // policy costs nothing and keeps injected markup inert.
  impl_->server.set_default_headers(
      {{"X-Content-Type-Options", "nosniff"},
       {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"},
       {"Cache-Control", "no-store"}});
  const auto refuse = [](const httplib::Request&, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET, HEAD");
    res.set_content("read-only: only GET is served\n", "text/plain; charset=utf-8");
  };
  impl_->server.Post(".*", refuse);
  impl_->server.Put(".*", refuse);
  impl_->server.Patch(".*", refuse);
  impl_->server.Delete(".*", refuse);
  impl_->server.Options(".*", refuse);
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, Handler handler) {
  impl_->server.Get(pattern, [handler = std::move(handler)](const httplib::Request& req,
                                                            httplib::Response& res) {
    HttpRequest request;
    request.path = req.path;
    for (size_t i = 1; i < req.matches.size(); ++i) request.captures.push_back(req.matches[i]);
    HttpResponse response = handler(request);
    res.status = response.status;
    res.set_content(std::move(response.body), response.content_type.c_str());
  });
}

absl::Status HttpServer::Start(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (port == 0) {
    port = impl_->server.bind_to_any_port(host);
    if (port < 0) port = 0;
  } else if (!impl_->server.bind_to_port(host, port)) {
    port = 0;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ", address));
  }
  port_ = port;
  thread_ = std::thread([this] { impl_->server.listen_after_bind(); });
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!thread_.joinable()) return;
  impl_->server.stop();
  thread_.join();
}

void MetricsText::Add(const std::string& name, const std::string& type, const std::string& help,
                      const Labels& labels, double value) {
  if (name != last_name_) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
    last_name_ = name;
  }
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      absl::StrAppend(&out_, labels[i].first, "=\"",
                      absl::StrReplaceAll(labels[i].second,
                                          {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}),
                      "\"");
    }
    out_ += '}';
  }
  if (std::isnan(value)) {
    out_ += " NaN\n";
  } else if (std::isinf(value)) {
    out_ += value > 0 ? " +Inf\n" : " -Inf\n";
  } else {
    absl::StrAppend(&out_, " ", value, "\n");
  }
}

}  // namespace curator
