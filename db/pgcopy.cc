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

namespace {

uint64_t ReadBigEndian(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

void WriteBigEndian(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>(v >> (8 * (bytes - 1 - i)));
}

}  // namespace

void IdRewriter::WatchDetections(int multiframe_field, int ext_field, int ra_field,
                                 int dec_field) {
  watch_[0] = multiframe_field;
  watch_[1] = ext_field;
  watch_[2] = ra_field;
  watch_[3] = dec_field;
}

absl::StatusOr<absl::string_view> IdRewriter::Feed(absl::string_view chunk) {
  pending_.append(chunk.data(), chunk.size());
  ready_.clear();
  size_t pos = 0;
  if (!header_done_) {
    if (pending_.size() < 19) return absl::string_view();
    if (std::memcmp(pending_.data(), kSignature, 11) != 0) {
      return absl::InvalidArgumentError("not a PostgreSQL binary COPY file (bad signature)");
    }
    const uint32_t ext = static_cast<uint32_t>(ReadBigEndian(pending_.data() + 15, 4));
    if (pending_.size() < 19 + ext) return absl::string_view();
    pos = 19 + ext;
    header_done_ = true;
  }
  while (!trailer_seen_) {
    if (pending_.size() - pos < 2) break;
    const int16_t fields = static_cast<int16_t>(ReadBigEndian(pending_.data() + pos, 2));
    if (fields == -1) {
      trailer_seen_ = true;
      pos += 2;
      break;
    }
    if (fields < 2) {
      return absl::InvalidArgumentError(absl::StrCat("row ", rows_ + 1, " has ", fields, " fields"));
    }
    // Walk the row; stop if it is not all here yet.
    size_t p = pos + 2;
    size_t first = 0, last = 0;
    size_t watched[4] = {0, 0, 0, 0};  // offsets of the watched fields' lengths
    bool complete = true;
    for (int f = 0; f < fields; ++f) {
      if (pending_.size() - p < 4) { complete = false; break; }
      const int32_t len = static_cast<int32_t>(ReadBigEndian(pending_.data() + p, 4));
      if (f == 0) first = p;
      if (f == fields - 1) last = p;
      for (int w = 0; w < 4; ++w) {
        if (watch_[w] == f) watched[w] = p;
      }
      p += 4 + (len > 0 ? len : 0);
      if (p > pending_.size()) { complete = false; break; }
    }
    if (!complete) break;
    if (watch_[0] >= 0) {
      const char* d = pending_.data();
      auto len_at = [&](size_t off) { return static_cast<int32_t>(ReadBigEndian(d + off, 4)); };
      if (len_at(watched[0]) != 8 || len_at(watched[1]) != 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            "row ", rows_ + 1, ": multiframe_id and ext_num must be 8- and 2-byte integers"));
      }
      const int64_t mf = static_cast<int64_t>(ReadBigEndian(d + watched[0] + 4, 8));
      const int ext = static_cast<int16_t>(ReadBigEndian(d + watched[1] + 4, 2));
      auto angle = [&](size_t off, double* v) {
        if (len_at(off) != 8) return false;
        uint64_t bits = ReadBigEndian(d + off + 4, 8);
        std::memcpy(v, &bits, 8);
        return true;
      };
      double ra = 0, dec = 0;
      const bool ra_ok = angle(watched[2], &ra) && ra >= 0 && ra < 360;
      const bool dec_ok = angle(watched[3], &dec) && dec >= -90 && dec <= 90;
      DetectorTally& t = tallies_[{mf, ext}];
      ++t.rows;
      t.bad_ra += !ra_ok;
      t.bad_dec += !dec_ok;
    }
    const int32_t first_len = static_cast<int32_t>(ReadBigEndian(pending_.data() + first, 4));
    const int32_t last_len = static_cast<int32_t>(ReadBigEndian(pending_.data() + last, 4));
    if (first_len != 8 || last_len != 8) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", rows_ + 1, ": the first and last fields must be 8-byte ids"));
    }
    const int64_t temp = static_cast<int64_t>(ReadBigEndian(pending_.data() + first + 4, 8));
    if (temp >= 0 || temp < -count_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", rows_ + 1, ": temporary id ", temp, " is outside [-", count_, ", -1]"));
    }
    WriteBigEndian(pending_.data() + first + 4, static_cast<uint64_t>(base_ - temp - 1), 8);
    WriteBigEndian(pending_.data() + last + 4, static_cast<uint64_t>(event_id_), 8);
    ++rows_;
    pos = p;
  }
  // Everything before `pos` (header included the first time) goes out.
  ready_.assign(pending_.data(), pos);
  pending_.erase(0, pos);
  return absl::string_view(ready_);
}

absl::Status IdRewriter::Finish() const {
  if (!header_done_) return absl::InvalidArgumentError("binary COPY file without a header");
  if (!trailer_seen_ || !pending_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "binary COPY file ends inside row ", rows_ + 1, " or without its trailer"));
  }
  return absl::OkStatus();
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
