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

std::optional<PixelPosition> SkyToPixel(const Wcs& wcs, double ra, double dec) {
  // Celestial to native (paper II, eq. 5) with the native pole at CRVAL and
  // phi_p = 180 deg.
  const double a = ra * kDeg, d = dec * kDeg;
  const double ra0 = wcs.crval1 * kDeg, dec0 = wcs.crval2 * kDeg;
  const double da = a - ra0;
  const double phi =
      kPi + std::atan2(-std::cos(d) * std::sin(da),
                       std::sin(d) * std::cos(dec0) -
                           std::cos(d) * std::sin(dec0) * std::cos(da));
  const double sin_theta = std::sin(d) * std::sin(dec0) +
                           std::cos(d) * std::cos(dec0) * std::cos(da);
  const double theta = std::asin(std::fmax(-1.0, std::fmin(1.0, sin_theta)));
  // Native latitude to the radius in the plane of projection, degrees.
  double r_deg;
  if (wcs.projection == Wcs::Projection::kTan) {
    if (sin_theta <= 0) return std::nullopt;
    r_deg = 180.0 / kPi * std::cos(theta) / sin_theta;
  } else {
    // ZPN: r = sum_m PV2_m * z^m, radians. PixelToSky inverts it from the
    // linear guess by Newton's method, which finds the root on the range
    // where r(z) increases from z = 0; a z past the first turning point
    // cannot have come from a pixel.
    const double z = kPi / 2 - theta;
    double r = 0, dr = 0, zp = 1;
    for (int m = 0; m < 10; ++m) {
      r += wcs.pv2[m] * zp;
      if (m + 1 < 10) dr += (m + 1) * wcs.pv2[m + 1] * zp;
      zp *= z;
    }
    if (dr <= 0) return std::nullopt;
    r_deg = r / kDeg;
  }
  // Intermediate world coordinates (paper II, eqs. 12-13), then the
  // inverse of the CD matrix.
  const double xi = r_deg * std::sin(phi), eta = -r_deg * std::cos(phi);
  const double det = wcs.cd1_1 * wcs.cd2_2 - wcs.cd1_2 * wcs.cd2_1;
  if (det == 0) return std::nullopt;
  PixelPosition p;
  p.x = wcs.crpix1 + (wcs.cd2_2 * xi - wcs.cd1_2 * eta) / det;
  p.y = wcs.crpix2 + (-wcs.cd2_1 * xi + wcs.cd1_1 * eta) / det;
  return p;
}

}  // namespace curator
