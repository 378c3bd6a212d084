#include "tests/support/batch_edit.h"

#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "archive/batch.h"
#include "base/files.h"
#include "base/status.h"
#include "db/pgcopy.h"

namespace curator::testing {
namespace {

constexpr char kHeader[19] = {'P',  'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n',
                              '\0', 0,   0,   0,   0,   0,   0,    0,      0};

uint64_t Be(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int b = 0; b < bytes; ++b) v = (v << 8) | static_cast<unsigned char>(s[at + b]);
  return v;
}

void PutBe(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

}  // namespace

absl::StatusOr<std::vector<CopyRow>> ReadCopyFile(const std::string& path) {
  CURATOR_ASSIGN_OR_RETURN(std::string s, files::ReadToString(path));
  if (s.size() < 21 || s.compare(0, 11, kHeader, 11) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a binary COPY file"));
  }
  size_t p = 19 + Be(s, 15, 4);
  std::vector<CopyRow> rows;
  while (true) {
    if (p + 2 > s.size()) return absl::InvalidArgumentError(absl::StrCat(path, ": no trailer"));
    const int16_t fields = static_cast<int16_t>(Be(s, p, 2));
    p += 2;
    if (fields == -1) return rows;
    CopyRow& row = rows.emplace_back();
    for (int f = 0; f < fields; ++f) {
      const int32_t len = static_cast<int32_t>(Be(s, p, 4));
      p += 4;
      if (len < 0) {
        row.push_back(std::nullopt);
        continue;
      }
      row.push_back(s.substr(p, len));
      p += len;
    }
  }
}

absl::Status WriteCopyFile(const std::string& path, const std::vector<CopyRow>& rows) {
  std::string out(kHeader, sizeof(kHeader));
  for (const CopyRow& row : rows) {
    PutBe(&out, row.size(), 2);
    for (const CopyField& f : row) {
      if (!f) {
        PutBe(&out, 0xFFFFFFFFu, 4);
        continue;
      }
      PutBe(&out, f->size(), 4);
      out += *f;
    }
  }
  PutBe(&out, 0xFFFF, 2);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << out;
  return absl::OkStatus();
}

std::string Int64Field(int64_t v) {
  std::string s;
  PutBe(&s, static_cast<uint64_t>(v), 8);
  return s;
}

std::string Float64Field(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  std::string s;
  PutBe(&s, bits, 8);
  return s;
}

int64_t AsInt64(const CopyField& f) { return static_cast<int64_t>(Be(*f, 0, 8)); }
int AsInt16(const CopyField& f) { return static_cast<int16_t>(Be(*f, 0, 2)); }

int ColumnOf(const v1::BatchFile& f, const std::string& column) {
  for (int i = 0; i < f.columns_size(); ++i) {
    if (f.columns(i) == column) return i;
  }
  return -1;
}

absl::Status EditBatchFile(const std::string& dir, const std::string& name,
                           const std::function<void(v1::BatchFile&, std::vector<CopyRow>&)>& edit) {
  CURATOR_ASSIGN_OR_RETURN(v1::Manifest m, batch::ReadManifest(dir));
  v1::BatchFile* file = nullptr;
  for (v1::BatchFile& f : *m.mutable_files()) {
    if (f.name() == name) file = &f;
  }
  if (file == nullptr) return absl::NotFoundError(absl::StrCat(name, " is not in the batch"));
  const std::string path = absl::StrCat(dir, "/", name);
  CURATOR_ASSIGN_OR_RETURN(std::vector<CopyRow> rows, ReadCopyFile(path));
  edit(*file, rows);
  CURATOR_RETURN_IF_ERROR(WriteCopyFile(path, rows));
  int64_t bytes = 0;
  CURATOR_ASSIGN_OR_RETURN(uint32_t crc, pgcopy::FileCrc32(path, &bytes));
  file->set_rows(static_cast<int64_t>(rows.size()));
  file->set_bytes(bytes);
  file->set_crc32c(crc);
  return batch::WriteManifest(dir, m);
}

}  // namespace curator::testing
