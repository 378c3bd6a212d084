// Editing a batch the way another producer, an older worker or a bug might
// have made it: a binary COPY file read into rows of raw fields, changed,
// and written back, with the manifest made to agree (rows, bytes, CRC-32C)
// so that the batch still verifies and only its contents are wrong.
#ifndef CURATOR_TESTS_SUPPORT_BATCH_EDIT_H_
#define CURATOR_TESTS_SUPPORT_BATCH_EDIT_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "curator/v1/batch.pb.h"

namespace curator::testing {

// A field's bytes as the file holds them (big-endian); nullopt is NULL.
using CopyField = std::optional<std::string>;
using CopyRow = std::vector<CopyField>;

absl::StatusOr<std::vector<CopyRow>> ReadCopyFile(const std::string& path);
absl::Status WriteCopyFile(const std::string& path, const std::vector<CopyRow>& rows);

// Field values, big-endian.
std::string Int64Field(int64_t v);
std::string Float64Field(double v);
int64_t AsInt64(const CopyField& f);
int AsInt16(const CopyField& f);

// The position of `column` in the file's columns (-1 if absent).
int ColumnOf(const v1::BatchFile& f, const std::string& column);

// Reads file `name` of the batch in `dir`, lets `edit` change its rows
// and its manifest entry (e.g. its columns), writes both back, and sets
// the entry's rows, bytes and CRC-32C to the file's.
absl::Status EditBatchFile(const std::string& dir, const std::string& name,
                           const std::function<void(v1::BatchFile&, std::vector<CopyRow>&)>& edit);

}  // namespace curator::testing

#endif  // CURATOR_TESTS_SUPPORT_BATCH_EDIT_H_
