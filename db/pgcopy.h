// Writes PostgreSQL binary COPY files ("PGCOPY\n\377\r\n\0" format, see
// the COPY documentation, "Binary Format"), buffered, with a running
// CRC-32C and byte count for the batch manifest. The Add* calls are inline
// stores into the buffer: CU4 makes tens of millions of them per night.
//
// Usage: StartRow(n) then exactly n Add*/AddNull calls, per row; Finish().
// Not thread-safe.
#ifndef CURATOR_DB_PGCOPY_H_
#define CURATOR_DB_PGCOPY_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace curator::pgcopy {

struct FileSummary {
  int64_t rows = 0;
  int64_t bytes = 0;
  uint32_t crc32c = 0;
};

class Writer {
 public:
  // Creates (truncates) the file and writes the COPY header.
  static absl::StatusOr<std::unique_ptr<Writer>> Create(const std::string& path);
  ~Writer();

  void StartRow(int16_t fields) {
    Store16(Reserve(2), static_cast<uint16_t>(fields));
    ++summary_.rows;
  }
  void AddNull() { Store32(Reserve(4), 0xFFFFFFFFu); }
  void AddInt16(int16_t v) {
    char* p = Reserve(6);
    Store32(p, 2);
    Store16(p + 4, static_cast<uint16_t>(v));
  }
  void AddInt32(int32_t v) {
    char* p = Reserve(8);
    Store32(p, 4);
    Store32(p + 4, static_cast<uint32_t>(v));
  }
  void AddInt64(int64_t v) {
    char* p = Reserve(12);
    Store32(p, 8);
    Store64(p + 4, static_cast<uint64_t>(v));
  }
  void AddFloat32(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    char* p = Reserve(8);
    Store32(p, 4);
    Store32(p + 4, bits);
  }
  void AddFloat64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    char* p = Reserve(12);
    Store32(p, 8);
    Store64(p + 4, bits);
  }
  void AddBool(bool v);
  void AddText(absl::string_view v);
  // date: days since 2000-01-01.
  void AddDate(absl::CivilDay day);
  // timestamp / timestamptz: microseconds since 2000-01-01 00:00 UTC.
  void AddTimestamp(absl::Time t);

  // Writes the trailer, flushes, fsyncs and closes. The summary counts
  // rows and every byte of the file.
  absl::StatusOr<FileSummary> Finish();

 private:
  Writer(int fd, std::string path);
  // Room for n more bytes in the buffer (flushing first if needed).
  char* Reserve(size_t n) {
    if (used_ + n > buffer_.size()) MakeRoom(n);
    char* p = buffer_.data() + used_;
    used_ += n;
    return p;
  }
  void MakeRoom(size_t n);
  static void Store16(char* p, uint16_t v) {
    v = __builtin_bswap16(v);
    std::memcpy(p, &v, 2);
  }
  static void Store32(char* p, uint32_t v) {
    v = __builtin_bswap32(v);
    std::memcpy(p, &v, 4);
  }
  static void Store64(char* p, uint64_t v) {
    v = __builtin_bswap64(v);
    std::memcpy(p, &v, 8);
  }
  void Put(const void* data, size_t n);
  void PutBigEndian(uint64_t v, int bytes);
  absl::Status Flush();

  int fd_;
  std::string path_;
  std::vector<char> buffer_;
  size_t used_ = 0;
  FileSummary summary_;
  absl::Status error_;
};

// Reads what a COPY ... TO STDOUT (FORMAT binary) sends
// (pg::Connection::CopyOut), however it is split into chunks: Feed each
// chunk; `row` is called for every complete row, in order. Fields are
// read by the caller, who knows the query's types:
//   Feed(chunk, [](const Reader::Row& r) { int64_t id = r.Int64(0); ... })
// A malformed stream (bad signature, a row of the wrong width, a field of
// the wrong size, data after the trailer) is InvalidArgument. Not
// thread-safe.
class Reader {
 public:
  class Row {
   public:
    int fields() const { return static_cast<int>(fields_.size()); }
    bool IsNull(int i) const { return fields_[i].data() == nullptr; }
    // The field's value; its size must be the type's (checked: a
    // mismatch is a broken invariant of the caller's query).
    int16_t Int16(int i) const;
    int32_t Int32(int i) const;
    int64_t Int64(int i) const;
    float Float32(int i) const;
    double Float64(int i) const;
    absl::string_view Bytes(int i) const { return fields_[i]; }

   private:
    friend class Reader;
    std::vector<absl::string_view> fields_;
  };

  // `fields`: the width every row must have.
  explicit Reader(int fields) : width_(fields) {}
  absl::Status Feed(absl::string_view chunk,
                    const std::function<absl::Status(const Row&)>& row);
  // OK once the trailer has been read; InvalidArgument if the stream
  // ended early.
  absl::Status Finish() const;
  int64_t rows() const { return rows_; }

 private:
  int width_;
  std::string pending_;  // bytes of an incomplete row
  bool header_ = false, trailer_ = false;
  int64_t rows_ = 0;
  Row row_;
};

// CRC-32C of a whole file; sets *bytes to its size. The file must be a
// regular file itself: a symbolic link, directory or FIFO is refused with
// InvalidArgument naming it (files::OpenRegularFile).
absl::StatusOr<uint32_t> FileCrc32(const std::string& path, int64_t* bytes);

}  // namespace curator::pgcopy

#endif  // CURATOR_DB_PGCOPY_H_
