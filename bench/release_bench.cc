// What a release costs (prints figures; asserts nothing): an archive of
// --detections detections (every column filled, as CU4 fills them) on
// --frames multiframes of four detectors with their header cards, a
// source for every --per_source detections and a link for each, made
// directly in SQL on a private PostgreSQL; then `release create` and
// `release verify` as the daemon runs them (daemon/releases.h), timed, and
// the release's size on disk beside the live tables', per million
// detections.
//
//   release_bench [--detections 2000000] [--frames 500] [--per_source 3]
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "archive/cu_registry.h"
#include "base/clock.h"
#include "base/status.h"
#include "daemon/releases.h"
#include "daemon/task_store.h"
#include "db/pg.h"
#include "db/pool.h"
#include "tests/support/pg_server.h"

ABSL_FLAG(int64_t, detections, 2000000, "Detections in the archive");
ABSL_FLAG(int, frames, 500,
          "Multiframes (4 detectors and 500 header cards each)");
ABSL_FLAG(int, per_source, 3, "Detections per source");

namespace {

int Die(const absl::Status& s) {
  std::fprintf(stderr, "release_bench: %s\n", s.ToString().c_str());
  return 1;
}

double Seconds(absl::Time since) {
  return absl::ToDoubleSeconds(absl::Now() - since);
}

// The SELECT list making every column of `table` for row g (bigint, from
// 1) from `special` or, by type, a random value.
absl::StatusOr<std::string> RowOf(
    curator::pg::Connection& db, const std::string& table,
    const std::map<std::string, std::string>& special,
    std::vector<std::string>* columns) {
  CURATOR_ASSIGN_OR_RETURN(
      curator::pg::Result r,
      db.Exec("SELECT column_name, data_type FROM information_schema.columns "
              "WHERE table_name = $1 AND is_generated = 'NEVER' ORDER BY "
              "ordinal_position",
              {table}));
  std::vector<std::string> values;
  for (int i = 0; i < r.rows(); ++i) {
    const std::string c = r.Get(i, 0), type = r.Get(i, 1);
    columns->push_back(c);
    auto s = special.find(c);
    if (s != special.end()) {
      values.push_back(s->second);
    } else if (type == "real") {
      values.push_back("(random() * 100)::real");
    } else if (type == "double precision") {
      values.push_back("random() * 100");
    } else if (type == "smallint" || type == "integer" || type == "bigint") {
      values.push_back(absl::StrCat("(random() * 100)::", type));
    } else if (type.rfind("timestamp", 0) == 0) {
      values.push_back("now()");
    } else if (type == "date") {
      values.push_back("DATE '2007-10-21'");
    } else if (type == "boolean") {
      values.push_back("random() < 0.5");
    } else {
      values.push_back("md5(g::text)");
    }
  }
  return absl::StrJoin(values, ", ");
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace curator;
  const int64_t n_det = absl::GetFlag(FLAGS_detections);
  const int frames = absl::GetFlag(FLAGS_frames);
  const int64_t n_src =
      std::max<int64_t>(1, n_det / absl::GetFlag(FLAGS_per_source));
  const int detectors = frames * 4;

  auto server = testing::PgServer::Start();
  if (!server.ok()) return Die(server.status());
  const std::string conninfo = (*server)->ConnInfo();
  auto conn = pg::Connection::Connect(conninfo);
  if (!conn.ok()) return Die(conn.status());
  pg::Connection& db = **conn;
  const archive::CuRegistry& registry = archive::CuRegistry::WithSources();
  if (auto m = archive::MigrateArchive(db, registry); !m.ok()) return Die(m);

  const absl::Time made = absl::Now();
  std::vector<std::string> sql = {
      "INSERT INTO curation.cu_event (cu, kind, producer) VALUES (4, "
      "'process', 'bench')",
      "INSERT INTO curation.night (night, incoming_dir) VALUES (DATE "
      "'2007-10-21', '/bench')",
  };
  struct Fill {
    const char* table;
    std::string target;
    int64_t rows;
    std::map<std::string, std::string> special;
  };
  const std::vector<Fill> fills = {
      {"multiframe",
       "multiframe",
       frames,
       {{"multiframe_id", "g"},
        {"file_name", "'w20071021_' || g || '.fit'"},
        {"cat_name", "'w20071021_' || g || '_cat.fits'"},
        {"file_time_stamp", "now()"},
        {"night", "DATE '2007-10-21'"},
        {"ut_date", "DATE '2007-10-21'"},
        {"date_obs", "now()::timestamp"},
        {"date_end", "now()::timestamp"},
        {"ra_base", "random() * 359"},
        {"dec_base", "random() * 10"},
        {"frame_type", "'normal'"},
        {"filter_name", "(ARRAY['J', 'K'])[1 + g % 2]"},
        {"num_detectors", "4"},
        {"deprecated", "0"},
        {"cu_event_id", "1"}}},
      {"multiframe_detector",
       "multiframe_detector",
       detectors,
       {{"multiframe_id", "(g - 1) / 4 + 1"},
        {"ext_num", "(2 + (g - 1) % 4)::smallint"},
        {"bits_per_pix", "-32"},
        {"axis1_length", "2048"},
        {"axis2_length", "2048"},
        {"crval1", "random() * 359"},
        {"crval2", "random() * 10"},
        {"cu_event_id", "1"}}},
      {"multiframe_header_card",
       "multiframe_header_card",
       int64_t{frames} * 500,
       {{"multiframe_id", "(g - 1) / 500 + 1"},
        {"hdu", "(1 + (g - 1) % 500 / 100)::smallint"},
        {"card_num", "(1 + (g - 1) % 100)::smallint"},
        {"keyword", "'KEY' || (g % 100)"},
        {"value", "(random() * 1000)::text"},
        {"comment", "'a comment of a typical length'"},
        {"cu_event_id", "1"}}},
      {"detection",
       "detection_bench",
       n_det,
       {{"obj_id", "g"},
        {"multiframe_id", absl::StrCat("(g - 1) % ", detectors, " / 4 + 1")},
        {"ext_num",
         absl::StrCat("(2 + (g - 1) % ", detectors, " % 4)::smallint")},
        {"seq_num", "g::integer"},
        {"ra", "random() * 10"},
        {"dec", "random() * 10 - 5"},
        {"class", "(floor(random() * 3) - 1)::smallint"},
        {"error_bit_flag", "0"},
        {"cu_event_id", "1"}}},
      {"source",
       "source",
       n_src,
       {{"source_id", "g"},
        {"ra", "random() * 10"},
        {"dec", "random() * 10 - 5"},
        {"n_detections", absl::StrCat(absl::GetFlag(FLAGS_per_source))},
        {"n_epochs", "1"},
        {"n_bands", "2"},
        {"first_night", "DATE '2007-10-21'"},
        {"cu_event_id", "1"}}},
      {"source_detection",
       "source_detection",
       n_det,
       {{"obj_id", "g"},
        {"source_id", absl::StrCat("1 + (g - 1) % ", n_src)},
        {"separation", "(random() * 0.5)::real"},
        {"night", "DATE '2007-10-21'"},
        {"cu_event_id", "1"}}},
      {"source_night",
       "source_night",
       1,
       {{"night", "DATE '2007-10-21'"},
        {"detections", std::to_string(n_det)},
        {"radius_arcsec", "1"},
        {"cu_event_id", "1"}}},
  };
  for (const std::string& s : sql) {
    if (auto r = db.Exec(s); !r.ok()) return Die(r.status());
  }
  // Detections in one partition, as a CU4 batch leaves them.
  if (auto r = db.Exec(
          "CREATE TABLE detection_bench (LIKE detection INCLUDING DEFAULTS)");
      !r.ok()) {
    return Die(r.status());
  }
  for (const Fill& f : fills) {
    std::vector<std::string> columns;
    auto row = RowOf(db, f.table, f.special, &columns);
    if (!row.ok()) return Die(row.status());
    if (auto r = db.Exec(absl::StrCat("INSERT INTO ", f.target, " (",
                                      absl::StrJoin(columns, ", "), ") SELECT ",
                                      *row, " FROM generate_series(1::bigint, ",
                                      f.rows, ") g"));
        !r.ok()) {
      return Die(r.status());
    }
  }
  for (const std::string& s : std::vector<std::string>{
           "ALTER TABLE detection_bench ADD PRIMARY KEY (obj_id)",
           "CREATE INDEX ON detection_bench (q3c_ang2ipix(ra, dec))",
           absl::StrCat(
               "ALTER TABLE detection ATTACH PARTITION detection_bench FOR "
               "VALUES FROM (1) TO (",
               n_det + 1, ")"),
           "VACUUM ANALYZE", "CHECKPOINT"}) {
    if (auto r = db.Exec(s); !r.ok()) return Die(r.status());
  }
  auto live = db.Exec(
      "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN "
      "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND "
      "c.relkind = 'r' AND c.relname IN ('multiframe', 'multiframe_detector', "
      "'multiframe_header_card', 'detection_bench', 'source', "
      "'source_detection', 'source_night') ORDER BY 1");
  if (!live.ok()) return Die(live.status());
  std::map<std::string, int64_t> live_bytes;
  int64_t live_total = 0;
  for (int i = 0; i < live->rows(); ++i) {
    live_bytes[live->Get(i, 0) == "detection_bench" ? "detection"
                                                    : live->Get(i, 0)] =
        live->GetInt(i, 1);
    live_total += live->GetInt(i, 1);
  }
  const double per_m = n_det / 1e6;
  std::printf(
      "archive: %lld detections on %d detectors, %lld sources and their links, "
      "%d header cards a frame; made in %.0f s; live tables %.0f MB (%.0f MB "
      "per million detections)\n",
      static_cast<long long>(n_det), detectors, static_cast<long long>(n_src),
      500, Seconds(made), live_total / 1e6, live_total / 1e6 / per_m);

  pg::ConnectionPool pool({conninfo, 2});
  daemon::TaskStore tasks(&pool, &registry, Clock::Real(),
                          daemon::TaskPolicy{});
  daemon::Releases releases(&pool, &tasks, &registry);
  const absl::Time start = absl::Now();
  auto release = releases.Create("bench", "", "bench");
  if (!release.ok()) return Die(release.status());
  const double create_s = Seconds(start);
  std::printf(
      "release create: %.1f s, %.1f s per million detections; %.0f MB on disk, "
      "%.0f MB per million detections (%.2f x the live tables)\n",
      create_s, create_s / per_m, release->bytes() / 1e6,
      release->bytes() / 1e6 / per_m,
      static_cast<double>(release->bytes()) / live_total);
  for (const auto& t : release->tables()) {
    std::printf("  %-24s %10lld rows %8.1f MB (live %8.1f MB)\n",
                t.table().c_str(), static_cast<long long>(t.rows()),
                t.bytes() / 1e6, live_bytes[t.table()] / 1e6);
  }
  const absl::Time verify_start = absl::Now();
  auto verified = releases.Verify("bench");
  if (!verified.ok()) return Die(verified.status());
  const double verify_s = Seconds(verify_start);
  std::printf("release verify: %.1f s, %.1f s per million detections; %s\n",
              verify_s, verify_s / per_m,
              verified->unchanged() ? "unchanged" : "CHANGED (a bug)");
  const absl::Time drop_start = absl::Now();
  auto dropped = releases.Drop("bench", "bench");
  if (!dropped.ok()) return Die(dropped.status());
  std::printf("release drop: %.2f s\n", Seconds(drop_start));
  return 0;
}
