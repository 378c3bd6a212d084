#include "fits/casu_catalogue.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace curator::casu {

const std::vector<Column>& Type6Columns() {
  static const std::vector<Column>* columns = [] {
    auto* c = new std::vector<Column>{
        {"Sequence_number", "Number"},  {"Isophotal_flux", "ADU"},
        {"X_coordinate", "Pixels"},     {"X_coordinate_err", "Pixels"},
        {"Y_coordinate", "Pixels"},     {"Y_coordinate_err", "Pixels"},
        {"Gaussian_sigma", "Pixels"},   {"Ellipticity", "Number"},
        {"Position_angle", "Degrees"}};
    for (int i = 1; i <= 8; ++i) {
      c->push_back({absl::StrCat("Areal_", i, "_profile"), "Pixels"});
    }
    c->push_back({"Peak_height", "ADU"});
    c->push_back({"Peak_height_err", "ADU"});
    for (int i = 1; i <= kNumApertures; ++i) {
      c->push_back({absl::StrCat("Aper_flux_", i), "ADU"});
      c->push_back({absl::StrCat("Aper_flux_", i, "_err"), "ADU"});
    }
    for (const char* name : {"Petr_radius", "Kron_radius", "Half_radius"}) {
      c->push_back({name, "Pixels"});
    }
    for (const char* name : {"Petr_flux", "Petr_flux_err", "Kron_flux",
                             "Kron_flux_err", "Half_flux", "Half_flux_err"}) {
      c->push_back({name, "ADU"});
    }
    c->push_back({"Error_bit_flag", "Number"});
    c->push_back({"Sky_level", "ADU"});
    c->push_back({"Sky_rms", "ADU"});
    c->push_back({"Av_conf", "Number"});
    c->push_back({"RA", "Radians"});
    c->push_back({"DEC", "Radians"});
    c->push_back({"Classification", "Flag"});
    c->push_back({"Statistic", "N-sigma"});
    for (int i = 63; i <= kNumColumns; ++i) {
      c->push_back({absl::StrCat("Blank", i), ""});
    }
    return c;
  }();
  return *columns;
}

const std::vector<double>& ApertureRadii() {
  static const std::vector<double>* radii = new std::vector<double>{
      0.5, 1 / std::sqrt(2.0), 1, std::sqrt(2.0), 2, 2 * std::sqrt(2.0),
      4, 5, 6, 7, 8, 10, 12};
  return *radii;
}

}  // namespace curator::casu
