#include "db/pgcopy.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/files.h"
#include "base/status.h"

namespace curator::pgcopy {
namespace {

constexpr size_t kBufferSize = 1 << 20;
constexpr char kSignature[] = "PGCOPY\n\377\r\n";  // + '\0' = 11 bytes
const absl::Time kPgEpoch = absl::FromUnixSeconds(946684800);  // 2000-01-01
const absl::CivilDay kPgEpochDay(2000, 1, 1);

}  // namespace

absl::StatusOr<std::unique_ptr<Writer>> Writer::Create(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoToStatus(errno, path);
  std::unique_ptr<Writer> w(new Writer(fd, path));
  w->Put(kSignature, 11);
  w->PutBigEndian(0, 4);  // flags: no OIDs
  w->PutBigEndian(0, 4);  // header extension length
  return w;
}

Writer::Writer(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), buffer_(kBufferSize) {}

Writer::~Writer() {
  if (fd_ >= 0) close(fd_);
}

void Writer::MakeRoom(size_t n) {
  absl::Status s = Flush();
  if (!s.ok() && error_.ok()) error_ = s;
  if (n > buffer_.size()) buffer_.resize(n);
}

void Writer::Put(const void* data, size_t n) {
  std::memcpy(Reserve(n), data, n);
}

void Writer::PutBigEndian(uint64_t v, int bytes) {
  char b[8];
  for (int i = 0; i < bytes; ++i) b[i] = static_cast<char>(v >> (8 * (bytes - 1 - i)));
  Put(b, bytes);
}

absl::Status Writer::Flush() {
  summary_.crc32c = Crc32c(summary_.crc32c, buffer_.data(), used_);
  size_t done = 0;
  while (done < used_) {
    ssize_t n = write(fd_, buffer_.data() + done, used_ - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      used_ = 0;
      return ErrnoToStatus(errno, path_);
    }
    done += n;
  }
  summary_.bytes += used_;
  used_ = 0;
  return absl::OkStatus();
}

void Writer::AddBool(bool v) {
  PutBigEndian(1, 4);
  char b = v ? 1 : 0;
  Put(&b, 1);
}
void Writer::AddText(absl::string_view v) {
  PutBigEndian(v.size(), 4);
  Put(v.data(), v.size());
}
void Writer::AddDate(absl::CivilDay day) {
  AddInt32(static_cast<int32_t>(day - kPgEpochDay));
}
void Writer::AddTimestamp(absl::Time t) {
  AddInt64(absl::ToInt64Microseconds(t - kPgEpoch));
}

absl::StatusOr<FileSummary> Writer::Finish() {
  PutBigEndian(0xFFFF, 2);  // trailer
  CURATOR_RETURN_IF_ERROR(Flush());
  CURATOR_RETURN_IF_ERROR(error_);
  if (fsync(fd_) != 0) return ErrnoToStatus(errno, path_);
  if (close(fd_) != 0) {
    fd_ = -1;
    return ErrnoToStatus(errno, path_);
  }
  fd_ = -1;
  return summary_;
}

absl::StatusOr<uint32_t> FileCrc32(const std::string& path, int64_t* bytes) {
  // A batch file is read where it lies: a symbolic link could lead the
  // reader anywhere (a huge file, a device, another process's data).
  CURATOR_ASSIGN_OR_RETURN(const int fd, files::OpenRegularFile(path, "batch files"));
  std::vector<char> buffer(kBufferSize);
  uint32_t crc = 0;
  int64_t total = 0;
  while (true) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      int e = errno;
      close(fd);
      return ErrnoToStatus(e, path);
    }
    if (n == 0) break;
    crc = Crc32c(crc, buffer.data(), n);
    total += n;
  }
  close(fd);
  if (bytes != nullptr) *bytes = total;
  return crc;
}

}  // namespace curator::pgcopy
