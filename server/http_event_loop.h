// The network side of HttpServer: one thread that accepts connections,
// reads request heads and writes responses, all non-blocking under epoll,
// so a slow or hostile client costs a socket and a few kilobytes but never
// a thread. It enforces HttpServerOptions (connection caps, deadlines, size
// limits) and answers by itself everything that is not a well-formed GET or
// HEAD (400, 405, 408, 413, 414, 431, 503, 505). Complete GET and HEAD
// requests go to `dispatch`; their responses come back through Respond.
// Internal to server/.
#ifndef CURATOR_SERVER_HTTP_EVENT_LOOP_H_
#define CURATOR_SERVER_HTTP_EVENT_LOOP_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "server/http_server.h"
#include "server/http_wire.h"

namespace curator::http_internal {

class EventLoop {
 public:
  // Called on the loop thread with each complete GET or HEAD request; must
  // not block (hand the request to another thread). The connection reads
  // nothing more until Respond is called for it.
  using Dispatch = std::function<void(uint64_t connection, RequestHead head)>;

  EventLoop(const HttpServerOptions& options, Dispatch dispatch);
  ~EventLoop();  // closes every socket; Run must not be running
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Binds and listens on host:port (see HttpServer::Start); returns the
  // port. Unavailable: cannot resolve or bind; Internal: no epoll/eventfd.
  absl::StatusOr<int> Listen(const std::string& host, int port);

  // Serves until Stop, then closes every connection and the listener. Call
  // once, on the loop's own thread, after Listen succeeded.
  void Run();

  // Thread-safe: makes Run return soon.
  void Stop();

  // Thread-safe: sends `response` (a whole serialized response) on
  // `connection`, then reads its next request, or closes it when `close`.
  // Ignored if the connection has gone meanwhile.
  void Respond(uint64_t connection, std::string response, bool close);

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection;
  struct Completion {
    uint64_t connection;
    std::string response;
    bool close;
  };

  void AcceptAll(Clock::time_point now);
  void Refuse(int fd);
  void OnEvent(uint64_t id, uint32_t events, Clock::time_point now);
  void OnReadable(Connection& c, Clock::time_point now);
  void TakeCompletions(Clock::time_point now);
  void BeginRequest(Connection& c, Clock::time_point now);
  void AdvanceHead(Connection& c, Clock::time_point now);
  void StartRequest(Connection& c, RequestHead head, Clock::time_point now);
  void SendError(Connection& c, int status, const std::string& message,
                 Clock::time_point now, bool close = true, bool allow = false);
  void StartWrite(Connection& c, std::string bytes, bool close,
                  Clock::time_point now);
  void Write(Connection& c, Clock::time_point now);
  void StartLinger(Connection& c, Clock::time_point now);
  void Watch(Connection& c, uint32_t events);
  // kPlain: close(); kAbort: reset (unsent data dropped); kSendLast: one
  // non-blocking send of `last`, then close.
  enum class CloseHow { kPlain, kAbort, kSendLast };
  void Close(uint64_t id, CloseHow how = CloseHow::kPlain,
             const std::string& last = "");
  // Closes connections past their deadline; returns the next deadline.
  Clock::time_point ExpireDeadlines(Clock::time_point now);
  void NoteRefusal(const std::string& why, Clock::time_point now);

  const HttpServerOptions options_;
  const HeadLimits limits_;
  const Dispatch dispatch_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Respond and Stop
  std::atomic<bool> stopping_{false};

  std::mutex mu_;
  std::vector<Completion> completions_;  // guarded by mu_

  // Touched only by the loop thread.
  uint64_t next_id_;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::map<std::string, int> per_client_;  // open connections by address
  // Connections whose buffer may hold a pipelined request: looked at in the
  // next round.
  std::vector<uint64_t> ready_;
  // When accept failed for lack of file descriptors: paused until then.
  Clock::time_point accept_paused_until_{};
  bool accept_paused_ = false;
  uint64_t refused_since_log_ = 0;
  Clock::time_point last_refusal_log_{};
};

}  // namespace curator::http_internal

#endif  // CURATOR_SERVER_HTTP_EVENT_LOOP_H_
