// CU4 against a real PostgreSQL: detections equal to the catalogues', ids
// unique, positive and dense, re-runs and re-ingests change nothing, cone
// searches through Q3C, bad catalogues named, and a Source Extractor
// catalogue made from a synthetic image.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "fits/fits.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "archive/task_log.h"
#include "archive/file_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingester/ingest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/process.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/temp_dir.h"
#include "worker/cu3_task.h"
#include "worker/cu4_task.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using IK = ingester::IngestOutcome::Kind;

class Cu4IngestTest : public testing::PipelineTest {
 protected:
  // Register, CU3, CU4, ingest one night.
  void Night(const std::string& night) {
    Register(night);
    Cu3(night);
    Cu4(night);
    for (const auto& o : IngestAll()) EXPECT_EQ(o.kind, IK::kIngested) << o.report;
  }
};

TEST_F(Cu4IngestTest, DetectionsEqualTheCataloguesWithDenseIds) {
  synth::Options o = Survey(1, 3);
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  Night("20071021");
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 3 * 4 * 40);
  // Unique, positive and dense: exactly the batch's block.
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 480);
  EXPECT_EQ(Count("SELECT min(obj_id) FROM detection"),
            Count("SELECT base FROM curation.id_block"));
  EXPECT_EQ(Count("SELECT max(obj_id) - min(obj_id) + 1 FROM detection"), 480);
  EXPECT_EQ(Count("SELECT count(*) FROM detection d JOIN curation.cu_event e USING "
                  "(cu_event_id) WHERE e.cu = 4 AND e.kind = 'process'"),
            480);
  // Order: (multiframe, extension, row).
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT obj_id, row_number() OVER (ORDER BY "
                  "multiframe_id, ext_num, seq_num) + min(obj_id) OVER () - 1 AS expected FROM "
                  "detection) q WHERE obj_id <> expected"),
            0);

  // Row by row against the catalogue file, for frame 2's DET3.
  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  auto cat = fits::FitsFile::Open(archive_ + "/incoming/20071021/w20071021_00002_cat.fits");
  ASSERT_TRUE(cat->MoveToExtName("DET3").ok());
  const double zp = *cat->ReadDouble("MAGZPT"), exptime = *cat->ReadDouble("EXPTIME");
  auto column = [&](const char* name) {
    std::vector<double> v(40);
    EXPECT_TRUE(cat->ReadColumn(cat->FindColumn(name)->number, 0, 40, v.data()).ok());
    return v;
  };
  std::vector<double> seq = column("Sequence_number"), x = column("X_coordinate"),
                      ra = column("RA"), dec = column("DEC"), flux = column("Aper_flux_3"),
                      err = column("Aper_flux_3_err"), cls = column("Classification");
  const int64_t mf = tx.exec1("SELECT multiframe_id FROM multiframe WHERE file_name = "
                              "'w20071021_00002.fit'")[0].as<int64_t>();
  for (int i = 0; i < 40; i += 7) {
    pqxx::row r = tx.exec1(absl::StrCat(
        "SELECT x, ra, dec, aper_flux_3, aper_mag_3, aper_mag_err_3, class FROM detection WHERE "
        "multiframe_id = ", mf, " AND ext_num = 4 AND seq_num = ", static_cast<int>(seq[i])));
    EXPECT_EQ(r[0].as<float>(), static_cast<float>(x[i]));
    EXPECT_EQ(r[1].as<double>(), ra[i] * 180 / M_PI);
    EXPECT_EQ(r[2].as<double>(), dec[i] * 180 / M_PI);
    EXPECT_EQ(r[3].as<float>(), static_cast<float>(flux[i]));
    EXPECT_NEAR(r[4].as<double>(), zp - 2.5 * std::log10(flux[i] / exptime), 1e-5);
    EXPECT_NEAR(r[5].as<double>(), 1.0857362 * err[i] / flux[i], 1e-6);
    EXPECT_EQ(r[6].as<int>(), static_cast<int>(cls[i]));
  }
}

TEST_F(Cu4IngestTest, RunningAgainChangesNothing) {
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 2)).ok());
  Night("20071021");
  const std::string batch = Count("SELECT count(*) FROM curation.batch WHERE cu = 4") == 1
                                ? pqxx::work(*std::make_unique<pqxx::connection>(conninfo()))
                                      .exec1("SELECT batch_id FROM curation.batch WHERE cu = 4")[0]
                                      .as<std::string>()
                                : "";
  ASSERT_FALSE(batch.empty());
  worker::TaskOutput again = Cu4("20071021");
  EXPECT_EQ(again.manifest.batch_id(), batch);
  // Byte for byte the same data files as the batch already ingested.
  for (const auto& f : again.manifest.files()) {
    EXPECT_EQ(testing::ReadFileToString(again.batch_dir + "/" + f.name()),
              testing::ReadFileToString(archive_ + "/ingested/20071021/" + batch + "/" + f.name()))
        << f.name();
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kAlreadyIngested);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 40);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.id_block"), 1);
}

TEST_F(Cu4IngestTest, NightsInEitherOrderGetUniqueIds) {
  ASSERT_TRUE(synth::GenerateSurvey(Survey(2, 2)).ok());
  // The second night first.
  Night("20071022");
  Night("20071021");
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 2 * 4 * 40);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 2 * 2 * 4 * 40);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.id_block a JOIN curation.id_block b ON "
                  "a.batch_id < b.batch_id AND a.base < b.base + b.count AND b.base < a.base + "
                  "a.count"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'detection'::regclass"), 2);
}

TEST_F(Cu4IngestTest, ConeSearchFindsAKnownStar) {
  synth::Options o = Survey(1, 2, 60);
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  Night("20071021");
  const synth::FrameModel f = synth::MakeFrame(o, 0, 2);
  const synth::Star& star = f.detectors[1].stars[17];
  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  pqxx::result r = tx.exec(absl::StrFormat(
      "SELECT x, y, ext_num FROM detection WHERE q3c_radial_query(ra, dec, %.12f, %.12f, 1/3600.0)",
      star.ra, star.dec));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_NEAR(r[0][0].as<double>(), star.x, 1e-3);
  EXPECT_NEAR(r[0][1].as<double>(), star.y, 1e-3);
  EXPECT_EQ(r[0][2].as<int>(), 3);
  // An arcminute around it holds it and only stars of that frame's area.
  EXPECT_GE(tx.exec1(absl::StrFormat("SELECT count(*) FROM detection WHERE q3c_radial_query(ra, "
                                     "dec, %.12f, %.12f, 1/60.0)",
                                     star.ra, star.dec))[0]
                .as<int>(),
            1);
}

TEST_F(Cu4IngestTest, BadCataloguesAreNamedAndTheRestLoads) {
  synth::Options o = Survey(1, 10, 20);
  o.defects = synth::AllDefects();
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  Register("20071021");
  Cu3("20071021");
  worker::TaskOutput out = Cu4("20071021");
  std::vector<std::string> failures;
  for (const auto& f : out.manifest.failures()) failures.push_back(f.message());
  EXPECT_THAT(failures, ::testing::UnorderedElementsAre(
                            HasSubstr("w20071021_00009_cat.fits: truncated"),  // in data or a header
                            HasSubstr("w20071021_00004_cat.fits HDU 2 (DET1): column "
                                      "'X_coordinate' is text"),
                            HasSubstr("w20071021_00006_cat.fits HDU 2: column 'RA' is not finite"),
                            HasSubstr("w20071021_00011_cat.fits: its image was never registered")));
  bool empty_noted = false;
  for (const auto& w : out.manifest.warnings()) {
    empty_noted |= w.path().find("w20071021_00005_cat.fits") != std::string::npos &&
                   w.hdu() == 4 && w.message().find("no rows") != std::string::npos;
  }
  EXPECT_TRUE(empty_noted);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[1].kind, IK::kIngested) << outcomes[1].report;
  // Frame 10's image failed CU3 (truncated): its catalogue is left out at
  // ingest, named in the batch's failures.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND failures::text LIKE "
                  "'%multiframe 10 has no CU3 rows%'"),
            1);
  // Frames 1, 2, 3, 7, 8 whole, frame 5 without its empty DET3.
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 5 * 4 * 20 + 3 * 20);
  EXPECT_EQ(Count("SELECT count(DISTINCT multiframe_id) FROM detection"), 6);
  EXPECT_EQ(Count("SELECT max(obj_id) - min(obj_id) + 1 FROM detection WHERE multiframe_id < 10"),
            5 * 4 * 20 + 3 * 20);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message m JOIN curation.cu_event e USING "
                  "(cu_event_id) WHERE e.cu = 4 AND m.level = 'error'"),
            4);
}

TEST_F(Cu4IngestTest, OutOfRangePositionsQuarantineTheBatch) {
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 2)).ok());
  {  // 7 radians is 401 degrees: finite, so the worker passes it on.
    auto cat = fits::FitsFile::Open(archive_ + "/incoming/20071021/w20071021_00002_cat.fits",
                                    /*read_write=*/true);
    ASSERT_TRUE(cat.ok());
    ASSERT_TRUE(cat->MoveToExtName("DET2").ok());
    const float ra = 7.0f;
    ASSERT_TRUE(cat->WriteColumn(cat->FindColumn("RA")->number, 4, 1, &ra).ok());
    ASSERT_TRUE(cat->Close().ok());
  }
  Register("20071021");
  Cu3("20071021");
  worker::TaskOutput out = Cu4("20071021");
  EXPECT_EQ(out.manifest.failures_size(), 0);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[1].kind, IK::kQuarantined);
  EXPECT_THAT(outcomes[1].report, HasSubstr("/3: 1 detections with RA outside [0, 360)"));
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 0);
  // Nothing of the failed load is left: no partition, no stray table.
  EXPECT_EQ(Count("SELECT count(*) FROM pg_class WHERE relname LIKE 'detection\\_%' AND "
                  "relkind = 'r'"),
            0);
}

TEST_F(Cu4IngestTest, ANightWhoseEveryCatalogueFailedRecordsAnEmptyLoad) {
  synth::Options o = Survey(1, 1);
  o.defects = {synth::Defect::kOrphanCatalogue};
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  fs::remove(archive_ + "/incoming/20071021/w20071021_00001_cat.fits");  // only the orphan left
  Register("20071021");
  Cu3("20071021");
  worker::TaskOutput out = Cu4("20071021");
  EXPECT_EQ(out.manifest.failures_size(), 1);
  EXPECT_EQ(out.manifest.files_size(), 0);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[1].kind, IK::kIngested) << outcomes[1].report;
  EXPECT_EQ(outcomes[1].rows, 0);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'detection'::regclass"), 0);
  EXPECT_EQ(Count("SELECT jsonb_array_length(failures) FROM curation.batch WHERE cu = 4"), 1);
}

TEST_F(Cu4IngestTest, KilledBeforeCommitThenRestartedLoadsOnceWithTheSameIds) {
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 2)).ok());
  Register("20071021");
  Cu3("20071021");
  ASSERT_EQ(IngestAll().size(), 1u);  // CU3 in
  Cu4("20071021");
  KillIngesterBeforeCommit();
  // The id block was reserved (and committed) before the load; the load
  // itself left nothing.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.id_block"), 1);
  const int64_t base = Count("SELECT base FROM curation.id_block");
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_class WHERE relname LIKE 'detection\\_%' AND relkind = 'r'"), 0);

  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  EXPECT_EQ(Count("SELECT count(*) FROM curation.id_block"), 1);
  EXPECT_EQ(Count("SELECT min(obj_id) FROM detection"), base);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 2 * 4 * 40);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'detection'::regclass"), 1);
}

TEST_F(Cu4IngestTest, SourceExtractorCatalogueIngests) {
  if (testing::RunCommand("source-extractor -v").exit_code != 0) {
    GTEST_SKIP() << "source-extractor is not installed (deploy/install-deps.sh)";
  }
  synth::Options o = Survey(1, 1, 80);
  o.image_size = 512;
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  const std::string night_dir = archive_ + "/incoming/20071021";
  // Replace the CASU catalogue with one source-extractor makes from the
  // multi-extension image (FITS_LDAC: one table pair per detector).
  ASSERT_EQ(testing::RunCommand("cd " + archive_ + " && source-extractor -d > default.sex").exit_code, 0);
  std::ofstream(archive_dir_.Join("default.param"))
      << "NUMBER\nX_IMAGE\nY_IMAGE\nERRX2_IMAGE\nERRY2_IMAGE\nALPHA_J2000\nDELTA_J2000\n"
         "FLUX_AUTO\nFLUX_APER(3)\nFLUXERR_APER(3)\nFLUX_MAX\nFWHM_IMAGE\nELLIPTICITY\n"
         "THETA_IMAGE\nFLAGS\nBACKGROUND\n";
  fs::remove(night_dir + "/w20071021_00001_cat.fits");
  testing::CommandResult se = testing::RunCommand(absl::StrCat(
      "cd ", archive_, " && source-extractor ", night_dir, "/w20071021_00001.fit -c default.sex",
      " -CATALOG_NAME ", night_dir, "/w20071021_00001_cat.fits -CATALOG_TYPE FITS_LDAC",
      " -PARAMETERS_NAME default.param -FILTER N -PHOT_APERTURES 3,5,8 -VERBOSE_TYPE QUIET"));
  ASSERT_EQ(se.exit_code, 0) << se.output;
  Register("20071021");
  Cu3("20071021");
  worker::TaskOutput out = Cu4("20071021");
  EXPECT_EQ(out.manifest.failures_size(), 0)
      << (out.manifest.failures_size() ? out.manifest.failures(0).message() : "");
  for (const auto& o2 : IngestAll()) EXPECT_EQ(o2.kind, IK::kIngested) << o2.report;
  // Four detectors' worth of detections, calibrated, and a bright injected
  // star found where it was drawn.
  EXPECT_EQ(Count("SELECT count(DISTINCT ext_num) FROM detection"), 4);
  EXPECT_GT(Count("SELECT count(*) FROM detection"), 4 * 40);
  EXPECT_GT(Count("SELECT count(*) FROM detection WHERE aper_mag_3 IS NOT NULL AND x_err IS NOT NULL"), 100);
  const synth::FrameModel f = synth::MakeFrame(o, 0, 1);
  const synth::Star* bright = &f.detectors[0].stars[0];
  for (const synth::Star& s : f.detectors[0].stars) {
    if (s.mag < bright->mag) bright = &s;
  }
  EXPECT_EQ(Count(absl::StrFormat("SELECT count(*) FROM detection WHERE ext_num = 2 AND "
                                  "q3c_radial_query(ra, dec, %.12f, %.12f, 0.5/3600)",
                                  bright->ra, bright->dec)),
            1);
}

}  // namespace
}  // namespace curator
