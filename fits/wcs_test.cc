#include "fits/wcs.h"

#include <cmath>

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

TEST(WcsTest, CtypeNamesTheProjection) {
  Wcs w;
  EXPECT_EQ(w.ctype1(), "RA---TAN");
  w.projection = Wcs::Projection::kZpn;
  EXPECT_EQ(w.ctype2(), "DEC--ZPN");
}

}  // namespace
}  // namespace curator
