// Raw HTTP/1.x clients on loopback sockets for HttpServer's tests: an
// ordinary client that sends exact bytes and reads responses, and a crowd
// of hostile ones (trickling a head byte by byte, or silent) driven by one
// thread. Every wait takes a deadline; nothing sleeps.
#ifndef CURATOR_SERVER_HTTP_TEST_CLIENT_H_
#define CURATOR_SERVER_HTTP_TEST_CLIENT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace curator::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  // The value of header `name` (any case), "" if absent.
  std::string Header(const std::string& name) const;
};

// One connection to 127.0.0.1:port. Not thread-safe.
class RawClient {
 public:
  // Binds to `from` first when not empty (any 127.x.y.z: Linux routes all
  // of 127/8 to loopback, so tests can play several client addresses).
  // `receive_buffer` > 0 sets SO_RCVBUF. Unavailable when not connected
  // within `timeout`.
  static absl::StatusOr<std::unique_ptr<RawClient>> Connect(
      int port, const std::string& from = "",
      absl::Duration timeout = absl::Seconds(5), int receive_buffer = 0);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // Sends all of `bytes`; false when the server closed or reset.
  bool Send(absl::string_view bytes);

  // Reads one response: its head, then Content-Length bytes of body (none
  // for a response to HEAD), or everything up to EOF without one.
  // DeadlineExceeded, or Unavailable when closed before a whole response.
  absl::StatusOr<RawResponse> Read(absl::Duration timeout,
                                   bool head_request = false);

  // Sends `request` and reads its response.
  absl::StatusOr<RawResponse> RoundTrip(
      absl::string_view request, absl::Duration timeout = absl::Seconds(5));

  // Reads and drops everything until the server closes (EOF or reset);
  // false if still open after `timeout`. `dropped`: bytes read meanwhile.
  bool WaitClosed(absl::Duration timeout, size_t* dropped = nullptr);

  // Waits, reading nothing, until the connection is reset or hung up in
  // both directions; false if not within `timeout`.
  bool WaitHangUp(absl::Duration timeout);

  // Nothing to read and not closed, right now.
  bool Quiet();

  int fd() const { return fd_; }

 private:
  explicit RawClient(int fd) : fd_(fd) {}
  // Appends what arrives before `deadline`: false at EOF, reset or deadline
  // (`*closed` says which).
  bool Fill(std::chrono::steady_clock::time_point deadline, bool* closed);

  int fd_;
  std::string buffer_;
};

// A crowd of hostile clients driven by one thread: each either trickles an
// endless request head, one byte per member every `interval`, or sends
// nothing. Records, per member, when the server closed it and the status
// of any response it sent first.
class HostileCrowd {
 public:
  enum class Kind { kTrickle, kSilent };
  struct Member {
    Kind kind = Kind::kSilent;
    bool closed = false;
    // From just before connecting (so never shorter than the server's view)
    // to seeing the close.
    std::chrono::steady_clock::duration open_for{};
    int status = 0;  // of the first response the server sent, 0 if none
  };

  explicit HostileCrowd(std::chrono::milliseconds interval)
      : interval_(interval) {}
  ~HostileCrowd();  // stops the thread, closes every socket

  // Connects `count` members from `from`. Call before Start.
  absl::Status Add(int port, const std::string& from, Kind kind, int count);
  void Start();
  std::vector<Member> Snapshot();
  // Waits until `done(Snapshot())` or `timeout`; returns the last result.
  bool WaitFor(const std::function<bool(const std::vector<Member>&)>& done,
               absl::Duration timeout);

 private:
  struct Socket {
    int fd = -1;
    std::chrono::steady_clock::time_point connected;
    size_t sent = 0;
    std::string received;  // first bytes only, for the status
  };
  void Run();
  void MarkClosed(size_t i, std::chrono::steady_clock::time_point now);

  const std::chrono::milliseconds interval_;
  std::vector<Socket> sockets_;  // touched by the thread once started
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Member> members_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Members for which `pred` holds.
int CountMembers(const std::vector<HostileCrowd::Member>& members,
                 const std::function<bool(const HostileCrowd::Member&)>& pred);

}  // namespace curator::testing

#endif  // CURATOR_SERVER_HTTP_TEST_CLIENT_H_
