#include "ingester/batch_copy.h"

#include "absl/strings/str_cat.h"

namespace curator::ingester {

absl::StatusOr<std::optional<int64_t>> CopyBatchFile(
    pg::Connection& conn, absl::string_view copy_sql, const std::string& dir,
    const v1::BatchFile& f, std::vector<std::string>* problems,
    const std::function<absl::StatusOr<absl::string_view>(absl::string_view)>& transform,
    const std::function<absl::Status()>& finish) {
  absl::StatusOr<int64_t> copied =
      conn.CopyInFromFile(copy_sql, absl::StrCat(dir, "/", f.name()), transform);
  absl::Status s = copied.status();
  if (s.ok() && finish) s = finish();
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kUnavailable) return s;
    problems->push_back(absl::StrCat(f.name(), ": ", s.message()));
    return std::nullopt;
  }
  if (*copied != f.rows()) {
    problems->push_back(
        absl::StrCat(f.name(), ": ", *copied, " rows, the manifest says ", f.rows()));
    return std::nullopt;
  }
  return *copied;
}

}  // namespace curator::ingester
