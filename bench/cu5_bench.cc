// The whole CU5 of one night, on a private PostgreSQL (prints figures;
// asserts nothing): a night of --detections detections on --frames
// multiframes of four detectors, against an archive of --sources sources
// over the same sky, as CU5 runs it: read (binary COPY of the night's
// detections and of the sources around its detectors), match (zones),
// batch written, then the ingest (checks, inserts, every touched source's
// statistics recomputed from its links) in one transaction.
//
// The archive is made directly in SQL, not by the pipeline: detections
// in one CU4 partition with its batch record and id block, and sources
// without links of earlier nights (so each touched source's statistics
// come from tonight's links alone, as they would for new sources). Most
// detections (--matched) lie 0.1 arcsec (rms) from a source; the rest are
// new.
//
//   cu5_bench [--detections 3000000] [--sources 10000000] [--frames 300]
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "archive/cu_registry.h"
#include "db/pg.h"
#include "db/pgcopy.h"
#include "ingester/ingest.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"
#include "worker/cu5_task.h"

ABSL_FLAG(int64_t, detections, 3000000, "Detections in the night");
ABSL_FLAG(int64_t, sources, 10000000, "Sources in the archive");
ABSL_FLAG(int, frames, 300, "Multiframes in the night (4 detectors each)");
ABSL_FLAG(double, matched, 0.9,
          "Fraction of the detections that lie on a source");
ABSL_FLAG(int, threads, 0, "Matcher threads (0: one per core)");

namespace {

int Die(const absl::Status& s) {
  std::fprintf(stderr, "cu5_bench: %s\n", s.ToString().c_str());
  return 1;
}

double Seconds(absl::Time since) {
  return absl::ToDoubleSeconds(absl::Now() - since);
}

double PeakRssMiB() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace curator;
  const int64_t n_det = absl::GetFlag(FLAGS_detections);
  const int64_t n_src = absl::GetFlag(FLAGS_sources);
  const int frames = absl::GetFlag(FLAGS_frames);
  const double matched = absl::GetFlag(FLAGS_matched);
  const std::string night = "20071021";
  testing::TempDir temp("curator-cu5-bench-");
  const std::string archive = temp.path();

  auto server = testing::PgServer::Start();
  if (!server.ok()) return Die(server.status());
  const std::string conninfo = (*server)->ConnInfo();
  auto conn = pg::Connection::Connect(conninfo);
  if (!conn.ok()) return Die(conn.status());
  pg::Connection& db = **conn;
  if (auto m = archive::MigrateArchive(db, archive::CuRegistry::WithSources());
      !m.ok()) {
    return Die(m);
  }

  // The sky: detectors of 0.23 x 0.23 degrees (WFCAM's 13.7 arcmin) in a
  // stripe of tiles from RA 359 across RA 0, Dec near 0; sources
  // uniform over the detectors.
  const absl::Time made = absl::Now();
  const int detectors = frames * 4;
  const double side = 0.23;
  const int per_row = 40;
  auto detector_origin = [&](int d, double* ra, double* dec) {
    *ra = std::fmod(359.0 + (d % per_row) * side + 360.0, 360.0);
    *dec = -1.0 + (d / per_row) * side;
  };
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> unit(0, 1);
  std::normal_distribution<double> scatter(0, 0.1 / 3600.0 / std::sqrt(2.0));
  const std::string sources_file = archive + "/sources.pgcopy";
  const std::string detections_file = archive + "/detections.pgcopy";
  std::vector<std::pair<double, double>> src(n_src);
  {
    auto w = pgcopy::Writer::Create(sources_file);
    if (!w.ok()) return Die(w.status());
    for (int64_t i = 0; i < n_src; ++i) {
      double ra0, dec0;
      detector_origin(static_cast<int>(i % detectors), &ra0, &dec0);
      const double dec = dec0 + unit(rng) * side;
      const double ra =
          std::fmod(ra0 + unit(rng) * side / std::cos(dec * M_PI / 180), 360.0);
      src[i] = {ra, dec};
      // Source ids above every detection's obj_id.
      (*w)->StartRow(8);
      (*w)->AddInt64(n_det + 1 + i);
      (*w)->AddFloat64(ra);
      (*w)->AddFloat64(dec);
      (*w)->AddInt32(1);
      (*w)->AddInt32(1);
      (*w)->AddInt16(1);
      (*w)->AddDate(absl::CivilDay(2007, 10, 1));
      (*w)->AddInt64(1);
    }
    if (auto s = (*w)->Finish(); !s.ok()) return Die(s.status());
  }
  {
    auto w = pgcopy::Writer::Create(detections_file);
    if (!w.ok()) return Die(w.status());
    for (int64_t i = 0; i < n_det; ++i) {
      // Each detection on the detector it lies on: source i is on detector
      // i % detectors, detector d is HDU 2 + d % 4 of multiframe d / 4.
      double ra, dec;
      int d;
      if (unit(rng) < matched) {
        const int64_t k = static_cast<int64_t>(unit(rng) * n_src) % n_src;
        const auto& s = src[k];
        d = static_cast<int>(k % detectors);
        dec = std::clamp(s.second + scatter(rng), -90.0, 90.0);
        ra = std::fmod(
            s.first + scatter(rng) / std::cos(dec * M_PI / 180) + 360.0, 360.0);
      } else {
        d = static_cast<int>(unit(rng) * detectors) % detectors;
        double ra0, dec0;
        detector_origin(d, &ra0, &dec0);
        dec = dec0 + unit(rng) * side;
        ra = std::fmod(ra0 + unit(rng) * side / std::cos(dec * M_PI / 180),
                       360.0);
      }
      const int frame = d / 4;
      (*w)->StartRow(8);
      (*w)->AddInt64(i + 1);
      (*w)->AddInt64(frame + 1);
      (*w)->AddInt16(static_cast<int16_t>(2 + d % 4));
      (*w)->AddInt32(static_cast<int32_t>(i + 1));
      (*w)->AddFloat64(ra);
      (*w)->AddFloat64(dec);
      (*w)->AddFloat32(static_cast<float>(14 + 5 * unit(rng)));
      (*w)->AddInt64(1);
    }
    if (auto s = (*w)->Finish(); !s.ok()) return Die(s.status());
  }
  src.clear();
  src.shrink_to_fit();
  const char* kBands[] = {"Y", "J", "H", "K"};
  std::string frames_sql;
  for (int f = 0; f < frames; ++f) {
    absl::StrAppend(&frames_sql, f ? "," : "", "(", f + 1, ", 'w", night, "_",
                    f + 1, ".fit', now(), DATE '", night, "', 'normal', '",
                    kBands[f % 4], "', ", 54394.25 + f / 1440.0, ", 4, 1)");
  }
  for (const std::string& sql : std::vector<std::string>{
           "INSERT INTO curation.cu_event (cu, kind, producer) VALUES (4, "
           "'process', 'bench')",
           absl::StrCat("INSERT INTO curation.night (night, incoming_dir) "
                        "VALUES (DATE '",
                        night, "', '", archive, "/incoming/", night, "')"),
           absl::StrCat("INSERT INTO multiframe (multiframe_id, file_name, "
                        "file_time_stamp, "
                        "night, frame_type, filter_name, mjd_obs, "
                        "num_detectors, cu_event_id) "
                        "VALUES ",
                        frames_sql),
           absl::StrCat("CREATE TABLE detection_bench (LIKE detection "
                        "INCLUDING DEFAULTS)"),
       }) {
    if (auto r = db.Exec(sql); !r.ok()) return Die(r.status());
  }
  auto copied = db.CopyInFromFile(
      "COPY detection_bench (obj_id, multiframe_id, ext_num, seq_num, ra, dec, "
      "aper_mag_3, "
      "cu_event_id) FROM "
      "STDIN (FORMAT binary)",
      detections_file);
  if (!copied.ok()) return Die(copied.status());
  for (const std::string& sql : std::vector<std::string>{
           "ALTER TABLE detection_bench ADD PRIMARY KEY (obj_id)",
           "CREATE INDEX ON detection_bench (q3c_ang2ipix(ra, dec))",
           absl::StrCat("ALTER TABLE detection ATTACH PARTITION "
                        "detection_bench FOR VALUES FROM "
                        "(1) TO (",
                        n_det + 1, ")"),
           absl::StrCat("INSERT INTO curation.batch (batch_id, cu, night, "
                        "cu_event_id, state) "
                        "VALUES ('bench-cu4', 4, DATE '",
                        night, "', 1, 'ingested')"),
           absl::StrCat("INSERT INTO curation.id_block (batch_id, id_kind, "
                        "base, count) VALUES "
                        "('bench-cu4', 'obj_id', 1, ",
                        n_det, ")"),
       }) {
    if (auto r = db.Exec(sql); !r.ok()) return Die(r.status());
  }
  copied = db.CopyInFromFile(
      "COPY source (source_id, ra, dec, n_detections, n_epochs, n_bands, "
      "first_night, "
      "cu_event_id) FROM STDIN (FORMAT binary)",
      sources_file);
  if (!copied.ok()) return Die(copied.status());
  for (const char* sql :
       {"ANALYZE detection", "ANALYZE source", "CHECKPOINT"}) {
    if (auto r = db.Exec(sql); !r.ok()) return Die(r.status());
  }
  std::printf(
      "archive: %lld sources; night: %lld detections on %d detectors (%.0f%% "
      "on a "
      "source), made in %.1f s\n",
      static_cast<long long>(n_src), static_cast<long long>(n_det), detectors,
      100 * matched, Seconds(made));

  auto event = db.Exec(
      "INSERT INTO curation.cu_event (cu, kind, night, producer) VALUES (5, "
      "'process', "
      "DATE '20071021', 'bench') RETURNING cu_event_id");
  if (!event.ok()) return Die(event.status());
  const absl::Time start = absl::Now();
  auto out = worker::RunCu5({archive,
                             night,
                             event->GetInt(0, 0),
                             conninfo,
                             1.0,
                             absl::GetFlag(FLAGS_threads),
                             nullptr,
                             {}});
  if (!out.ok()) return Die(out.status());
  const double processed = Seconds(start);
  for (const tasklog::Step& s : out->steps) {
    const double secs = absl::ToDoubleSeconds(s.finished - s.started);
    std::printf("  %-6s %7.2f s  %s\n", s.name.c_str(), secs,
                s.messages.empty() ? "" : s.messages[0].message.c_str());
  }
  const absl::Time ingest_start = absl::Now();
  ingester::Ingester loader(&db, ingester::DefaultIngestOptions(archive));
  auto outcome = loader.IngestBatch(out->batch_dir);
  if (!outcome.ok()) return Die(outcome.status());
  if (outcome->kind != ingester::IngestOutcome::Kind::kIngested) {
    return Die(absl::InternalError(
        absl::StrCat("batch not ingested: ", outcome->report)));
  }
  const double ingested = Seconds(ingest_start);
  auto counts = db.Exec(
      "SELECT (SELECT count(*) FROM source_detection), (SELECT count(*) FROM "
      "source WHERE "
      "first_night = DATE '20071021'), (SELECT count(*) FROM source WHERE "
      "cu_event_id = $1), "
      "(SELECT concat_ws(' ', 'verify', round(verify_ms), 'ms, copy', "
      "round(copy_ms), 'ms, "
      "validate', round(validate_ms), 'ms, publish', round(publish_ms), 'ms') "
      "FROM curation.batch "
      "WHERE cu = 5)",
      {std::to_string(event->GetInt(0, 0))});
  if (!counts.ok()) return Die(counts.status());
  std::printf(
      "CU5 processing (read, match, write): %.2f s; ingest: %.2f s; whole CU5: "
      "%.2f s "
      "(%.0f detections/s)\n",
      processed, ingested, processed + ingested,
      n_det / (processed + ingested));
  std::printf("  ingest: %s\n", counts->Get(0, 3).c_str());
  std::printf(
      "links %s, new sources %s, sources recomputed %s; bench peak RSS %.0f "
      "MiB\n",
      counts->Get(0, 0).c_str(), counts->Get(0, 1).c_str(),
      counts->Get(0, 2).c_str(), PeakRssMiB());

  // The queries of the README's "Sources" section, each timed once warm.
  struct Query {
    const char* what;
    std::string sql;
  };
  const std::vector<Query> queries = {
      {"sources within 1 arcmin of (0.1, -0.5) (Q3C cone)",
       "SELECT count(*) FROM source WHERE q3c_radial_query(ra, dec, 0.1, -0.5, 1.0 / 60)"},
      {"light curve of one source (its detections with MJD and magnitude)",
       "SELECT count(*) FROM (SELECT m.mjd_obs, m.filter_name, d.aper_mag_3, d.aper_mag_err_3 "
       "FROM source_detection l JOIN detection d USING (obj_id) JOIN multiframe m USING "
       "(multiframe_id) WHERE l.source_id = (SELECT source_id FROM source_detection LIMIT 1) ORDER "
       "BY m.mjd_obs) q"},
      {"sources seen in every band (Y, J, H and K)",
       "SELECT count(*) FROM source WHERE y_n > 0 AND j_n > 0 AND h_n > 0 AND k_n > 0"},
      {"new sources of a night",
       "SELECT count(*) FROM source_detection l JOIN source s ON s.source_id = l.obj_id WHERE "
       "l.night = DATE '20071021'"},
  };
  for (const Query& q : queries) {
    (void)db.Exec(q.sql);  // warm
    const absl::Time at = absl::Now();
    auto r = db.Exec(q.sql);
    if (!r.ok()) return Die(r.status());
    std::printf("query: %-70s %8s rows %8.1f ms\n", q.what, r->Get(0, 0).c_str(),
                absl::ToDoubleMilliseconds(absl::Now() - at));
  }
  return 0;
}
