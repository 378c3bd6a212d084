#include "daemon/monitor_https.h"

#include <google/protobuf/util/json_util.h>
#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/log.h"
#include "daemon/audit_log.h"
#include "daemon/monitor.h"

namespace curator::daemon {
namespace {

using Json = nlohmann::ordered_json;

constexpr char kSessionCookie[] = "__Host-curator_session";
constexpr char kLoginCookie[] = "__Host-curator_login";
constexpr char kCsrfHeader[] = "X-CSRF-Token";

void SendJson(httplib::Response& res, int status, const Json& body) {
  res.status = status;
  res.set_content(
      body.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n",
      "application/json");
}

void Refuse(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, Json{{"error", message}});
}

std::string CookieValue(const httplib::Request& req, absl::string_view name) {
  for (size_t i = 0; i < req.get_header_value_count("Cookie"); ++i) {
    for (absl::string_view part :
         absl::StrSplit(req.get_header_value("Cookie", i), ';')) {
      part = absl::StripLeadingAsciiWhitespace(part);
      if (absl::ConsumePrefix(&part, name) && absl::ConsumePrefix(&part, "=")) {
        return std::string(part);
      }
    }
  }
  return "";
}

std::string SetCookie(absl::string_view name, absl::string_view value,
                      absl::Duration max_age) {
  return absl::StrCat(name, "=", value,
                      "; Max-Age=", absl::ToInt64Seconds(max_age),
                      "; Path=/; Secure; HttpOnly; SameSite=Strict");
}

// "cert:<CN>" for a client certificate the CA signed, else "".
std::string CertificateName(const httplib::Request& req) {
  if (req.ssl == nullptr) return "";
  SSL* ssl = const_cast<SSL*>(req.ssl);
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string who;
  char cn[256] = {0};
  if (SSL_get_verify_result(ssl) == X509_V_OK &&
      X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
                                sizeof cn) > 0) {
    who = absl::StrCat("cert:", cn);
  }
  X509_free(cert);
  return who;
}

// The read-only handlers of monitor.h, answered by httplib.
httplib::Server::Handler Adapt(HttpServer::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req,
                                        httplib::Response& res) {
    HttpRequest r;
    r.path = req.path;
    for (size_t i = 1; i < req.matches.size(); ++i)
      r.captures.push_back(req.matches[i]);
    if (const size_t q = req.target.find('?'); q != std::string::npos) {
      r.query = req.target.substr(q + 1);
    }
    HttpResponse out = handler(r);
    res.status = out.status;
    res.set_content(out.body, out.content_type);
  };
}

}  // namespace

absl::StatusOr<std::unique_ptr<MonitorHttps>> MonitorHttps::Create(
    const v1::Config& config, const RpcSecurity* security, Daemon* daemon) {
  const v1::MonitorActionsConfig& a = config.daemon().monitor_actions();
  const uint32_t minutes = a.session_minutes() == 0 ? 60 : a.session_minutes();
  std::unique_ptr<MonitorHttps> m(
      new MonitorHttps(security, daemon, absl::Minutes(minutes)));
  m->address_ = a.https_address();
  const std::string cert =
      a.cert_file().empty() ? config.security().cert_file() : a.cert_file();
  const std::string key =
      a.key_file().empty() ? config.security().key_file() : a.key_file();
  const std::string ca = a.client_ca_file().empty()
                             ? config.security().ca_file()
                             : a.client_ca_file();
  std::string failed;
  m->server_ = std::make_unique<httplib::SSLServer>([&](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(&ctx, cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(&ctx, key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(&ctx) != 1) {
      failed = absl::StrCat("certificate ", cert, " and key ", key);
      return false;
    }
    if (!ca.empty()) {
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca.c_str());
      if (names == nullptr ||
          SSL_CTX_load_verify_locations(&ctx, ca.c_str(), nullptr) != 1) {
        if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
        failed = absl::StrCat("client CA ", ca);
        return false;
      }
      SSL_CTX_set_client_CA_list(&ctx, names);
      // With peer verification on, OpenSSL refuses to resume a session
      // (the browser's next connection) unless it has a context id: the
      // handshake failed, ERR_SSL_PROTOCOL_ERROR in Chromium.
      static constexpr unsigned char kSessionContext[] = "curator-monitor";
      SSL_CTX_set_session_id_context(&ctx, kSessionContext,
                                     sizeof kSessionContext - 1);
      // Asked for and verified, not required: an operator may sign in with
      // the token instead.
      SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
    }
    return true;
  });
  if (!m->server_->is_valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat("daemon.monitor_actions: cannot load the ",
                     failed.empty() ? "TLS context" : failed,
                     " for the HTTPS Load Monitor"));
  }
  m->server_->set_default_headers(
      {{"X-Content-Type-Options", "nosniff"},
       {"Content-Security-Policy",
        "default-src 'self'; frame-ancestors 'none'"},
       {"Cache-Control", "no-store"},
       {"Strict-Transport-Security", "max-age=31536000"}});
  m->server_->set_payload_max_length(64 * 1024);
  m->server_->set_read_timeout(5, 0);
  m->server_->set_write_timeout(10, 0);
  // One request a connection: cpp-httplib gives a kept-alive connection
  // one of its few pool threads while it idles, so a browser's six would
  // leave little for anyone else. TLS sessions are resumed, so a new
  // connection is cheap.
  m->server_->set_keep_alive_max_count(1);
  m->AddRoutes();
  return m;
}

MonitorHttps::MonitorHttps(const RpcSecurity* security, Daemon* daemon,
                           absl::Duration session_lifetime)
    : security_(security), daemon_(daemon), sessions_(session_lifetime) {}

MonitorHttps::~MonitorHttps() { Stop(); }

void MonitorHttps::AddRoutes() {
  for (MonitorRoute& r : MonitorRoutes(daemon_)) {
    server_->Get(r.pattern, Adapt(std::move(r.handler)));
  }
  server_->Get("/api/session", [this](const httplib::Request& req,
                                      httplib::Response& res) {
    const std::string certificate = CertificateName(req);
    if (auto s =
            sessions_.Find(CookieValue(req, kSessionCookie), absl::Now())) {
      SendJson(res, 200,
               Json{{"actions", true},
                    {"signed_in", true},
                    {"who", s->who},
                    {"csrf", s->csrf},
                    {"certificate", certificate}});
      return;
    }
    // The sign-in form's double-submit token: kept while the browser has it.
    std::string login = CookieValue(req, kLoginCookie);
    if (login.size() != 64) {
      login = MonitorSessions::RandomSecret();
      res.set_header("Set-Cookie",
                     SetCookie(kLoginCookie, login, absl::Minutes(30)));
    }
    SendJson(res, 200,
             Json{{"actions", true},
                  {"signed_in", false},
                  {"who", ""},
                  {"csrf", login},
                  {"certificate", certificate}});
  });

  server_->Post("/api/signin", [this](const httplib::Request& req,
                                      httplib::Response& res) {
    const absl::Time now = absl::Now();
    if (!sessions_.MayTry(req.remote_addr, now)) {
      Refuse(
          res, 429,
          "too many failed sign-ins from this address; try again in a minute");
      return;
    }
    if (!MonitorSessions::SameSecret(req.get_header_value(kCsrfHeader),
                                     CookieValue(req, kLoginCookie))) {
      Refuse(res, 403, "the CSRF token is missing or wrong; reload the page");
      return;
    }
    const Json body =
        Json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    std::string who;
    if (body.is_object() && body.contains("certificate") &&
        !body["certificate"].is_boolean()) {
      Refuse(res, 400, "certificate is true or false");
      return;
    }
    if (body.is_object() && body.value("certificate", false)) {
      who = CertificateName(req);
      if (who.empty()) {
        Refuse(res, 401,
               "no client certificate signed by the Curator CA was presented");
        return;
      }
    } else if (body.is_object() && body.contains("token") &&
               body["token"].is_string()) {
      if (!security_->IsToken(body["token"].get<std::string>())) {
        sessions_.Failed(req.remote_addr, now);
        CURATOR_LOG(WARNING)
            << "Load Monitor: a failed sign-in from " << req.remote_addr;
        Refuse(res, 401, "the token is wrong");
        return;
      }
      who = "token";
    } else {
      Refuse(res, 400, "send {\"token\": \"...\"} or {\"certificate\": true}");
      return;
    }
    const std::string id = sessions_.Start(who, now);
    const std::optional<MonitorSessions::Session> s = sessions_.Find(id, now);
    daemon_->audit().Record(AuditEntry{.who = who,
                                       .via = "page",
                                       .command = "sign in",
                                       .target = "from " + req.remote_addr,
                                       .reason = ""},
                            "ok");
    res.set_header("Set-Cookie",
                   SetCookie(kSessionCookie, id, sessions_.lifetime()));
    SendJson(
        res, 200,
        Json{{"signed_in", true}, {"who", who}, {"csrf", s ? s->csrf : ""}});
  });

  // Everything below needs a session and its CSRF token; `act` runs with
  // who is signed in.
  auto guarded =
      [this](std::function<void(const httplib::Request&, httplib::Response&,
                                const MonitorSessions::Session&)>
                 act) {
        return [this, act = std::move(act)](const httplib::Request& req,
                                            httplib::Response& res) {
          const std::optional<MonitorSessions::Session> s =
              sessions_.Find(CookieValue(req, kSessionCookie), absl::Now());
          if (!s) {
            Refuse(
                res, 401,
                "sign in first (the operator token or a client certificate)");
            return;
          }
          if (!MonitorSessions::SameSecret(req.get_header_value(kCsrfHeader),
                                           s->csrf)) {
            Refuse(res, 403,
                   "the CSRF token is missing or wrong; reload the page");
            return;
          }
          act(req, res, *s);
        };
      };
  server_->Post(
      "/api/signout",
      guarded([this](const httplib::Request& req, httplib::Response& res,
                     const MonitorSessions::Session& s) {
        sessions_.End(CookieValue(req, kSessionCookie));
        res.set_header("Set-Cookie",
                       SetCookie(kSessionCookie, "", absl::ZeroDuration()));
        SendJson(res, 200, Json{{"signed_in", false}, {"who", s.who}});
      }));
  server_->Post(
      "/api/actions/(approve|reject|cancel|retry|rerun|pause|resume)",
      guarded([this](const httplib::Request& req, httplib::Response& res,
                     const MonitorSessions::Session& s) {
        const std::string command = req.matches[1];
        const Json body =
            Json::parse(req.body.empty() ? "{}" : req.body, nullptr, false);
        if (!body.is_object()) {
          Refuse(res, 400, "the body must be a JSON object");
          return;
        }
        std::vector<int64_t> ids;
        if (body.contains("task_ids")) {
          if (!body["task_ids"].is_array()) {
            Refuse(res, 400, "task_ids must be an array of task ids");
            return;
          }
          for (const Json& id : body["task_ids"]) {
            if (!id.is_number_integer()) {
              Refuse(res, 400, "task_ids must be an array of task ids");
              return;
            }
            ids.push_back(id.get<int64_t>());
          }
        }
        if (body.contains("reason") && !body["reason"].is_string()) {
          Refuse(res, 400, "reason is a string");
          return;
        }
        const std::string reason = body.value("reason", std::string());
        const bool dispatch = command == "pause" || command == "resume";
        if (!dispatch && ids.empty()) {
          Refuse(res, 400, absl::StrCat(command, " needs task_ids"));
          return;
        }
        OperatorCommands& c = daemon_->commands();
        // On record before it runs, as a gRPC command is (audit_log.h).
        const int64_t audit = daemon_->audit().Begin(AuditEntry{
            .who = s.who,
            .via = "page",
            .command = command,
            .target =
                dispatch ? "" : absl::StrCat("tasks ", absl::StrJoin(ids, " ")),
            .reason = reason});
        absl::Status status;
        std::string answer, outcome;
        google::protobuf::util::JsonPrintOptions o;
        o.always_print_primitive_fields = true;
        o.preserve_proto_field_names = true;
        if (dispatch) {
          absl::StatusOr<bool> paused = c.SetPaused(command == "pause");
          status = paused.status();
          if (paused.ok()) {
            v1::DispatchState state;
            state.set_paused(*paused);
            (void)google::protobuf::util::MessageToJsonString(state, &answer,
                                                              o);
            outcome = AuditOutcome(state);
          }
        } else if (command == "approve") {
          v1::ApproveRequest r;
          for (int64_t id : ids) r.add_task_ids(id);
          absl::StatusOr<v1::ApproveResponse> a = c.Approve(r);
          status = a.status();
          if (a.ok()) {
            (void)google::protobuf::util::MessageToJsonString(*a, &answer, o);
            outcome = AuditOutcome(*a);
          }
        } else {
          v1::TaskIdsRequest r;
          for (int64_t id : ids) r.add_task_ids(id);
          absl::StatusOr<v1::TaskIdsResponse> t =
              command == "reject"   ? c.Reject(r)
              : command == "cancel" ? c.Cancel(r)
              : command == "retry"  ? c.Retry(r)
                                    : c.Rerun(r);
          status = t.status();
          if (t.ok()) {
            (void)google::protobuf::util::MessageToJsonString(*t, &answer, o);
            outcome = AuditOutcome(*t);
          }
        }
        if (!status.ok()) outcome = AuditOutcome(status);
        daemon_->audit().Finish(audit, outcome);
        CURATOR_LOG(INFO) << "Load Monitor: " << s.who << " " << command << " "
                          << absl::StrJoin(ids, " ") << ": " << outcome;
        if (!status.ok()) {
          Refuse(res,
                 status.code() == absl::StatusCode::kInvalidArgument      ? 400
                 : status.code() == absl::StatusCode::kFailedPrecondition ? 409
                                                                          : 503,
                 std::string(status.message()));
          return;
        }
        res.status = 200;
        res.set_content(answer + "\n", "application/json");
      }));
  // Actions are POST only.
  for (const char* path : {"/api/signin", "/api/signout", "/api/actions/.*"}) {
    server_->Get(path, [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", "POST");
      Refuse(res, 405, "POST only");
    });
  }
}

absl::Status MonitorHttps::Start() {
  const size_t colon = address_.rfind(':');
  int port = 0;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address_.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTPS address \"", address_, "\" is not host:port"));
  }
  std::string host = address_.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ <= 0) port_ = 0;
  } else if (server_->bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address_,
                                               " for the HTTPS Load Monitor"));
  }
  thread_ = std::thread([this] {
    server_->listen_after_bind();
    listening_done_ = true;
  });
  return absl::OkStatus();
}

void MonitorHttps::Stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() is heard only once its loop runs, which may be a
  // moment after Start returned; cpp-httplib 0.11 has no wait_until_ready.
  while (!server_->is_running() && !listening_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  server_->stop();
  thread_.join();
}

}  // namespace curator::daemon
