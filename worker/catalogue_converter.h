// Reading one catalogue for CU4, in two passes:
//  - Scan: headers only. Finds the object tables (every binary table but
//    Source Extractor's LDAC_IMHEAD), the catalogue kind, plans each table
//    (worker/cu4_columns.h), counts rows, finds the zero point and
//    exposure time, and detects truncation. A bad catalogue fails here,
//    cheaply, before any id is handed out.
//  - Convert: reads the planned columns in chunks of fits_get_rowsize rows
//    and writes `detection` rows to a binary COPY writer, numbering them
//    with temporary ids -(first+1), -(first+2), ... in table and row order.
// Memory: one chunk of the planned columns, whatever the table's size.
#ifndef CURATOR_WORKER_CATALOGUE_CONVERTER_H_
#define CURATOR_WORKER_CATALOGUE_CONVERTER_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "db/pgcopy.h"
#include "curator/v1/batch.pb.h"
#include "worker/cu4_columns.h"

namespace curator::worker {

struct CatalogueInput {
  int64_t multiframe_id = 0;  // 0: the image was never registered
  std::string path;
  std::string image_path;     // for MAGZPT / EXPTIME missing from the catalogue
};

struct TableScan {
  int hdu = 0;      // in the catalogue
  int ext_num = 0;  // the image HDU it describes: the k-th table -> HDU k + 1
  int64_t rows = 0;
  TablePlan plan;
  std::optional<double> mag_zpt;
  std::optional<double> exp_time;
};

struct CatalogueScan {
  CatalogueKind kind = CatalogueKind::kCasu;
  std::vector<TableScan> tables;
  int64_t rows = 0;
  std::vector<v1::FileProblem> notes;  // warnings: empty tables, no zero point
  std::vector<v1::FileProblem> info;   // catalogue columns not loaded
};

absl::StatusOr<CatalogueScan> ScanCatalogue(const CatalogueInput& input);

// Writes every row; returns how many. On error the writer holds a partial
// file, which the caller discards.
absl::StatusOr<int64_t> ConvertCatalogue(const CatalogueInput& input,
                                         const CatalogueScan& scan, int64_t first_index,
                                         pgcopy::Writer& out);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CATALOGUE_CONVERTER_H_
