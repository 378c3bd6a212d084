#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <atomic>
#include <filesystem>
#include <limits>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace curator::files {

namespace fs = std::filesystem;

absl::Status FsyncDir(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, path);
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  if (rc != 0) return ErrnoToStatus(e, path);
  return absl::OkStatus();
}

namespace {

enum class Sync { kNow, kLater };

// Writes all of `content` to `path` (created or truncated) and syncs it,
// or (kLater) only starts its writeback; on any error the file is
// removed, so a full disk leaves nothing behind.
absl::Status WriteAndSync(const std::string& path, absl::string_view content,
                          Sync sync = Sync::kNow) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, path);
  size_t done = 0;
  int e = 0;
  while (done < content.size()) {
    ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      e = errno;
      break;
    }
    done += n;
  }
  if (e == 0 && sync == Sync::kNow && fdatasync(fd) != 0) e = errno;
  // Only a hint to the kernel: errors show at the SyncFile that follows.
  if (e == 0 && sync == Sync::kLater)
    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
  if (close(fd) != 0 && e == 0) e = errno;
  if (e != 0) {
    unlink(path.c_str());
    return ErrnoToStatus(e, path);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteDurably(const std::string& path, absl::string_view content) {
  return WriteAndSync(path, content);
}

absl::Status WriteStartingWriteback(const std::string& path,
                                    absl::string_view content) {
  return WriteAndSync(path, content, Sync::kLater);
}

absl::Status SyncFile(const std::string& path) {
  // fdatasync through any descriptor of a file writes back all of it.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoToStatus(errno, path);
  int e = fdatasync(fd) != 0 ? errno : 0;
  if (close(fd) != 0 && e == 0) e = errno;
  if (e != 0) return ErrnoToStatus(e, path);
  return absl::OkStatus();
}

absl::Status WriteAtomically(const std::string& path, absl::string_view content) {
  // A name of this writer's own: two processes writing the same file
  // never share a temporary one.
  static std::atomic<int64_t> counter{0};
  const std::string tmp = absl::StrCat(path, ".tmp-", getpid(), "-", ++counter);
  CURATOR_RETURN_IF_ERROR(WriteAndSync(tmp, content));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return ErrnoToStatus(e, path);
  }
  return FsyncDir(fs::path(path).parent_path().string());
}

absl::StatusOr<std::string> ReadToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoToStatus(errno, path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

absl::StatusOr<int> OpenRegularFile(const std::string& path, absl::string_view kind) {
  // O_NONBLOCK: opening a FIFO for reading must not wait for a writer; it
  // is refused below like any other file that is not regular.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    const int e = errno;
    struct stat st;
    // ELOOP is O_NOFOLLOW's answer for a link (or a loop in a parent).
    if (e == ELOOP && lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " is a symbolic link; ", kind, " must be regular files"));
    }
    return ErrnoToStatus(e, path);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return ErrnoToStatus(e, path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, " is ", FileTypeName(st.st_mode), "; ",
                                                   kind, " must be regular files"));
  }
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  return fd;
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path, absl::string_view kind,
                                            int64_t max_bytes) {
  CURATOR_ASSIGN_OR_RETURN(const int fd, OpenRegularFile(path, kind));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    return ErrnoToStatus(e, path);
  }
  if (st.st_size > max_bytes) {
    close(fd);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", st.st_size, " bytes, more than the ", max_bytes, " allowed"));
  }
  std::string content;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      close(fd);
      return ErrnoToStatus(e, path);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (static_cast<int64_t>(content.size()) > max_bytes) {  // grew while read
      close(fd);
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": more than the ", max_bytes, " bytes allowed"));
    }
  }
  close(fd);
  return content;
}

absl::Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return ErrnoToStatus(ec.value(), path);
  return absl::OkStatus();
}

namespace {

// `from` copied to a new directory `to` (regular files and directories
// only: what batches hold), every file synced.
absl::Status CopyTree(const std::string& from, const std::string& to) {
  CURATOR_RETURN_IF_ERROR(MakeDirs(to));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(from, ec)) {
    const std::string target = absl::StrCat(to, "/", e.path().filename().string());
    if (e.is_directory(ec) && !e.is_symlink(ec)) {
      CURATOR_RETURN_IF_ERROR(CopyTree(e.path().string(), target));
      continue;
    }
    CURATOR_ASSIGN_OR_RETURN(std::string bytes,
                             ReadRegularFile(e.path().string(), "a file to move",
                                             std::numeric_limits<int64_t>::max()));
    CURATOR_RETURN_IF_ERROR(WriteDurably(target, bytes));
  }
  if (ec) return ErrnoToStatus(ec.value(), from);
  return FsyncDir(to);
}

}  // namespace

absl::Status MoveDir(const std::string& from, const std::string& to) {
  const std::string parent = fs::path(to).parent_path().string();
  if (absl::Status s = MakeDirs(parent); !s.ok()) return s;
  if (rename(from.c_str(), to.c_str()) == 0) return FsyncDir(parent);
  const int e = errno;
  if (e == EXDEV) {
    // Another file system (staging on a disk of its own): copied beside
    // `to` under a name of this process, renamed into place, then the
    // original removed. A crash in between leaves the original, which the
    // next pass moves again.
    static std::atomic<int> copies{0};
    const std::string copy = absl::StrCat(to, ".copying-", getpid(), "-", copies++);
    absl::Status copied = CopyTree(from, copy);
    std::error_code ec;
    if (copied.ok() && rename(copy.c_str(), to.c_str()) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST) {
        // An older copy is there: replaced, as below.
        const std::string aside = absl::StrCat(to, ".replaced-", getpid(), "-", copies++);
        if (rename(to.c_str(), aside.c_str()) == 0 || errno == ENOENT) {
          if (rename(copy.c_str(), to.c_str()) != 0) {
            copied = ErrnoToStatus(errno, absl::StrCat("rename ", copy, " -> ", to));
          }
          fs::remove_all(aside, ec);
        } else {
          copied = ErrnoToStatus(errno, absl::StrCat("rename ", to, " -> ", aside));
        }
      } else {
        copied = ErrnoToStatus(errno, absl::StrCat("rename ", copy, " -> ", to));
      }
    }
    if (!copied.ok()) {
      fs::remove_all(copy, ec);
      return copied;
    }
    fs::remove_all(from, ec);
    return FsyncDir(parent);
  }
  if (e != ENOTEMPTY && e != EEXIST) {
    return ErrnoToStatus(e, absl::StrCat("rename ", from, " -> ", to));
  }
  // `to` holds an older copy: set it aside, move in, then drop it. Never
  // delete `to` first: another process may be moving the same directory.
  static std::atomic<int> counter{0};
  const std::string aside = absl::StrCat(to, ".replaced-", getpid(), "-", counter++);
  if (rename(to.c_str(), aside.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", to, " -> ", aside));
  }
  if (rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("rename ", from, " -> ", to));
  }
  std::error_code ec;
  fs::remove_all(aside, ec);
  return FsyncDir(parent);
}

}  // namespace curator::files
