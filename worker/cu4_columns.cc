#include "worker/cu4_columns.h"

#include <cctype>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace curator::worker {
namespace {

constexpr int kApertures = 7;
using K = ColumnSource::Kind;

std::vector<DetectionColumn>* MakeColumns() {
  auto* c = new std::vector<DetectionColumn>{
      {"obj_id", OutType::kInt64},        {"multiframe_id", OutType::kInt64},
      {"ext_num", OutType::kInt16},       {"seq_num", OutType::kInt32},
      {"ra", OutType::kFloat64},          {"dec", OutType::kFloat64},
      {"x", OutType::kFloat32},           {"x_err", OutType::kFloat32},
      {"y", OutType::kFloat32},           {"y_err", OutType::kFloat32},
      {"gauss_sig", OutType::kFloat32},   {"ell", OutType::kFloat32},
      {"pa", OutType::kFloat32},          {"peak_height", OutType::kFloat32},
      {"peak_height_err", OutType::kFloat32}, {"iso_flux", OutType::kFloat32}};
  static const char* const kNames[kApertures][4] = {
      {"aper_flux_1", "aper_flux_err_1", "aper_mag_1", "aper_mag_err_1"},
      {"aper_flux_2", "aper_flux_err_2", "aper_mag_2", "aper_mag_err_2"},
      {"aper_flux_3", "aper_flux_err_3", "aper_mag_3", "aper_mag_err_3"},
      {"aper_flux_4", "aper_flux_err_4", "aper_mag_4", "aper_mag_err_4"},
      {"aper_flux_5", "aper_flux_err_5", "aper_mag_5", "aper_mag_err_5"},
      {"aper_flux_6", "aper_flux_err_6", "aper_mag_6", "aper_mag_err_6"},
      {"aper_flux_7", "aper_flux_err_7", "aper_mag_7", "aper_mag_err_7"}};
  for (const auto& names : kNames) {
    for (const char* n : names) c->push_back({n, OutType::kFloat32});
  }
  for (DetectionColumn d : std::initializer_list<DetectionColumn>{
           {"petr_flux", OutType::kFloat32},     {"kron_flux", OutType::kFloat32},
           {"class", OutType::kInt16},           {"class_stat", OutType::kFloat32},
           {"error_bit_flag", OutType::kInt32},  {"sky_level", OutType::kFloat32},
           {"sky_rms", OutType::kFloat32},       {"cu_event_id", OutType::kInt64}}) {
    c->push_back(d);
  }
  return c;
}

ColumnSource Col(const std::string& name, bool required = false) {
  ColumnSource s;
  s.kind = K::kColumn;
  s.column = name;
  s.required = required;
  return s;
}

// The sources for one kind, keyed by output column name.
std::vector<ColumnSource>* MakeSources(CatalogueKind kind) {
  const bool casu = kind == CatalogueKind::kCasu;
  std::map<std::string, ColumnSource> by_name;
  by_name["obj_id"].kind = K::kTempId;
  by_name["multiframe_id"].kind = K::kMultiframeId;
  by_name["ext_num"].kind = K::kExtNum;
  by_name["cu_event_id"].kind = K::kEventId;
  by_name["seq_num"] = Col(casu ? "Sequence_number" : "NUMBER", true);
  by_name["ra"] = Col(casu ? "RA" : "ALPHA_J2000", true);
  by_name["ra"].angle = true;
  by_name["dec"] = Col(casu ? "DEC" : "DELTA_J2000", true);
  by_name["dec"].angle = true;
  by_name["x"] = Col(casu ? "X_coordinate" : "X_IMAGE", true);
  by_name["y"] = Col(casu ? "Y_coordinate" : "Y_IMAGE", true);
  if (casu) {
    by_name["x_err"] = Col("X_coordinate_err");
    by_name["y_err"] = Col("Y_coordinate_err");
    by_name["gauss_sig"] = Col("Gaussian_sigma");
    by_name["ell"] = Col("Ellipticity");
    by_name["pa"] = Col("Position_angle");
    by_name["peak_height"] = Col("Peak_height");
    by_name["peak_height_err"] = Col("Peak_height_err");
    by_name["iso_flux"] = Col("Isophotal_flux");
    by_name["petr_flux"] = Col("Petr_flux");
    by_name["kron_flux"] = Col("Kron_flux");
    by_name["class"] = Col("Classification");
    by_name["class_stat"] = Col("Statistic");
    by_name["error_bit_flag"] = Col("Error_bit_flag");
    by_name["sky_level"] = Col("Sky_level");
    by_name["sky_rms"] = Col("Sky_rms");
  } else {
    by_name["x_err"] = Col("ERRX2_IMAGE");
    by_name["x_err"].kind = K::kSqrtColumn;
    by_name["y_err"] = Col("ERRY2_IMAGE");
    by_name["y_err"].kind = K::kSqrtColumn;
    by_name["gauss_sig"] = Col("FWHM_IMAGE");
    by_name["gauss_sig"].scale = 1 / 2.3548;
    by_name["ell"] = Col("ELLIPTICITY");
    by_name["pa"] = Col("THETA_IMAGE");
    by_name["peak_height"] = Col("FLUX_MAX");
    by_name["iso_flux"] = Col("FLUX_ISO");
    by_name["petr_flux"] = Col("FLUX_PETRO");
    by_name["kron_flux"] = Col("FLUX_AUTO");
    by_name["class_stat"] = Col("CLASS_STAR");
    by_name["error_bit_flag"] = Col("FLAGS");
    by_name["sky_level"] = Col("BACKGROUND");
  }
  for (int k = 1; k <= kApertures; ++k) {
    ColumnSource flux = casu ? Col(absl::StrCat("Aper_flux_", k)) : Col("FLUX_APER");
    ColumnSource err = casu ? Col(absl::StrCat("Aper_flux_", k, "_err")) : Col("FLUXERR_APER");
    if (!casu) flux.element = err.element = k - 1;
    ColumnSource mag = flux, mag_err = flux;
    mag.kind = K::kMagnitude;
    mag_err.kind = K::kMagnitudeError;
    mag_err.error_column = err.column;
    by_name[absl::StrCat("aper_flux_", k)] = flux;
    by_name[absl::StrCat("aper_flux_err_", k)] = err;
    by_name[absl::StrCat("aper_mag_", k)] = mag;
    by_name[absl::StrCat("aper_mag_err_", k)] = mag_err;
  }
  auto* sources = new std::vector<ColumnSource>;
  for (const DetectionColumn& c : DetectionColumns()) sources->push_back(by_name[c.name]);
  return sources;
}

}  // namespace

const std::vector<DetectionColumn>& DetectionColumns() {
  static const std::vector<DetectionColumn>* columns = MakeColumns();
  return *columns;
}

const char* KindName(CatalogueKind kind) {
  return kind == CatalogueKind::kCasu ? "CASU imcore" : "Source Extractor";
}

const std::vector<ColumnSource>& Sources(CatalogueKind kind) {
  static const std::vector<ColumnSource>* casu = MakeSources(CatalogueKind::kCasu);
  static const std::vector<ColumnSource>* se = MakeSources(CatalogueKind::kSourceExtractor);
  return kind == CatalogueKind::kCasu ? *casu : *se;
}

absl::StatusOr<CatalogueKind> DetectKind(const std::vector<fits::ColumnInfo>& columns) {
  for (const fits::ColumnInfo& c : columns) {
    if (absl::EqualsIgnoreCase(c.name, "Sequence_number")) return CatalogueKind::kCasu;
    if (c.name == "NUMBER" || c.name == "X_IMAGE" || c.name == "ALPHA_J2000") {
      return CatalogueKind::kSourceExtractor;
    }
  }
  return absl::InvalidArgumentError(
      "neither a CASU imcore nor a Source Extractor catalogue (no Sequence_number or NUMBER "
      "column)");
}

absl::StatusOr<TablePlan> PlanTable(const std::vector<fits::ColumnInfo>& columns,
                                    CatalogueKind kind, const std::string& where) {
  TablePlan plan;
  std::map<std::string, int> input_of;  // catalogue column -> buffer
  auto find = [&](const std::string& name) -> const fits::ColumnInfo* {
    for (const fits::ColumnInfo& c : columns) {
      if (absl::EqualsIgnoreCase(c.name, name)) return &c;
    }
    return nullptr;
  };
  // Resolves a catalogue column to an input buffer; -1 if absent.
  auto input = [&](const std::string& name, bool required) -> absl::StatusOr<int> {
    const fits::ColumnInfo* c = find(name);
    if (c == nullptr) {
      if (required) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": required column '", name, "' is missing"));
      }
      return -1;
    }
    if (c->type_code == 16 /* TSTRING */ || c->type_code == 1 /* TBIT */) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": column '", c->name, "' is ",
                                                     c->type_code == 16 ? "text" : "bits",
                                                     " (TFORM ", c->tform,
                                                     "), expected numbers"));
    }
    auto [it, inserted] = input_of.emplace(c->name, static_cast<int>(plan.inputs.size()));
    if (inserted) {
      TablePlan::Input in{c->number, c->repeat, c->name};
      in.byte_offset = c->byte_offset;
      size_t k = 0;
      while (k < c->tform.size() && std::isdigit(static_cast<unsigned char>(c->tform[k]))) ++k;
      in.type = k < c->tform.size() ? c->tform[k] : 0;
      in.raw = c->byte_offset >= 0 && c->scale == 1.0 && c->zero == 0.0 &&
               std::string("EDJIKB").find(in.type) != std::string::npos;
      plan.inputs.push_back(std::move(in));
    }
    return it->second;
  };
  const std::vector<DetectionColumn>& outs = DetectionColumns();
  const std::vector<ColumnSource>& sources = Sources(kind);
  for (size_t i = 0; i < outs.size(); ++i) {
    const ColumnSource& s = sources[i];
    TablePlan::Field f;
    f.kind = s.kind;
    f.type = outs[i].type;
    f.element = s.element;
    f.scale = s.scale;
    f.required = s.required;
    f.column = s.column;
    if (!s.column.empty()) {
      absl::StatusOr<int> in = input(s.column, s.required);
      if (!in.ok()) return in.status();
      f.input = *in;
      if (f.input >= 0 && s.element >= plan.inputs[f.input].repeat) f.input = -1;
      if (!s.error_column.empty()) {
        absl::StatusOr<int> err = input(s.error_column, false);
        if (!err.ok()) return err.status();
        f.error_input = *err;
      }
      if (f.input < 0 && f.kind != K::kMagnitudeError) f.kind = K::kNull;
      if (f.kind == K::kMagnitudeError && (f.input < 0 || f.error_input < 0)) f.kind = K::kNull;
      if (s.angle && f.input >= 0) {
        const std::string unit = absl::AsciiStrToLower(find(s.column)->unit);
        if (unit == "radians" || unit == "radian" || unit == "rad" ||
            (unit.empty() && kind == CatalogueKind::kCasu)) {
          f.scale = 180.0 / M_PI;
        } else if (unit == "deg" || unit == "degree" || unit == "degrees" || unit.empty()) {
          f.scale = 1.0;
        } else {
          return absl::InvalidArgumentError(absl::StrCat(
              where, ": column '", s.column, "' has unit '", find(s.column)->unit,
              "'; expected radians or degrees"));
        }
      }
    }
    plan.fields.push_back(std::move(f));
  }
  for (const fits::ColumnInfo& c : columns) {
    if (!input_of.count(c.name)) plan.ignored.push_back(c.name);
  }
  return plan;
}

}  // namespace curator::worker
