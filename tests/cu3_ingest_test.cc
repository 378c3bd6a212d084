// CU3 and the ingester against a real PostgreSQL: registration, header
// metadata equal to what curator-synth wrote, bad input named and the rest
// loaded, idempotent and concurrent ingest, and a SIGKILLed ingester.
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "archive/layout.h"
#include "archive/batch.h"
#include "fits/fits.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "archive/task_log.h"
#include "archive/file_registry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ingester/ingest.h"
#include "synth/survey_generator.h"
#include "tests/support/batch_edit.h"
#include "tests/support/command.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "worker/cu3_task.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using IK = ingester::IngestOutcome::Kind;

class Cu3IngestTest : public testing::PipelineTest {
 protected:
  synth::Options Survey(int nights, int frames) {
    return PipelineTest::Survey(nights, frames, /*sources=*/5, /*size=*/96);
  }
  // Registration, then CU3 as curator-worker runs it.
  worker::TaskOutput Process(const std::string& night) {
    Register(night);
    return Cu3(night);
  }
  int64_t FrameId(int run) {
    return Count(absl::StrFormat("SELECT multiframe_id FROM curation.registered_file WHERE "
                                 "file_name = 'w20071021_%05d.fit'", run));
  }
  // Edits the batch's file for `table`, keeping its manifest right.
  void Edit(const worker::TaskOutput& out, const std::string& table,
            const std::function<void(v1::BatchFile&, std::vector<testing::CopyRow>&)>& edit) {
    for (const auto& f : out.manifest.files()) {
      if (f.table() == table) {
        ASSERT_TRUE(testing::EditBatchFile(out.batch_dir, f.name(), edit).ok()) << table;
        return;
      }
    }
    ADD_FAILURE() << "no file for " << table;
  }
  // curation.batch's failures for the image `name`, as "hdu|item|message".
  std::vector<std::string> FailuresOf(const std::string& name) {
    return BatchFailuresOf(3, "20071021", name);
  }
};

TEST_F(Cu3IngestTest, MigrationsApplyOnceAndRecordTheirVersion) {
  auto again = migrations::Migrate(*conn_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(*migrations::CurrentVersion(*conn_), migrations::Embedded().back().version);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.schema_migration"),
            static_cast<int64_t>(migrations::Embedded().size()));
  // The command applies nothing more.
  testing::CommandResult r =
      testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"), " migrate --db '", conninfo(), "'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("up to date at version"));
}

TEST_F(Cu3IngestTest, RegistrationGivesOneIdPerFileAndReportsChanges) {
  synth::Options o = Survey(1, 3);
  o.defects = {synth::Defect::kOrphanCatalogue};
  Generate(o);
  auto first = archive::RegisterNight(*conn_, archive_, "20071021");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->transfer_complete);
  EXPECT_EQ(first->new_files, 7);  // 3 images, 3 catalogues, 1 orphan catalogue
  std::map<std::string, int64_t> ids;
  for (const auto& f : first->files) ids[f.file_name] = f.multiframe_id;
  // Each catalogue carries its image's multiframe_id; images have distinct ids.
  EXPECT_EQ(ids["w20071021_00001_cat.fits"], ids["w20071021_00001.fit"]);
  EXPECT_EQ(ids["w20071021_00003_cat.fits"], ids["w20071021_00003.fit"]);
  EXPECT_NE(ids["w20071021_00001.fit"], ids["w20071021_00002.fit"]);
  EXPECT_EQ(ids["w20071021_00004_cat.fits"], 0);  // the orphan
  EXPECT_THAT(first->problems,
              UnorderedElementsAre(HasSubstr("w20071021_00004_cat.fits: catalogue without an image")));

  auto second = archive::RegisterNight(*conn_, archive_, "20071021");
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->new_files, 0);
  for (const auto& f : second->files) EXPECT_EQ(f.multiframe_id, ids[f.file_name]) << f.file_name;

  // The image of frame 2 changes after registration: reported, same id.
  const std::string changed = archive_ + "/incoming/20071021/w20071021_00002.fit";
  { std::ofstream(changed, std::ios::app) << "more bytes"; }
  auto third = archive::RegisterNight(*conn_, archive_, "20071021");
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->new_files, 0);
  bool reported = false;
  for (const std::string& p : third->problems) reported |= p.find("w20071021_00002.fit: changed") != std::string::npos;
  EXPECT_TRUE(reported);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.registered_file"), 7);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.file_change fc JOIN curation.registered_file f "
                  "USING (file_id) WHERE f.file_name = 'w20071021_00002.fit'"),
            1);
  // The image arriving late links the orphan catalogue to it.
  fs::copy_file(archive_ + "/incoming/20071021/w20071021_00001.fit",
                archive_ + "/incoming/20071021/w20071021_00004.fit");
  auto fourth = archive::RegisterNight(*conn_, archive_, "20071021");
  ASSERT_TRUE(fourth.ok());
  EXPECT_EQ(Count("SELECT count(*) FROM curation.registered_file c JOIN curation.registered_file i "
                  "USING (multiframe_id) WHERE c.file_name = 'w20071021_00004_cat.fits' AND "
                  "i.file_name = 'w20071021_00004.fit'"),
            1);
}

TEST_F(Cu3IngestTest, TwoNightsLandFieldByFieldAsWritten) {
  synth::Options o = Survey(2, 3);
  o.compression = fits::Compression::kRice;  // ZNAXISn, ZBITPIX path
  o.bitpix = 32;
  Generate(o);
  for (const char* night : {"20071021", "20071022"}) {
    worker::TaskOutput out = Process(night);
    EXPECT_EQ(out.manifest.failures_size(), 0);
    EXPECT_EQ(out.manifest.warnings_size(), 0);
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  for (const auto& oc : outcomes) EXPECT_EQ(oc.kind, IK::kIngested) << oc.report;

  pqxx::connection c(conninfo());
  pqxx::work tx(c);
  int checked = 0;
  for (int night = 0; night < 2; ++night) {
    for (int run = 1; run <= 3; ++run) {
      const synth::FrameModel f = synth::MakeFrame(o, night, run);
      pqxx::row r = tx.exec1(
          "SELECT multiframe_id, cat_name, night::text, frame_type, telescope, instrument, "
          "project, survey, object, obs_type, filter_name, ut_date::text, "
          "to_char(date_obs, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'), mjd_obs, exp_time, ra_base, "
          "dec_base, run_id, obs_num, am_start, num_detectors FROM multiframe WHERE file_name = " +
          tx.quote(f.image_name));
      EXPECT_EQ(r[1].as<std::string>(), f.catalogue_name);
      EXPECT_EQ(r[2].as<std::string>(), absl::StrFormat("%s-%s-%s", f.night.substr(0, 4),
                                                         f.night.substr(4, 2), f.night.substr(6, 2)));
      EXPECT_EQ(r[3].as<std::string>(), "normal");
      EXPECT_EQ(r[4].as<std::string>(), "UKIRT");
      EXPECT_EQ(r[5].as<std::string>(), "WFCAM");
      EXPECT_EQ(r[6].as<std::string>(), f.project);
      EXPECT_EQ(r[7].as<std::string>(), f.survey);
      EXPECT_EQ(r[8].as<std::string>(), f.object);
      EXPECT_EQ(r[9].as<std::string>(), f.obs_type);
      EXPECT_EQ(r[10].as<std::string>(), f.filter);
      EXPECT_EQ(r[11].as<std::string>().substr(0, 4), f.ut_date.substr(0, 4));
      EXPECT_EQ(r[12].as<std::string>(), f.date_obs);
      // Doubles exactly: header to column without loss.
      EXPECT_EQ(r[13].as<double>(), f.mjd_obs);
      EXPECT_EQ(r[14].as<double>(), f.exp_time);
      EXPECT_EQ(r[15].as<double>(), f.ra_base);
      EXPECT_EQ(r[16].as<double>(), f.dec_base);
      EXPECT_EQ(r[17].as<std::string>(), f.run_id);
      EXPECT_EQ(r[18].as<int>(), run);
      EXPECT_EQ(r[19].as<double>(), f.am_start);
      EXPECT_EQ(r[20].as<int>(), 4);
      const int64_t id = r[0].as<int64_t>();
      for (const synth::DetectorModel& d : f.detectors) {
        pqxx::row dr = tx.exec1(absl::StrCat(
            "SELECT cam_num, device_id, image_ext_name, bits_per_pix, tile_compressed, "
            "data_scale, data_zero, axis1_length, axis2_length, ctype1, ctype2, crval1, crval2, "
            "crpix1, crpix2, cd1_1, cd1_2, cd2_1, cd2_2, pv2_1, pv2_3, seeing, sky_level, "
            "sky_noise, mag_zpt, gain, comp_file IS NULL FROM multiframe_detector WHERE "
            "multiframe_id = ", id, " AND ext_num = ", d.cam_num + 1));
        EXPECT_EQ(dr[0].as<int>(), d.cam_num);
        EXPECT_EQ(dr[1].as<std::string>(), d.detect_id);
        EXPECT_EQ(dr[2].as<std::string>(), d.extname);
        EXPECT_EQ(dr[3].as<int>(), 32);
        EXPECT_TRUE(dr[4].as<bool>());
        EXPECT_EQ(dr[5].as<double>(), 1.0);
        EXPECT_EQ(dr[6].as<double>(), 0.0);
        EXPECT_EQ(dr[7].as<int>(), 96);
        EXPECT_EQ(dr[8].as<int>(), 96);
        EXPECT_EQ(dr[9].as<std::string>(), "RA---ZPN");
        EXPECT_EQ(dr[10].as<std::string>(), "DEC--ZPN");
        EXPECT_EQ(dr[11].as<double>(), d.wcs.crval1);
        EXPECT_EQ(dr[12].as<double>(), d.wcs.crval2);
        EXPECT_EQ(dr[13].as<double>(), d.wcs.crpix1);
        EXPECT_EQ(dr[14].as<double>(), d.wcs.crpix2);
        EXPECT_EQ(dr[15].as<double>(), d.wcs.cd1_1);
        EXPECT_EQ(dr[16].as<double>(), d.wcs.cd1_2);
        EXPECT_EQ(dr[17].as<double>(), d.wcs.cd2_1);
        EXPECT_EQ(dr[18].as<double>(), d.wcs.cd2_2);
        EXPECT_EQ(dr[19].as<double>(), 1.0);
        EXPECT_EQ(dr[20].as<double>(), 220.0);
        EXPECT_EQ(dr[21].as<double>(), d.seeing);
        EXPECT_EQ(dr[22].as<double>(), d.sky_level);
        EXPECT_EQ(dr[23].as<double>(), d.sky_noise);
        EXPECT_EQ(dr[24].as<double>(), d.mag_zpt);
        EXPECT_EQ(dr[25].as<double>(), d.gain);
        EXPECT_TRUE(dr[26].as<bool>());
        ++checked;
      }
      // Every header card of the file, as CFITSIO reads it; those of a
      // tile-compressed detector as its image's header has them.
      auto file = fits::FitsFile::Open(archive_ + "/incoming/" + f.night + "/" + f.image_name);
      ASSERT_TRUE(file.ok());
      int64_t cards = 0;
      for (int hdu = 1; hdu <= 5; ++hdu) {
        ASSERT_TRUE(file->MoveToHdu(hdu).ok());
        cards += fits::ImageCards(*file->ReadCards()).size();
      }
      EXPECT_EQ(tx.exec1(absl::StrCat("SELECT count(*) FROM multiframe_header_card WHERE "
                                      "multiframe_id = ", id, " AND keyword IN ('ZIMAGE', "
                                      "'ZCMPTYPE', 'TTYPE1', 'TFORM1', 'ZBITPIX', 'TFIELDS')"))[0]
                    .as<int64_t>(),
                0);
      EXPECT_EQ(tx.exec1(absl::StrCat("SELECT count(*) FROM multiframe_header_card WHERE "
                                      "multiframe_id = ", id, " AND hdu > 1 AND ((keyword = "
                                      "'XTENSION' AND value = 'IMAGE') OR (keyword = 'NAXIS1' "
                                      "AND value::int > 8))"))[0]
                    .as<int64_t>(),
                8);
      EXPECT_EQ(tx.exec1(absl::StrCat("SELECT count(*) FROM multiframe_header_card WHERE "
                                      "multiframe_id = ", id))[0].as<int64_t>(), cards);
      EXPECT_EQ(tx.exec1(absl::StrCat("SELECT value FROM multiframe_header_card WHERE "
                                      "multiframe_id = ", id, " AND hdu = 1 AND keyword = 'OBJECT'"))[0]
                    .as<std::string>(),
                f.object);
    }
  }
  EXPECT_EQ(checked, 24);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM multiframe")[0].as<int>(), 6);
  // Every row carries the processing event that wrote it, and the batch
  // records its ingest with timings.
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM multiframe m JOIN curation.cu_event e USING "
                     "(cu_event_id) WHERE e.kind = 'process' AND e.cu = 3 AND e.status = 'done'")[0]
                .as<int>(),
            6);
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM curation.batch WHERE state = 'ingested' AND "
                     "copy_ms > 0 AND publish_ms > 0 AND ingest_event_id IS NOT NULL")[0]
                .as<int>(),
            2);
  EXPECT_TRUE(fs::exists(archive_ + "/ingested/20071021/" + outcomes[0].batch_id + "/manifest.json"));
  EXPECT_FALSE(fs::exists(archive_ + "/staging/20071021/" + outcomes[0].batch_id));
}

TEST_F(Cu3IngestTest, BadFilesAreNamedWithReasonsAndTheRestLoads) {
  synth::Options o = Survey(1, 16);
  o.defects = synth::AllDefects();
  Generate(o);
  worker::TaskOutput out = Process("20071021");
  std::vector<std::string> failures;
  for (const auto& f : out.manifest.failures()) failures.push_back(f.message());
  // Frame 16 truncated, 18 a copy of 1; frames 3..5 have headers CU3
  // cannot take (a BITPIX of 13, 2000000000^2 pixels, a garbage XTENSION).
  EXPECT_THAT(failures,
              UnorderedElementsAre(
                  HasSubstr("w20071021_00016.fit: truncated: the file has"),
                  HasSubstr("w20071021_00018.fit: duplicate of w20071021_00001.fit"),
                  HasSubstr("w20071021_00003.fit HDU 3 (DET2): BITPIX = 13 is not a FITS data "
                            "type"),
                  HasSubstr("w20071021_00004.fit HDU 5 (DET4): NAXIS1 x NAXIS2 = 2000000000 x "
                            "2000000000 = 4e+18 pixels, more than the limit of 268435456"),
                  HasSubstr("w20071021_00005.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3' is not a "
                            "FITS extension type")));
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  // Frames 1, 2 and 6..15 load, including those with keyword problems.
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 12);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE file_name IN ('w20071021_00016.fit', "
                  "'w20071021_00018.fit', 'w20071021_00003.fit', 'w20071021_00004.fit', "
                  "'w20071021_00005.fit')"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector"), 12 * 4);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE file_name = 'w20071021_00014.fit' AND "
                  "mjd_obs IS NULL AND exp_time IS NOT NULL"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE file_name = 'w20071021_00013.fit' AND "
                  "exp_time IS NULL"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector d JOIN multiframe m USING "
                  "(multiframe_id) WHERE m.file_name = 'w20071021_00014.fit' AND d.ext_num = 3 "
                  "AND d.mag_zpt IS NULL"),
            1);
  // The log names file, HDU and keyword; the batch keeps its failures.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message WHERE level = 'warning' AND "
                  "path LIKE '%w20071021_00014.fit' AND hdu = 1 AND item = 'MJD-OBS'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message WHERE level = 'warning' AND "
                  "path LIKE '%w20071021_00014.fit' AND hdu = 3 AND item = 'MAGZPT'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message WHERE level = 'warning' AND "
                  "item = 'EXPTIME' AND message LIKE '%''ten seconds'', expected a number%'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message WHERE level = 'error' AND "
                  "message LIKE '%truncated%'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message WHERE level = 'error'"), 5);
  EXPECT_EQ(Count("SELECT jsonb_array_length(failures) FROM curation.batch"), 5);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.file_log f JOIN curation.step_log s USING "
                  "(step_id) WHERE s.step = 'read headers'"),
            17);
}

TEST_F(Cu3IngestTest, ImagesWithABadZbitpixOrGarbageXtensionFailNamed) {
  // Rice-compressed detectors: frame 4's DET2 says ZBITPIX = 13 (CFITSIO
  // takes it), frame 3's DET3 has a garbage XTENSION card, frame 2's DET4
  // 2000000000^2 pixels in ZNAXISn; frame 1 is clean.
  synth::Options o = Survey(1, 4);
  o.compression = fits::Compression::kRice;
  o.bitpix = 32;
  o.defects = {synth::Defect::kBadZbitpix, synth::Defect::kGarbageXtension,
               synth::Defect::kHugeImage};
  Generate(o);
  worker::TaskOutput out = Process("20071021");
  std::map<std::string, std::string> failures;
  for (const auto& f : out.manifest.failures()) {
    failures[fs::path(f.path()).filename().string()] = f.message();
  }
  ASSERT_EQ(failures.size(), 3u);
  EXPECT_THAT(failures["w20071021_00004.fit"],
              HasSubstr("w20071021_00004.fit HDU 3 (DET2): ZBITPIX = 13 is not a FITS data type "
                        "(8, 16, 32, 64, -32 or -64)"));
  EXPECT_THAT(failures["w20071021_00003.fit"],
              HasSubstr("w20071021_00003.fit HDU 4 (DET3): XTENSION = 'IM@G#~ 3' is not a FITS "
                        "extension type"));
  EXPECT_THAT(failures["w20071021_00002.fit"],
              HasSubstr("w20071021_00002.fit HDU 5 (DET4): ZNAXIS1 x ZNAXIS2 = 2000000000 x "
                        "2000000000"));
  for (const auto& in : out.manifest.inputs()) {
    EXPECT_EQ(in.errors(), fs::path(in.path()).filename() == "w20071021_00001.fit" ? 0 : 1)
        << in.path();
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  // Only frame 1, whole; no row says 13 bits a pixel.
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector WHERE bits_per_pix = 32"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector WHERE bits_per_pix NOT IN (8, 16, "
                  "32, 64, -32, -64)"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.log_message WHERE level = 'error' AND path LIKE "
                  "'%w20071021_00004.fit' AND message LIKE '%ZBITPIX = 13%'"),
            1);
}

TEST_F(Cu3IngestTest, AMultiframeFailingIngestValidationIsLeftOutOfEveryTable) {
  // A batch as another producer or an older worker might hand over: the
  // worker's, edited (sizes and CRCs kept right) so that frame 2's RA_BASE
  // is 400 degrees, frame 3's header has one card twice, and frame 4 has
  // lost its HDU 5 detector row (so 4 detectors, 3 rows). Frame 1 is clean.
  // Each of these once quarantined the whole night.
  Generate(Survey(1, 4));
  worker::TaskOutput out = Process("20071021");
  ASSERT_EQ(out.manifest.failures_size(), 0);
  const int64_t f2 = FrameId(2), f3 = FrameId(3), f4 = FrameId(4);
  Edit(out, "multiframe", [&](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
    const int id = testing::ColumnOf(f, "multiframe_id"), ra = testing::ColumnOf(f, "ra_base");
    for (auto& row : rows) {
      if (testing::AsInt64(row[id]) == f2) row[ra] = testing::Float64Field(400);
    }
  });
  Edit(out, "multiframe_header_card", [&](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
    const int id = testing::ColumnOf(f, "multiframe_id"), hdu = testing::ColumnOf(f, "hdu");
    for (size_t r = 0; r < rows.size(); ++r) {
      if (testing::AsInt64(rows[r][id]) == f3 && testing::AsInt16(rows[r][hdu]) == 2) {
        rows.insert(rows.begin() + r, rows[r]);
        return;
      }
    }
  });
  Edit(out, "multiframe_detector", [&](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
    const int id = testing::ColumnOf(f, "multiframe_id"), ext = testing::ColumnOf(f, "ext_num");
    std::erase_if(rows, [&](const testing::CopyRow& row) {
      return testing::AsInt64(row[id]) == f4 && testing::AsInt16(row[ext]) == 5;
    });
  });
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested) << outcomes[0].report;
  EXPECT_EQ(outcomes[0].files_left_out, 3);
  // Frame 1 only, in all three tables.
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE file_name = 'w20071021_00001.fit'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector"), 4);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM multiframe_detector WHERE multiframe_id = ",
                               FrameId(1))),
            4);
  EXPECT_GT(Count("SELECT count(*) FROM multiframe_header_card"), 0);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM multiframe_header_card WHERE multiframe_id "
                               "<> ", FrameId(1))),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 3 AND state = 'ingested' AND "
                  "(rows_per_table->>'multiframe')::int = 1"),
            1);
  // Each left out by its image's path, with the HDU, keyword or column,
  // and why; and in the ingest's log.
  EXPECT_THAT(FailuresOf("w20071021_00002.fit"),
              ::testing::ElementsAre(::testing::AllOf(
                  ::testing::StartsWith(absl::StrCat(
                      "1|ra_base|w20071021_00002.fit HDU 1: multiframe: key ", f2,
                      " has ra_base = 400, outside [0, 360); its rows are left out (1 multiframe, "
                      "4 multiframe_detector, ")),
                  ::testing::EndsWith(" multiframe_header_card)"))));
  EXPECT_THAT(FailuresOf("w20071021_00003.fit"),
              ::testing::ElementsAre(::testing::StartsWith(absl::StrCat(
                  "2||w20071021_00003.fit HDU 2: multiframe_header_card: key ", f3,
                  "/2/1 appears 2 times in the batch; its rows are left out (1 multiframe, 4 "
                  "multiframe_detector, "))));
  EXPECT_THAT(FailuresOf("w20071021_00004.fit"),
              ::testing::ElementsAre(::testing::StartsWith(absl::StrCat(
                  "0|num_detectors|w20071021_00004.fit: multiframe_id ", f4,
                  " has 4 detectors but 3 detector rows; its rows are left out (1 multiframe, 3 "
                  "multiframe_detector, "))));
  for (const char* name : {"w20071021_00002.fit", "w20071021_00003.fit", "w20071021_00004.fit"}) {
    EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM curation.log_message m JOIN "
                                 "curation.cu_event e USING (cu_event_id) WHERE e.cu = 3 AND "
                                 "e.kind = 'ingest' AND m.level = 'error' AND m.path = '",
                                 archive_, "/incoming/20071021/", name,
                                 "' AND m.message LIKE '%its rows are left out%'")),
              1)
        << name;
  }
}

TEST_F(Cu3IngestTest, AProblemOfNoOneMultiframeStillQuarantinesTheBatch) {
  // A NULL multiframe_id names no file to leave out: the batch is broken.
  Generate(Survey(1, 2));
  worker::TaskOutput out = Process("20071021");
  Edit(out, "multiframe_detector", [&](v1::BatchFile& f, std::vector<testing::CopyRow>& rows) {
    rows[0][testing::ColumnOf(f, "multiframe_id")] = std::nullopt;
  });
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, IK::kQuarantined);
  EXPECT_THAT(outcomes[0].report,
              HasSubstr("multiframe_detector: 1 rows have no multiframe_id (NOT NULL)"));
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 0);
}

TEST_F(Cu3IngestTest, IngestingAgainChangesNothing) {
  Generate(Survey(1, 3));
  worker::TaskOutput out = Process("20071021");
  ASSERT_EQ(IngestAll()[0].kind, IK::kIngested);
  const int64_t rows = Count("SELECT count(*) FROM multiframe_header_card");
  // The task runs again: the same batch id, which the ingester knows.
  worker::TaskOutput again = Process("20071021");
  EXPECT_EQ(again.manifest.batch_id(), out.manifest.batch_id());
  auto second = IngestAll();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].kind, IK::kAlreadyIngested);
  // And the ingested batch copied back into staging by hand.
  fs::create_directories(archive_ + "/staging/20071021");
  fs::copy(archive_ + "/ingested/20071021/" + out.manifest.batch_id(),
           archive_ + "/staging/20071021/" + out.manifest.batch_id());
  EXPECT_EQ(IngestAll()[0].kind, IK::kAlreadyIngested);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_header_card"), rows);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'ingest'"), 1);
}

TEST_F(Cu3IngestTest, CorruptOrInconsistentBatchesAreQuarantinedWithAReport) {
  Generate(Survey(2, 2));
  worker::TaskOutput a = Process("20071021");
  worker::TaskOutput b = Process("20071022");
  {  // flip a byte of night 1's detector file: the CRC no longer matches
    std::fstream f(a.batch_dir + "/multiframe_detector.pgcopy", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(40);
    f.put('\x7f');
  }
  {  // night 2's manifest claims a row more than its file has
    v1::Manifest m = *batch::ReadManifest(b.batch_dir);
    m.mutable_files(0)->set_rows(m.files(0).rows() + 1);
    ASSERT_TRUE(batch::WriteManifest(b.batch_dir, m).ok());
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].kind, IK::kQuarantined);
  EXPECT_THAT(outcomes[0].report, HasSubstr("multiframe_detector.pgcopy: CRC-32C"));
  EXPECT_EQ(outcomes[1].kind, IK::kQuarantined);
  EXPECT_THAT(outcomes[1].report, HasSubstr("multiframe.pgcopy: 2 rows, the manifest says 3"));
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE state = 'quarantined' AND report "
                  "LIKE '%2 rows, the manifest says 3%'"),
            1);
  const std::string report = testing::ReadFileToString(
      archive_ + "/quarantine/20071022/" + b.manifest.batch_id() + "/REPORT.txt");
  EXPECT_THAT(report, HasSubstr("was quarantined"));
  EXPECT_THAT(report, HasSubstr("the manifest says 3"));
  EXPECT_FALSE(fs::exists(b.batch_dir));
}

TEST_F(Cu3IngestTest, ManifestPathsOutsideTheBatchAreRefused) {
  Generate(Survey(2, 1));
  worker::TaskOutput a = Process("20071021");
  worker::TaskOutput b = Process("20071022");
  // A manifest that would read a file outside its batch, by ../ or by an
  // absolute path: refused by name, before anything is read or loaded.
  const std::pair<const worker::TaskOutput*, std::string> spoiled[] = {
      {&a, "../../../../etc/passwd"}, {&b, "/etc/passwd"}};
  for (const auto& [out, name] : spoiled) {
    v1::Manifest m = *batch::ReadManifest(out->batch_dir);
    m.mutable_files(0)->set_name(name);
    ASSERT_TRUE(batch::WriteManifest(out->batch_dir, m).ok());
  }
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(outcomes[i].kind, IK::kQuarantined);
    EXPECT_THAT(outcomes[i].report,
                HasSubstr(absl::StrCat("file name '", spoiled[i].second, "' is not allowed")));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 0);
}

TEST_F(Cu3IngestTest, OtherCusWaitForTheNightsCu3Ingest) {
  Generate(Survey(1, 2));
  worker::TaskOutput out = Process("20071021");
  // A CU2 batch (no files yet) arrives first.
  const std::string cu2 = archive_ + "/staging/20071021/20071021-cu2-00000000";
  fs::create_directories(cu2);
  v1::Manifest m;
  m.set_format_version(batch::kFormatVersion);
  m.set_batch_id("20071021-cu2-00000000");
  m.set_cu(v1::CU2);
  m.set_night("20071021");
  ASSERT_TRUE(batch::WriteManifest(cu2, m).ok());
  ingester::Ingester loader(conn_.get(), ingester::DefaultIngestOptions(archive_));
  auto waiting = loader.IngestBatch(cu2);
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(waiting->kind, IK::kWaiting);
  EXPECT_THAT(waiting->report, HasSubstr("waiting for the CU3 ingest of night 20071021"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE state = 'waiting' AND cu = 2"), 1);
  EXPECT_TRUE(fs::exists(cu2 + "/manifest.json"));
  // Once CU3 is in, the CU2 batch moves on (to its own checks).
  auto outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_EQ(outcomes[0].kind, IK::kIngested);  // CU3 is taken first
  EXPECT_NE(outcomes[1].kind, IK::kWaiting);
}

TEST_F(Cu3IngestTest, TwoIngestersAtOnceLoadEachBatchOnce) {
  Generate(Survey(4, 3));
  for (const char* n : {"20071021", "20071022", "20071023", "20071024"}) Process(n);
  std::vector<testing::Process> ingesters;
  for (int i = 0; i < 2; ++i) {
    auto p = testing::Process::Start({Bin("ingester/curator-ingester"), "--once", "--archive",
                                      archive_, "--db", conninfo()},
                                     archive_dir_.Join(absl::StrCat("ingester", i, ".log")));
    ASSERT_TRUE(p.ok()) << p.status();
    ingesters.push_back(*std::move(p));
  }
  for (auto& p : ingesters) {
    auto code = p.Wait(absl::Seconds(60));
    ASSERT_TRUE(code.has_value());
    EXPECT_EQ(*code, 0) << p.Log();
  }
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 12);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE state = 'ingested'"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'ingest' AND status = 'done'"), 4);
  EXPECT_EQ(Count("SELECT count(*) FROM (SELECT 1 FROM multiframe_header_card GROUP BY "
                  "multiframe_id, hdu, card_num HAVING count(*) > 1) d"),
            0);
  // Nothing left in staging, not even the night's empty directory.
  EXPECT_FALSE(fs::exists(archive_ + "/staging/20071021"));
}

TEST_F(Cu3IngestTest, SigkillMidBatchThenRestartLoadsItExactlyOnce) {
  Generate(Survey(1, 3));
  worker::TaskOutput out = Process("20071021");
  // It copies, validates and publishes, then is killed before COMMIT;
  // PostgreSQL rolls the transaction back once it sees the client gone.
  KillIngesterBeforeCommit();
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch"), 0);
  EXPECT_TRUE(fs::exists(out.batch_dir + "/manifest.json"));

  testing::CommandResult again = testing::RunCommand(absl::StrCat(
      Bin("ingester/curator-ingester"), " --once --archive ", archive_, " --db '", conninfo(), "'"));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr(out.manifest.batch_id()));
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'ingest'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe_detector"), 12);
}

TEST_F(Cu3IngestTest, CommandsRunTheWholeNightByHand) {
  Generate(Survey(1, 3));
  const std::string site = absl::StrCat(" --archive ", archive_, " --db '", conninfo(), "'");
  testing::CommandResult r = testing::RunCommand(Bin("daemon/curatorctl") + " register --all" + site);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("20071021  3 images, 3 catalogues, 6 newly registered"));
  // A malformed night is bad usage; a night with no directory is refused.
  r = testing::RunCommand(Bin("daemon/curatorctl") + " register 2007" + site);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("'2007' is not a night (YYYYMMDD)"));
  r = testing::RunCommand(Bin("daemon/curatorctl") + " register 20990101" + site);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("no such night directory"));
  r = testing::RunCommand(Bin("worker/curator-worker") + " run --cu 3 --night 20071021" + site);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("3 files read, 0 failed"));
  // The daemon form of the ingester: polls, loads, stops on SIGTERM.
  auto daemon = testing::Process::Start({Bin("ingester/curator-ingester"), "--archive", archive_,
                                         "--db", conninfo()},
                                        archive_dir_.Join("ingester.log"));
  ASSERT_TRUE(daemon.ok());
  EXPECT_TRUE(testing::WaitUntil([&] { return Count("SELECT count(*) FROM multiframe") == 3; },
                                 absl::Seconds(30)))
      << daemon->Log();
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(absl::Seconds(30)), 0) << daemon->Log();
  EXPECT_THAT(daemon->Log(), HasSubstr("stopped after 1 batches"));
  // Bad usage is told apart from failure.
  r = testing::RunCommand(Bin("worker/curator-worker") + " run --cu 3 --night 2007" + site);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("--night must be YYYYMMDD"));
  r = testing::RunCommand(Bin("worker/curator-worker") + " run --cu 3 --night 20080101" + site);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.output, HasSubstr("no registered images"));
  r = testing::RunCommand(Bin("ingester/curator-ingester") + " --once --archive " + archive_ +
                          " --db 'host=/nonexistent dbname=x'");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.output, HasSubstr("cannot connect to PostgreSQL"));
}

}  // namespace
}  // namespace curator
