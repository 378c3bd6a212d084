#include "archive/paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace curator::paths {
namespace {

// The length of the well-formed UTF-8 sequence at the start of `s` and
// its code point, or 0 if there is none (RFC 3629, table 3-7 of Unicode).
int DecodeOne(absl::string_view s, char32_t* cp) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  int len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // no overlong forms
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < static_cast<size_t>(len) || b(1) < lo || b(1) > hi) return 0;
  char32_t v = c & (0xFF >> (len + 1));
  v = (v << 6) | (b(1) & 0x3F);
  for (int i = 2; i < len; ++i) {
    if ((b(i) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i) & 0x3F);
  }
  *cp = v;
  return len;
}

// Valid characters that still must not reach a terminal as they are.
bool IsInvisibleControl(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) ||      // C1 controls
         cp == 0x2028 || cp == 0x2029 ||    // line and paragraph separators
         cp == 0x200E || cp == 0x200F ||    // left-to-right, right-to-left marks
         (cp >= 0x202A && cp <= 0x202E) ||  // bidirectional embeddings, overrides
         (cp >= 0x2066 && cp <= 0x2069) ||  // bidirectional isolates
         cp == 0xFEFF;                      // byte order mark
}

std::string Quoted(absl::string_view s) { return absl::StrCat("'", ShowBytes(s), "'"); }

}  // namespace

std::string ShowBytes(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size();) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      char32_t cp = 0;
      const int len = DecodeOne(bytes.substr(i), &cp);
      if (len == 0) {
        absl::StrAppendFormat(&out, "\\x%02x", c);
      } else if (IsInvisibleControl(cp)) {
        absl::StrAppendFormat(&out, "\\u%04x", static_cast<uint32_t>(cp));
        i += len;
        continue;
      } else {
        absl::StrAppend(&out, bytes.substr(i, len));
        i += len;
        continue;
      }
    }
    ++i;
  }
  return out;
}

bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const int len = DecodeOne(s.substr(i), &cp);
    if (len == 0 || cp == 0) return false;
    i += len;
  }
  return true;
}

absl::Status CheckPlainName(absl::string_view name, absl::string_view what) {
  const char* why = nullptr;
  if (name.empty()) {
    why = "it is empty";
  } else if (name == "." || name == "..") {
    why = "it names a directory";
  } else if (absl::StrContains(name, '/')) {
    why = "it contains '/'";
  } else if (absl::StrContains(name, '\0')) {
    why = "it contains a NUL byte";
  } else if (name.size() > NAME_MAX) {
    why = "it is longer than 255 bytes";
  } else if (!IsValidUtf8(name)) {
    why = "it is not valid UTF-8";
  }
  if (why == nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", Quoted(name), " is not a plain file name: ", why));
}

bool IsUnder(absl::string_view real_root, absl::string_view real_path) {
  if (real_root == "/") return absl::StartsWith(real_path, "/");
  return real_path == real_root ||
         (absl::StartsWith(real_path, real_root) && real_path.size() > real_root.size() &&
          real_path[real_root.size()] == '/');
}

absl::StatusOr<std::string> RealPath(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return ErrnoToStatus(errno, ShowBytes(path));
  std::string out(real);
  free(real);
  return out;
}

absl::StatusOr<std::string> ResolveInside(const std::string& archive_root,
                                          const std::string& path, Missing missing) {
  if (!absl::StartsWith(path, "/")) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(path), " is not an absolute path"));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/', absl::SkipEmpty());
  for (absl::string_view part : parts) {
    if (part == "..") {
      return absl::InvalidArgumentError(absl::StrCat(Quoted(path), " has a '..' component"));
    }
  }
  CURATOR_ASSIGN_OR_RETURN(const std::string real_root, RealPath(archive_root));
  // With kAllow, resolve the longest part that exists; what follows it is
  // plain names (no "..", checked above), so it cannot lead out again.
  std::string real;
  size_t existing = parts.size();
  while (true) {
    const std::string prefix = absl::StrCat("/", absl::StrJoin(parts.begin(),
                                                               parts.begin() + existing, "/"));
    absl::StatusOr<std::string> r = RealPath(prefix);
    if (r.ok()) {
      real = *std::move(r);
      break;
    }
    struct stat st;
    if (missing == Missing::kRefuse || r.status().code() != absl::StatusCode::kNotFound ||
        existing == 0) {
      if (r.status().code() == absl::StatusCode::kNotFound && lstat(prefix.c_str(), &st) == 0 &&
          S_ISLNK(st.st_mode)) {
        return absl::NotFoundError(
            absl::StrCat(Quoted(prefix), " is a dangling symbolic link"));
      }
      return r.status();
    }
    if (lstat(prefix.c_str(), &st) == 0) {
      // It is there but does not resolve: a dangling link on the way.
      return absl::NotFoundError(absl::StrCat(Quoted(prefix), " is a dangling symbolic link"));
    }
    --existing;
  }
  for (size_t i = existing; i < parts.size(); ++i) {
    if (real != "/") real += "/";
    absl::StrAppend(&real, parts[i]);
  }
  if (!IsUnder(real_root, real)) {
    return absl::InvalidArgumentError(absl::StrCat(Quoted(path), " resolves to ", Quoted(real),
                                                   ", outside the archive root ",
                                                   ShowBytes(archive_root)));
  }
  return real;
}

}  // namespace curator::paths
