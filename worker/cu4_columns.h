// CU4's mapping from catalogue columns to the `detection` table, in one
// place, per catalogue type: CASU imcore type 6 and Source Extractor
// (FITS_1.0 and FITS_LDAC).
//
// Rules: a required column missing, or holding text, fails the catalogue;
// a non-finite value in a required column (RA, DEC, X, Y) fails it too; a
// non-finite value elsewhere becomes NULL. Catalogue columns that map to
// nothing are ignored and noted. RA/DEC follow their TUNIT (radians or
// degrees; no unit means radians for CASU, degrees for Source Extractor).
// Aperture magnitudes are calibrated: MAGZPT - 2.5 log10(flux / EXPTIME),
// NULL for a flux <= 0.
#ifndef CURATOR_WORKER_CU4_COLUMNS_H_
#define CURATOR_WORKER_CU4_COLUMNS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fits/fits.h"

namespace curator::worker {

enum class OutType { kInt16, kInt32, kInt64, kFloat32, kFloat64 };

struct DetectionColumn {
  const char* name;
  OutType type;
};

// The columns of a CU4 batch file, in order: obj_id first (the temporary
// id, -1, -2, ...), cu_event_id last (left 0 by the worker; the ingester
// fills in the batch's processing event).
const std::vector<DetectionColumn>& DetectionColumns();

enum class CatalogueKind { kCasu, kSourceExtractor };
const char* KindName(CatalogueKind kind);

// Where an output column's value comes from.
struct ColumnSource {
  enum class Kind {
    kTempId, kMultiframeId, kExtNum, kEventId,  // from the task
    kColumn,          // a catalogue column (element of a vector column)
    kSqrtColumn,      // the square root of one (variances)
    kMagnitude,       // calibrated from a flux column
    kMagnitudeError,  // 1.0857 * flux error / flux
    kNull,            // not in this kind of catalogue
  };
  Kind kind = Kind::kNull;
  std::string column;        // catalogue column (the flux, for magnitudes)
  int element = 0;           // 0-based element of a vector column
  std::string error_column;  // for kMagnitudeError
  bool required = false;     // must exist and be finite in every row
  bool angle = false;        // RA/DEC: converted to degrees by TUNIT
  double scale = 1.0;        // multiplied in (e.g. FWHM -> sigma)
};

// The source of every DetectionColumns() entry, for one kind.
const std::vector<ColumnSource>& Sources(CatalogueKind kind);

// The catalogue kind from a table's column names; InvalidArgument if it
// is neither.
absl::StatusOr<CatalogueKind> DetectKind(const std::vector<fits::ColumnInfo>& columns);

// How one table is read and converted.
struct TablePlan {
  struct Input {
    int fits_column = 0;  // 1-based
    int64_t repeat = 1;
    std::string name;
    // For decoding raw rows: where it is, and its stored type ('E', 'D',
    // 'J', 'I', 'K', 'B'); raw = false when it needs CFITSIO (scaled
    // values, other types, unknown layout).
    int64_t byte_offset = -1;
    char type = 0;
    bool raw = false;
  };
  std::vector<Input> inputs;  // each read into its own buffer
  struct Field {
    ColumnSource::Kind kind = ColumnSource::Kind::kNull;
    OutType type = OutType::kFloat32;
    int input = -1;       // buffer of the value (or the flux)
    int error_input = -1;  // buffer of the flux error (magnitude errors)
    int element = 0;
    double scale = 1.0;
    bool required = false;
    std::string column;   // for messages
  };
  std::vector<Field> fields;  // parallel to DetectionColumns()
  std::vector<std::string> ignored;  // catalogue columns mapped to nothing
};

// Plans `columns` of kind `kind`; InvalidArgument naming `where` and the
// column for a missing required column, a text column, or an unknown
// angle unit.
absl::StatusOr<TablePlan> PlanTable(const std::vector<fits::ColumnInfo>& columns,
                                    CatalogueKind kind, const std::string& where);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU4_COLUMNS_H_
