#include "server/http_test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace curator::testing {
namespace {

using Clock = std::chrono::steady_clock;

Clock::time_point DeadlineAfter(absl::Duration timeout) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            absl::ToChronoNanoseconds(timeout));
}

int MillisecondsUntil(Clock::time_point deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<int64_t>(0, left.count()));
}

// The endless head a trickler sends: a plausible start, then a header
// value that never ends.
char TrickleByte(size_t i) {
  static constexpr char kStart[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  return i < sizeof kStart - 1 ? kStart[i] : 'a';
}

int StatusOf(const std::string& first_bytes) {
  int status = 0;
  if (first_bytes.size() < 12 || first_bytes.compare(0, 5, "HTTP/") != 0 ||
      !absl::SimpleAtoi(first_bytes.substr(9, 3), &status)) {
    return 0;
  }
  return status;
}

}  // namespace

std::string RawResponse::Header(const std::string& name) const {
  auto it = headers.find(absl::AsciiStrToLower(name));
  return it == headers.end() ? "" : it->second;
}

absl::StatusOr<std::unique_ptr<RawClient>> RawClient::Connect(
    int port, const std::string& from, absl::Duration timeout,
    int receive_buffer) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::UnavailableError(std::strerror(errno));
  std::unique_ptr<RawClient> client(new RawClient(fd));
  if (receive_buffer > 0) {
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
               sizeof receive_buffer);
  }
  if (!from.empty()) {
    sockaddr_in local{};
    local.sin_family = AF_INET;
    if (inet_pton(AF_INET, from.c_str(), &local.sin_addr) != 1 ||
        bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot bind to ", from, ": ", std::strerror(errno)));
    }
  }
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(port));
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(std::strerror(errno));
    }
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    if (poll(&p, 1, MillisecondsUntil(DeadlineAfter(timeout))) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 ||
        error != 0) {
      return absl::UnavailableError(
          absl::StrCat("not connected within ", absl::FormatDuration(timeout)));
    }
  }
  return client;
}

RawClient::~RawClient() { close(fd_); }

bool RawClient::Send(absl::string_view bytes) {
  const Clock::time_point deadline = DeadlineAfter(absl::Seconds(10));
  while (!bytes.empty()) {
    const ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n > 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{fd_, POLLOUT, 0};
      if (poll(&p, 1, MillisecondsUntil(deadline)) != 1) return false;
    } else if (!(n < 0 && errno == EINTR)) {
      return false;
    }
  }
  return true;
}

bool RawClient::Fill(Clock::time_point deadline, bool* closed) {
  *closed = false;
  while (true) {
    char buf[64 * 1024];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      *closed = true;
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, MillisecondsUntil(deadline)) == 0) return false;
  }
}

absl::StatusOr<RawResponse> RawClient::Read(absl::Duration timeout,
                                            bool head_request) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  bool closed = false;
  size_t head_end;
  while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!Fill(deadline, &closed)) {
      return closed ? absl::UnavailableError("closed before a response head")
                    : absl::DeadlineExceededError("no response head in time");
    }
  }
  RawResponse response;
  const std::vector<std::string> lines =
      absl::StrSplit(buffer_.substr(0, head_end), "\r\n");
  response.status = StatusOf(lines[0]);
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    response.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  buffer_.erase(0, head_end + 4);
  size_t length = 0;
  const std::string content_length = response.Header("Content-Length");
  if (head_request) return response;
  if (content_length.empty()) {  // to EOF
    while (Fill(deadline, &closed)) {
    }
    if (!closed) return absl::DeadlineExceededError("no EOF in time");
    response.body = std::move(buffer_);
    buffer_.clear();
    return response;
  }
  if (!absl::SimpleAtoi(content_length, &length)) {
    return absl::InternalError("bad Content-Length " + content_length);
  }
  while (buffer_.size() < length) {
    if (!Fill(deadline, &closed)) {
      return closed ? absl::UnavailableError("closed before the whole body")
                    : absl::DeadlineExceededError("no whole body in time");
    }
  }
  response.body = buffer_.substr(0, length);
  buffer_.erase(0, length);
  return response;
}

absl::StatusOr<RawResponse> RawClient::RoundTrip(absl::string_view request,
                                                 absl::Duration timeout) {
  if (!Send(request)) return absl::UnavailableError("cannot send");
  return Read(timeout, absl::StartsWith(request, "HEAD "));
}

bool RawClient::WaitClosed(absl::Duration timeout, size_t* dropped) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  size_t total = buffer_.size();
  buffer_.clear();
  bool closed = false;
  while (Fill(deadline, &closed)) {
    total += buffer_.size();
    buffer_.clear();
  }
  if (dropped != nullptr) *dropped = total;
  return closed;
}

bool RawClient::WaitHangUp(absl::Duration timeout) {
  const Clock::time_point deadline = DeadlineAfter(timeout);
  while (true) {
    pollfd p{fd_, 0, 0};  // POLLERR and POLLHUP are reported regardless
    const int n = poll(&p, 1, MillisecondsUntil(deadline));
    if (n == 1) return true;
    if (n == 0) return false;
  }
}

bool RawClient::Quiet() {
  pollfd p{fd_, POLLIN, 0};
  return poll(&p, 1, 0) == 0;
}

HostileCrowd::~HostileCrowd() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  for (Socket& s : sockets_) {
    if (s.fd >= 0) close(s.fd);
  }
}

absl::Status HostileCrowd::Add(int port, const std::string& from, Kind kind,
                               int count) {
  for (int i = 0; i < count; ++i) {
    Socket s;
    s.connected = Clock::now();
    absl::StatusOr<std::unique_ptr<RawClient>> client =
        RawClient::Connect(port, from);
    if (!client.ok()) return client.status();
    // The crowd owns the descriptor from here on.
    s.fd = dup((*client)->fd());
    sockets_.push_back(s);
    std::lock_guard<std::mutex> lock(mu_);
    members_.push_back(Member{kind});
  }
  return absl::OkStatus();
}

void HostileCrowd::Start() {
  thread_ = std::thread([this] { Run(); });
}

std::vector<HostileCrowd::Member> HostileCrowd::Snapshot() {
  std::lock_guard<std::mutex> lock(mu_);
  return members_;
}

bool HostileCrowd::WaitFor(
    const std::function<bool(const std::vector<Member>&)>& done,
    absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, DeadlineAfter(timeout),
                        [&] { return done(members_); });
}

void HostileCrowd::MarkClosed(size_t i, Clock::time_point now) {
  close(sockets_[i].fd);
  sockets_[i].fd = -1;
  std::lock_guard<std::mutex> lock(mu_);
  members_[i].closed = true;
  members_[i].open_for = now - sockets_[i].connected;
  members_[i].status = StatusOf(sockets_[i].received);
}

void HostileCrowd::Run() {
  std::vector<Kind> kinds;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Member& m : members_) kinds.push_back(m.kind);
  }
  Clock::time_point next_byte = Clock::now();
  while (!stop_.load()) {
    // Read first: a response already waiting must be seen before a send
    // into a closed connection draws a reset.
    std::vector<pollfd> fds;
    std::vector<size_t> index;
    for (size_t i = 0; i < sockets_.size(); ++i) {
      if (sockets_[i].fd < 0) continue;
      fds.push_back({sockets_[i].fd, POLLIN, 0});
      index.push_back(i);
    }
    if (fds.empty()) break;
    const int timeout = std::min(MillisecondsUntil(next_byte), 50);
    poll(fds.data(), fds.size(), timeout);
    const Clock::time_point now = Clock::now();
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      Socket& s = sockets_[index[k]];
      char buf[4096];
      ssize_t n;
      while ((n = recv(s.fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        if (s.received.size() < 64) s.received.append(buf, n);
      }
      if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        MarkClosed(index[k], now);
      }
    }
    if (now >= next_byte) {
      for (size_t i = 0; i < sockets_.size(); ++i) {
        Socket& s = sockets_[i];
        if (s.fd < 0 || kinds[i] != Kind::kTrickle) continue;
        const char byte = TrickleByte(s.sent);
        if (send(s.fd, &byte, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
          ++s.sent;
        } else if (errno != EAGAIN) {
          MarkClosed(i, now);
        }
      }
      next_byte = now + interval_;
    }
    cv_.notify_all();
  }
  cv_.notify_all();
}

int CountMembers(const std::vector<HostileCrowd::Member>& members,
                 const std::function<bool(const HostileCrowd::Member&)>& pred) {
  return static_cast<int>(std::count_if(members.begin(), members.end(), pred));
}

}  // namespace curator::testing
