// World coordinates of image pixels for the zenithal projections survey
// cameras use: TAN (gnomonic) and ZPN (zenithal polynomial; WFCAM writes
// ZPN with PV2_1 = 1, PV2_3 = 220 to describe its optical distortion).
// Conventions of Calabretta & Greisen (2002), FITS WCS paper II: the native
// pole is at (CRVAL1, CRVAL2), LONPOLE = 180 deg.
//
// Plain values; thread-compatible.
#ifndef CURATOR_FITS_WCS_H_
#define CURATOR_FITS_WCS_H_

#include <array>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace curator {

struct Wcs {
  enum class Projection { kTan, kZpn };
  Projection projection = Projection::kTan;
  double crval1 = 0, crval2 = 0;  // degrees
  double crpix1 = 0, crpix2 = 0;  // 1-based pixels
  double cd1_1 = 0, cd1_2 = 0, cd2_1 = 0, cd2_2 = 0;  // degrees per pixel
  // ZPN coefficients PV2_0 .. PV2_9 (radians to radians); PV2_1 = 1 and
  // the rest 0 is the plain zenithal equidistant projection.
  std::array<double, 10> pv2 = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0};

  // "RA---TAN" / "RA---ZPN" and the matching DEC type.
  std::string ctype1() const;
  std::string ctype2() const;
};

struct SkyPosition {
  double ra = 0;   // degrees, [0, 360)
  double dec = 0;  // degrees, [-90, 90]
};

struct PixelPosition {
  double x = 0, y = 0;  // 1-based FITS pixels
};

// Sky position of the 1-based FITS pixel (x, y).
SkyPosition PixelToSky(const Wcs& wcs, double x, double y);

// The inverse of PixelToSky: the 1-based pixel at which (ra, dec), in
// degrees, lies. Pixels far outside the image are fine; nullopt only where
// the projection has no pixel for the position (TAN: on or behind the
// horizon, 90 degrees or more from CRVAL; ZPN: where the polynomial
// r(z) is not increasing, which no pixel maps to). Where it gives a pixel,
// PixelToSky of that pixel is (ra, dec) again to ~1e-12 degrees.
std::optional<PixelPosition> SkyToPixel(const Wcs& wcs, double ra, double dec);

}  // namespace curator

#endif  // CURATOR_FITS_WCS_H_
