// CU4 against a real PostgreSQL: detections equal to the catalogues', ids
// unique, positive and dense, re-runs and re-ingests change nothing, cone
// searches through Q3C, bad catalogues named, and a Source Extractor
// catalogue made from a synthetic image.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
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
#include "archive/batch.h"
#include "tests/support/batch_edit.h"
#include "tests/support/command.h"
#include "tests/support/process.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/temp_dir.h"
#include "worker/cu3_task.h"
#include "worker/cu4_task.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
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
  // The night's CU3 ingested, then the worker's CU4 batch, left in staging.
  worker::TaskOutput Cu4Batch(const std::string& night) {
    Register(night);
    Cu3(night);
    for (const auto& o : IngestAll()) EXPECT_EQ(o.kind, IK::kIngested) << o.report;
    return Cu4(night);
  }
  int64_t FrameId(int run) {
    return Count(absl::StrFormat("SELECT multiframe_id FROM multiframe WHERE file_name = "
                                 "'w20071021_%05d.fit'", run));
  }
  // The batch file holding multiframe `id`'s detections.
  static std::string FileOf(const v1::Manifest& m, int64_t id) {
    for (const auto& f : m.files()) {
      if (f.multiframe_id() == id) return f.name();
    }
    ADD_FAILURE() << "no file for multiframe " << id;
    return "";
  }
  // Rows of curation.batch's failures (JSON) of the CU4 batch for the
  // catalogue `name`, as "hdu|item|message".
  std::vector<std::string> FailuresOf(const std::string& name) {
    return BatchFailuresOf(4, "20071021", name);
  }
  // Error messages of the CU4 ingest's log for the catalogue `name`.
  int64_t IngestErrorsNaming(const std::string& name, const std::string& like) {
    return Count(absl::StrCat(
        "SELECT count(*) FROM curation.log_message m JOIN curation.cu_event e USING "
        "(cu_event_id) WHERE e.cu = 4 AND e.kind = 'ingest' AND m.level = 'error' AND m.path = '",
        archive_, "/incoming/20071021/", name, "' AND m.message LIKE '", like, "'"));
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
  synth::Options o = Survey(1, 16, 20);
  o.defects = synth::AllDefects();
  ASSERT_TRUE(synth::GenerateSurvey(o).ok());
  // The duplicated image (run 18) gets frame 1's catalogue too: readable
  // by CU4, but its image fails CU3, so the ingester leaves it out.
  const std::string night_dir = archive_ + "/incoming/20071021/";
  fs::copy_file(night_dir + "w20071021_00001_cat.fits", night_dir + "w20071021_00018_cat.fits");
  Register("20071021");
  Cu3("20071021");
  worker::TaskOutput out = Cu4("20071021");
  std::vector<std::string> failures;
  for (const auto& f : out.manifest.failures()) failures.push_back(f.message());
  EXPECT_THAT(
      failures,
      ::testing::UnorderedElementsAre(
          HasSubstr("w20071021_00015_cat.fits: truncated"),  // in data or a header
          HasSubstr("w20071021_00010_cat.fits HDU 2 (DET1): column 'X_coordinate' is text"),
          HasSubstr("w20071021_00012_cat.fits HDU 2: column 'RA' is not finite"),
          HasSubstr("w20071021_00017_cat.fits: its image was never registered"),
          HasSubstr("w20071021_00009_cat.fits HDU 3: column RA is outside [0, 2pi) radians in 5 "
                    "rows (first row 16: 1e+06)"),
          HasSubstr("w20071021_00008_cat.fits: 8 catalogue tables for the 4 detectors of its "
                    "image w20071021_00008.fit"),
          HasSubstr("w20071021_00006_cat.fits HDU 2: column Sequence_number repeats the number 1 "
                    "in rows 1 and 2"),
          // Images CU3 cannot read either: their catalogues fail at once.
          AllOf(HasSubstr("w20071021_00016_cat.fits: its image cannot be read: "),
                HasSubstr("w20071021_00016.fit: truncated")),
          AllOf(HasSubstr("w20071021_00005_cat.fits: its image cannot be read: "),
                HasSubstr("w20071021_00005.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3'")),
          AllOf(HasSubstr("w20071021_00004_cat.fits: its image cannot be read: "),
                HasSubstr("w20071021_00004.fit HDU 5 (DET4): NAXIS1 x NAXIS2 = 2000000000")),
          AllOf(HasSubstr("w20071021_00003_cat.fits: its image cannot be read: "),
                HasSubstr("w20071021_00003.fit HDU 3 (DET2): BITPIX = 13"))));
  bool empty_noted = false, missing_noted = false;
  for (const auto& w : out.manifest.warnings()) {
    empty_noted |= w.path().find("w20071021_00011_cat.fits") != std::string::npos &&
                   w.hdu() == 4 && w.message().find("no rows") != std::string::npos;
    missing_noted |= w.path().find("w20071021_00007_cat.fits") != std::string::npos &&
                     w.message().find("no detections for HDU 4 (DET3), HDU 5 (DET4)") !=
                         std::string::npos;
  }
  EXPECT_TRUE(empty_noted);
  EXPECT_TRUE(missing_noted);
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[1].kind, IK::kIngested) << outcomes[1].report;
  // Frames 1, 2, 13, 14 whole, frame 11 without its empty DET3, frame 7's
  // two tables.
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 4 * 4 * 20 + 3 * 20 + 2 * 20);
  EXPECT_EQ(Count("SELECT count(DISTINCT multiframe_id) FROM detection"), 6);
  EXPECT_EQ(Count("SELECT max(obj_id) - min(obj_id) + 1 FROM detection"),
            4 * 4 * 20 + 3 * 20 + 2 * 20);
  // Every bad catalogue was named by the worker; the ingester leaves out
  // only the good one whose image failed CU3 (a duplicate).
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND failures::text LIKE "
                  "'%has no CU3 rows (its image failed CU3); its 80 detections are left out%'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message m JOIN curation.cu_event e USING "
                  "(cu_event_id) WHERE e.cu = 4 AND m.level = 'error'"),
            11);
}

TEST_F(Cu4IngestTest, OneBadCatalogueOfEachKindIsLeftOutAndTheNightLoads) {
  // Frames 1..3 clean; 8: RA = 1e6 radians in 5 rows of DET2; 7: 8 tables
  // for 4 detectors; 6: tables for DET1 and DET2 only; 5: a repeated
  // Sequence_number; 4: an image whose DET3 XTENSION card is garbage.
  // Each of these once made the ingester reject the whole night (or, for
  // the missing tables and repeated numbers, passed without a word).
  synth::Options o = Survey(1, 8, 25);
  o.defects = {synth::Defect::kRaOutOfRange, synth::Defect::kExtraTables,
               synth::Defect::kMissingTables, synth::Defect::kDuplicateSeqnum,
               synth::Defect::kGarbageXtension};
  auto survey = synth::GenerateSurvey(o);
  ASSERT_TRUE(survey.ok()) << survey.status();
  Register("20071021");
  worker::TaskOutput cu3 = Cu3("20071021");
  ASSERT_EQ(cu3.manifest.failures_size(), 1);
  EXPECT_THAT(cu3.manifest.failures(0).message(),
              HasSubstr("w20071021_00004.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3' is not a FITS "
                        "extension type"));
  worker::TaskOutput out = Cu4("20071021");
  std::map<std::string, std::string> failures;
  for (const auto& f : out.manifest.failures()) {
    failures[fs::path(f.path()).filename().string()] = f.message();
  }
  EXPECT_EQ(failures.size(), 4u);
  EXPECT_THAT(failures["w20071021_00008_cat.fits"],
              HasSubstr("w20071021_00008_cat.fits HDU 3: column RA is outside [0, 2pi) radians "
                        "in 5 rows (first row 21: 1e+06)"));
  EXPECT_THAT(failures["w20071021_00007_cat.fits"],
              HasSubstr("w20071021_00007_cat.fits: 8 catalogue tables for the 4 detectors of its "
                        "image w20071021_00007.fit"));
  EXPECT_THAT(failures["w20071021_00005_cat.fits"],
              HasSubstr("w20071021_00005_cat.fits HDU 2: column Sequence_number repeats the "
                        "number 1 in rows 1 and 2"));
  EXPECT_THAT(failures["w20071021_00004_cat.fits"],
              AllOf(HasSubstr("w20071021_00004_cat.fits: its image cannot be read: "),
                    HasSubstr("w20071021_00004.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3'")));
  // The two-table catalogue loads, with a warning naming what is missing,
  // in the batch and in the task's log.
  std::vector<std::string> warnings;
  for (const auto& w : out.manifest.warnings()) {
    if (fs::path(w.path()).filename() == "w20071021_00006_cat.fits") warnings.push_back(w.message());
  }
  EXPECT_THAT(warnings, ::testing::ElementsAre(HasSubstr(
                            "only 2 catalogue tables for the 4 detectors of its image "
                            "w20071021_00006.fit: no detections for HDU 4 (DET3), HDU 5 (DET4)")));
  for (const auto& o2 : IngestAll()) EXPECT_EQ(o2.kind, IK::kIngested) << o2.report;
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND state = 'ingested'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message m JOIN curation.cu_event e USING "
                  "(cu_event_id) WHERE e.cu = 4 AND m.level = 'warning' AND m.path LIKE "
                  "'%w20071021_00006_cat.fits' AND m.message LIKE '%no detections for HDU 4 "
                  "(DET3), HDU 5 (DET4)%'"),
            1);
  // Exactly the good catalogues' rows, counted from what was generated,
  // and the two tables of the short one.
  int64_t expected = 0;
  for (const synth::FileRecord& f : survey->nights[0].files) {
    if (f.is_catalogue && (f.run_number <= 3 || f.run_number == 6)) expected += f.sources;
  }
  const synth::FrameModel six = synth::MakeFrame(o, 0, 6);
  EXPECT_EQ(expected, 3 * 4 * 25 + static_cast<int64_t>(six.detectors[0].stars.size() +
                                                         six.detectors[1].stars.size()));
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), expected);
  EXPECT_EQ(Count("SELECT count(*) FROM detection d JOIN multiframe m USING (multiframe_id) "
                  "WHERE m.file_name = 'w20071021_00006.fit' AND d.ext_num IN (2, 3)"),
            50);
  EXPECT_EQ(Count("SELECT count(*) FROM detection d JOIN multiframe m USING (multiframe_id) "
                  "WHERE m.file_name IN ('w20071021_00004.fit', 'w20071021_00005.fit', "
                  "'w20071021_00007.fit', 'w20071021_00008.fit')"),
            0);
  // Every detection in range, one number per row of a detector.
  EXPECT_EQ(Count("SELECT count(*) FROM detection WHERE ra < 0 OR ra >= 360 OR dec < -90 OR "
                  "dec > 90"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT 1 FROM detection GROUP BY multiframe_id, ext_num, "
                  "seq_num HAVING count(*) > 1) q"),
            0);
}

TEST_F(Cu4IngestTest, OutOfRangePositionsFailTheirCatalogueNotTheNight) {
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 2)).ok());
  {  // 7 radians is 401 degrees: finite, but no RA.
    auto cat = fits::FitsFile::Open(archive_ + "/incoming/20071021/w20071021_00002_cat.fits",
                                    /*read_write=*/true);
    ASSERT_TRUE(cat.ok());
    ASSERT_TRUE(cat->MoveToExtName("DET2").ok());
    const float ra = 7.0f, dec = -2.0f;
    ASSERT_TRUE(cat->WriteColumn(cat->FindColumn("RA")->number, 4, 1, &ra).ok());
    ASSERT_TRUE(cat->MoveToExtName("DET4").ok());
    ASSERT_TRUE(cat->WriteColumn(cat->FindColumn("DEC")->number, 9, 1, &dec).ok());
    ASSERT_TRUE(cat->WriteColumn(cat->FindColumn("DEC")->number, 11, 1, &dec).ok());
    ASSERT_TRUE(cat->Close().ok());
  }
  Register("20071021");
  Cu3("20071021");
  worker::TaskOutput out = Cu4("20071021");
  ASSERT_EQ(out.manifest.failures_size(), 1);
  EXPECT_THAT(out.manifest.failures(0).message(),
              HasSubstr("w20071021_00002_cat.fits HDU 3: column RA is outside [0, 2pi) radians "
                        "in 1 row (first row 5: 7)"));
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[1].kind, IK::kIngested) << outcomes[1].report;
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 4 * 40);  // frame 1
  // The Dec of DET4 is named once DET2 is right again.
  {
    auto cat = fits::FitsFile::Open(archive_ + "/incoming/20071021/w20071021_00002_cat.fits",
                                    /*read_write=*/true);
    ASSERT_TRUE(cat->MoveToExtName("DET2").ok());
    const float ra = 1.0f;
    ASSERT_TRUE(cat->WriteColumn(cat->FindColumn("RA")->number, 4, 1, &ra).ok());
    ASSERT_TRUE(cat->Close().ok());
  }
  out = Cu4("20071021");
  ASSERT_EQ(out.manifest.failures_size(), 1);
  EXPECT_THAT(out.manifest.failures(0).message(),
              HasSubstr("w20071021_00002_cat.fits HDU 5: column DEC is outside [-pi/2, pi/2] "
                        "radians in 2 rows (first row 10: -2)"));
}

TEST_F(Cu4IngestTest, FilesFailingIngestValidationAreLeftOutAndTheRestOfTheBatchLoads) {
  // A batch as another producer or an older worker might hand over: the
  // worker's, edited (its sizes and CRCs kept right) so that frame 2's
  // catalogue has 5 detections with RA outside [0, 360) in HDU 3 (its rows
  // 12..16), frame 3's image has lost its HDU 3 row in multiframe_detector,
  // and the manifest says frame 4's catalogue holds 3 detections more than
  // it does. Frames 1 and 5 are clean. Each of these once quarantined the
  // whole night.
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 5)).ok());
  Register("20071021");
  Cu3("20071021");
  for (const auto& o : IngestAll()) ASSERT_EQ(o.kind, IK::kIngested) << o.report;
  ASSERT_TRUE(conn_->Exec(absl::StrCat("DELETE FROM multiframe_detector WHERE multiframe_id = ",
                                       FrameId(3), " AND ext_num = 3"))
                  .ok());
  worker::TaskOutput out = Cu4("20071021");
  ASSERT_EQ(out.manifest.failures_size(), 0);
  ASSERT_TRUE(testing::EditBatchFile(
                  out.batch_dir, FileOf(out.manifest, FrameId(2)),
                  [](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
                    const int ext = testing::ColumnOf(f, "ext_num"), ra = testing::ColumnOf(f, "ra");
                    int in_hdu = 0;
                    for (auto& row : rows) {
                      if (testing::AsInt16(row[ext]) != 3) continue;
                      if (++in_hdu >= 12 && in_hdu <= 16) row[ra] = testing::Float64Field(1e6);
                    }
                  })
                  .ok());
  {
    v1::Manifest m = *batch::ReadManifest(out.batch_dir);
    for (auto& f : *m.mutable_files()) {
      if (f.multiframe_id() == FrameId(4)) f.set_rows(f.rows() + 3);
    }
    ASSERT_TRUE(batch::WriteManifest(out.batch_dir, m).ok());
  }

  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  EXPECT_EQ(outcomes[0].files_left_out, 3);
  // Exactly frames 1 and 5, whole; every obj_id unique and in the block.
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 40);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM detection WHERE multiframe_id IN (",
                               FrameId(1), ", ", FrameId(5), ")")),
            2 * 4 * 40);
  EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"), 2 * 4 * 40);
  EXPECT_EQ(Count("SELECT count(*) FROM detection d, curation.id_block b WHERE d.obj_id < b.base "
                  "OR d.obj_id >= b.base + b.count"),
            0);
  EXPECT_EQ(Count("SELECT count FROM curation.id_block"), 5 * 4 * 40 + 3);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND state = 'ingested' AND "
                  "rows_per_table->>'detection' = '320'"),
            1);
  // Each bad file named in the batch's failures, by its catalogue's path,
  // with the HDU, the column and what was wrong; and in the ingest's log.
  EXPECT_THAT(FailuresOf("w20071021_00002_cat.fits"),
              ::testing::ElementsAre(
                  "3|ra|w20071021_00002_cat.fits HDU 3: 5 detections with RA outside [0, 360) "
                  "(rows 12..16); its 160 detections are left out"));
  EXPECT_THAT(FailuresOf("w20071021_00003_cat.fits"),
              ::testing::ElementsAre(absl::StrCat(
                  "3|ext_num|w20071021_00003_cat.fits HDU 3: 40 detections of a detector "
                  "multiframe_detector does not have (multiframe ", FrameId(3),
                  ", ext_num 3); its 160 detections are left out")));
  EXPECT_THAT(FailuresOf("w20071021_00004_cat.fits"),
              ::testing::ElementsAre(absl::StrCat(
                  "0||w20071021_00004_cat.fits: ", FileOf(out.manifest, FrameId(4)),
                  " holds 160 detections, but the manifest says 163; its 160 detections are "
                  "left out")));
  EXPECT_EQ(IngestErrorsNaming("w20071021_00002_cat.fits", "%RA outside [0, 360) (rows 12..16)%"), 1);
  EXPECT_EQ(IngestErrorsNaming("w20071021_00003_cat.fits", "%multiframe_detector does not have%"), 1);
  EXPECT_EQ(IngestErrorsNaming("w20071021_00004_cat.fits", "%the manifest says 163%"), 1);
  // The rows the bad files had sent before their first bad row are gone
  // from the partition itself, not just hidden.
  EXPECT_EQ(Count("SELECT count(*) FROM detection WHERE ra < 0 OR ra >= 360"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_inherits WHERE inhparent = 'detection'::regclass"), 1);
}

TEST_F(Cu4IngestTest, AFilePostgresqlRefusesIsLeftOutAndTheRestLoads) {
  // A value the ingester does not judge itself, only PostgreSQL: text that
  // is not UTF-8, in a column the archive has gained. Frame 2's catalogue
  // has it; the copy starts again without that file.
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 3)).ok());
  worker::TaskOutput out = Cu4Batch("20071021");
  ASSERT_TRUE(conn_->Exec("ALTER TABLE detection ADD COLUMN note text").ok());
  for (const auto& file : out.manifest.files()) {
    const bool bad = file.multiframe_id() == FrameId(2);
    ASSERT_TRUE(testing::EditBatchFile(out.batch_dir, file.name(),
                                       [&](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
                                         f.mutable_columns()->Add("cu_event_id");
                                         f.set_columns(f.columns_size() - 2, "note");
                                         for (size_t r = 0; r < rows.size(); ++r) {
                                           rows[r].insert(rows[r].end() - 1,
                                                          bad && r == 7 ? "\xff\xfe" : "fine");
                                         }
                                       })
                    .ok());
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  EXPECT_EQ(outcomes[0].files_left_out, 1);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 40);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM detection WHERE multiframe_id = ", FrameId(2))), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM detection WHERE note = 'fine'"), 2 * 4 * 40);
  std::vector<std::string> failures = FailuresOf("w20071021_00002_cat.fits");
  ASSERT_EQ(failures.size(), 1u);
  EXPECT_THAT(failures[0], HasSubstr(absl::StrCat("w20071021_00002_cat.fits: PostgreSQL refused ",
                                                  FileOf(out.manifest, FrameId(2)), ": ")));
  EXPECT_THAT(failures[0], HasSubstr("invalid byte sequence for encoding \"UTF8\""));
  EXPECT_THAT(failures[0], HasSubstr("its 160 detections are left out"));
  EXPECT_EQ(IngestErrorsNaming("w20071021_00002_cat.fits", "%PostgreSQL refused%"), 1);
}

TEST_F(Cu4IngestTest, ManyFilesPostgresqlRefusesQuarantineTheBatch) {
  // Not one bad file: PostgreSQL refuses every catalogue (text that is not
  // UTF-8 in all of them), so the copy does not start over and over.
  ASSERT_TRUE(synth::GenerateSurvey(Survey(1, 5, 10)).ok());
  worker::TaskOutput out = Cu4Batch("20071021");
  ASSERT_TRUE(conn_->Exec("ALTER TABLE detection ADD COLUMN note text").ok());
  for (const auto& file : out.manifest.files()) {
    ASSERT_TRUE(testing::EditBatchFile(out.batch_dir, file.name(),
                                       [&](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
                                         f.mutable_columns()->Add("cu_event_id");
                                         f.set_columns(f.columns_size() - 2, "note");
                                         for (auto& row : rows) row.insert(row.end() - 1, "\xff");
                                       })
                    .ok());
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kQuarantined);
  EXPECT_THAT(outcomes[0].report, HasSubstr("PostgreSQL refused 4 files of the batch"));
  EXPECT_THAT(outcomes[0].report, HasSubstr("more than one bad file would explain"));
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 0);
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
