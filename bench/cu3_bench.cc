// CU3 and ingest speed on one core, from page cache, for full-size
// Rice-compressed multiframes; with astropy reading the same headers as
// the reference. Prints figures; asserts nothing.
//
//   cu3_bench [--frames 100] [--size 2048] [--dir DIR]
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "db/migrations.h"
#include "db/pg.h"
#include "archive/file_registry.h"
#include "ingester/ingest.h"
#include "synth/survey_generator.h"
#include "tests/support/command.h"
#include "tests/support/pg_server.h"
#include "tests/support/temp_dir.h"
#include "worker/cu3_task.h"

ABSL_FLAG(int, frames, 100, "Multiframes in the night");
ABSL_FLAG(int, size, 2048, "Pixels per detector side");
ABSL_FLAG(std::string, dir, "", "Archive to use (default: a temporary one)");

namespace {

int Die(const absl::Status& s) {
  std::fprintf(stderr, "cu3_bench: %s\n", s.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using namespace curator;
  testing::TempDir temp("curator-cu3-bench-");
  const std::string archive = absl::GetFlag(FLAGS_dir).empty() ? temp.path() : absl::GetFlag(FLAGS_dir);
  synth::Options o;
  o.out_dir = archive;
  o.frames_per_night = absl::GetFlag(FLAGS_frames);
  o.image_size = absl::GetFlag(FLAGS_size);
  o.sources_per_detector = 200;
  o.compression = fits::Compression::kRice;
  o.bitpix = 32;
  const std::string night = synth::NightName(o, 0);
  if (!std::filesystem::exists(archive + "/incoming/" + night)) {
    auto s = synth::GenerateSurvey(o);
    if (!s.ok()) return Die(s.status());
    std::printf("generated %d multiframes of 4 x %d^2 (Rice int32): %.0f MB in %.1f s\n",
                o.frames_per_night, o.image_size, s->nights[0].bytes / 1e6, s->seconds);
  }
  auto server = testing::PgServer::Start();
  if (!server.ok()) return Die(server.status());
  auto conn = pg::Connection::Connect((*server)->ConnInfo());
  if (!conn.ok()) return Die(conn.status());
  if (auto m = migrations::Migrate(**conn); !m.ok()) return Die(m.status());
  auto reg = archive::RegisterNight(**conn, archive, night);
  if (!reg.ok()) return Die(reg.status());
  auto images = archive::RegisteredImages(**conn, night);
  worker::TaskInput input{archive, night, 1, {}, 1, nullptr, {}};
  std::vector<std::string> paths;
  for (const auto& i : *images) {
    input.images.push_back({i.multiframe_id, i.path, i.file_name, i.file_time_stamp, i.cat_name});
    paths.push_back(i.path);
  }
  (void)conn.value()->Exec("INSERT INTO curation.cu_event (cu, kind, producer) VALUES (3, 'process', 'bench')");

  // Six runs: the first fills the page cache; the median of the other
  // five is reported (the machine is small and noisy).
  absl::StatusOr<worker::TaskOutput> out;
  std::vector<std::pair<double, double>> runs;
  for (int pass = 0; pass < 6; ++pass) {
    std::filesystem::remove_all(archive + "/staging");
    out = worker::RunCu3(input);
    if (!out.ok()) return Die(out.status());
    if (pass == 0) continue;
    runs.emplace_back(absl::ToDoubleSeconds(out->steps[0].finished - out->steps[0].started),
                      absl::ToDoubleSeconds(out->steps[1].finished - out->steps[1].started));
  }
  std::sort(runs.begin(), runs.end());
  const double read_s = runs[runs.size() / 2].first;
  const double write_s = runs[runs.size() / 2].second;
  const double n = static_cast<double>(input.images.size());
  std::printf("CU3, 1 thread, page cache, median of 5: %.0f multiframes in %.3f s reading headers = %.0f "
              "multiframes/s (%.0f with writing the batch: %.3f s)\n",
              n, read_s, n / read_s, n / (read_s + write_s), write_s);

  ingester::Ingester loader(conn->get(), ingester::DefaultIngestOptions(archive));
  const absl::Time t0 = absl::Now();
  auto ingested = loader.IngestReady();
  const double ingest_s = absl::ToDoubleSeconds(absl::Now() - t0);
  if (!ingested.ok()) return Die(ingested.status());
  int64_t rows = 0;
  for (const auto& i : *ingested) rows += i.rows;
  std::printf("ingest: %lld rows (multiframe, detector, header cards) in %.3f s = %.0f rows/s, "
              "verify + copy + validate + publish in one transaction\n",
              static_cast<long long>(rows), ingest_s, rows / ingest_s);

  const std::string script = std::string(CURATOR_SOURCE_DIR) + "/bench/astropy_headers.py";
  testing::CommandResult warm = testing::RunCommand("/usr/bin/python3 " + script + " " + absl::StrJoin(paths, " "));
  testing::CommandResult ref = testing::RunCommand("/usr/bin/python3 " + script + " " + absl::StrJoin(paths, " "));
  double astropy_rate = 0;
  if (ref.exit_code == 0 && std::sscanf(ref.output.c_str(), "%lf", &astropy_rate) == 1) {
    std::printf("reference, astropy.io.fits reading the same headers: %.0f files/s; CU3 is "
                "%.1fx faster\n",
                astropy_rate, (n / read_s) / astropy_rate);
  } else {
    std::printf("reference: astropy not available (%s)\n", ref.output.c_str());
  }
  return 0;
}
