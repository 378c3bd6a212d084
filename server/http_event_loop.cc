#include "server/http_event_loop.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/log.h"

namespace curator::http_internal {
namespace {

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr uint64_t kFirstConnectionId = 2;
// Accepts per wake-up, so that a flood of connections cannot keep the loop
// from serving the connections it already has.
constexpr int kMaxAcceptsPerWake = 256;
// After a response that closes the connection, how long to keep reading
// (and dropping) what the client still sends before closing: closing with
// unread input makes the kernel send a reset, which can destroy the
// response before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(1);
// Out of file descriptors: how long to leave new connections in the
// backlog before trying accept again.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kRefusalLogInterval = std::chrono::seconds(10);

std::string ErrnoText(int error) { return std::strerror(error); }

// The client's IP address as text: the key of the per-client cap. An
// IPv4-mapped IPv6 address (a dual-stack listener) counts as the IPv4 one.
std::string ClientAddress(const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    }
  }
  return text;
}

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      absl::ToChronoNanoseconds(d));
}

// For a client that gets one last small answer and no more of the server's
// time: one non-blocking send, then close. Dropping what already arrived
// first lets close() end with a FIN rather than a reset, which could destroy
// the answer before the client reads it; bounded, so it stays cheap however
// fast the client sends.
void SendAndClose(int fd, const std::string& response) {
  (void)!send(fd, response.data(), response.size(),
              MSG_DONTWAIT | MSG_NOSIGNAL);
  shutdown(fd, SHUT_WR);
  char buf[4096];
  for (int i = 0; i < 4 && recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0; ++i) {
  }
  close(fd);
}

// A reset frees an unsent response at once; a plain close would leave the
// kernel retrying it to a client that does not read.
void Abort(int fd) {
  const linger reset{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  close(fd);
}

}  // namespace

// What a connection is doing decides which events it waits for and which
// deadline applies:
//   kReadingHead  EPOLLIN   head deadline (or the idle one before any byte)
//   kReadingBody  EPOLLIN   head deadline (a GET's body is read and dropped)
//   kHandling     none      none: the handler's time is the server's own
//   kWriting      EPOLLOUT  send deadline
//   kLingering    EPOLLIN   linger time, after shutdown(SHUT_WR)
enum class ConnectionState {
  kReadingHead,
  kReadingBody,
  kHandling,
  kWriting,
  kLingering
};

struct EventLoop::Connection {
  Connection(uint64_t id_in, int fd_in, std::string client_in,
             const HeadLimits& limits)
      : id(id_in), fd(fd_in), client(std::move(client_in)), scanner(limits) {}

  const uint64_t id;
  const int fd;
  const std::string client;
  ConnectionState state = ConnectionState::kReadingHead;
  uint32_t events = 0;  // as registered with epoll
  std::string in;       // received, not yet consumed
  HeadScanner scanner;
  bool head_started = false;  // a byte of this head (not an empty line) came
  RequestHead pending;        // kReadingBody: dispatched once body_left is 0
  uint64_t body_left = 0;
  std::string out;
  size_t out_pos = 0;
  bool close_after_write = false;
  Clock::time_point head_deadline;
  Clock::time_point deadline = Clock::time_point::max();
};

EventLoop::EventLoop(const HttpServerOptions& options, Dispatch dispatch)
    : options_(options),
      limits_{options.max_request_head_bytes, options.max_request_line_bytes,
              options.max_header_count},
      dispatch_(std::move(dispatch)),
      next_id_(kFirstConnectionId),
      last_refusal_log_(Clock::now() - std::chrono::hours(1)) {}

EventLoop::~EventLoop() {
  for (auto& [id, c] : connections_) close(c->fd);
  for (int fd : {listen_fd_, epoll_fd_, wake_fd_}) {
    if (fd >= 0) close(fd);
  }
}

absl::StatusOr<int> EventLoop::Listen(const std::string& host, int port) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create epoll/eventfd: ", ErrnoText(errno)));
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                           service.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve HTTP host \"",
                                               host, "\": ", gai_strerror(rc)));
  }
  int error = 0;
  for (addrinfo* ai = found; ai != nullptr && listen_fd_ < 0;
       ai = ai->ai_next) {
    int fd =
        socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      error = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        listen(fd, SOMAXCONN) == 0) {
      listen_fd_ = fd;
    } else {
      error = errno;
      close(fd);
    }
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for HTTP on ", host, ":", port, ": ", ErrnoText(error)));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length);
  const int bound_port =
      ntohs(bound.ss_family == AF_INET6
                ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  for (auto [fd, id] :
       {std::pair{listen_fd_, kListenerId}, std::pair{wake_fd_, kWakeId}}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      return absl::InternalError(absl::StrCat("epoll_ctl: ", ErrnoText(errno)));
    }
  }
  return bound_port;
}

void EventLoop::Run() {
  std::vector<epoll_event> events(128);
  Clock::time_point next_deadline = Clock::time_point::max();
  while (!stopping_.load()) {
    int timeout_ms = -1;
    if (!ready_.empty()) {
      timeout_ms = 0;
    } else if (next_deadline != Clock::time_point::max()) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(
          next_deadline - Clock::now());
      timeout_ms =
          static_cast<int>(std::clamp<int64_t>(wait.count(), 0, 60 * 1000));
    }
    const int n = epoll_wait(epoll_fd_, events.data(),
                             static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) {
      CURATOR_LOG(ERROR) << "HTTP server: epoll_wait: " << ErrnoText(errno);
      break;
    }
    const Clock::time_point now = Clock::now();
    for (int i = 0; i < n; ++i) {
      OnEvent(events[i].data.u64, events[i].events, now);
    }
    // Pipelined requests already in a buffer: one each per round, so one
    // client's pipeline cannot hold up everybody else.
    std::vector<uint64_t> ready;
    ready.swap(ready_);
    for (uint64_t id : ready) {
      auto it = connections_.find(id);
      if (it != connections_.end() &&
          it->second->state == ConnectionState::kReadingHead) {
        AdvanceHead(*it->second, now);
      }
    }
    next_deadline = ExpireDeadlines(Clock::now());
  }
  // Stopping abandons unfinished responses: reset those so that the kernel
  // does not keep sending them.
  for (auto& [id, c] : connections_) {
    if (c->state == ConnectionState::kWriting) {
      Abort(c->fd);
    } else {
      close(c->fd);
    }
  }
  connections_.clear();
  per_client_.clear();
  close(listen_fd_);
  listen_fd_ = -1;
}

void EventLoop::Stop() {
  stopping_.store(true);
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void EventLoop::Respond(uint64_t connection, std::string response, bool close) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    completions_.push_back({connection, std::move(response), close});
  }
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
}

void EventLoop::AcceptAll(Clock::time_point now) {
  for (int i = 0; i < kMaxAcceptsPerWake; ++i) {
    sockaddr_storage addr{};
    socklen_t length = sizeof addr;
    const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr),
                           &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
          errno == ENOMEM) {
        // The listener is level-triggered: trying again at once would
        // spin until a descriptor is free.
        NoteRefusal(absl::StrCat("accept: ", ErrnoText(errno)), now);
        epoll_event ev{};
        ev.data.u64 = kListenerId;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
        accept_paused_ = true;
        accept_paused_until_ = now + kAcceptPause;
      }
      return;
    }
    std::string client = ClientAddress(addr);
    if (connections_.size() >= static_cast<size_t>(options_.max_connections)) {
      Refuse(fd);
      NoteRefusal(absl::StrCat("the server has its maximum of ",
                               options_.max_connections, " connections open"),
                  now);
      continue;
    }
    int& open = per_client_[client];
    if (open >= options_.max_connections_per_client) {
      Refuse(fd);
      NoteRefusal(absl::StrCat(client, " has its maximum of ",
                               options_.max_connections_per_client,
                               " connections open"),
                  now);
      continue;
    }
    const uint64_t id = next_id_++;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = id;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      if (open == 0) per_client_.erase(client);
      continue;
    }
    ++open;
    // Each response goes out in as few sends as it takes; Nagle would only
    // hold back its last segment.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>(id, fd, std::move(client), limits_);
    c->events = EPOLLIN;
    Connection& connection = *c;
    connections_.emplace(id, std::move(c));
    // Deadlines run from this accept, not from the wake-up: a connection can
    // complete its handshake while a long batch is being accepted.
    BeginRequest(connection, Clock::now());
  }
}

void EventLoop::Refuse(int fd) {
  ResponseParts parts;
  parts.status = 503;
  parts.body = "too many connections; try again later\n";
  parts.close = true;
  parts.extra_headers = {{"Retry-After", "1"}};
  SendAndClose(fd, SerializeResponse(parts));
}

void EventLoop::NoteRefusal(const std::string& why, Clock::time_point now) {
  ++refused_since_log_;
  if (now - last_refusal_log_ < kRefusalLogInterval) return;
  CURATOR_LOG(WARNING) << "HTTP server refused " << refused_since_log_
                       << " connection(s) since its last report (at most one "
                          "per 10 s); the latest because "
                       << why;
  refused_since_log_ = 0;
  last_refusal_log_ = now;
}

void EventLoop::OnEvent(uint64_t id, uint32_t events, Clock::time_point now) {
  if (id == kListenerId) {
    AcceptAll(now);
    return;
  }
  if (id == kWakeId) {
    uint64_t count = 0;
    (void)!read(wake_fd_, &count, sizeof count);
    TakeCompletions(now);
    return;
  }
  auto it = connections_.find(id);
  if (it == connections_.end()) return;  // closed earlier in this round
  Connection& c = *it->second;
  if (events & EPOLLERR) {
    Close(id);
    return;
  }
  switch (c.state) {
    case ConnectionState::kWriting:
      Write(c, now);  // writable, or hung up: send says which
      return;
    case ConnectionState::kHandling:
      if (events & EPOLLHUP) Close(id);
      return;
    default:
      OnReadable(c, now);
      return;
  }
}

void EventLoop::OnReadable(Connection& c, Clock::time_point now) {
  char buf[16 * 1024];
  size_t want = sizeof buf;
  if (c.state == ConnectionState::kReadingHead) {
    // One byte past the limit is enough to know the head is too large.
    want = std::min(want, limits_.max_head_bytes + 1 -
                              std::min(c.in.size(), limits_.max_head_bytes));
  } else if (c.state == ConnectionState::kReadingBody) {
    want = std::min<uint64_t>(want, c.body_left);
  }
  const ssize_t n = recv(c.fd, buf, want, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    return;
  }
  if (n <= 0) {  // the client closed or reset: nothing left to answer
    Close(c.id);
    return;
  }
  switch (c.state) {
    case ConnectionState::kLingering:
      return;
    case ConnectionState::kReadingBody:
      c.body_left -= static_cast<uint64_t>(n);
      if (c.body_left == 0) {
        c.state = ConnectionState::kHandling;
        Watch(c, 0);
        c.deadline = Clock::time_point::max();
        dispatch_(c.id, std::move(c.pending));
      }
      return;
    case ConnectionState::kReadingHead:
      c.in.append(buf, static_cast<size_t>(n));
      // The first byte ends the idle wait; the head deadline stands.
      c.deadline = c.head_deadline;
      AdvanceHead(c, now);
      return;
    default:
      return;
  }
}

void EventLoop::TakeCompletions(Clock::time_point now) {
  std::vector<Completion> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    done.swap(completions_);
  }
  for (Completion& d : done) {
    auto it = connections_.find(d.connection);
    if (it == connections_.end() ||
        it->second->state != ConnectionState::kHandling) {
      continue;
    }
    StartWrite(*it->second, std::move(d.response), d.close, now);
  }
}

void EventLoop::BeginRequest(Connection& c, Clock::time_point now) {
  c.state = ConnectionState::kReadingHead;
  c.scanner.Reset();
  c.head_started = false;
  c.head_deadline = now + ToChrono(options_.request_head_timeout);
  c.deadline = c.in.empty()
                   ? std::min(c.head_deadline,
                              now + ToChrono(options_.keep_alive_timeout))
                   : c.head_deadline;
  Watch(c, EPOLLIN);
}

void EventLoop::AdvanceHead(Connection& c, Clock::time_point now) {
  if (!c.head_started) {
    c.in.erase(0, LeadingEmptyLines(c.in));
    if (c.in.empty() || c.in == "\r") return;  // "\r" may become "\r\n"
    c.head_started = true;
  }
  const HeadScanner::Result scanned = c.scanner.Scan(c.in);
  if (!scanned.error.ok()) {
    SendError(c, scanned.error.status, scanned.error.message, now);
    return;
  }
  if (scanned.end == 0) return;  // wait for more
  RequestHead head;
  const HeadError error =
      ParseHead(absl::string_view(c.in).substr(0, scanned.end), limits_, &head);
  c.in.erase(0, scanned.end);
  if (!error.ok()) {
    SendError(c, error.status, error.message, now);
    return;
  }
  StartRequest(c, std::move(head), now);
}

void EventLoop::StartRequest(Connection& c, RequestHead head,
                             Clock::time_point now) {
  const bool has_body = head.content_length > 0 || head.has_transfer_encoding;
  if (head.method != "GET" && head.method != "HEAD") {
    // The body of a refused request is not read; closing after the answer
    // (lingering) costs less than reading it.
    SendError(c, 405, "read-only: only GET and HEAD are served", now,
              /*close=*/!head.keep_alive || has_body, /*allow=*/true);
    return;
  }
  if (head.has_transfer_encoding) {
    SendError(c, 400, "a request body needs a Content-Length", now);
    return;
  }
  if (head.content_length > options_.max_request_body_bytes) {
    SendError(c, 413, "request body too large", now);
    return;
  }
  // A GET's body means nothing here; it is read (within the head deadline)
  // and dropped so that the connection can carry the next request.
  const size_t buffered = std::min<uint64_t>(c.in.size(), head.content_length);
  c.in.erase(0, buffered);
  c.body_left = head.content_length - buffered;
  if (c.body_left > 0) {
    c.state = ConnectionState::kReadingBody;
    c.pending = std::move(head);
    return;
  }
  c.state = ConnectionState::kHandling;
  Watch(c, 0);
  c.deadline = Clock::time_point::max();
  dispatch_(c.id, std::move(head));
}

void EventLoop::SendError(Connection& c, int status, const std::string& message,
                          Clock::time_point now, bool close, bool allow) {
  const std::string body = message + "\n";
  ResponseParts parts;
  parts.status = status;
  parts.body = body;
  parts.close = close;
  if (allow) parts.extra_headers = {{"Allow", "GET, HEAD"}};
  StartWrite(c, SerializeResponse(parts), close, now);
}

void EventLoop::StartWrite(Connection& c, std::string bytes, bool close,
                           Clock::time_point now) {
  c.state = ConnectionState::kWriting;
  c.out = std::move(bytes);
  c.out_pos = 0;
  c.close_after_write = close;
  c.deadline = now + ToChrono(options_.send_timeout);
  Write(c, now);
}

void EventLoop::Write(Connection& c, Clock::time_point now) {
  while (c.out_pos < c.out.size()) {
    const ssize_t n = send(c.fd, c.out.data() + c.out_pos,
                           c.out.size() - c.out_pos, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      Watch(c, EPOLLOUT);
      return;
    }
    if (n < 0) {
      Close(c.id);
      return;
    }
    c.out_pos += static_cast<size_t>(n);
  }
  std::string().swap(c.out);  // an idle connection keeps no large buffer
  if (c.close_after_write) {
    StartLinger(c, now);
    return;
  }
  BeginRequest(c, now);
  if (!c.in.empty()) ready_.push_back(c.id);
}

void EventLoop::StartLinger(Connection& c, Clock::time_point now) {
  shutdown(c.fd, SHUT_WR);
  c.state = ConnectionState::kLingering;
  c.in.clear();
  c.deadline = now + kLingerTime;
  Watch(c, EPOLLIN);
}

void EventLoop::Watch(Connection& c, uint32_t events) {
  if (c.events == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.id;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

void EventLoop::Close(uint64_t id, CloseHow how, const std::string& last) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  Connection& c = *it->second;
  switch (how) {
    case CloseHow::kPlain:
      close(c.fd);
      break;
    case CloseHow::kAbort:
      Abort(c.fd);
      break;
    case CloseHow::kSendLast:
      SendAndClose(c.fd, last);
      break;
  }
  auto client = per_client_.find(c.client);
  if (client != per_client_.end() && --client->second <= 0) {
    per_client_.erase(client);
  }
  connections_.erase(it);
}

EventLoop::Clock::time_point EventLoop::ExpireDeadlines(Clock::time_point now) {
  Clock::time_point next = Clock::time_point::max();
  std::vector<uint64_t> expired;
  for (const auto& [id, c] : connections_) {
    if (c->deadline <= now) {
      expired.push_back(id);
    } else {
      next = std::min(next, c->deadline);
    }
  }
  for (uint64_t id : expired) {
    Connection& c = *connections_.at(id);
    switch (c.state) {
      case ConnectionState::kReadingHead:
        if (c.head_started) {
          // Best effort and never waited for: the client is slow already.
          ResponseParts parts;
          parts.status = 408;
          parts.body = "request head not received in time\n";
          parts.close = true;
          Close(id, CloseHow::kSendLast, SerializeResponse(parts));
        } else {
          Close(id);
        }
        break;
      case ConnectionState::kWriting:
        Close(id, CloseHow::kAbort);
        break;
      default:
        Close(id);
        break;
    }
  }
  if (accept_paused_) {
    if (now >= accept_paused_until_) {
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kListenerId;
      epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
      accept_paused_ = false;
    } else {
      next = std::min(next, accept_paused_until_);
    }
  }
  return next;
}

}  // namespace curator::http_internal
