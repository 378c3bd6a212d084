// Detections on shard servers (docs/ARCHITECTURE.md, "Shards"): a head and
// two shard PostgreSQL servers, each its own data directory, loaded by the
// real ingest; the head answers as a single server loaded with the same
// nights does, and a load stays atomic across the servers through an
// ingester killed between prepare and commit, a shard's postmaster killed
// with a transaction prepared, and a shard that is down.
#include <signal.h>

#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "archive/cu_registry.h"
#include "archive/shards.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/archive_digest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/command.h"
#include "tests/support/http.h"
#include "tests/support/pg_server.h"
#include "tests/support/pipeline_test.h"
#include "tests/support/process.h"
#include "tests/support/test_hooks.h"

namespace curator {
namespace {

using ::testing::HasSubstr;
using Kind = ingester::IngestOutcome::Kind;

// A head and two shard servers, each with an empty database "wsa".
void StartServers(
    std::map<std::string, std::unique_ptr<testing::PgServer>>* servers,
    std::vector<archive::shards::Shard>* shards) {
  for (const char* name : {"head", "s1", "s2"}) {
    auto server = testing::PgServer::Start();
    ASSERT_TRUE(server.ok()) << name << ": " << server.status();
    (*servers)[name] = *std::move(server);
    ASSERT_TRUE((*servers)[name]->CreateDatabase("wsa").ok());
  }
  *shards = {{"s1", (*servers)["s1"]->ConnInfo("wsa")},
             {"s2", (*servers)["s2"]->ConnInfo("wsa")}};
}

int64_t CountOn(const std::string& conninfo, const std::string& sql) {
  auto c = pg::Connection::Connect(conninfo);
  if (!c.ok()) return -1;
  auto r = (*c)->Exec(sql);
  return r.ok() ? r->GetInt(0, 0) : -1;
}

class ShardTest : public testing::PipelineTest {
 protected:
  void SetUp() override {
    PipelineTest::SetUp();
    if (HasFatalFailure()) return;
    StartServers(&servers_, &shard_list_);
    if (HasFatalFailure()) return;
    shards_set_ = std::make_unique<archive::shards::ShardSet>(shard_list_);
    auto head = pg::Connection::Connect(HeadConnInfo());
    ASSERT_TRUE(head.ok()) << head.status();
    head_ = *std::move(head);
    ASSERT_TRUE(
        archive::MigrateArchive(*head_, archive::CuRegistry::Default()).ok());
    absl::Status s = archive::shards::MigrateShards(*head_, shard_list_);
    ASSERT_TRUE(s.ok()) << s;
  }

  std::string HeadConnInfo() const {
    return servers_.at("head")->ConnInfo("wsa");
  }
  std::string ShardConnInfo(const std::string& s) const {
    return servers_.at(s)->ConnInfo("wsa");
  }

  // The pipeline's steps go to the sharded archive from here on: its own
  // archive directory (generated again: the same files), the head.
  void UseShardedArchive(const synth::Options& o) {
    single_archive_ = archive_;
    single_conn_ = std::move(conn_);
    conn_ = std::move(head_);
    archive_ = archive_dir_.Join("sharded");
    synth::Options again = o;
    again.out_dir = archive_;
    Generate(again);
    shards_ = shards_set_.get();
    db_override_ = HeadConnInfo();
  }

  // Nights registered and loaded (CU3, CU4, then CU5 night by night).
  void LoadNights(const synth::Options& o) {
    for (int n = 0; n < o.nights; ++n) {
      const std::string night = synth::NightName(o, n);
      Register(night);
      Cu3(night);
      Cu4(night);
      for (const auto& out : IngestAll()) {
        EXPECT_EQ(out.kind, Kind::kIngested)
            << out.batch_id << ": " << out.report;
      }
      Cu5(night);
      for (const auto& out : IngestAll()) {
        EXPECT_EQ(out.kind, Kind::kIngested)
            << out.batch_id << ": " << out.report;
      }
    }
  }

  synth::Options Nights(int nights) {
    synth::Options o = Survey(nights, 3, 60, 128);
    o.sky = synth::SkyMode::kRevisit;
    o.fields = 2;
    return o;
  }

  int64_t Prepared() const {
    int64_t n = 0;
    for (const auto& s : shard_list_) {
      n += CountOn(s.conninfo, "SELECT count(*) FROM pg_prepared_xacts");
    }
    return n;
  }

  // The detections of a cone, by what they are (not their ids).
  static std::vector<std::string> Cone(const std::string& conninfo, double ra,
                                       double dec, double radius_deg) {
    auto c = pg::Connection::Connect(conninfo);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return {};
    auto r = (*c)->Exec(absl::StrCat(
        "SELECT m.file_name || '|' || d.ext_num || '|' || d.seq_num || '|' || "
        "d.ra || '|' || d.dec || '|' || coalesce(d.aper_mag_3::text, '') "
        "FROM detection d JOIN multiframe m USING (multiframe_id) "
        "WHERE q3c_radial_query(d.ra, d.dec, ",
        ra, ", ", dec, ", ", radius_deg, ") ORDER BY 1"));
    EXPECT_TRUE(r.ok()) << r.status();
    std::vector<std::string> out;
    for (int i = 0; r.ok() && i < r->rows(); ++i) out.push_back(r->Get(i, 0));
    return out;
  }

  // The shard holding a prepared transaction; "" if none does.
  std::string PreparedOn() const {
    for (const auto& s : shard_list_) {
      if (CountOn(s.conninfo, "SELECT count(*) FROM pg_prepared_xacts") > 0)
        return s.name;
    }
    return "";
  }

  // A config file for the ingester binary: the head and its shards.
  std::string WriteConfig() {
    const std::string path = archive_dir_.Join("sharded.conf");
    std::ofstream f(path);
    f << "archive_root: \"" << archive_ << "\"\n"
      << "database {\n  conninfo: \"" << HeadConnInfo() << "\"\n";
    for (const auto& s : shard_list_) {
      f << "  shards { name: \"" << s.name << "\" conninfo: \"" << s.conninfo
        << "\" }\n";
    }
    f << "}\n";
    return path;
  }

  // Starts the hooked ingester on the sharded archive, paused just before
  // the head's COMMIT of its first batch (its shard transactions prepared).
  absl::StatusOr<testing::Process> PausedIngester(const std::string& paused) {
    return testing::Process::Start(
        {Bin("tests/curator-ingester-hooked"), "--once", "--config",
         WriteConfig(), "--pause_before_commit", paused},
        archive_dir_.Join("paused-ingester.log"));
  }

  // A night of the sharded archive with its CU3 ingested and its CU4
  // batch staged, and the hooked ingester paused before the head's commit
  // of that batch, in `victim`.
  void PauseFirstDetectionLoad(std::optional<testing::Process>* victim) {
    const synth::Options o = Nights(1);
    Generate(o);
    UseShardedArchive(o);
    const std::string night = synth::NightName(o, 0);
    Register(night);
    Cu3(night);
    for (const auto& out : IngestAll()) {
      ASSERT_EQ(out.kind, Kind::kIngested) << out.report;
    }
    Cu4(night);
    const std::string paused = archive_dir_.Join("paused");
    auto started = PausedIngester(paused);
    ASSERT_TRUE(started.ok()) << started.status();
    ASSERT_TRUE(testing::WaitForFile(paused, absl::Seconds(60)))
        << started->Log();
    victim->emplace(*std::move(started));
  }

  // SIGKILLs the paused ingester and waits until the head has ended its
  // session (its batch's claim released).
  void KillPaused(testing::Process& victim) {
    victim.Signal(SIGKILL);
    EXPECT_EQ(victim.Wait(absl::Seconds(30)), 128 + SIGKILL);
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          return CountOn(HeadConnInfo(),
                         "SELECT count(*) FROM pg_locks WHERE locktype = "
                         "'advisory'") == 0;
        },
        absl::Seconds(30)));
  }

  // The batches of CU4 and the detections: on the head (by batch record
  // and through the foreign partitions) and on each shard.
  void ExpectEachBatchOnce(int64_t detections) {
    EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
    EXPECT_EQ(Count("SELECT count(DISTINCT obj_id) FROM detection"),
              detections);
    EXPECT_EQ(
        Count("SELECT coalesce(sum((rows_per_table->>'detection')::bigint), 0) "
              "FROM "
              "curation.batch WHERE cu = 4 AND state = 'ingested'"),
        detections);
    int64_t on_shards = 0;
    for (const auto& s : shard_list_) {
      on_shards += CountOn(s.conninfo, "SELECT count(*) FROM detection");
    }
    EXPECT_EQ(on_shards, detections);
    EXPECT_EQ(Prepared(), 0) << "no prepared transaction is left behind";
  }

  std::map<std::string, std::unique_ptr<testing::PgServer>> servers_;
  std::vector<archive::shards::Shard> shard_list_;
  std::unique_ptr<archive::shards::ShardSet> shards_set_;
  std::unique_ptr<pg::Connection> head_;
  std::unique_ptr<pg::Connection> single_conn_;
  std::string single_archive_;
};

TEST_F(ShardTest, TheHeadAnswersAsOneServerWithTheSameNights) {
  const synth::Options o = Nights(4);
  Generate(o);
  LoadNights(o);  // the single server: PipelineTest's own database
  const std::string single = conninfo();
  UseShardedArchive(o);
  LoadNights(o);

  // Every archive table, by content (ids aside: they follow the order of
  // loads), and the sources CU5 made from detections on the shards.
  const auto want = testing::ArchiveDigests(single);
  const auto got = testing::ArchiveDigests(HeadConnInfo());
  EXPECT_EQ(got, want);
  EXPECT_GT(Count("SELECT count(*) FROM source"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM source"),
            CountOn(single, "SELECT count(*) FROM source"));
  EXPECT_EQ(Count("SELECT count(*) FROM source_detection"),
            CountOn(single, "SELECT count(*) FROM source_detection"));

  // The nights are spread: two on each shard (the fewest nights first),
  // and the head holds no detection of its own.
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.night_shard WHERE shard = 's1'"), 2);
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.night_shard WHERE shard = 's2'"), 2);
  EXPECT_EQ(
      Count("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = "
            "i.inhrelid "
            "WHERE i.inhparent = 'detection'::regclass AND c.relkind <> 'f'"),
      0);
  const int64_t total = CountOn(single, "SELECT count(*) FROM detection");
  ASSERT_GT(total, 0);
  for (const auto& s : shard_list_) {
    EXPECT_GT(CountOn(s.conninfo, "SELECT count(*) FROM detection"), 0)
        << s.name;
  }
  ExpectEachBatchOnce(total);

  // Cone searches through the head: the same detections as the single
  // server, around detections of every night.
  auto centres = single_conn_->Exec(
      "SELECT ra, dec FROM (SELECT ra, dec, row_number() OVER (PARTITION BY "
      "multiframe_id "
      "ORDER BY seq_num) r FROM detection) q WHERE r = 1 ORDER BY ra LIMIT 6");
  ASSERT_TRUE(centres.ok()) << centres.status();
  ASSERT_GT(centres->rows(), 3);
  for (int i = 0; i < centres->rows(); ++i) {
    const double ra = centres->GetDouble(i, 0), dec = centres->GetDouble(i, 1);
    const std::vector<std::string> want_cone = Cone(single, ra, dec, 0.02);
    EXPECT_FALSE(want_cone.empty());
    EXPECT_EQ(Cone(HeadConnInfo(), ra, dec, 0.02), want_cone)
        << ra << ", " << dec;
  }

  // The cone runs on the shards: Q3C's condition is in the SQL the head
  // sends, and the shards are scanned at once.
  auto plan = conn_->Exec(
      "EXPLAIN VERBOSE SELECT * FROM detection WHERE q3c_radial_query(ra, dec, "
      "10, 0, 0.01)");
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::string text;
  for (int i = 0; i < plan->rows(); ++i)
    absl::StrAppend(&text, plan->Get(i, 0), "\n");
  EXPECT_THAT(text, HasSubstr("Async Foreign Scan"));
  int remote_q3c = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::StrContains(line, "Remote SQL:") &&
        absl::StrContains(line, "q3c_ang2ipix")) {
      ++remote_q3c;
    }
  }
  EXPECT_EQ(remote_q3c,
            Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND "
                  "state = 'ingested'"))
      << text.substr(0, 4000);
}

TEST_F(ShardTest, CuratorctlListsTheShardsAndSaysWhenOneIsDown) {
  const synth::Options o = Nights(2);
  Generate(o);
  UseShardedArchive(o);
  LoadNights(o);
  const std::string config = WriteConfig();
  const auto ctl = [&](const std::string& args) {
    return testing::RunCommand(absl::StrCat(
        Bin("daemon/curatorctl"), " --config ", config, " ", args, " 2>&1"));
  };
  // migrate through the command: the head and both shards up to date.
  testing::CommandResult migrated = ctl("migrate");
  EXPECT_EQ(migrated.exit_code, 0) << migrated.output;
  EXPECT_THAT(migrated.output, HasSubstr("up to date"));

  testing::CommandResult listed = ctl("shards --json");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  const nlohmann::json j = nlohmann::json::parse(listed.output);
  ASSERT_EQ(j["shards"].size(), 2u) << listed.output;
  int64_t detections = 0;
  int nights = 0;
  for (const auto& shard : j["shards"]) {
    EXPECT_TRUE(shard["reachable"].get<bool>()) << shard.dump();
    EXPECT_EQ(shard["schema_version"], j["head_schema_version"]);
    EXPECT_EQ(shard["error"], "");
    EXPECT_EQ(shard["nights"].get<int>(), 1) << shard.dump();
    EXPECT_GT(shard["bytes"].get<int64_t>(), 0);
    EXPECT_EQ(shard["prepared"].get<int>(), 0);
    EXPECT_EQ(shard["detections"].get<int64_t>(),
              CountOn(ShardConnInfo(shard["name"]),
                      "SELECT count(*) FROM detection"));
    detections += shard["detections"].get<int64_t>();
    nights += shard["nights"].get<int>();
  }
  EXPECT_EQ(detections, Count("SELECT count(*) FROM detection"));
  EXPECT_EQ(nights, 2);

  ASSERT_TRUE(servers_["s2"]->Stop().ok());
  testing::CommandResult down = ctl("shards");
  EXPECT_EQ(down.exit_code, 2) << down.output;
  EXPECT_THAT(down.output, HasSubstr("s2"));
  EXPECT_THAT(down.output, HasSubstr("cannot connect"));
  ASSERT_TRUE(servers_["s2"]->Restart().ok());
  EXPECT_EQ(ctl("shards").exit_code, 0);
}

TEST_F(ShardTest,
       AnIngesterKilledBetweenPrepareAndCommitLeavesNothingHalfLoaded) {
  std::optional<testing::Process> victim;
  PauseFirstDetectionLoad(&victim);
  ASSERT_TRUE(victim.has_value());
  // Prepared on the night's shard, not committed on the head.
  EXPECT_EQ(Prepared(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND state "
                  "= 'ingested'"),
            0);
  KillPaused(*victim);
  EXPECT_EQ(Prepared(), 1) << "a prepared transaction outlives its session";

  // The next ingester rolls it back (the head's transaction aborted) and
  // loads the batch again, once.
  auto again = testing::RunCommand(
      absl::StrCat(Bin("ingester/curator-ingester"), " --once --config ",
                   WriteConfig(), " 2>&1"));
  EXPECT_EQ(again.exit_code, 0) << again.output;
  int64_t manifest_rows = Count(
      "SELECT sum((rows_per_table->>'detection')::bigint) FROM curation.batch "
      "WHERE cu = 4");
  EXPECT_GT(manifest_rows, 0);
  ExpectEachBatchOnce(manifest_rows);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.batch WHERE cu = 4 AND state "
                  "= 'ingested'"),
            1);
}

TEST_F(ShardTest,
       AShardKilledWithATransactionPreparedLoadsTheBatchOnceWhenBack) {
  // The ingester stops with its shard transaction prepared; the shard's
  // postmaster is killed (no shutdown), then the ingester.
  std::optional<testing::Process> victim;
  PauseFirstDetectionLoad(&victim);
  ASSERT_TRUE(victim.has_value());
  const std::string shard = PreparedOn();
  ASSERT_FALSE(shard.empty());
  testing::PgServer& down = *servers_[shard];
  ASSERT_EQ(kill(down.pid(), SIGKILL), 0);
  KillPaused(*victim);

  // While the shard is down, the batch waits for it, with the reason, and
  // is neither quarantined nor half loaded.
  shards_set_->Drop(shard);
  std::vector<ingester::IngestOutcome> outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, Kind::kWaiting);
  EXPECT_THAT(
      outcomes[0].report,
      HasSubstr(absl::StrCat("waiting for shard ", shard, ", which is down")));
  EXPECT_EQ(
      Count(absl::StrCat("SELECT count(*) FROM curation.batch WHERE cu = 4 AND "
                         "state = 'waiting' AND report LIKE '%shard ",
                         shard, "%'")),
      1);
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.batch WHERE state = 'quarantined'"),
      0);

  // Back: the prepared transaction survived the crash and is rolled back
  // (the head never committed it), and the batch loads, once.
  absl::Status restarted = absl::UnknownError("not tried");
  for (int i = 0; i < 20 && !restarted.ok(); ++i) {
    restarted = down.Restart();
    if (!restarted.ok()) absl::SleepFor(absl::Milliseconds(500));
  }
  ASSERT_TRUE(restarted.ok()) << restarted;
  EXPECT_EQ(
      CountOn(ShardConnInfo(shard), "SELECT count(*) FROM pg_prepared_xacts"),
      1);
  outcomes = IngestAll();
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_EQ(outcomes[0].kind, Kind::kIngested) << outcomes[0].report;
  const int64_t rows = Count(
      "SELECT sum((rows_per_table->>'detection')::bigint) FROM curation.batch "
      "WHERE cu = 4");
  EXPECT_GT(rows, 0);
  ExpectEachBatchOnce(rows);
}

// The recovery's three answers, on real servers: a shard transaction
// prepared for a head transaction that committed is committed, for one
// that aborted rolled back, for one still open left alone.
TEST_F(ShardTest, PreparedTransactionsFollowTheHeadsOutcome) {
  archive::shards::ShardSet set(shard_list_);
  auto head = pg::Connection::Connect(HeadConnInfo());
  ASSERT_TRUE(head.ok()) << head.status();
  // Leaves a shard transaction prepared for a head transaction, which is
  // then committed, rolled back or left open.
  enum class Head { kCommit, kRollback, kOpen };
  const auto leave_prepared = [&](const std::string& table, Head outcome) {
    archive::shards::ShardTransactions txs(&set);
    auto shard = txs.Begin("s2");
    ASSERT_TRUE(shard.ok()) << shard.status();
    ASSERT_TRUE(
        (*shard)->Exec(absl::StrCat("CREATE TABLE ", table, " (x int)")).ok());
    ASSERT_TRUE((*head)->Begin().ok());
    ASSERT_TRUE(
        (*head)->Exec("CREATE TEMP TABLE scratch (x int) ON COMMIT DROP").ok());
    ASSERT_TRUE(txs.Prepare(**head, table).ok());
    txs.Leave();  // as if the ingester died here
    if (outcome == Head::kCommit) {
      ASSERT_TRUE((*head)->Commit().ok());
    } else if (outcome == Head::kRollback) {
      ASSERT_TRUE((*head)->Rollback().ok());
    }
  };
  leave_prepared("committed_on_head", Head::kCommit);
  leave_prepared("rolled_back_on_head", Head::kRollback);
  EXPECT_EQ(
      CountOn(ShardConnInfo("s2"), "SELECT count(*) FROM pg_prepared_xacts"),
      2);
  auto resolver = pg::Connection::Connect(HeadConnInfo());
  ASSERT_TRUE(resolver.ok());
  auto resolved = archive::shards::ResolvePrepared(**resolver, set);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, 2);
  EXPECT_EQ(
      CountOn(
          ShardConnInfo("s2"),
          "SELECT count(*) FROM pg_class WHERE relname = 'committed_on_head'"),
      1);
  EXPECT_EQ(CountOn(ShardConnInfo("s2"),
                    "SELECT count(*) FROM pg_class WHERE relname = "
                    "'rolled_back_on_head'"),
            0);
  EXPECT_EQ(Prepared(), 0);

  leave_prepared("head_still_open", Head::kOpen);
  resolved = archive::shards::ResolvePrepared(**resolver, set);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, 0) << "a load in progress is not touched";
  EXPECT_EQ(Prepared(), 1);
  ASSERT_TRUE((*head)->Commit().ok());
  resolved = archive::shards::ResolvePrepared(**resolver, set);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(*resolved, 1);
  EXPECT_EQ(
      CountOn(
          ShardConnInfo("s2"),
          "SELECT count(*) FROM pg_class WHERE relname = 'head_still_open'"),
      1);
  EXPECT_EQ(Prepared(), 0);
}

TEST_F(ShardTest, MigrateRefusesWhatWouldLoseTrackOfDetections) {
  // A shard the head knows, left out of the config.
  absl::Status s = archive::shards::MigrateShards(*head_, {shard_list_[0]});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(),
              HasSubstr("shard s2 holds detections of this archive"));
  // A shard that cannot be reached is named.
  s = archive::shards::MigrateShards(
      *head_,
      {shard_list_[0], shard_list_[1], {"s3", "host=/nonexistent dbname=x"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("shard s3"));
  // Migrating again changes nothing, and the shards are at the head's
  // schema version.
  EXPECT_TRUE(archive::shards::MigrateShards(*head_, shard_list_).ok());
  const int64_t version = CountOn(
      HeadConnInfo(), "SELECT max(version) FROM curation.schema_migration");
  for (const auto& sh : shard_list_) {
    EXPECT_EQ(CountOn(sh.conninfo,
                      "SELECT max(version) FROM curation.schema_migration"),
              version);
  }
  // A single-server archive with detections is not turned into a head.
  const synth::Options o = Nights(1);
  Generate(o);
  const std::string night = synth::NightName(o, 0);
  Register(night);
  Cu3(night);
  Cu4(night);
  IngestAll();
  s = archive::shards::MigrateShards(*conn_, shard_list_);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("detection partitions of its own"));
}

// The processes as a site runs them, the daemon, a worker and the
// ingester, on a head with two shards: the daemon brings the shards to
// the head's schema at start, the nights land on both shards, and the
// ingester's /metrics count each shard's rows.
class ShardClusterTest : public testing::ClusterTest {};

TEST_F(ShardClusterTest, TheDaemonWorkerAndIngesterLoadNightsOntoTheShards) {
  std::map<std::string, std::unique_ptr<testing::PgServer>> servers;
  std::vector<archive::shards::Shard> shards;
  StartServers(&servers, &shards);
  if (HasFatalFailure()) return;
  const std::string head = servers["head"]->ConnInfo("wsa");
  for (const auto& s : shards) {
    absl::StrAppend(&extra_database_config_, "shards { name: \"", s.name,
                    "\" conninfo: \"", s.conninfo, "\" } ");
  }
  db_override_ = head;
  Generate(Survey(2, 2, 20, 128));
  WriteConfigFor(/*auto_approve=*/true, head, archive_);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  // The daemon migrates the head and the shards at start.
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return CountOn(head, "SELECT count(*) FROM curation.shard") == 2; },
      absl::Seconds(60)))
      << daemon.Log();
  ASSERT_TRUE(AllIngested(6, absl::Seconds(120)))
      << daemon.Log() << worker.Log() << ingester.Log();

  const int64_t detections = Count("SELECT count(*) FROM detection");
  EXPECT_EQ(detections, 2 * 2 * 4 * 20);
  int64_t on_shards = 0;
  for (const auto& s : shards) {
    const int64_t here = CountOn(s.conninfo, "SELECT count(*) FROM detection");
    EXPECT_GT(here, 0) << s.name << " holds one of the two nights";
    on_shards += here;
    EXPECT_EQ(CountOn(s.conninfo,
                      "SELECT max(version) FROM curation.schema_migration"),
              Count("SELECT max(version) FROM curation.schema_migration"));
    EXPECT_EQ(CountOn(s.conninfo, "SELECT count(*) FROM pg_prepared_xacts"), 0);
  }
  EXPECT_EQ(on_shards, detections);

  // The ingester's counters, per shard, from its first batch.
  const auto value = [](const std::string& text, const std::string& series) {
    const size_t at = text.find("\n" + series + " ");
    return at == std::string::npos
               ? -1.0
               : std::stod(text.substr(at + series.size() + 2));
  };
  std::string metrics;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        metrics = testing::Http("GET", ingester_metrics_port_, "/metrics").body;
        return value(metrics,
                     "curator_ingester_shard_rows_total{shard=\"s1\"}") +
                   value(metrics,
                         "curator_ingester_shard_rows_total{shard=\"s2\"}") ==
               static_cast<double>(detections);
      },
      absl::Seconds(10)))
      << metrics;
  EXPECT_EQ(
      value(metrics, "curator_ingester_shard_batches_total{shard=\"s1\"}"), 1);
  EXPECT_EQ(
      value(metrics, "curator_ingester_shard_batches_total{shard=\"s2\"}"), 1);
  EXPECT_EQ(value(metrics, "curator_ingester_shard_waits_total{shard=\"s1\"}"),
            0);
}

}  // namespace
}  // namespace curator
