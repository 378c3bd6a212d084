// CU5: sources cross-matched from the detections of a revisited sky, in
// the real pipeline (CU3, CU4 and CU5 batches ingested into a real
// PostgreSQL), checked against the generator's truth, against STILTS, and
// for the same result whatever reruns the nights or whichever workers ran
// them.
#include <signal.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/stilts.h"
#include "worker/zones_match.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

class Cu5Test : public testing::ClusterTest {
 protected:
  // `nights` nights observing the same two fields in Y, J, H and K, so
  // every night after the first revisits the sources of the nights before.
  synth::Options Revisits(int nights, int sources = 100) {
    synth::Options o = Survey(nights, 8, sources, 256);
    o.sky = synth::SkyMode::kRevisit;
    o.fields = 2;
    o.bands = "YJHK";
    return o;
  }

  // The night registered and its CU3 and CU4 ingested: its detections in
  // the archive, ready for CU5.
  void LoadDetections(const std::string& night) {
    Register(night);
    Cu3(night);
    Cu4(night);
    IngestAll();
  }

  // Every night of `o` registered, its CU3 and CU4 ingested, then its CU5
  // ingested, nights in order.
  void RunNights(const synth::Options& o, int threads = 2) {
    Generate(o);
    for (int n = 0; n < o.nights; ++n) {
      const std::string night = synth::NightName(o, n);
      LoadDetections(night);
      Cu5(night, 1.0, threads);
      for (const ingester::IngestOutcome& out : IngestAll()) {
        EXPECT_EQ(out.kind, ingester::IngestOutcome::Kind::kIngested)
            << out.batch_id << ": " << out.report;
      }
    }
  }

  std::string Digest() {
    auto r = conn_->Exec(
        "SELECT coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') FROM "
        "(SELECT concat_ws('|', "
        "m.file_name, d.ext_num, d.seq_num, fm.file_name, fd.ext_num, "
        "fd.seq_num, "
        "round(l.separation::numeric, 4)) x FROM source_detection l JOIN "
        "detection d USING "
        "(obj_id) JOIN multiframe m USING (multiframe_id) JOIN detection fd ON "
        "fd.obj_id = "
        "l.source_id JOIN multiframe fm ON fm.multiframe_id = "
        "fd.multiframe_id) q");
    EXPECT_TRUE(r.ok()) << r.status();
    auto s = conn_->Exec(
        "SELECT coalesce(md5(string_agg(x, E'\\n' ORDER BY x)), '') FROM "
        "(SELECT concat_ws('|', "
        "fm.file_name, fd.ext_num, fd.seq_num, round(s.ra::numeric, 9), "
        "round(s.dec::numeric, 9), "
        "round(s.pos_err::numeric, 3), s.n_detections, s.n_epochs, s.n_bands, "
        "s.first_mjd, "
        "s.last_mjd, s.z_n, s.y_n, s.j_n, s.h_n, s.k_n, "
        "round(s.j_mag::numeric, 3), "
        "round(s.k_mag_rms::numeric, 3), s.first_night) x FROM source s JOIN "
        "detection fd ON "
        "fd.obj_id = s.source_id JOIN multiframe fm ON fm.multiframe_id = "
        "fd.multiframe_id) q");
    EXPECT_TRUE(s.ok()) << s.status();
    return r.ok() && s.ok() ? absl::StrCat(r->Get(0, 0), "/", s->Get(0, 0))
                            : "";
  }
};

TEST_F(Cu5Test,
       EveryDetectionIsLinkedAndEachNightMatchesTheSourcesOfTheNightsBefore) {
  synth::Options o = Revisits(3);
  RunNights(o);
  const int64_t detections = Count("SELECT count(*) FROM detection");
  ASSERT_GT(detections, 0);
  // Every detection has exactly one source, and every source its links.
  EXPECT_EQ(Count("SELECT count(*) FROM source_detection"), detections);
  EXPECT_EQ(
      Count("SELECT count(*) FROM detection d WHERE NOT EXISTS (SELECT 1 FROM "
            "source_detection l WHERE l.obj_id = d.obj_id)"),
      0);
  EXPECT_EQ(Count("SELECT count(*) FROM source s WHERE n_detections <> (SELECT "
                  "count(*) FROM "
                  "source_detection l WHERE l.source_id = s.source_id)"),
            0);
  EXPECT_EQ(Count("SELECT sum(n_detections) FROM source"), detections);
  // Every link is within the radius of its source as matched, and no
  // source has two detections of one multiframe.
  EXPECT_EQ(
      Count("SELECT count(*) FROM source_detection WHERE separation > 1.0"), 0);
  EXPECT_EQ(
      Count("SELECT count(*) FROM (SELECT l.source_id, d.multiframe_id FROM "
            "source_detection l JOIN detection d USING (obj_id) GROUP BY 1, 2 "
            "HAVING "
            "count(*) > 1) q"),
      0);
  // A source's id is the obj_id of the detection that founded it, of the
  // night it names.
  EXPECT_EQ(
      Count(
          "SELECT count(*) FROM source s JOIN source_detection l ON l.obj_id = "
          "s.source_id AND l.source_id = s.source_id AND l.night = "
          "s.first_night"),
      Count("SELECT count(*) FROM source"));
  // The nights' summaries add up.
  EXPECT_EQ(Count("SELECT sum(detections) FROM source_night"), detections);
  EXPECT_EQ(Count("SELECT sum(new_sources) FROM source_night"),
            Count("SELECT count(*) FROM source"));
  EXPECT_EQ(Count("SELECT count(*) FROM source_night"), 3);
  // Nights after the first find most of their detections' sources there.
  EXPECT_GT(
      Count("SELECT updated_sources FROM source_night ORDER BY night OFFSET 2"),
      Count("SELECT new_sources FROM source_night ORDER BY night OFFSET 2"));
  EXPECT_EQ(
      Count("SELECT updated_sources FROM source_night ORDER BY night LIMIT 1"),
      0);
}

TEST_F(Cu5Test, RunningANightAgainChangesNothing) {
  synth::Options o = Revisits(2);
  RunNights(o);
  const std::string before = Digest();
  ASSERT_FALSE(before.empty());
  const std::string night = synth::NightName(o, 0);
  Cu5(night, 1.0, 2, {1, {}});
  const std::vector<ingester::IngestOutcome> outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, ingester::IngestOutcome::Kind::kIngested)
      << outcomes[0].report;
  EXPECT_EQ(Digest(), before);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 5 AND state "
                  "= 'ingested' AND "
                  "rows_per_table->>'source_detection' = '0'"),
            1);
}

// The daemon runs CU5 after each night's CU4 ingest and the nights' CU5s
// in date order, whichever of two workers takes them; the sources equal
// those of one process matching the nights in order on one thread.
TEST_F(Cu5Test, TwoWorkersMakeTheSourcesOneThreadMakesInNightOrder) {
  synth::Options o = Revisits(3);
  Generate(o);
  extra_config_ = "cross_match { enabled: true radius_arcsec: 1 }\n";
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  testing::Process w2 = Worker("w2");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(3 * 4, absl::Seconds(120)))
      << daemon.Log() << ingester.Log();
  // Each night's CU5 started after its CU4 and the previous night's CU5
  // were in.
  EXPECT_EQ(
      Count(
          "SELECT count(*) FROM curation.task t JOIN curation.task_attempt a "
          "USING "
          "(task_id) WHERE t.cu = 5 AND a.started_at > (SELECT "
          "b.ingest_finished_at FROM "
          "curation.batch b WHERE b.night = t.night AND b.cu = 4 AND b.state = "
          "'ingested') AND a.started_at > coalesce((SELECT "
          "max(b.ingest_finished_at) FROM "
          "curation.batch b WHERE b.night < t.night AND b.cu = 5), "
          "'-infinity')"),
      3);
  testing::CommandResult nights = Ctl("nights");
  ASSERT_EQ(nights.exit_code, 0) << nights.output;
  EXPECT_THAT(nights.output, HasSubstr("CU5 ingested"));
  EXPECT_THAT(nights.output,
              ::testing::ContainsRegex("sources: [0-9]+ new, [0-9]+ updated, "
                                       "[0-9]+ unmatched"));
  for (testing::Process* p : {&ingester, &w1, &w2, &daemon}) {
    p->Signal(SIGTERM);
    EXPECT_TRUE(p->Wait(absl::Seconds(30)).has_value());
  }
  const std::string cluster = Digest();
  ASSERT_FALSE(cluster.empty());
  ASSERT_GT(Count("SELECT count(*) FROM source"), 0);

  // The same nights matched again from nothing, one thread, in order: a
  // rerun's batches, which replace the cluster's.
  ASSERT_TRUE(
      conn_->ExecScript("TRUNCATE source, source_detection, source_night")
          .ok());
  for (int n = 0; n < o.nights; ++n) {
    Cu5(synth::NightName(o, n), 1.0, /*threads=*/1, {1, {}});
    for (const ingester::IngestOutcome& out : IngestAll()) {
      EXPECT_EQ(out.kind, ingester::IngestOutcome::Kind::kIngested)
          << out.report;
    }
  }
  EXPECT_EQ(Digest(), cluster);
}

// The generator's truth for every catalogue row of `o`'s nights, loaded
// into a table truth (cat_name, ext_num, seq_num, object_id, true_ra,
// true_dec, true_mag, band, kind).
void LoadTruth(pg::Connection& conn, const synth::Options& o) {
  ASSERT_TRUE(
      conn.ExecScript(
              "CREATE TABLE truth (cat_name text, ext_num smallint, seq_num "
              "integer, object_id bigint, true_ra float8, true_dec float8, "
              "true_mag float8, band text, kind text)")
          .ok());
  for (int n = 0; n < o.nights; ++n) {
    std::ifstream in(absl::StrCat(o.out_dir, "/truth/", synth::NightName(o, n),
                                  "_objects.csv"));
    std::stringstream csv;
    csv << in.rdbuf();
    ASSERT_FALSE(csv.str().empty());
    auto copied =
        conn.CopyIn("COPY truth FROM STDIN (FORMAT csv, HEADER)", csv.str());
    ASSERT_TRUE(copied.ok()) << copied.status();
  }
}

TEST_F(Cu5Test, ARevisitedSkyMatchesItsTruth) {
  synth::Options o = Revisits(3);
  RunNights(o);
  LoadTruth(*conn_, o);
  // Each detection with the object it is.
  ASSERT_TRUE(conn_
                  ->ExecScript("CREATE TABLE seen AS SELECT d.obj_id, "
                               "l.source_id, t.object_id, t.true_ra, "
                               "t.true_dec, t.true_mag, t.kind FROM detection "
                               "d JOIN multiframe m USING "
                               "(multiframe_id) JOIN truth t ON t.cat_name = "
                               "m.cat_name AND t.ext_num = "
                               "d.ext_num AND t.seq_num = d.seq_num JOIN "
                               "source_detection l USING (obj_id)")
                  .ok());
  const int64_t detections = Count("SELECT count(*) FROM detection");
  ASSERT_GT(detections, 1000);
  // Every detection is linked and has its truth.
  EXPECT_EQ(Count("SELECT count(*) FROM seen"), detections);
  // The source of a true star: the one most of its detections are in.
  // Nearly every detection of a star brighter than 18 is in it.
  const std::string stars =
      "kind IN ('star', 'variable', 'moving') AND true_mag < 18";
  const int64_t bright =
      Count(absl::StrCat("SELECT count(*) FROM seen WHERE ", stars));
  const int64_t in_own = Count(
      absl::StrCat("SELECT count(*) FROM seen s JOIN (SELECT DISTINCT ON "
                   "(object_id) object_id, source_id FROM "
                   "(SELECT object_id, source_id, count(*) n FROM seen GROUP "
                   "BY 1, 2) q ORDER BY object_id, n "
                   "DESC, source_id) own USING (object_id, source_id) WHERE ",
                   stars));
  ASSERT_GT(bright, 500);
  const double fraction = static_cast<double>(in_own) / bright;
  std::printf(
      "detections of stars brighter than mag 18 linked to their star's source: "
      "%lld of "
      "%lld (%.3f%%); %lld sources for %lld true objects\n",
      static_cast<long long>(in_own), static_cast<long long>(bright),
      100 * fraction,
      static_cast<long long>(Count("SELECT count(*) FROM source")),
      static_cast<long long>(
          Count("SELECT count(DISTINCT object_id) FROM seen")));
  EXPECT_GE(fraction, 0.995);
  // No two true stars brighter than 18 and more than 3 arcsec apart share
  // a source.
  EXPECT_EQ(
      Count(absl::StrCat(
          "SELECT count(*) FROM (SELECT DISTINCT source_id, object_id, "
          "true_ra, true_dec "
          "FROM seen WHERE ",
          stars,
          ") a JOIN (SELECT DISTINCT source_id, object_id, true_ra, true_dec "
          "FROM seen "
          "WHERE ",
          stars,
          ") b ON a.source_id = b.source_id AND a.object_id < b.object_id "
          "WHERE "
          "q3c_dist(a.true_ra, a.true_dec, b.true_ra, b.true_dec) * 3600 > 3")),
      0);
  // A transient, seen once, is a source of one detection.
  EXPECT_GT(Count("SELECT count(*) FROM seen WHERE kind = 'transient'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM seen s JOIN source o USING (source_id) "
                  "WHERE s.kind = "
                  "'transient' AND o.n_detections <> 1"),
            0);
  // A bright star's position error is its detections' scatter over
  // sqrt(n), as far from its true position as the scatter says.
  auto r = conn_->Exec(
      "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY o.pos_err), "
      "sqrt(avg((q3c_dist(o.ra, "
      "o.dec, t.true_ra, t.true_dec) * 3600) ^ 2)), count(*) FROM source o "
      "JOIN (SELECT DISTINCT "
      "ON (source_id) source_id, true_ra, true_dec FROM seen WHERE kind = "
      "'star' AND true_mag < "
      "15) t USING (source_id) WHERE o.n_detections >= 8");
  ASSERT_TRUE(r.ok()) << r.status();
  double median_err = 0, rms_offset = 0;
  ASSERT_TRUE(absl::SimpleAtod(r->Get(0, 0), &median_err) &&
              absl::SimpleAtod(r->Get(0, 1), &rms_offset));
  std::printf(
      "bright stars (%s with 8+ detections): median pos_err %.4f arcsec, rms "
      "offset from "
      "the truth %.4f arcsec\n",
      r->Get(0, 2).c_str(), median_err, rms_offset);
  EXPECT_GT(median_err, 0.0002);
  EXPECT_LT(median_err, 0.05);
  EXPECT_LT(rms_offset, 3 * median_err);
  EXPECT_GT(rms_offset, median_err / 3);
  // Bright stars seen in every band of every night have a source with
  // four bands and three nights.
  EXPECT_GT(Count("SELECT count(*) FROM source WHERE n_bands = 4 AND n_epochs "
                  "= 3 AND y_n > 0 "
                  "AND j_n > 0 AND h_n > 0 AND k_n > 0"),
            20);
}

// An independent check of one night's association: its detections and
// the sources of the nights before, exported from the archive, matched by
// STILTS tmatch2 (find=best1); every detection CU5 linked to an existing
// source has STILTS's pair, and every STILTS pair is CU5's link unless a
// nearer detection of the same multiframe took that source.
TEST_F(Cu5Test, ANightsMatchesToTheSourcesBeforeItAreThoseOfStilts) {
  if (!testing::StiltsInstalled()) GTEST_SKIP() << "stilts is not installed (Debian: stilts)";
  synth::Options o = Revisits(3);
  Generate(o);
  for (int n = 0; n < o.nights; ++n) {
    const std::string night = synth::NightName(o, n);
    LoadDetections(night);
    if (n == 2) break;  // its CU5 after the export below
    Cu5(night);
    IngestAll();
  }
  const std::string night = synth::NightName(o, 2);
  auto points = [&](const std::string& sql) {
    std::vector<worker::match::Point> out;
    auto r = conn_->Exec(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    for (int i = 0; r.ok() && i < r->rows(); ++i) {
      double ra = 0, dec = 0;
      EXPECT_TRUE(absl::SimpleAtod(r->Get(i, 1), &ra) && absl::SimpleAtod(r->Get(i, 2), &dec));
      out.push_back({r->GetInt(i, 0), ra, dec});
    }
    return out;
  };
  // float8 as text round-trips exactly (extra_float_digits defaults to 1).
  const std::vector<worker::match::Point> sources =
      points("SELECT source_id, ra, dec FROM source ORDER BY 1");
  const std::vector<worker::match::Point> detections = points(absl::StrCat(
      "SELECT d.obj_id, d.ra, d.dec FROM detection d JOIN multiframe m USING (multiframe_id) "
      "WHERE m.night = DATE '", night, "' ORDER BY 1"));
  ASSERT_GT(sources.size(), 500u);
  ASSERT_GT(detections.size(), 500u);
  std::filesystem::create_directories(archive_dir_.Join("stilts"));
  auto stilts = testing::StiltsBestMatches(detections, sources, 1.0, archive_dir_.Join("stilts"));
  ASSERT_TRUE(stilts.ok()) << stilts.status();

  Cu5(night);
  IngestAll();
  std::map<int64_t, int64_t> link;  // detection -> source, linked to an existing source
  auto r = conn_->Exec(absl::StrCat(
      "SELECT l.obj_id, l.source_id FROM source_detection l JOIN source s USING (source_id) WHERE "
      "l.night = DATE '", night, "' AND s.first_night < DATE '", night, "'"));
  ASSERT_TRUE(r.ok()) << r.status();
  for (int i = 0; i < r->rows(); ++i) link[r->GetInt(i, 0)] = r->GetInt(i, 1);
  std::map<int64_t, int64_t> best(stilts->begin(), stilts->end());
  int same = 0, displaced = 0;
  for (const auto& [det, src] : best) {
    auto it = link.find(det);
    if (it != link.end() && it->second == src) {
      ++same;
      continue;
    }
    // Not CU5's link: a nearer detection of its multiframe has the source.
    ++displaced;
    EXPECT_EQ(Count(absl::StrCat(
                  "SELECT count(*) FROM source_detection l JOIN detection d USING (obj_id) JOIN "
                  "detection me ON me.obj_id = ", det, " WHERE l.source_id = ", src,
                  " AND d.multiframe_id = me.multiframe_id AND l.obj_id <> ", det,
                  " AND l.separation <= (SELECT q3c_dist(me.ra, me.dec, s.ra, s.dec) * 3600 "
                  "FROM source s WHERE s.source_id = ", src, ") + 1e-6")),
              1)
        << "detection " << det << " is not linked to its STILTS match " << src;
  }
  // Every link to an existing source is a STILTS best match, or its
  // fallback after one.
  int fallback = 0;
  for (const auto& [det, src] : link) {
    auto it = best.find(det);
    ASSERT_NE(it, best.end()) << "detection " << det << " linked to " << src
                              << " but STILTS finds no source within 1 arcsec";
    if (it->second != src) ++fallback;
  }
  std::printf("night %s: %zu detections, %zu earlier sources; STILTS best1 pairs %zu, equal to "
              "CU5's links %d, displaced by a nearer detection of the same frame %d\n",
              night.c_str(), detections.size(), sources.size(), best.size(), same, displaced);
  EXPECT_GT(same, 500);
  EXPECT_LE(fallback, displaced);
  EXPECT_LE(displaced, static_cast<int>(best.size() / 100));
}

// Two nights matched at once (an operator's cancel, a night registered
// late): the second load is refused as stale, and its retry, matched
// against the first night's sources, founds no star twice.
TEST_F(
    Cu5Test,
    ABatchMatchedBeforeAnotherNightsLoadIsRefusedAndItsRetryFoundsNoStarTwice) {
  synth::Options o = Revisits(2);
  Generate(o);
  const std::string n1 = synth::NightName(o, 0), n2 = synth::NightName(o, 1);
  for (const std::string& night : {n1, n2}) LoadDetections(night);
  Cu5(n1);
  Cu5(n2);  // against no sources: as if night 1 were not there
  int ingested = 0, quarantined = 0;
  for (const ingester::IngestOutcome& out : IngestAll()) {
    if (out.kind == ingester::IngestOutcome::Kind::kIngested) ++ingested;
    if (out.kind == ingester::IngestOutcome::Kind::kQuarantined) {
      ++quarantined;
      EXPECT_THAT(out.report, HasSubstr("sources that have changed since"));
    }
  }
  EXPECT_EQ(ingested, 1);
  EXPECT_EQ(quarantined, 1);
  const std::string late =
      Count(absl::StrCat(
          "SELECT count(*) FROM source_night WHERE night = DATE '", n1, "'"))
          ? n2
          : n1;
  Cu5(late);
  for (const ingester::IngestOutcome& out : IngestAll()) {
    EXPECT_EQ(out.kind, ingester::IngestOutcome::Kind::kIngested) << out.report;
  }
  EXPECT_EQ(Count("SELECT count(*) FROM source_night"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM source_detection"),
            Count("SELECT count(*) FROM detection"));
  // The second night found the first night's sources: far fewer new
  // sources than detections.
  EXPECT_LT(Count(absl::StrCat(
                "SELECT new_sources FROM source_night WHERE night = DATE '",
                late, "'")) *
                10,
            Count(absl::StrCat(
                "SELECT detections FROM source_night WHERE night = DATE '",
                late, "'")));
}

}  // namespace
}  // namespace curator
