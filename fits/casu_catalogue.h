// The layout of a CASU imcore catalogue of type 6 (WFCAM, VISTA): 80
// single-precision columns per detector extension, RA and DEC in radians.
// One place for the names, so the generator and the CU4 column mapping
// agree.
#ifndef CURATOR_FITS_CASU_CATALOGUE_H_
#define CURATOR_FITS_CASU_CATALOGUE_H_

#include <string>
#include <vector>

namespace curator::casu {

inline constexpr int kNumColumns = 80;
inline constexpr int kNumApertures = 13;

struct Column {
  std::string name;
  std::string unit;
};

// The 80 columns in file order (column i + 1 in FITS numbering).
const std::vector<Column>& Type6Columns();

// Aperture radii of Aper_flux_1..13 in units of the core radius rcore.
const std::vector<double>& ApertureRadii();

}  // namespace curator::casu

#endif  // CURATOR_FITS_CASU_CATALOGUE_H_
