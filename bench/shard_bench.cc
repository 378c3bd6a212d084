// Shards against one server, in one run on the same nights (prints
// figures; asserts nothing; docs/ARCHITECTURE.md, "Shards"):
//  (a) CU4 ingest rows/s of every night's batch into one server (one
//      ingester), and into a head with two shards (two ingesters at once,
//      each batch by binary COPY into its night's shard, committed on the
//      shard and the head by two-phase commit);
//  (b) cone-search latency (Q3C, radius --radius arcsec around detections)
//      on the one server, on the head (through postgres_fdw, pushed down
//      and scanned at once on the shards) and on one shard alone.
// Each PostgreSQL server is its own process and data directory; with
// --pin, servers are pinned as a site would split them: the one server and
// the head on core 0, shard i on core i % cores.
//
//   shard_bench [--nights 4] [--frames 20] [--sources 5000] [--cones 50]
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "archive/cu_registry.h"
#include "archive/file_registry.h"
#include "archive/shards.h"
#include "base/status.h"
#include "db/pg.h"
#include "ingester/ingest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"

ABSL_FLAG(int, nights, 4, "Nights");
ABSL_FLAG(int, frames, 20, "Multiframes per night");
ABSL_FLAG(int, sources, 5000, "Detections per detector");
ABSL_FLAG(int, cones, 50, "Cone searches timed on each server");
ABSL_FLAG(double, radius, 60, "Cone radius, arcsec");
ABSL_FLAG(bool, pin, true, "Pin each PostgreSQL server to a core (taskset)");

namespace {

using namespace curator;

int Die(const absl::Status& s) {
  std::fprintf(stderr, "shard_bench: %s\n", s.ToString().c_str());
  return 1;
}

void Pin(const testing::PgServer& server, int core) {
  if (!absl::GetFlag(FLAGS_pin)) return;
  const int cores =
      static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
  // The postmaster and every backend it forks later.
  (void)testing::RunCommand(absl::StrCat("taskset -a -p -c ", core % cores, " ",
                                         server.pid(), " >/dev/null 2>&1"));
}

// Registers the nights and runs CU3 and CU4 for each with the worker's
// one-shot command; loads CU3. The CU4 batches are left in staging.
absl::Status Process(const std::string& archive, const std::string& conninfo,
                     const std::vector<std::string>& nights,
                     archive::shards::ShardSet* shards) {
  CURATOR_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(conninfo));
  for (const std::string& night : nights) {
    CURATOR_RETURN_IF_ERROR(
        archive::RegisterNight(*conn, archive, night).status());
    auto r = testing::RunCommand(absl::StrCat(
        CURATOR_BIN_DIR, "/worker/curator-worker run --cu 3 ", "--night ",
        night, " --archive ", archive, " --db '", conninfo, "' 2>&1"));
    if (r.exit_code != 0) return absl::InternalError("CU3: " + r.output);
  }
  ingester::IngestOptions options = ingester::DefaultIngestOptions(archive);
  options.shards = shards;
  CURATOR_RETURN_IF_ERROR(
      ingester::Ingester(conn.get(), options).IngestReady().status());
  for (const std::string& night : nights) {
    auto r = testing::RunCommand(
        absl::StrCat(CURATOR_BIN_DIR, "/worker/curator-worker run --cu 4 ",
                     "--night ", night, " --threads 2 --archive ", archive,
                     " --db '", conninfo, "' 2>&1"));
    if (r.exit_code != 0) return absl::InternalError("CU4: " + r.output);
  }
  return absl::OkStatus();
}

// Loads every ready batch with `ingesters` ingesters at once (each its own
// head connection and shard connections), batch i by ingester i % n.
absl::StatusOr<std::pair<int64_t, double>> Ingest(
    const std::string& archive, const std::string& conninfo,
    const std::vector<archive::shards::Shard>& shards, int ingesters) {
  CURATOR_ASSIGN_OR_RETURN(auto probe, pg::Connection::Connect(conninfo));
  const std::vector<std::string> dirs =
      ingester::Ingester(probe.get(), ingester::DefaultIngestOptions(archive))
          .ReadyBatches();
  std::vector<int64_t> rows(ingesters, 0);
  std::vector<absl::Status> errors(ingesters);
  const absl::Time t0 = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < ingesters; ++t) {
    threads.emplace_back([&, t] {
      auto conn = pg::Connection::Connect(conninfo);
      if (!conn.ok()) {
        errors[t] = conn.status();
        return;
      }
      archive::shards::ShardSet set(shards);
      ingester::IngestOptions options = ingester::DefaultIngestOptions(archive);
      if (!set.empty()) options.shards = &set;
      ingester::Ingester in(conn->get(), options);
      for (size_t i = t; i < dirs.size(); i += ingesters) {
        auto o = in.IngestBatch(dirs[i]);
        if (!o.ok()) {
          errors[t] = o.status();
          return;
        }
        if (o->kind != ingester::IngestOutcome::Kind::kIngested) {
          errors[t] =
              absl::InternalError(absl::StrCat(o->batch_id, ": ", o->report));
          return;
        }
        rows[t] += o->rows;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  for (const absl::Status& e : errors) CURATOR_RETURN_IF_ERROR(e);
  int64_t total = 0;
  for (int64_t r : rows) total += r;
  return std::make_pair(total, seconds);
}

struct Latency {
  double median_ms = 0, p90_ms = 0;
  int64_t rows = 0;
};

absl::StatusOr<Latency> Cones(
    const std::string& conninfo,
    const std::vector<std::pair<double, double>>& centres) {
  CURATOR_ASSIGN_OR_RETURN(auto conn, pg::Connection::Connect(conninfo));
  const double radius = absl::GetFlag(FLAGS_radius) / 3600;
  std::vector<double> ms;
  Latency l;
  for (int pass = 0; pass < 2;
       ++pass) {  // the first warms caches and connections
    ms.clear();
    for (const auto& [ra, dec] : centres) {
      const absl::Time t0 = absl::Now();
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result r, conn->Exec(absl::StrCat(
                            "SELECT count(*), sum(aper_mag_3) FROM detection "
                            "WHERE q3c_radial_query(ra, dec, ",
                            ra, ", ", dec, ", ", radius, ")")));
      ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      if (pass == 1) l.rows += r.GetInt(0, 0);
    }
  }
  std::sort(ms.begin(), ms.end());
  l.median_ms = ms[ms.size() / 2];
  l.p90_ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  testing::TempDir temp("curator-shard-bench-");
  synth::Options o;
  o.nights = absl::GetFlag(FLAGS_nights);
  o.frames_per_night = absl::GetFlag(FLAGS_frames);
  o.sources_per_detector = absl::GetFlag(FLAGS_sources);
  o.image_size = 256;
  std::vector<std::string> nights;
  double generated_s = 0;
  for (const char* which : {"single", "sharded"}) {
    o.out_dir = temp.Join(which);
    auto survey = synth::GenerateSurvey(o);
    if (!survey.ok()) return Die(survey.status());
    generated_s += survey->seconds;
    nights.clear();
    for (const auto& n : survey->nights) nights.push_back(n.night);
  }
  std::printf(
      "%d nights of %d multiframes, %d detections per detector (made twice in "
      "%.1f s)\n",
      o.nights, o.frames_per_night, o.sources_per_detector, generated_s);

  std::vector<std::unique_ptr<testing::PgServer>> servers;
  for (int i = 0; i < 4; ++i) {  // single, head, s1, s2
    auto s = testing::PgServer::Start();
    if (!s.ok()) return Die(s.status());
    if (absl::Status c = (*s)->CreateDatabase("wsa"); !c.ok()) return Die(c);
    servers.push_back(*std::move(s));
  }
  Pin(*servers[0], 0);
  Pin(*servers[1], 0);
  Pin(*servers[2], 0);
  Pin(*servers[3], 1);
  const std::string single = servers[0]->ConnInfo("wsa"),
                    head = servers[1]->ConnInfo("wsa");
  const std::vector<archive::shards::Shard> shards = {
      {"s1", servers[2]->ConnInfo("wsa")}, {"s2", servers[3]->ConnInfo("wsa")}};
  for (const std::string& db : {single, head}) {
    auto conn = pg::Connection::Connect(db);
    if (!conn.ok()) return Die(conn.status());
    if (absl::Status s =
            archive::MigrateArchive(**conn, archive::CuRegistry::Default());
        !s.ok()) {
      return Die(s);
    }
    if (db == head) {
      if (absl::Status s = archive::shards::MigrateShards(**conn, shards);
          !s.ok())
        return Die(s);
    }
  }
  archive::shards::ShardSet set(shards);
  if (absl::Status s = Process(temp.Join("single"), single, nights, nullptr);
      !s.ok())
    return Die(s);
  if (absl::Status s = Process(temp.Join("sharded"), head, nights, &set);
      !s.ok())
    return Die(s);

  auto one = Ingest(temp.Join("single"), single, {}, 1);
  if (!one.ok()) return Die(one.status());
  auto two = Ingest(temp.Join("sharded"), head, shards, 2);
  if (!two.ok()) return Die(two.status());
  const double one_rate = one->first / one->second,
               two_rate = two->first / two->second;
  std::printf(
      "(a) CU4 ingest: one server %lld rows in %.2f s = %.0f rows/s; "
      "head + 2 shards, 2 ingesters %lld rows in %.2f s = %.0f rows/s; ratio "
      "%.2f\n",
      static_cast<long long>(one->first), one->second, one_rate,
      static_cast<long long>(two->first), two->second, two_rate,
      two_rate / one_rate);

  // Cones around detections spread over the nights.
  std::vector<std::pair<double, double>> centres;
  {
    auto conn = pg::Connection::Connect(single);
    if (!conn.ok()) return Die(conn.status());
    auto r = (*conn)->Exec(
        absl::StrCat("SELECT ra, dec FROM detection TABLESAMPLE BERNOULLI (1) "
                     "REPEATABLE (7) LIMIT ",
                     absl::GetFlag(FLAGS_cones)));
    if (!r.ok()) return Die(r.status());
    for (int i = 0; i < r->rows(); ++i)
      centres.emplace_back(r->GetDouble(i, 0), r->GetDouble(i, 1));
  }
  auto on_single = Cones(single, centres);
  auto on_head = Cones(head, centres);
  auto on_shard = Cones(shards[0].conninfo, centres);
  if (!on_single.ok()) return Die(on_single.status());
  if (!on_head.ok()) return Die(on_head.status());
  if (!on_shard.ok()) return Die(on_shard.status());
  auto parts = [](const std::string& db) -> long long {
    auto c = pg::Connection::Connect(db);
    if (!c.ok()) return -1;
    auto r = (*c)->Exec(
        "SELECT count(*) FROM pg_inherits WHERE inhparent = "
        "'detection'::regclass");
    return r.ok() ? r->GetInt(0, 0) : -1;
  };
  std::printf(
      "(b) cone searches (%zu, radius %.0f arcsec): one server median %.1f ms, "
      "p90 %.1f ms "
      "(%lld partitions); head median %.1f ms, p90 %.1f ms (%lld foreign "
      "partitions); "
      "shard s1 alone median %.1f ms (%lld partitions); head / one server "
      "%.2f; same rows: "
      "%s\n",
      centres.size(), absl::GetFlag(FLAGS_radius), on_single->median_ms,
      on_single->p90_ms, parts(single), on_head->median_ms, on_head->p90_ms,
      parts(head), on_shard->median_ms, parts(shards[0].conninfo),
      on_head->median_ms / on_single->median_ms,
      on_single->rows == on_head->rows ? "yes" : "NO");
  {  // What a detection costs on disk: its partition's heap, key and Q3C index.
    auto conn = pg::Connection::Connect(single);
    if (!conn.ok()) return Die(conn.status());
    auto r = (*conn)->Exec(
        "SELECT sum(pg_relation_size(inhrelid)), "
        "sum(pg_indexes_size(inhrelid)), "
        "(SELECT count(*) FROM detection) FROM pg_inherits WHERE inhparent = "
        "'detection'::regclass");
    if (!r.ok()) return Die(r.status());
    const double n = r->GetDouble(0, 2);
    std::printf(
        "disk per detection: %.0f bytes of table + %.0f bytes of primary key "
        "and Q3C "
        "index\n",
        r->GetDouble(0, 0) / n, r->GetDouble(0, 1) / n);
  }
  std::printf("cores: %ld; servers pinned: %s\n", sysconf(_SC_NPROCESSORS_ONLN),
              absl::GetFlag(FLAGS_pin)
                  ? "one server, head, s1 on core 0; s2 on core 1"
                  : "no");
  return 0;
}
