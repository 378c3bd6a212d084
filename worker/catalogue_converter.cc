#include "worker/catalogue_converter.h"

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

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

// What a catalogue needs of its image: its detectors (the 2-D image
// extensions, as CU3 counts them) with their MAGZPT, and EXPTIME. Reading
// every header also checks the image's structure: an image CU3 cannot read
// is an error here too.
struct ImageDetectors {
  struct Detector {
    int hdu = 0;
    std::string extname;
    std::optional<double> mag_zpt;
  };
  std::vector<Detector> detectors;
  std::optional<double> exp_time;
};

absl::StatusOr<ImageDetectors> ReadImageDetectors(const std::string& image_path) {
  CURATOR_ASSIGN_OR_RETURN(FitsFile image, FitsFile::Open(image_path));
  CURATOR_ASSIGN_OR_RETURN(fits::Header primary, image.ReadHeader());
  ImageDetectors out;
  out.exp_time = Number(primary, "EXPTIME");
  while (true) {
    CURATOR_ASSIGN_OR_RETURN(bool more, image.MoveToNextHdu());
    if (!more) break;
    CURATOR_ASSIGN_OR_RETURN(fits::Header h, image.ReadHeader());
    absl::StatusOr<fits::ImageInfo> info = fits::ImageInfoFromHeader(h);
    if (!info.ok() && info.status().code() != absl::StatusCode::kFailedPrecondition) {
      return info.status();
    }
    if (!info.ok() || info->axes.size() != 2) continue;
    out.detectors.push_back(
        {image.CurrentHdu(), h.GetString("EXTNAME").value_or(""), Number(h, "MAGZPT")});
  }
  return out;
}

std::string Describe(const ImageDetectors::Detector& d) {
  return d.extname.empty() ? absl::StrCat("HDU ", d.hdu)
                           : absl::StrCat("HDU ", d.hdu, " (", d.extname, ")");
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Matches the tables to the image's detectors, the k-th table to the k-th
// detector, and fills in MAGZPT and EXPTIME the catalogue lacks. More
// tables than detectors fail the catalogue (their rows would describe
// detectors that do not exist); fewer load, with a warning naming the
// detectors left without detections.
absl::Status MatchImage(const CatalogueInput& input, CatalogueScan& scan) {
  absl::StatusOr<ImageDetectors> image = ReadImageDetectors(input.image_path);
  if (!image.ok()) {
    return Annotate(image.status(), absl::StrCat(input.path, ": its image cannot be read"));
  }
  const size_t tables = scan.tables.size(), detectors = image->detectors.size();
  const std::string image_name = BaseName(input.image_path);
  if (tables > detectors) {
    return absl::InvalidArgumentError(absl::StrCat(
        input.path, ": ", tables, " catalogue tables for the ", detectors,
        " detectors of its image ", image_name, ": tables ", detectors + 1, "..", tables,
        " describe no detector"));
  }
  if (tables < detectors) {
    std::vector<std::string> without;
    for (size_t k = tables; k < detectors; ++k) without.push_back(Describe(image->detectors[k]));
    scan.notes.push_back(Note(input.path, 0, "",
                              absl::StrCat("only ", tables, " catalogue tables for the ", detectors,
                                           " detectors of its image ", image_name,
                                           ": no detections for ", absl::StrJoin(without, ", "))));
  }
  for (size_t k = 0; k < tables; ++k) {
    TableScan& t = scan.tables[k];
    t.ext_num = image->detectors[k].hdu;
    if (!t.exp_time) t.exp_time = image->exp_time;
    if (!t.mag_zpt) t.mag_zpt = image->detectors[k].mag_zpt;
  }
  return absl::OkStatus();
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

// Float32 radians, as CASU writes them, are 2.7e-5 degrees apart near 2pi:
// a star at RA 359.99999 can read as 360.00001 and one at the pole as Dec
// 90.00001. Values this close past a bound are rounding, not bad data:
// RA wraps, Dec is clamped. 1e-4 degrees (0.36 arcsec) is four steps.
constexpr double kPositionSlackDeg = 1e-4;

// RA in degrees into [0, 360), wrapping rounding slack; false if outside.
bool NormaliseRa(double* deg) {
  if (*deg >= 360 && *deg < 360 + kPositionSlackDeg) *deg -= 360;
  if (*deg < 0 && *deg > -kPositionSlackDeg) *deg += 360;
  return *deg >= 0 && *deg < 360;
}

// Dec in degrees into [-90, 90], clamping rounding slack; false if outside.
bool NormaliseDec(double* deg) {
  if (*deg > 90 && *deg <= 90 + kPositionSlackDeg) *deg = 90;
  if (*deg < -90 && *deg >= -90 - kPositionSlackDeg) *deg = -90;
  return *deg >= -90 && *deg <= 90;
}

// Rows of one table whose converted position is out of range.
struct OutOfRange {
  int64_t rows = 0;
  int64_t first_row = 0;  // 1-based
  double first_value = 0;  // as stored, in the column's unit
  void Add(int64_t row, double value) {
    if (rows++ == 0) first_row = row, first_value = value;
  }
};

std::string RangeProblem(const TablePlan::Field& fld, bool ra, const OutOfRange& bad) {
  const bool radians = fld.scale != 1.0;
  const char* range = ra ? (radians ? "[0, 2pi) radians" : "[0, 360) degrees")
                         : (radians ? "[-pi/2, pi/2] radians" : "[-90, 90] degrees");
  return absl::StrCat("column ", fld.column, " is outside ", range, " in ", bad.rows,
                      bad.rows == 1 ? " row" : " rows", " (first row ", bad.first_row, ": ",
                      bad.first_value, ")");
}

// A number that appears in more than one row of the (number, row) pairs,
// the first to repeat in row order; empty if all differ.
std::string DuplicateProblem(const std::string& column,
                             std::vector<std::pair<int64_t, int64_t>>& numbers) {
  std::sort(numbers.begin(), numbers.end());
  int64_t repeats = 0, number = 0, row_a = 0, row_b = 0;
  for (size_t i = 0, j = 0; i < numbers.size(); i = j) {
    // numbers[i..j) share one number, in row order.
    for (j = i + 1; j < numbers.size() && numbers[j].first == numbers[i].first; ++j) {
    }
    if (j - i < 2) continue;
    repeats += static_cast<int64_t>(j - i - 1);
    if (row_b == 0 || numbers[i + 1].second < row_b) {
      number = numbers[i].first;
      row_a = numbers[i].second;
      row_b = numbers[i + 1].second;
    }
  }
  if (repeats == 0) return "";
  return absl::StrCat("column ", column, " repeats the number ", number, " in rows ", row_a,
                      " and ", row_b, " (", repeats,
                      repeats == 1 ? " row repeats" : " rows repeat", " an earlier number)");
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
  if (data_end > f.FileBytes()) {
    return absl::DataLossError(absl::StrCat(path, ": truncated: the file has ", f.FileBytes(),
                                            " bytes but its last HDU's data ends at byte ",
                                            data_end));
  }
  if (scan.tables.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no catalogue tables"));
  }
  if (!input.image_path.empty()) CURATOR_RETURN_IF_ERROR(MatchImage(input, scan));
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
    // What every row must have besides finite values: RA in [0, 360) and
    // Dec in [-90, 90] once converted to degrees, a Sequence_number (NUMBER)
    // of its own. Tallied over the whole table, so that the error says how
    // many rows; the rows are not written once one is bad.
    const TablePlan::Field *ra = nullptr, *dec = nullptr, *seq = nullptr;
    for (size_t i = 0; i < plan.fields.size(); ++i) {
      const absl::string_view name = DetectionColumns()[i].name;
      const TablePlan::Field* fld = plan.fields[i].input >= 0 ? &plan.fields[i] : nullptr;
      if (name == "ra") ra = fld;
      if (name == "dec") dec = fld;
      if (name == "seq_num") seq = fld;
    }
    OutOfRange bad_ra, bad_dec;
    std::vector<std::pair<int64_t, int64_t>> numbers;  // (Sequence_number, row)
    if (seq != nullptr) numbers.reserve(static_cast<size_t>(t.rows));
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
        if (ra != nullptr) {
          double deg = value(*ra, ra->input, r) * ra->scale;
          if (!NormaliseRa(&deg)) bad_ra.Add(first + r + 1, value(*ra, ra->input, r));
        }
        if (dec != nullptr) {
          double deg = value(*dec, dec->input, r) * dec->scale;
          if (!NormaliseDec(&deg)) bad_dec.Add(first + r + 1, value(*dec, dec->input, r));
        }
        if (seq != nullptr) numbers.push_back({std::llround(value(*seq, seq->input, r)), first + r + 1});
      }
      if (bad_ra.rows > 0 || bad_dec.rows > 0) continue;  // failing: counted, not written
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
              if (&fld == ra) NormaliseRa(&v);
              if (&fld == dec) NormaliseDec(&v);
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
    std::vector<std::string> problems;
    if (bad_ra.rows > 0) problems.push_back(RangeProblem(*ra, true, bad_ra));
    if (bad_dec.rows > 0) problems.push_back(RangeProblem(*dec, false, bad_dec));
    if (seq != nullptr) {
      if (std::string d = DuplicateProblem(seq->column, numbers); !d.empty()) problems.push_back(d);
    }
    if (!problems.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(input.path, " HDU ", t.hdu, ": ", absl::StrJoin(problems, "; ")));
    }
  }
  return next - first_index;
}

}  // namespace curator::worker
