#include "server/http_wire.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace curator::http_internal {
namespace {

// Longer than any registered method; a longer "method" is garbage.
constexpr size_t kMaxMethodBytes = 32;
// 18 digits fit in uint64_t whatever they are.
constexpr size_t kMaxContentLengthDigits = 18;

HeadError Error(int status, std::string message) {
  return HeadError{status, std::move(message)};
}

// RFC 9110 section 5.6.2.
bool IsTchar(unsigned char c) {
  return absl::ascii_isalnum(c) ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// Control characters other than HTAB, CR and LF, which never belong in a
// head; a TLS handshake or binary junk shows up here at its first byte.
bool IsForbiddenControl(unsigned char c) {
  return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The request target as a decoded path: origin form ("/a/b?q") or absolute
// form ("http://host/a/b?q", which RFC 9112 section 3.2.2 says a server
// must accept). Routes match paths; the query is kept apart, undecoded, and
// the fragment dropped.
HeadError TargetToPath(absl::string_view target, std::string* path,
                       std::string* query) {
  if (target.front() != '/') {
    size_t scheme = 0;
    if (absl::StartsWithIgnoreCase(target, "http://")) {
      scheme = 7;
    } else if (absl::StartsWithIgnoreCase(target, "https://")) {
      scheme = 8;
    } else {
      return Error(400, "the request target is not a path");
    }
    target.remove_prefix(scheme);
    const size_t end_of_authority = target.find_first_of("/?#");
    target = end_of_authority == absl::string_view::npos ||
                     target[end_of_authority] != '/'
                 ? absl::string_view("/")
                 : target.substr(end_of_authority);
  }
  target = target.substr(0, target.find('#'));
  query->clear();
  if (const size_t q = target.find('?'); q != absl::string_view::npos) {
    *query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  path->clear();
  path->reserve(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] != '%') {
      *path += target[i];
      continue;
    }
    const int hi = i + 2 < target.size() ? HexValue(target[i + 1]) : -1;
    const int lo = hi >= 0 ? HexValue(target[i + 2]) : -1;
    // A NUL would end the path early for any C API a handler hands it to.
    if (lo < 0 || (hi == 0 && lo == 0)) {
      return Error(400, "malformed percent-encoding in the path");
    }
    *path += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return {};
}

HeadError ParseRequestLine(absl::string_view line, const HeadLimits& limits,
                           RequestHead* out) {
  if (line.size() > limits.max_request_line_bytes) {
    return Error(414, "request line too long");
  }
  const size_t sp1 = line.find(' ');
  const size_t sp2 =
      sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == absl::string_view::npos ||
      line.find(' ', sp2 + 1) != absl::string_view::npos) {
    return Error(400, "malformed request line");
  }
  const absl::string_view method = line.substr(0, sp1);
  const absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const absl::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || method.size() > kMaxMethodBytes) {
    return Error(400, "malformed method");
  }
  if (target.empty()) return Error(400, "empty request target");
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return Error(400, "malformed request target");
    }
  }
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(version[5]) || version[6] != '.' ||
      !absl::ascii_isdigit(version[7])) {
    return Error(400, "malformed HTTP version");
  }
  if (version[5] != '1') {
    return Error(505, "only HTTP/1.0 and HTTP/1.1 are served");
  }
  out->method = std::string(method);
  out->minor_version = version[7] - '0';
  return TargetToPath(target, &out->path, &out->query);
}

// Content-Length may repeat (as a list or as several fields) only with one
// value; anything else is how request smuggling starts.
HeadError AddContentLength(absl::string_view value, bool* seen,
                           uint64_t* length) {
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    item = TrimOws(item);
    uint64_t n = 0;
    if (item.empty() || item.size() > kMaxContentLengthDigits ||
        !std::all_of(item.begin(), item.end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(item, &n)) {
      return Error(400, "malformed Content-Length");
    }
    if (*seen && n != *length) return Error(400, "conflicting Content-Length");
    *seen = true;
    *length = n;
  }
  return {};
}

}  // namespace

size_t LeadingEmptyLines(absl::string_view buffer) {
  size_t n = 0;
  while (true) {
    if (buffer.substr(n, 1) == "\n") {
      n += 1;
    } else if (buffer.substr(n, 2) == "\r\n") {
      n += 2;
    } else {
      return n;
    }
  }
}

HeadScanner::Result HeadScanner::Scan(absl::string_view buffer) {
  const auto fail = [](int status, std::string message) {
    return Result{0, Error(status, std::move(message))};
  };
  for (size_t i = scanned_; i < buffer.size(); ++i) {
    const unsigned char c = buffer[i];
    if (i >= limits_.max_head_bytes) {
      return fail(431, "request head too large");
    }
    if (IsForbiddenControl(c)) {
      return fail(400, "control character in the request head");
    }
    if (!request_line_done_) {
      // The method is checked byte by byte: anything that is not a token
      // followed by a space is not HTTP, and is refused at once.
      if (!method_done_) {
        if (c == ' ' && i > 0) {
          method_done_ = true;
        } else if (!IsTchar(c)) {
          return fail(400, "malformed request line");
        } else if (i >= kMaxMethodBytes) {
          return fail(400, "malformed method");
        }
      }
      if (c == '\n') {
        request_line_done_ = true;
        line_start_ = i + 1;
        continue;
      }
      // The line may end in "\r\n": one byte past the limit may be its CR.
      const size_t limit = limits_.max_request_line_bytes;
      if (i > limit || (i == limit && c != '\r')) {
        return fail(414, "request line too long");
      }
    } else if (c == '\n') {
      const size_t length = i - line_start_;
      if (length == 0 || (length == 1 && buffer[line_start_] == '\r')) {
        scanned_ = i + 1;
        return Result{i + 1, {}};
      }
      if (++lines_ > limits_.max_header_count) {
        return fail(431, "too many header fields");
      }
      line_start_ = i + 1;
    }
  }
  scanned_ = buffer.size();
  return {};
}

HeadError ParseHead(absl::string_view head, const HeadLimits& limits,
                    RequestHead* out) {
  *out = RequestHead();
  if (head.size() > limits.max_head_bytes) {
    return Error(431, "request head too large");
  }
  std::vector<absl::string_view> lines;
  for (size_t pos = 0; pos < head.size();) {
    const size_t newline = head.find('\n', pos);
    if (newline == absl::string_view::npos) {
      return Error(400, "incomplete request head");
    }
    absl::string_view line = head.substr(pos, newline - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != absl::string_view::npos) {
      return Error(400, "bare CR in the request head");
    }
    lines.push_back(line);
    pos = newline + 1;
  }
  if (lines.size() < 2 || !lines.back().empty()) {
    return Error(400, "incomplete request head");
  }
  if (lines.size() - 2 > limits.max_header_count) {
    return Error(431, "too many header fields");
  }
  if (HeadError e = ParseRequestLine(lines[0], limits, out); !e.ok()) return e;

  bool close = false;
  bool keep_alive = false;
  bool has_content_length = false;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    if (line.empty()) return Error(400, "malformed request head");
    // Obsolete line folding (RFC 9112 section 5.2) is refused, as allowed.
    if (line.front() == ' ' || line.front() == '\t') {
      return Error(400, "folded header line");
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos || !IsToken(line.substr(0, colon))) {
      return Error(400, "malformed header field");
    }
    const absl::string_view name = line.substr(0, colon);
    const absl::string_view value = TrimOws(line.substr(colon + 1));
    for (unsigned char c : value) {
      if (c != '\t' && (c < 0x20 || c == 0x7f)) {
        return Error(400, "control character in a header value");
      }
    }
    if (absl::EqualsIgnoreCase(name, "Connection")) {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = TrimOws(token);
        close = close || absl::EqualsIgnoreCase(token, "close");
        keep_alive = keep_alive || absl::EqualsIgnoreCase(token, "keep-alive");
      }
    } else if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      HeadError e =
          AddContentLength(value, &has_content_length, &out->content_length);
      if (!e.ok()) return e;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      out->has_transfer_encoding = true;
    }
  }
  if (has_content_length && out->has_transfer_encoding) {
    return Error(400, "both Content-Length and Transfer-Encoding");
  }
  out->keep_alive = out->minor_version >= 1 ? !close : keep_alive && !close;
  return {};
}

std::string SerializeResponse(const ResponseParts& parts) {
  // A handler's content type must not be able to start another header.
  std::string content_type(parts.content_type);
  content_type.erase(std::remove_if(content_type.begin(), content_type.end(),
                                    [](unsigned char c) { return c < 0x20; }),
                     content_type.end());
  std::string out = absl::StrCat(
      "HTTP/1.1 ", parts.status, " ", ReasonPhrase(parts.status),
      "\r\nContent-Type: ", content_type,
      "\r\nContent-Length: ", parts.body.size(), "\r\nDate: ",
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", absl::Now(),
                       absl::UTCTimeZone()),
      // Pages are served with their scripts as separate files, so a strict
      // policy costs nothing and keeps injected markup inert.
      "\r\nX-Content-Type-Options: nosniff"
      "\r\nContent-Security-Policy: default-src 'self'; frame-ancestors 'none'"
      "\r\nCache-Control: no-store\r\n");
  for (const auto& [name, value] : parts.extra_headers) {
    absl::StrAppend(&out, name, ": ", value, "\r\n");
  }
  absl::StrAppend(&out, "Connection: ", parts.close ? "close" : "keep-alive",
                  "\r\n\r\n");
  if (!parts.head_only) out.append(parts.body.data(), parts.body.size());
  return out;
}

absl::string_view ReasonPhrase(int status) {
  static constexpr std::pair<int, absl::string_view> kPhrases[] = {
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {303, "See Other"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {502, "Bad Gateway"},
      {503, "Service Unavailable"},
      {504, "Gateway Timeout"},
      {505, "HTTP Version Not Supported"},
  };
  for (const auto& [code, phrase] : kPhrases) {
    if (code == status) return phrase;
  }
  return "Unknown";
}

}  // namespace curator::http_internal
