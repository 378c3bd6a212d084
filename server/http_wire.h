// The HTTP/1.1 wire format as HttpServer speaks it (RFC 9112): checking a
// request head while it arrives, parsing it once complete, and writing a
// response. Pure functions and a small scanner, no I/O, no threads: the
// event loop (http_event_loop.h) feeds them bytes. Internal to server/.
#ifndef CURATOR_SERVER_HTTP_WIRE_H_
#define CURATOR_SERVER_HTTP_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace curator::http_internal {

struct HeadLimits {
  size_t max_head_bytes = 16 * 1024;         // request line + headers + CRLFs
  size_t max_request_line_bytes = 8 * 1024;  // without its line ending
  size_t max_header_count = 100;
};

// Why a request head is refused: the response status (400 malformed, 414
// request line too long, 431 head too large or too many headers, 505 not
// HTTP/1.x) and a one-line reason for the response body. status 0: no
// error.
struct HeadError {
  int status = 0;
  std::string message;
  bool ok() const { return status == 0; }
};

// A request head that parsed.
struct RequestHead {
  std::string method;     // as sent (methods are case-sensitive)
  std::string path;       // percent-decoded, without query or fragment
  std::string query;      // after '?', as sent (not decoded); "" if none
  int minor_version = 1;  // HTTP/1.<minor_version>
  // Whether the connection may carry another request after this one:
  // HTTP/1.1 unless "Connection: close", HTTP/1.0 only with
  // "Connection: keep-alive".
  bool keep_alive = true;
  uint64_t content_length = 0;
  bool has_transfer_encoding = false;
};

// Bytes of leading empty lines ("\r\n" or "\n") at the start of `buffer`,
// which RFC 9112 section 2.2 says to ignore before a request line (some
// clients send a CRLF after a request body).
size_t LeadingEmptyLines(absl::string_view buffer);

// Follows one request head as it arrives, in linear time over its bytes, so
// that garbage, over-long request lines and over-large heads are refused as
// soon as they show instead of at the deadline. Not thread-safe; one per
// connection.
class HeadScanner {
 public:
  explicit HeadScanner(const HeadLimits& limits) : limits_(limits) {}

  struct Result {
    size_t end = 0;  // > 0: the head is buffer[0, end), empty line included
    HeadError error;
  };
  // `buffer` holds every byte of this head received so far (it may hold
  // more after the head); bytes already scanned must not have changed.
  Result Scan(absl::string_view buffer);

  // Starts on the next head.
  void Reset() { *this = HeadScanner(limits_); }

 private:
  HeadLimits limits_;
  size_t scanned_ = 0;
  bool method_done_ = false;
  bool request_line_done_ = false;
  size_t line_start_ = 0;
  size_t lines_ = 0;
};

// Parses a complete head (as HeadScanner delimited it) into `out`.
HeadError ParseHead(absl::string_view head, const HeadLimits& limits,
                    RequestHead* out);

// One response as it goes on the wire: status line, Content-Type,
// Content-Length (always; the body's length even when `head_only`), Date,
// the default security headers, `extra_headers`, Connection, then the
// body unless `head_only`.
struct ResponseParts {
  int status = 200;
  absl::string_view content_type = "text/plain; charset=utf-8";
  absl::string_view body;
  bool head_only = false;  // HEAD: headers only
  bool close = false;      // "Connection: close" instead of keep-alive
  std::vector<std::pair<absl::string_view, absl::string_view>> extra_headers;
};
std::string SerializeResponse(const ResponseParts& parts);

// The reason phrase of a status code ("Not Found"); "Unknown" for codes
// Curator does not send.
absl::string_view ReasonPhrase(int status);

}  // namespace curator::http_internal

#endif  // CURATOR_SERVER_HTTP_WIRE_H_
