#include "fits/wcs.h"

#include <cmath>

namespace curator {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDeg = kPi / 180.0;

}  // namespace

std::string Wcs::ctype1() const {
  return projection == Projection::kZpn ? "RA---ZPN" : "RA---TAN";
}
std::string Wcs::ctype2() const {
  return projection == Projection::kZpn ? "DEC--ZPN" : "DEC--TAN";
}

SkyPosition PixelToSky(const Wcs& wcs, double x, double y) {
  // Intermediate world coordinates, degrees.
  const double dx = x - wcs.crpix1, dy = y - wcs.crpix2;
  const double xi = wcs.cd1_1 * dx + wcs.cd1_2 * dy;
  const double eta = wcs.cd2_1 * dx + wcs.cd2_2 * dy;
  const double r_deg = std::hypot(xi, eta);
  // Native longitude phi and latitude theta (paper II, eqs. 14-15).
  const double phi = r_deg == 0 ? 0 : std::atan2(xi, -eta);
  double theta;
  if (wcs.projection == Wcs::Projection::kTan) {
    theta = std::atan2(180.0 / kPi, r_deg);
  } else {
    // ZPN: r = sum_m PV2_m * z^m with z = pi/2 - theta, r in radians.
    // Solve for z by Newton's method from the linear guess.
    const double r = r_deg * kDeg;
    double z = r / (wcs.pv2[1] != 0 ? wcs.pv2[1] : 1.0);
    for (int iter = 0; iter < 50; ++iter) {
      double f = -r, df = 0, zp = 1;
      for (int m = 0; m < 10; ++m) {
        f += wcs.pv2[m] * zp;
        if (m + 1 < 10) df += (m + 1) * wcs.pv2[m + 1] * zp;
        zp *= z;
      }
      if (df == 0) break;
      const double step = f / df;
      z -= step;
      if (std::fabs(step) < 1e-15) break;
    }
    theta = kPi / 2 - z;
  }
  // Native to celestial (paper II, eq. 2) with the native pole at CRVAL
  // and phi_p = 180 deg.
  const double ra0 = wcs.crval1 * kDeg, dec0 = wcs.crval2 * kDeg;
  const double dphi = phi - kPi;
  const double sin_dec = std::sin(theta) * std::sin(dec0) +
                         std::cos(theta) * std::cos(dec0) * std::cos(dphi);
  const double ra =
      ra0 + std::atan2(-std::cos(theta) * std::sin(dphi),
                       std::sin(theta) * std::cos(dec0) -
                           std::cos(theta) * std::sin(dec0) * std::cos(dphi));
  SkyPosition out;
  out.dec = std::asin(std::fmax(-1.0, std::fmin(1.0, sin_dec))) / kDeg;
  out.ra = std::fmod(ra / kDeg, 360.0);
  if (out.ra < 0) out.ra += 360.0;
  return out;
}

}  // namespace curator
