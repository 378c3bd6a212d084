#include "synth/frame_writer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fits/casu_catalogue.h"
#include "fits/fits.h"
#include "base/status.h"

namespace curator::synth {
namespace {

using fits::FitsFile;

constexpr double kCoreRadius = 2.5;  // pixels: CASU rcore, 1 arcsec on WFCAM

absl::Status WritePrimaryHeader(FitsFile& f, const FrameModel& m,
                                const FrameDefects& defects) {
  CURATOR_RETURN_IF_ERROR(f.WriteKey("ORIGIN", "Curator curator-synth",
                                     "Synthetic WFCAM-like multiframe"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("TELESCOP", "UKIRT", "Telescope name"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("INSTRUME", "WFCAM", "Instrument"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("OBSERVER", "UKIDSS queue", "Observer"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("PROJECT", m.project, "Project name"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("SURVEY", m.survey, "Survey name"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("MSBID", m.msb_id, "Id minimum schedulable block"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("OBJECT", m.object, "Object name from telescope"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("OBSTYPE", m.obs_type, "BIAS|DARK|SKYFLAT|DOMEFLAT|OBJECT|SKY|FOCUS"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("RUNID", m.run_id, "Unique run ID"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("OBSNUM", m.run_number, "Observation number"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("FILTER", m.filter, "Combined filter name"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("UTDATE", m.ut_date, "UT date as integer in yyyymmdd format"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("DATE-OBS", m.date_obs, "Date and time (UTC) of start of observation"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("DATE-END", m.date_end, "Date and time (UTC) of end of observation"));
  if (!defects.missing_keyword) {
    CURATOR_RETURN_IF_ERROR(f.WriteKey("MJD-OBS", m.mjd_obs, "Modified Julian Date of start of observation"));
  }
  if (defects.wrong_keyword_type) {
    CURATOR_RETURN_IF_ERROR(f.WriteKey("EXPTIME", "ten seconds", "[s] Integration time per exposure"));
  } else {
    CURATOR_RETURN_IF_ERROR(f.WriteKey("EXPTIME", m.exp_time, "[s] Integration time per exposure"));
  }
  CURATOR_RETURN_IF_ERROR(f.WriteKey("RABASE", m.ra_base, "[deg] Right Ascension of base position"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("DECBASE", m.dec_base, "[deg] Declination of base position"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("AMSTART", m.am_start, "Airmass at start of observation"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("AMEND", m.am_end, "Airmass at end of observation"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("NEXP", 1, "Number of exposures in integration"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("READMODE", "NDR_1.0", "Name of camera readmode"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("EQUINOX", 2000.0, "Equinox of coordinates"));
  return absl::OkStatus();
}

absl::Status WriteDetectorKeys(FitsFile& f, const DetectorModel& d,
                               const FrameDefects& defects) {
  CURATOR_RETURN_IF_ERROR(f.WriteKey("EXTNAME", d.extname, "Extension name"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CAMNUM", d.cam_num, "Number of WFCAM camera (1, 2, 3 or 4)"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("DETECTID", d.detect_id, "Serial number of detector array"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CTYPE1", d.wcs.ctype1(), "Algorithm type for axis 1"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CTYPE2", d.wcs.ctype2(), "Algorithm type for axis 2"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CRPIX1", d.wcs.crpix1, "[pixel] Reference pixel along axis 1"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CRPIX2", d.wcs.crpix2, "[pixel] Reference pixel along axis 2"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CRVAL1", d.wcs.crval1, "[deg] Right ascension at the reference pixel"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CRVAL2", d.wcs.crval2, "[deg] Declination at the reference pixel"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CD1_1", d.wcs.cd1_1, "Transformation matrix element"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CD1_2", d.wcs.cd1_2, "Transformation matrix element"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CD2_1", d.wcs.cd2_1, "Transformation matrix element"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("CD2_2", d.wcs.cd2_2, "Transformation matrix element"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("PV2_1", d.wcs.pv2[1], "Coefficient for r term"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("PV2_2", d.wcs.pv2[2], "Coefficient for r**2 term"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("PV2_3", d.wcs.pv2[3], "Coefficient for r**3 term"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("RADESYS", "ICRS", "Reference frame"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("SEEING", d.seeing, "[pixels] Average FWHM"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("SKYLEVEL", d.sky_level, "[ADU] Median sky brightness"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("SKYNOISE", d.sky_noise, "[ADU] Pixel noise at sky level"));
  if (!(defects.missing_keyword && d.cam_num == 2)) {
    CURATOR_RETURN_IF_ERROR(f.WriteKey("MAGZPT", d.mag_zpt, "Photometric ZP (mags) for default extinction"));
  }
  CURATOR_RETURN_IF_ERROR(f.WriteKey("MAGZRR", 0.02, "Photometric ZP error (mags)"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("EXTINCT", 0.05, "Extinction coefficient (mags)"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("GAIN", d.gain, "[e-/ADU] Detector gain"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("READNOIS", d.read_noise, "[e-] Readout noise"));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("NUMDETS", static_cast<int64_t>(d.stars.size()), "Number of stars drawn"));
  return absl::OkStatus();
}

}  // namespace

std::vector<float> RenderDetector(const FrameModel& frame,
                                  const DetectorModel& det,
                                  const Options& options,
                                  const FastNormal& normal, int night_index) {
  const int n = options.image_size;
  std::vector<float> pixels(static_cast<size_t>(n) * n);
  Random rng({options.seed, static_cast<uint64_t>(night_index),
              static_cast<uint64_t>(frame.run_number),
              static_cast<uint64_t>(100 + det.cam_num)});
  normal.Fill(rng, pixels.data(), static_cast<int64_t>(pixels.size()));
  const float sky = static_cast<float>(det.sky_level);
  const float noise = static_cast<float>(det.sky_noise);
  for (float& p : pixels) p = sky + noise * p;

  // Each star is a Gaussian integrated over every pixel of its window
  // (a product of erf differences), plus its own photon noise.
  std::vector<double> fx, fy;
  std::vector<float> extra(64);
  for (const Star& s : det.stars) {
    const double sx = s.true_x, sy = s.true_y;
    const int radius = static_cast<int>(std::ceil(5 * s.sigma)) + 1;
    const int x0 = std::max(1, static_cast<int>(sx) - radius);
    const int x1 = std::min(n, static_cast<int>(sx) + radius);
    const int y0 = std::max(1, static_cast<int>(sy) - radius);
    const int y1 = std::min(n, static_cast<int>(sy) + radius);
    const double k = 1.0 / (std::sqrt(2.0) * s.sigma);
    fx.resize(x1 - x0 + 1);
    fy.resize(y1 - y0 + 1);
    for (int x = x0; x <= x1; ++x) {
      fx[x - x0] =
          0.5 * (std::erf((x + 0.5 - sx) * k) - std::erf((x - 0.5 - sx) * k));
    }
    for (int y = y0; y <= y1; ++y) {
      fy[y - y0] =
          0.5 * (std::erf((y + 0.5 - sy) * k) - std::erf((y - 0.5 - sy) * k));
    }
    const int width = x1 - x0 + 1;
    if (static_cast<int>(extra.size()) < width) extra.resize(width);
    for (int y = y0; y <= y1; ++y) {
      normal.Fill(rng, extra.data(), width);
      float* row = &pixels[static_cast<size_t>(y - 1) * n];
      for (int x = x0; x <= x1; ++x) {
        const double counts = s.true_flux * fx[x - x0] * fy[y - y0];
        row[x - 1] += static_cast<float>(
            counts + std::sqrt(counts / det.gain) * extra[x - x0]);
      }
    }
  }
  return pixels;
}

absl::Status WriteImageFile(const FrameModel& frame, const Options& options,
                            const FrameDefects& defects, int night_index,
                            const FastNormal& normal, const std::string& path) {
  CURATOR_ASSIGN_OR_RETURN(FitsFile f, FitsFile::Create(path));
  CURATOR_RETURN_IF_ERROR(f.CreateImage(8, {}));
  CURATOR_RETURN_IF_ERROR(WritePrimaryHeader(f, frame, defects));
  CURATOR_RETURN_IF_ERROR(f.WriteChecksum());
  const int64_t n = options.image_size;
  for (const DetectorModel& det : frame.detectors) {
    std::vector<float> pixels =
        RenderDetector(frame, det, options, normal, night_index);
    // Dither seeds in 1..10000, fixed per detector: same data, same bytes.
    const int dither_seed =
        1 + static_cast<int>((frame.run_number * 4 + det.cam_num) % 10000);
    CURATOR_RETURN_IF_ERROR(
        f.CreateImage(options.bitpix, {n, n}, options.compression, dither_seed));
    CURATOR_RETURN_IF_ERROR(WriteDetectorKeys(f, det, defects));
    if (options.bitpix == 32) {
      std::vector<int32_t> counts(pixels.size());
      for (size_t i = 0; i < pixels.size(); ++i) {
        counts[i] = static_cast<int32_t>(std::lround(pixels[i]));
      }
      CURATOR_RETURN_IF_ERROR(f.WritePixels(counts.data(), counts.size()));
    } else {
      CURATOR_RETURN_IF_ERROR(f.WritePixels(pixels.data(), pixels.size()));
    }
    CURATOR_RETURN_IF_ERROR(f.WriteChecksum());
  }
  return f.Close();
}

std::vector<std::vector<float>> CatalogueColumns(const FrameModel& frame,
                                                 const DetectorModel& det) {
  const size_t rows = det.stars.size();
  std::vector<std::vector<float>> c(casu::kNumColumns,
                                    std::vector<float>(rows, 0.0f));
  const std::vector<double>& radii = casu::ApertureRadii();
  const double sky_var = det.sky_noise * det.sky_noise;
  const double isophote = 1.5 * det.sky_noise;
  Random rng({static_cast<uint64_t>(frame.run_number),
              static_cast<uint64_t>(det.cam_num), 0xCA7ULL});
  // Flux of a Gaussian star inside radius r, and its error.
  auto within = [](const Star& s, double r) {
    return s.flux * (1 - std::exp(-r * r / (2 * s.sigma * s.sigma)));
  };
  auto error = [&](double flux, double r) {
    return std::sqrt(std::max(flux, 0.0) / det.gain + M_PI * r * r * sky_var);
  };
  for (size_t i = 0; i < rows; ++i) {
    const Star& s = det.stars[i];
    const double peak = s.flux / (2 * M_PI * s.sigma * s.sigma);
    const double snr = s.flux / error(s.flux, 2 * s.sigma);
    int col = 0;
    auto put = [&](double v) { c[col++][i] = static_cast<float>(v); };
    put(i + 1);                                          // Sequence_number
    put(within(s, s.sigma * std::sqrt(2 * std::log(std::max(peak / isophote, 1.0)))));
    const double position_error =
        s.position_error > 0 ? s.position_error : s.sigma / snr;
    put(s.x);
    put(position_error);
    put(s.y);
    put(position_error);
    put(s.sigma);                                        // Gaussian_sigma
    put(std::fabs(0.03 * rng.Normal()));                 // Ellipticity
    put(rng.Uniform(-90, 90));                           // Position_angle
    for (int k = 0; k < 8; ++k) {                        // Areal_k_profile
      const double t = isophote * std::pow(2.0, k);
      put(peak > t ? M_PI * 2 * s.sigma * s.sigma * std::log(peak / t) : 0);
    }
    put(peak);
    put(std::sqrt(peak / det.gain + sky_var));
    for (double r : radii) {                             // Aper_flux_k, err
      const double flux = within(s, r * kCoreRadius);
      put(flux);
      put(error(flux, r * kCoreRadius));
    }
    const double petr_r = 2 * 1.5 * s.sigma, kron_r = 2.5 * s.sigma,
                 half_r = 1.1774 * s.sigma;
    put(petr_r);
    put(kron_r);
    put(half_r);
    put(within(s, petr_r));
    put(error(within(s, petr_r), petr_r));
    put(within(s, kron_r));
    put(error(within(s, kron_r), kron_r));
    put(s.flux / 2);
    put(error(s.flux / 2, half_r));
    put(0);                                              // Error_bit_flag
    put(det.sky_level);
    put(det.sky_noise);
    put(100);                                            // Av_conf
    put(s.ra * M_PI / 180);                              // RA, radians
    put(s.dec * M_PI / 180);                             // DEC, radians
    put(s.classification);                               // Classification
    put(rng.Normal());                                   // Statistic
  }
  return c;
}

absl::Status WriteCatalogueFile(const FrameModel& frame,
                                const FrameDefects& defects,
                                const std::string& path) {
  CURATOR_ASSIGN_OR_RETURN(FitsFile f, FitsFile::Create(path));
  CURATOR_RETURN_IF_ERROR(f.CreateImage(8, {}));
  CURATOR_RETURN_IF_ERROR(WritePrimaryHeader(f, frame, FrameDefects{}));
  CURATOR_RETURN_IF_ERROR(f.WriteKey("IMAGE", frame.image_name, "Image this catalogue was made from"));
  CURATOR_RETURN_IF_ERROR(f.WriteChecksum());
  const std::vector<casu::Column>& layout = casu::Type6Columns();
  const int x_column = 3;  // X_coordinate
  const std::vector<CatalogueTable> tables = CatalogueTables(frame, defects);
  for (size_t k = 0; k < tables.size(); ++k) {
    const DetectorModel& det = *tables[k].detector;
    std::vector<fits::ColumnSpec> specs;
    for (const casu::Column& col : layout) specs.push_back({col.name, "1E", col.unit});
    if (defects.wrong_column_type) specs[x_column - 1].tform = "12A";
    CURATOR_RETURN_IF_ERROR(f.CreateTable(absl::StrCat("DET", k + 1), specs));
    CURATOR_RETURN_IF_ERROR(f.WriteKey("CAMNUM", det.cam_num, "Number of WFCAM camera (1, 2, 3 or 4)"));
    CURATOR_RETURN_IF_ERROR(f.WriteKey("MAGZPT", det.mag_zpt, "Photometric ZP (mags) for default extinction"));
    CURATOR_RETURN_IF_ERROR(f.WriteKey("SKYLEVEL", det.sky_level, "[ADU] Median sky brightness"));
    CURATOR_RETURN_IF_ERROR(f.WriteKey("SEEING", det.seeing, "[pixels] Average FWHM"));
    CURATOR_RETURN_IF_ERROR(f.WriteKey("EXPTIME", frame.exp_time, "[s] Integration time per exposure"));
    if (!tables[k].empty && !det.stars.empty()) {
      std::vector<std::vector<float>> columns = CatalogueColumns(frame, det);
      if (defects.nan_columns && det.cam_num == 1) {
        for (size_t i = 0; i < det.stars.size(); i += 10) {
          columns[58][i] = NAN;  // RA
          columns[59][i] = NAN;  // DEC
        }
      }
      if (defects.ra_out_of_range && det.cam_num == 2) {
        const size_t n = det.stars.size();
        for (size_t i = n > 5 ? n - 5 : 0; i < n; ++i) columns[58][i] = 1e6f;  // radians
      }
      if (defects.duplicate_seqnum && det.cam_num == 1 && det.stars.size() >= 2) {
        columns[0][1] = columns[0][0];  // Sequence_number 1 in rows 1 and 2
      }
      const int64_t rows = static_cast<int64_t>(det.stars.size());
      if (defects.wrong_column_type) {
        std::vector<std::string> text;
        for (float v : columns[x_column - 1]) text.push_back(absl::StrFormat("%.3f", v));
        CURATOR_RETURN_IF_ERROR(f.WriteColumn(x_column, 0, text));
      }
      // All columns a chunk of rows at a time: column by column over the
      // whole table would thrash CFITSIO's buffers (seconds per file).
      CURATOR_ASSIGN_OR_RETURN(int64_t chunk, f.OptimalRowChunk());
      for (int64_t first = 0; first < rows; first += chunk) {
        const int64_t n = std::min(chunk, rows - first);
        for (int c = 0; c < casu::kNumColumns; ++c) {
          if (defects.wrong_column_type && c == x_column - 1) continue;
          CURATOR_RETURN_IF_ERROR(
              f.WriteColumn(c + 1, first, n, columns[c].data() + first));
        }
      }
    }
    CURATOR_RETURN_IF_ERROR(f.WriteChecksum());
  }
  return f.Close();
}

std::vector<CatalogueTable> CatalogueTables(const FrameModel& frame,
                                            const FrameDefects& defects) {
  // Normally one table per detector; extra-tables writes them twice over
  // (DET5..DET8 the copies), missing-tables only DET1's and DET2's.
  std::vector<CatalogueTable> tables;
  for (int pass = 0; pass < (defects.extra_tables ? 2 : 1); ++pass) {
    for (const DetectorModel& det : frame.detectors) {
      if (defects.missing_tables && det.cam_num > 2) continue;
      tables.push_back({&det, defects.empty_table && det.cam_num == 3});
    }
  }
  return tables;
}

int64_t WrittenSequenceNumber(const DetectorModel& det,
                              const FrameDefects& defects, size_t row) {
  if (defects.duplicate_seqnum && det.cam_num == 1 && row == 1) return 1;
  return static_cast<int64_t>(row) + 1;
}

int64_t CatalogueRows(const FrameModel& frame, const FrameDefects& defects) {
  int64_t rows = 0;
  for (const CatalogueTable& t : CatalogueTables(frame, defects)) {
    if (!t.empty) rows += static_cast<int64_t>(t.detector->stars.size());
  }
  return rows;
}

}  // namespace curator::synth
