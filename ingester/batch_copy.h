// COPY of one batch file, with the checks every loader makes of it.
#ifndef CURATOR_INGESTER_BATCH_COPY_H_
#define CURATOR_INGESTER_BATCH_COPY_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "db/pg.h"
#include "curator/v1/batch.pb.h"

namespace curator::ingester {

// Streams <dir>/<f.name()> to `copy_sql` (a COPY ... FROM STDIN) and
// returns the rows copied. A lost connection is the error (systematic:
// the batch stays for later). A file PostgreSQL refuses, a failed `finish`
// or a row count other than the manifest's is the batch's problem: it goes
// to `problems`, named by the file, and the result is nullopt.
// `transform` sees every chunk on its way (pg::Connection::CopyInFromFile);
// `finish`, called after a successful COPY, checks what it saw.
absl::StatusOr<std::optional<int64_t>> CopyBatchFile(
    pg::Connection& conn, absl::string_view copy_sql, const std::string& dir,
    const v1::BatchFile& f, std::vector<std::string>* problems,
    const std::function<absl::StatusOr<absl::string_view>(absl::string_view)>& transform =
        nullptr,
    const std::function<absl::Status()>& finish = nullptr);

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_BATCH_COPY_H_
