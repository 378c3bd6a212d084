#include "worker/catalogue_converter.h"

#include <sys/stat.h>

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "fits/fits.h"
#include "base/status.h"

namespace curator::worker {
namespace {

using fits::FitsFile;
using K = ColumnSource::Kind;

std::optional<double> Number(const fits::Header& h, const char* key) {
  absl::StatusOr<double> v = h.GetDouble(key);
  if (v.ok() && std::isfinite(*v)) return *v;
  return std::nullopt;
}

v1::FileProblem Note(const std::string& path, int hdu, const std::string& item,
                     const std::string& message) {
  v1::FileProblem p;
  p.set_path(path);
  p.set_hdu(hdu);
  p.set_item(item);
  p.set_message(message);
  return p;
}

// MAGZPT of image HDU `ext_num` and the image's EXPTIME, when the
// catalogue lacks them.
void FillFromImage(const std::string& image_path, std::vector<TableScan>& tables) {
  absl::StatusOr<FitsFile> image = FitsFile::Open(image_path);
  if (!image.ok()) return;
  absl::StatusOr<fits::Header> primary = image->ReadHeader();
  const std::optional<double> exp = primary.ok() ? Number(*primary, "EXPTIME") : std::nullopt;
  for (TableScan& t : tables) {
    if (!t.exp_time) t.exp_time = exp;
    if (!t.mag_zpt && image->MoveToHdu(t.ext_num).ok()) {
      absl::StatusOr<fits::Header> h = image->ReadHeader();
      if (h.ok()) t.mag_zpt = Number(*h, "MAGZPT");
    }
  }
}

// Big-endian values of one column out of raw rows, as doubles.
void DecodeColumn(const uint8_t* first, int64_t row_bytes, int64_t rows, int64_t repeat,
                  char type, double* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* p = first + r * row_bytes;
    for (int64_t e = 0; e < repeat; ++e) {
      double v = 0;
      switch (type) {
        case 'E': {
          uint32_t u;
          std::memcpy(&u, p + 4 * e, 4);
          u = __builtin_bswap32(u);
          float x;
          std::memcpy(&x, &u, 4);
          v = x;
          break;
        }
        case 'D': {
          uint64_t u;
          std::memcpy(&u, p + 8 * e, 8);
          u = __builtin_bswap64(u);
          std::memcpy(&v, &u, 8);
          break;
        }
        case 'J': {
          uint32_t u;
          std::memcpy(&u, p + 4 * e, 4);
          v = static_cast<int32_t>(__builtin_bswap32(u));
          break;
        }
        case 'I': {
          uint16_t u;
          std::memcpy(&u, p + 2 * e, 2);
          v = static_cast<int16_t>(__builtin_bswap16(u));
          break;
        }
        case 'K': {
          uint64_t u;
          std::memcpy(&u, p + 8 * e, 8);
          v = static_cast<double>(static_cast<int64_t>(__builtin_bswap64(u)));
          break;
        }
        case 'B':
          v = p[e];
          break;
      }
      out[r * repeat + e] = v;
    }
  }
}

}  // namespace

absl::StatusOr<CatalogueScan> ScanCatalogue(const CatalogueInput& input) {
  const std::string& path = input.path;
  if (input.multiframe_id == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": its image was never registered, so its detections have no "
                           "multiframe"));
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, path);
  CURATOR_ASSIGN_OR_RETURN(FitsFile f, FitsFile::Open(path));
  CURATOR_ASSIGN_OR_RETURN(fits::Header primary, f.ReadHeader());
  const std::optional<double> primary_exp = Number(primary, "EXPTIME");
  const std::optional<double> primary_zpt = Number(primary, "MAGZPT");
  CatalogueScan scan;
  bool kind_known = false;
  int tables = 0;
  int64_t data_end = 0;
  CURATOR_ASSIGN_OR_RETURN(data_end, f.CurrentHduDataEnd());
  while (true) {
    CURATOR_ASSIGN_OR_RETURN(bool more, f.MoveToNextHdu());
    if (!more) break;
    CURATOR_ASSIGN_OR_RETURN(data_end, f.CurrentHduDataEnd());
    CURATOR_ASSIGN_OR_RETURN(fits::Header h, f.ReadHeader());
    absl::StatusOr<std::string> xtension = h.GetString("XTENSION");
    absl::StatusOr<std::string> extname = h.GetString("EXTNAME");
    if (!xtension.ok() || *xtension != "BINTABLE" ||
        (extname.ok() && *extname == "LDAC_IMHEAD")) {
      continue;
    }
    TableScan t;
    t.hdu = f.CurrentHdu();
    t.ext_num = ++tables + 1;
    CURATOR_ASSIGN_OR_RETURN(t.rows, h.GetInt("NAXIS2"));
    CURATOR_ASSIGN_OR_RETURN(std::vector<fits::ColumnInfo> columns, f.Columns());
    const std::string where = h.where();
    if (!kind_known) {
      absl::StatusOr<CatalogueKind> kind = DetectKind(columns);
      if (!kind.ok()) return Annotate(kind.status(), where);
      scan.kind = *kind;
      kind_known = true;
    }
    CURATOR_ASSIGN_OR_RETURN(t.plan, PlanTable(columns, scan.kind, where));
    t.mag_zpt = Number(h, "MAGZPT");
    if (!t.mag_zpt) t.mag_zpt = primary_zpt;
    t.exp_time = Number(h, "EXPTIME");
    if (!t.exp_time) t.exp_time = primary_exp;
    if (t.rows == 0) {
      scan.notes.push_back(Note(path, t.hdu, "", "table has no rows (no detections)"));
    }
    if (!t.plan.ignored.empty() && tables == 1) {
      scan.info.push_back(Note(path, t.hdu, "",
                                absl::StrCat("columns not loaded: ",
                                             absl::StrJoin(t.plan.ignored, ", "))));
    }
    scan.rows += t.rows;
    scan.tables.push_back(std::move(t));
  }
  if (data_end > st.st_size) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: the file has ", st.st_size,
                                            " bytes but its last HDU's data ends at byte ",
                                            data_end));
  }
  if (scan.tables.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no catalogue tables"));
  }
  FillFromImage(input.image_path, scan.tables);
  for (const TableScan& t : scan.tables) {
    if (!t.mag_zpt || !t.exp_time || *t.exp_time <= 0) {
      scan.notes.push_back(Note(path, t.hdu, !t.mag_zpt ? "MAGZPT" : "EXPTIME",
                                "no zero point or exposure time; magnitudes are NULL"));
    }
  }
  return scan;
}

absl::StatusOr<int64_t> ConvertCatalogue(const CatalogueInput& input,
                                         const CatalogueScan& scan, int64_t first_index,
                                         pgcopy::Writer& out) {
  CURATOR_ASSIGN_OR_RETURN(FitsFile f, FitsFile::Open(input.path));
  int64_t next = first_index;
  const int16_t num_fields = static_cast<int16_t>(DetectionColumns().size());
  std::vector<std::vector<double>> buffers;
  for (const TableScan& t : scan.tables) {
    if (t.rows == 0) continue;
    CURATOR_RETURN_IF_ERROR(f.MoveToHdu(t.hdu));
    CURATOR_ASSIGN_OR_RETURN(int64_t chunk, f.OptimalRowChunk());
    const TablePlan& plan = t.plan;
    buffers.resize(plan.inputs.size());
    for (size_t i = 0; i < plan.inputs.size(); ++i) {
      buffers[i].resize(static_cast<size_t>(chunk * plan.inputs[i].repeat));
    }
    CURATOR_ASSIGN_OR_RETURN(int64_t row_bytes, f.RowBytes());
    bool raw_ok = false;
    for (const TablePlan::Input& in : plan.inputs) raw_ok |= in.raw;
    std::vector<uint8_t> raw(raw_ok ? static_cast<size_t>(chunk * row_bytes) : 0);
    const bool calibrated = t.mag_zpt && t.exp_time && *t.exp_time > 0;
    const double mag_offset = calibrated ? *t.mag_zpt + 2.5 * std::log10(*t.exp_time) : 0;
    for (int64_t first = 0; first < t.rows; first += chunk) {
      const int64_t n = std::min(chunk, t.rows - first);
      // Raw rows once, decoded per column; CFITSIO for the rest.
      if (raw_ok) CURATOR_RETURN_IF_ERROR(f.ReadRawRows(first, n, row_bytes, raw.data()));
      for (size_t i = 0; i < plan.inputs.size(); ++i) {
        const TablePlan::Input& in = plan.inputs[i];
        if (raw_ok && in.raw) {
          DecodeColumn(raw.data() + in.byte_offset, row_bytes, n, in.repeat, in.type,
                       buffers[i].data());
        } else {
          CURATOR_RETURN_IF_ERROR(f.ReadColumn(in.fits_column, first, n, buffers[i].data()));
        }
      }
      auto value = [&](const TablePlan::Field& fld, int input, int64_t r) {
        return buffers[input][r * plan.inputs[input].repeat + fld.element];
      };
      // Required values must be finite in every row of the chunk.
      for (const TablePlan::Field& fld : plan.fields) {
        if (!fld.required || fld.input < 0) continue;
        for (int64_t r = 0; r < n; ++r) {
          if (!std::isfinite(value(fld, fld.input, r))) {
            int64_t bad = 0;
            for (int64_t q = 0; q < n; ++q) bad += !std::isfinite(value(fld, fld.input, q));
            return absl::InvalidArgumentError(absl::StrCat(
                input.path, " HDU ", t.hdu, ": column '", fld.column, "' is not finite in row ",
                first + r + 1, " (", bad, " of rows ", first + 1, "..", first + n, ")"));
          }
        }
      }
      for (int64_t r = 0; r < n; ++r) {
        out.StartRow(num_fields);
        for (const TablePlan::Field& fld : plan.fields) {
          double v = 0;
          switch (fld.kind) {
            case K::kTempId:
              out.AddInt64(-(++next));
              continue;
            case K::kMultiframeId:
              out.AddInt64(input.multiframe_id);
              continue;
            case K::kExtNum:
              out.AddInt16(static_cast<int16_t>(t.ext_num));
              continue;
            case K::kEventId:
              out.AddInt64(0);  // the ingester writes the batch's event
              continue;
            case K::kNull:
              out.AddNull();
              continue;
            case K::kColumn:
              v = value(fld, fld.input, r) * fld.scale;
              break;
            case K::kSqrtColumn:
              v = std::sqrt(value(fld, fld.input, r)) * fld.scale;
              break;
            case K::kMagnitude: {
              const double flux = value(fld, fld.input, r);
              v = calibrated && flux > 0 ? mag_offset - 2.5 * ::log10f(static_cast<float>(flux)) : NAN;
              break;
            }
            case K::kMagnitudeError: {
              const double flux = value(fld, fld.input, r);
              v = flux > 0 ? 1.0857362047581294 * value(fld, fld.error_input, r) / flux : NAN;
              break;
            }
          }
          if (!std::isfinite(v)) {
            out.AddNull();
            continue;
          }
          switch (fld.type) {
            case OutType::kFloat32: out.AddFloat32(static_cast<float>(v)); break;
            case OutType::kFloat64: out.AddFloat64(v); break;
            case OutType::kInt16: out.AddInt16(static_cast<int16_t>(std::lround(v))); break;
            case OutType::kInt32: out.AddInt32(static_cast<int32_t>(std::lround(v))); break;
            case OutType::kInt64: out.AddInt64(std::llround(v)); break;
          }
        }
      }
    }
  }
  return next - first_index;
}

}  // namespace curator::worker
