#include "fits/wcs.h"

#include <cmath>
#include <optional>

#include "gtest/gtest.h"

namespace curator {
namespace {

// 1e-9 degrees is 3.6 micro-arcseconds.
constexpr double kTolerance = 1e-9;

Wcs WfcamLike() {
  Wcs w;
  w.projection = Wcs::Projection::kZpn;
  w.crval1 = 30.0;
  w.crval2 = -1.0;
  w.crpix1 = w.crpix2 = -962.0;
  w.cd1_1 = -0.4 / 3600;
  w.cd2_2 = 0.4 / 3600;
  w.pv2[3] = 220;
  return w;
}

TEST(WcsTest, ReferencePixelIsReferenceValue) {
  Wcs w = WfcamLike();
  SkyPosition p = PixelToSky(w, w.crpix1, w.crpix2);
  EXPECT_NEAR(p.ra, 30.0, kTolerance);
  EXPECT_NEAR(p.dec, -1.0, kTolerance);
}

// Expected values computed once with astropy.wcs (WCSLIB) for the same
// header: an independent implementation of FITS WCS paper II.
TEST(WcsTest, ZpnMatchesWcslib) {
  Wcs w = WfcamLike();
  struct Case { double x, y, ra, dec; } cases[] = {
      {1, 1, 29.893150522962703, -0.8931617666039751},
      {1024.5, 1024.5, 29.780671707100748, -0.7806847407693621},
      {2048, 2048, 29.670335907291562, -0.670341918958903},
  };
  for (const Case& c : cases) {
    SkyPosition p = PixelToSky(w, c.x, c.y);
    EXPECT_NEAR(p.ra, c.ra, kTolerance) << c.x << "," << c.y;
    EXPECT_NEAR(p.dec, c.dec, kTolerance) << c.x << "," << c.y;
  }
}

TEST(WcsTest, TanMatchesWcslibAndWrapsRa) {
  Wcs w = WfcamLike();
  w.projection = Wcs::Projection::kTan;
  w.pv2 = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  w.crval1 = 359.9;
  w.crval2 = 60.0;
  SkyPosition a = PixelToSky(w, 1, 1);
  EXPECT_NEAR(a.ra, 359.6853065522494, kTolerance);
  EXPECT_NEAR(a.dec, 60.10682607679456, kTolerance);
  SkyPosition b = PixelToSky(w, 2048, 2048);
  EXPECT_NEAR(b.ra, 359.22431073116235, kTolerance);
  EXPECT_NEAR(b.dec, 60.33272711101037, kTolerance);
  // East of the reference (lower x, since CD1_1 < 0) crosses RA = 0.
  SkyPosition c = PixelToSky(w, w.crpix1 - 2000, w.crpix2);
  EXPECT_GE(c.ra, 0.0);
  EXPECT_LT(c.ra, 1.0);
}

// SkyToPixel inverts PixelToSky: WCSLIB's positions give back their
// pixels, and a grid over and around a detector makes the round trip.
TEST(WcsTest, SkyToPixelInvertsZpn) {
  Wcs w = WfcamLike();
  struct Case {
    double x, y, ra, dec;
  } cases[] = {
      {1, 1, 29.893150522962703, -0.8931617666039751},
      {1024.5, 1024.5, 29.780671707100748, -0.7806847407693621},
      {2048, 2048, 29.670335907291562, -0.670341918958903},
  };
  for (const Case& c : cases) {
    std::optional<PixelPosition> p = SkyToPixel(w, c.ra, c.dec);
    ASSERT_TRUE(p.has_value());
    // 1e-9 degrees of WCSLIB's rounding is 1e-5 pixels.
    EXPECT_NEAR(p->x, c.x, 1e-5);
    EXPECT_NEAR(p->y, c.y, 1e-5);
  }
  // Rotated, as curator-synth's detectors are.
  const double rot = 0.04 * M_PI / 180;
  w.cd1_1 = -0.4 / 3600 * std::cos(rot);
  w.cd1_2 = 0.4 / 3600 * std::sin(rot);
  w.cd2_1 = 0.4 / 3600 * std::sin(rot);
  w.cd2_2 = 0.4 / 3600 * std::cos(rot);
  for (double x = -500; x <= 2500; x += 250) {
    for (double y = -500; y <= 2500; y += 250) {
      SkyPosition s = PixelToSky(w, x, y);
      std::optional<PixelPosition> p = SkyToPixel(w, s.ra, s.dec);
      ASSERT_TRUE(p.has_value()) << x << "," << y;
      EXPECT_NEAR(p->x, x, 1e-6) << x << "," << y;
      EXPECT_NEAR(p->y, y, 1e-6) << x << "," << y;
    }
  }
  std::optional<PixelPosition> axis = SkyToPixel(w, w.crval1, w.crval2);
  ASSERT_TRUE(axis.has_value());
  EXPECT_NEAR(axis->x, w.crpix1, 1e-9);
  EXPECT_NEAR(axis->y, w.crpix2, 1e-9);
}

TEST(WcsTest, SkyToPixelInvertsTanAcrossRaZero) {
  Wcs w = WfcamLike();
  w.projection = Wcs::Projection::kTan;
  w.pv2 = {0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
  w.crval1 = 359.9;
  w.crval2 = 60.0;
  std::optional<PixelPosition> a =
      SkyToPixel(w, 359.6853065522494, 60.10682607679456);
  ASSERT_TRUE(a.has_value());
  EXPECT_NEAR(a->x, 1, 1e-5);
  EXPECT_NEAR(a->y, 1, 1e-5);
  // East of RA = 0 and back.
  SkyPosition c = PixelToSky(w, w.crpix1 - 2000, w.crpix2 + 300);
  ASSERT_LT(c.ra, 1.0);
  std::optional<PixelPosition> p = SkyToPixel(w, c.ra, c.dec);
  ASSERT_TRUE(p.has_value());
  EXPECT_NEAR(p->x, w.crpix1 - 2000, 1e-6);
  EXPECT_NEAR(p->y, w.crpix2 + 300, 1e-6);
  // The far side of the sky has no pixel in a gnomonic projection.
  EXPECT_FALSE(SkyToPixel(w, 179.9, -60.0).has_value());
  EXPECT_FALSE(SkyToPixel(w, 179.9, 0.0).has_value());  // 120 deg away
}

TEST(WcsTest, CtypeNamesTheProjection) {
  Wcs w;
  EXPECT_EQ(w.ctype1(), "RA---TAN");
  w.projection = Wcs::Projection::kZpn;
  EXPECT_EQ(w.ctype2(), "DEC--ZPN");
}

}  // namespace
}  // namespace curator
