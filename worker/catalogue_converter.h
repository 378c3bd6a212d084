// Reading one catalogue for CU4, in two passes:
//  - Scan: headers only. Finds the object tables (every binary table but
//    Source Extractor's LDAC_IMHEAD), the catalogue kind, plans each table
//    (worker/cu4_columns.h), counts rows, finds the zero point and
//    exposure time, and detects truncation. It reads the headers of the
//    image too (when image_path is set): the k-th table describes the
//    image's k-th detector (2-D image extension), an image that cannot be
//    read fails the catalogue, more tables than detectors fail it, fewer
//    load with a warning naming the detectors without a table. A bad
//    catalogue fails here, cheaply, before any id is handed out.
//  - Convert: reads the planned columns in chunks of fits_get_rowsize rows
//    and writes `detection` rows to a binary COPY writer, numbering them
//    with temporary ids -(first+1), -(first+2), ... in table and row order.
//    A table fails the catalogue if a required value is not finite, if RA
//    or Dec is out of range once converted to degrees (RA in [0, 360), Dec
//    in [-90, 90]; rounding within 1e-4 degrees of a bound wraps or is
//    clamped) or if a Sequence_number (NUMBER) repeats; the error names
//    the HDU, the column, the rows and a value.
// Memory: one chunk of the planned columns, whatever the table's size
// (rows are at most fits::kMaxRowBytes), and 16 bytes a row of a table
// for the duplicate check.
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
  std::string image_path;     // its detectors, MAGZPT / EXPTIME; empty: not checked
};

struct TableScan {
  int hdu = 0;      // in the catalogue
  int ext_num = 0;  // the image HDU it describes: the k-th table -> the k-th
                    // detector (HDU k + 1 without an image to read)
  int64_t rows = 0;
  TablePlan plan;
  std::optional<double> mag_zpt;
  std::optional<double> exp_time;
};

struct CatalogueScan {
  CatalogueKind kind = CatalogueKind::kCasu;
  std::vector<TableScan> tables;
  int64_t rows = 0;
  std::vector<v1::FileProblem> notes;  // warnings: empty tables, no zero point,
                                       // detectors without a table
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
