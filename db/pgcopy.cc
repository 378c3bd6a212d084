#include "db/pgcopy.h"

#include <fcntl.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "base/crc32c.h"
#include "base/files.h"
#include "base/log.h"
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

namespace {

constexpr size_t kHeaderBytes =
    11 + 4 + 4;  // signature, flags, extension length

uint16_t Load16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return __builtin_bswap16(v);
}
uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
uint64_t Load64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

const char* Sized(absl::string_view f, size_t n) {
  CURATOR_CHECK(f.size() == n)
      << "a COPY field of " << f.size() << " bytes read as " << n;
  return f.data();
}

}  // namespace

int16_t Reader::Row::Int16(int i) const {
  return static_cast<int16_t>(Load16(Sized(fields_[i], 2)));
}
int32_t Reader::Row::Int32(int i) const {
  return static_cast<int32_t>(Load32(Sized(fields_[i], 4)));
}
int64_t Reader::Row::Int64(int i) const {
  return static_cast<int64_t>(Load64(Sized(fields_[i], 8)));
}
float Reader::Row::Float32(int i) const {
  return std::bit_cast<float>(Load32(Sized(fields_[i], 4)));
}
double Reader::Row::Float64(int i) const {
  return std::bit_cast<double>(Load64(Sized(fields_[i], 8)));
}

absl::Status Reader::Feed(absl::string_view chunk,
                          const std::function<absl::Status(const Row&)>& row) {
  // Rows are parsed from `chunk` in place; only an incomplete tail is
  // copied (libpq hands over one row per chunk, so usually nothing is).
  std::string joined;
  absl::string_view in = chunk;
  if (!pending_.empty()) {
    joined = std::move(pending_);
    joined.append(chunk.data(), chunk.size());
    in = joined;
  }
  pending_.clear();
  size_t at = 0;
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("binary COPY stream: ", what, " (row ", rows_ + 1, ")"));
  };
  if (!header_) {
    if (in.size() < kHeaderBytes) {
      pending_.assign(in.data(), in.size());
      return absl::OkStatus();
    }
    if (std::memcmp(in.data(), kSignature, 11) != 0)
      return error("no PGCOPY signature");
    const uint32_t extension = Load32(in.data() + 15);
    if (extension != 0) return error("a header extension");
    at = kHeaderBytes;
    header_ = true;
  }
  while (at < in.size()) {
    if (trailer_) return error("data after the trailer");
    if (in.size() - at < 2) break;
    const int16_t width = static_cast<int16_t>(Load16(in.data() + at));
    if (width == -1) {
      trailer_ = true;
      at += 2;
      continue;
    }
    if (width != width_) {
      return error(
          absl::StrCat("a row of ", width, " fields, expected ", width_));
    }
    size_t p = at + 2;
    row_.fields_.clear();
    bool complete = true;
    for (int f = 0; f < width; ++f) {
      if (in.size() - p < 4) {
        complete = false;
        break;
      }
      const int32_t n = static_cast<int32_t>(Load32(in.data() + p));
      p += 4;
      if (n == -1) {
        row_.fields_.emplace_back();
        continue;
      }
      if (n < 0) return error("a negative field length");
      if (in.size() - p < static_cast<size_t>(n)) {
        complete = false;
        break;
      }
      row_.fields_.emplace_back(in.data() + p, n);
      p += n;
    }
    if (!complete) break;
    ++rows_;
    CURATOR_RETURN_IF_ERROR(row(row_));
    at = p;
  }
  pending_.assign(in.data() + at, in.size() - at);
  return absl::OkStatus();
}

absl::Status Reader::Finish() const {
  if (trailer_ && pending_.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "binary COPY stream ended after ", rows_, " rows without its trailer"));
}

}  // namespace curator::pgcopy
