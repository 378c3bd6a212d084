// The Load Monitor over HTTPS, with the operator's actions on its pages
// (daemon.monitor_actions in config.proto; off unless enabled). It serves
// every read-only route of monitor.h, and:
//
//   GET  /api/session        {"actions": true, "signed_in", "who", "csrf",
//                            "certificate"}: who is signed in, the CSRF
//                            token to send, and the client certificate's
//                            name if the CA signed one ("" if none)
//   POST /api/signin         {"token": "..."} or {"certificate": true}
//   POST /api/signout
//   POST /api/actions/<approve|reject|cancel|retry|rerun|pause|resume>
//                            {"task_ids": [..], "reason": ".."}: the
//                            OperatorCommands answer as proto3 JSON
//
// Security: TLS only (1.2 or later), with the configured certificate;
// client certificates are asked for, and verified against the CA, not
// required. Signing in needs the operator token (compared in constant
// time) or a client certificate the CA signed; at most
// MonitorSessions::kMaxFailuresPerMinute failed sign-ins per client
// address a minute (then 429). A signed-in operator holds a session cookie
// (__Host-curator_session: random, HttpOnly, Secure, SameSite=Strict,
// expiring after session_minutes). Every POST needs X-CSRF-Token: the
// session's token, or for the sign-in the value of the sign-in form's own
// cookie (__Host-curator_login, double submit). Refusals: 401 not signed
// in or wrong credentials, 403 CSRF token missing or wrong, 405 not POST,
// 400 bad body, 429 too many failed sign-ins. Each action and each
// successful sign-in is in the audit log (daemon/audit_log.h) with who did
// it, via "page": an action before it runs and its outcome after (failed
// sign-ins go to the daemon's log). With actions off none of this
// exists; the plain-HTTP monitor never has it.
//
// Lifecycle: Create, Start (binds, serves on its own threads), Stop.
#ifndef CURATOR_DAEMON_MONITOR_HTTPS_H_
#define CURATOR_DAEMON_MONITOR_HTTPS_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "curator/v1/config.pb.h"
#include "daemon/daemon.h"
#include "daemon/monitor_sessions.h"
#include "server/rpc_security.h"

namespace httplib {
class SSLServer;
}  // namespace httplib

namespace curator::daemon {

class MonitorHttps {
 public:
  // `security` (the operator token) and `daemon` must outlive the server.
  // InvalidArgument when the certificate, key or CA cannot be loaded
  // (naming the files).
  static absl::StatusOr<std::unique_ptr<MonitorHttps>> Create(
      const v1::Config& config, const RpcSecurity* security, Daemon* daemon);
  ~MonitorHttps();  // stops
  MonitorHttps(const MonitorHttps&) = delete;
  MonitorHttps& operator=(const MonitorHttps&) = delete;

  // Binds daemon.monitor_actions.https_address (port 0: any free port).
  // Unavailable when it cannot bind.
  absl::Status Start();
  void Stop();  // idempotent
  int port() const { return port_; }

 private:
  MonitorHttps(const RpcSecurity* security, Daemon* daemon,
               absl::Duration session_lifetime);
  void AddRoutes();

  const RpcSecurity* const security_;
  Daemon* const daemon_;
  MonitorSessions sessions_;
  std::string address_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  std::atomic<bool> listening_done_{false};
  int port_ = 0;
};

}  // namespace curator::daemon

#endif  // CURATOR_DAEMON_MONITOR_HTTPS_H_
