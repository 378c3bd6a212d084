// Releases (curatorctl release create | list | verify | drop), with the
// daemon, a worker and the ingester as real processes: a release is a
// frozen copy of the live archive of its nights, as it was; later
// ingests and deprecations leave it as it was made; verify names a table
// changed by hand; writes are refused; nights still loading are refused,
// named; a daemon killed while it makes one leaves nothing behind.
#include <google/protobuf/util/json_util.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "archive/layout.h"
#include "curator/v1/services.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/cluster_test.h"

namespace curator {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class ReleaseTest : public testing::ClusterTest {
 protected:
  // table -> "rows/checksum" of a release's manifest.
  std::map<std::string, std::string> Manifest(const std::string& release) {
    auto r = conn_->Exec(
        "SELECT table_name, rows || '/' || checksum FROM "
        "curation.release_table WHERE release = $1",
        {release});
    EXPECT_TRUE(r.ok()) << r.status();
    std::map<std::string, std::string> out;
    for (int i = 0; r.ok() && i < r->rows(); ++i)
      out[r->Get(i, 0)] = r->Get(i, 1);
    return out;
  }
  // The same, as `release verify --json` recomputes it now.
  std::map<std::string, std::string> Recomputed(const std::string& release,
                                                int* exit_code) {
    testing::CommandResult r = Ctl("release verify " + release + " --json");
    *exit_code = r.exit_code;
    v1::VerifyReleaseResponse verify;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(r.output, &verify).ok())
        << r.output;
    std::map<std::string, std::string> out;
    for (const auto& t : verify.tables())
      out[t.table()] = absl::StrCat(t.rows(), "/", t.checksum());
    return out;
  }
  int64_t Schemas(const std::string& name) {
    return Count(absl::StrCat(
        "SELECT count(*) FROM pg_namespace WHERE nspname = '", name, "'"));
  }
  // config_ with its security section replaced by `security`.
  std::string ConfigWith(const std::string& name, const std::string& security) {
    std::string text = testing::ReadFileToString(config_);
    text =
        std::regex_replace(text, std::regex("security \\{[^}]*\\}"), security);
    const std::string path = archive_dir_.Join(name);
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(
    ReleaseTest,
    AReleaseStaysAsMadeWhileTheArchiveChangesAndVerifyNamesATableChangedByHand) {
  // Three nights over one revisited sky (so sources span nights); the
  // third arrives later.
  synth::Options o = Survey(3, 4, 40, 128);
  o.sky = synth::SkyMode::kRevisit;
  o.fields = 2;
  o.bands = "JK";
  Generate(o);
  const std::string n1 = synth::NightName(o, 0), n2 = synth::NightName(o, 1),
                    n3 = synth::NightName(o, 2);
  const std::string marker = absl::StrCat(
      layout::IncomingNightDir(archive_, n3), "/", layout::kTransferMarker);
  const std::string parked = archive_dir_.Join("parked-marker");
  std::filesystem::rename(marker, parked);
  extra_config_ = "cross_match { enabled: true radius_arcsec: 1 }\n";
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(2 * 4, absl::Seconds(120)))
      << daemon.Log() << ingester.Log();

  // r1: both nights, everything live.
  testing::CommandResult made = Ctl("release create r1");
  ASSERT_EQ(made.exit_code, 0) << made.output << daemon.Log();
  EXPECT_THAT(made.output, HasSubstr(absl::StrCat(
                               "release r1: schema release_r1, 2 nights (", n1,
                               " to ", n2, ")")));
  EXPECT_THAT(made.output, HasSubstr("by token"));
  const std::map<std::string, std::string> manifest = Manifest("r1");
  EXPECT_EQ(manifest.size(), 7u);
  const int64_t detections = Count("SELECT count(*) FROM release_r1.detection");
  ASSERT_GT(detections, 0);
  EXPECT_EQ(detections, Count("SELECT count(*) FROM live_detection"));
  EXPECT_THAT(manifest.at("detection"),
              ::testing::StartsWith(absl::StrCat(detections, "/")));
  EXPECT_EQ(Count("SELECT count(*) FROM release_r1.multiframe"),
            Count("SELECT count(*) FROM live_multiframe"));
  EXPECT_EQ(Count("SELECT count(*) FROM release_r1.multiframe_header_card"),
            Count("SELECT count(*) FROM multiframe_header_card"));
  ASSERT_GT(Count("SELECT count(*) FROM release_r1.source"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM release_r1.source"),
            Count("SELECT count(*) FROM source"));
  EXPECT_EQ(Count("SELECT count(*) FROM release_r1.source_detection"),
            detections);
  EXPECT_EQ(Count("SELECT count(*) FROM release_r1.source_night"), 2);
  // With its keys and Q3C indexes; its event says who asked.
  EXPECT_EQ(Count("SELECT count(*) FROM pg_indexes WHERE schemaname = "
                  "'release_r1' AND indexdef LIKE '%q3c_ang2ipix%'"),
            2);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_indexes WHERE schemaname = "
                  "'release_r1' AND indexname LIKE '%pkey'"),
            7);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event e JOIN "
                  "curation.release r USING (cu_event_id) WHERE r.name = 'r1' "
                  "AND e.kind = 'release create' AND e.cu IS NULL AND "
                  "e.producer = 'token' AND e.status = 'done'"),
            1);
  // Once made, the same name again is refused, and changes nothing.
  testing::CommandResult again = Ctl("release create r1");
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_THAT(again.output, HasSubstr("release r1 exists"));
  EXPECT_EQ(Manifest("r1"), manifest);

  // r2: the first night only. Its sources are those its detections link
  // to, with their statistics as of now (README, "Releases").
  testing::CommandResult first = Ctl("release create r2 --until " + n1);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_THAT(first.output,
              HasSubstr(absl::StrCat("1 night (", n1, "), until ", n1)));
  EXPECT_EQ(Count("SELECT count(*) FROM release_r2.detection"),
            Count(absl::StrCat(
                "SELECT count(*) FROM live_detection d JOIN multiframe m USING "
                "(multiframe_id) WHERE m.night = DATE '",
                n1, "'")));
  EXPECT_EQ(
      Count("SELECT count(*) FROM release_r2.source s WHERE NOT EXISTS (SELECT "
            "1 FROM release_r2.source_detection l WHERE l.source_id = "
            "s.source_id)"),
      0);
  EXPECT_EQ(Count("SELECT count(*) FROM release_r2.source_night"), 1);

  // The third night arrives while dispatch is paused: its tasks wait,
  // approved, and a release of every night is refused, naming them.
  ASSERT_EQ(Ctl("pause").exit_code, 0);
  std::filesystem::rename(parked, marker);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(absl::StrCat(
                   "SELECT count(*) FROM curation.task WHERE night = DATE '",
                   n3, "' AND state = 'approved'")) == 4;
      },
      absl::Seconds(30)))
      << daemon.Log();
  testing::CommandResult loading = Ctl("release create r3");
  EXPECT_EQ(loading.exit_code, 2) << loading.output;
  EXPECT_THAT(loading.output,
              HasSubstr(absl::StrCat("nights still loading: ", n3, " (task ")));
  EXPECT_THAT(loading.output, HasSubstr("CU3 approved"));
  EXPECT_THAT(loading.output, Not(HasSubstr(n2 + " (")));
  EXPECT_EQ(Schemas("release_r3"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.release WHERE name = 'r3'"),
            0);
  // The nights before it can be released meanwhile.
  testing::CommandResult before = Ctl("release create r3 --until " + n2);
  EXPECT_EQ(before.exit_code, 0) << before.output;
  EXPECT_EQ(Manifest("r3").at("detection"), manifest.at("detection"));

  // The live archive changes: the third night is loaded, a frame of the
  // first is deprecated (by SQL: the deprecate command is not here yet).
  ASSERT_EQ(Ctl("resume").exit_code, 0);
  ASSERT_TRUE(AllIngested(3 * 4, absl::Seconds(120)))
      << daemon.Log() << ingester.Log();
  ASSERT_TRUE(
      conn_
          ->Exec(absl::StrCat(
              "UPDATE multiframe SET deprecated = 20 WHERE multiframe_id = "
              "(SELECT min(multiframe_id) FROM multiframe WHERE night = DATE '",
              n1, "')"))
          .ok());
  ASSERT_LT(Count(absl::StrCat(
                "SELECT count(*) FROM live_detection d JOIN multiframe m USING "
                "(multiframe_id) WHERE m.night <= DATE '",
                n2, "'")),
            detections);
  ASSERT_GT(Count("SELECT count(*) FROM detection"), detections);

  // r1 is as it was made: its rows, its manifest, its checksums now.
  EXPECT_EQ(Count("SELECT count(*) FROM release_r1.detection"), detections);
  EXPECT_EQ(Manifest("r1"), manifest);
  int verified = -1;
  EXPECT_EQ(Recomputed("r1", &verified), manifest);
  EXPECT_EQ(verified, 0);
  testing::CommandResult ok = Ctl("release verify r1");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(
      ok.output,
      HasSubstr("release r1: unchanged, as its manifest says (7 tables"));

  // Writes are refused by the release's trigger, whoever asks.
  for (const char* sql :
       {"DELETE FROM release_r1.source", "TRUNCATE release_r1.detection",
        "UPDATE release_r1.multiframe SET deprecated = 20",
        "INSERT INTO release_r1.source_night SELECT * FROM source_night"}) {
    auto refused = conn_->Exec(sql);
    ASSERT_FALSE(refused.ok()) << sql;
    EXPECT_THAT(refused.status().message(), HasSubstr("release r1 is frozen"))
        << sql;
  }
  // A row changed behind the trigger's back (as a replica would write):
  // verify names the table, and only it.
  ASSERT_TRUE(
      conn_
          ->ExecScript(
              "SET session_replication_role = replica; UPDATE "
              "release_r1.detection SET aper_mag_3 = aper_mag_3 + 0.001 WHERE "
              "obj_id = (SELECT min(obj_id) FROM release_r1.detection); SET "
              "session_replication_role = origin")
          .ok());
  testing::CommandResult changed = Ctl("release verify r1");
  EXPECT_EQ(changed.exit_code, 2) << changed.output;
  EXPECT_THAT(changed.output, HasSubstr("release r1: CHANGED"));
  EXPECT_THAT(changed.output, HasSubstr("  detection: checksum "));
  EXPECT_THAT(changed.output,
              Not(HasSubstr("detection: " + std::to_string(detections))));
  EXPECT_THAT(changed.output, Not(HasSubstr("multiframe")));
  // So does a trigger disabled.
  ASSERT_TRUE(
      conn_
          ->Exec("ALTER TABLE release_r1.source DISABLE TRIGGER release_frozen")
          .ok());
  EXPECT_THAT(
      Ctl("release verify r1").output,
      HasSubstr("source: its release_frozen trigger is missing or disabled"));

  // Listed with its nights and size; then dropped, with its event; a
  // second drop finds nothing.
  testing::CommandResult list = Ctl("release list");
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("release r1: schema release_r1"));
  EXPECT_THAT(list.output, HasSubstr("release r2: schema release_r2"));
  testing::CommandResult drop = Ctl("release drop r1");
  ASSERT_EQ(drop.exit_code, 0) << drop.output;
  EXPECT_THAT(drop.output, HasSubstr("release r1 dropped: "));
  EXPECT_EQ(Schemas("release_r1"), 0);
  EXPECT_EQ(Manifest("r1").size(), 0u);
  EXPECT_EQ(
      Count(
          "SELECT count(*) FROM curation.release r JOIN curation.cu_event e ON "
          "e.cu_event_id = r.drop_event_id WHERE r.name = 'r1' AND r.state = "
          "'dropped' AND e.kind = 'release drop' AND e.producer = 'token'"),
      1);
  testing::CommandResult dropped = Ctl("release drop r1");
  EXPECT_EQ(dropped.exit_code, 2) << dropped.output;
  EXPECT_THAT(dropped.output, HasSubstr("no release r1: it was dropped at"));
  EXPECT_THAT(Ctl("release list").output, Not(HasSubstr("release r1:")));
  EXPECT_EQ(Ctl("release verify r1").exit_code, 2);
  // The other releases are untouched by it all.
  testing::CommandResult other = Ctl("release verify r2");
  EXPECT_EQ(other.exit_code, 0) << other.output;
}

TEST_F(ReleaseTest,
       CommandsSayWhatIsWrongAndChangesNeedTheTokenOrACertificate) {
  Generate(Survey(1, 2));
  WriteConfig(/*auto_approve=*/false);
  testing::Process daemon = Daemon();
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Count("SELECT count(*) FROM curation.task") == 3; },
      absl::Seconds(30)))
      << daemon.Log();

  // Bad usage: exit 1, before or at the daemon.
  EXPECT_EQ(Ctl("release").exit_code, 1);
  EXPECT_EQ(Ctl("release create").exit_code, 1);
  EXPECT_EQ(Ctl("release list r1").exit_code, 1);
  EXPECT_EQ(Ctl("release verify r1 --until 20071021").exit_code, 1);
  testing::CommandResult name = Ctl("release create Bad-Name");
  EXPECT_EQ(name.exit_code, 1) << name.output;
  EXPECT_THAT(name.output, HasSubstr("1 to 40 of a-z, 0-9 and _"));
  testing::CommandResult night = Ctl("release create r1 --until 20071345");
  EXPECT_EQ(night.exit_code, 1) << night.output;
  EXPECT_THAT(night.output, HasSubstr("'20071345' is not a night (YYYYMMDD)"));

  // Without the token: listing and verifying are open, changes refused.
  const std::string no_token =
      ConfigWith("no-token.conf", "security { plaintext: true }");
  auto ctl = [&](const std::string& args) {
    return testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"), " ", args,
                                            " --config ", no_token,
                                            " --daemon 127.0.0.1:", port_));
  };
  testing::CommandResult refused = ctl("release create r1");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_THAT(refused.output,
              HasSubstr("changing state needs the operator token"));
  EXPECT_EQ(ctl("release drop r1").exit_code, 2);
  testing::CommandResult list = ctl("release list");
  EXPECT_EQ(list.exit_code, 0) << list.output;
  EXPECT_THAT(list.output, HasSubstr("no releases"));
  EXPECT_EQ(
      Count(
          "SELECT count(*) FROM curation.cu_event WHERE kind LIKE 'release%'"),
      0);

  // With it: the night's tasks are pending, so it is still loading.
  testing::CommandResult pending = Ctl("release create r1");
  EXPECT_EQ(pending.exit_code, 2) << pending.output;
  EXPECT_THAT(pending.output,
              HasSubstr("nights still loading: 20071021 (task "));
  EXPECT_THAT(pending.output, HasSubstr("CU4 pending"));
  // Nothing before it: nothing to release.
  testing::CommandResult empty = Ctl("release create r1 --until 20071020");
  EXPECT_EQ(empty.exit_code, 2) << empty.output;
  EXPECT_THAT(
      empty.output,
      HasSubstr("no frames of nights up to 20071020: nothing to release"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.release"), 0);
  EXPECT_EQ(
      Count("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'release%'"),
      0);
  testing::CommandResult missing = Ctl("release verify nosuch");
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("no release nosuch"));
  EXPECT_EQ(Ctl("release drop nosuch").exit_code, 2);
  // A schema of that name made by someone else is not taken over.
  ASSERT_TRUE(conn_->Exec("CREATE SCHEMA release_mine").ok());
  testing::CommandResult taken = Ctl("release create mine --until 20071020");
  EXPECT_EQ(taken.exit_code, 2) << taken.output;
  EXPECT_THAT(taken.output,
              HasSubstr("a schema release_mine exists that is no release"));

  // --json answers as the other commands do, and describe lists them.
  testing::CommandResult json = Ctl("release list --json");
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.output, HasSubstr("{\"releases\":[]}"));
  EXPECT_THAT(Ctl("describe --json").output,
              HasSubstr("{\"name\":\"release create\",\"help\":"));
}

TEST_F(ReleaseTest,
       ADaemonKilledWhileMakingAReleaseLeavesNoneAndTheNextOneIsWhole) {
  Generate(Survey(1, 2));
  // Over TLS: curatorctl's certificate is who asks.
  WriteConfig(/*auto_approve=*/true, /*tls=*/true);
  auto daemon = std::make_unique<testing::Process>(Daemon());
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60)))
      << daemon->Log() << ingester.Log();

  // Its manifest waits behind a lock, every table copied in the
  // release's transaction; then the daemon is killed.
  auto holder = pg::Connection::Connect(conninfo());
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(
      (*holder)
          ->ExecScript("BEGIN; LOCK TABLE curation.release_table IN ACCESS "
                       "EXCLUSIVE MODE")
          .ok());
  auto ctl = testing::Process::Start(
      {Bin("daemon/curatorctl"), "release", "create", "k", "--config", config_,
       "--daemon", absl::StrCat("127.0.0.1:", port_)},
      archive_dir_.Join("ctl.log"));
  ASSERT_TRUE(ctl.ok()) << ctl.status();
  const std::string waiting =
      "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
      "AND query LIKE 'INSERT INTO curation.release_table%'";
  ASSERT_TRUE(testing::WaitUntil([&] { return Count(waiting) == 1; },
                                 absl::Seconds(30)))
      << daemon->Log() << ctl->Log();
  EXPECT_EQ(Schemas("release_k"), 0);  // not committed: nobody else sees it
  daemon->Signal(SIGKILL);
  EXPECT_TRUE(daemon->Wait(absl::Seconds(10)).has_value());
  EXPECT_NE(ctl->Wait(absl::Seconds(30)).value_or(0), 0) << ctl->Log();
  // The lock goes; the orphaned transaction finds its client gone and is
  // rolled back.
  ASSERT_TRUE((*holder)->ExecScript("ROLLBACK").ok());
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                   "'INSERT INTO curation.release_table%'") == 0;
      },
      absl::Seconds(30)));
  EXPECT_EQ(Schemas("release_k"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM curation.release"), 0);
  EXPECT_EQ(
      Count(
          "SELECT count(*) FROM curation.cu_event WHERE kind LIKE 'release%'"),
      0);

  // A restarted daemon makes it whole.
  daemon = std::make_unique<testing::Process>(Daemon("daemon2.log"));
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return Ctl("release list").exit_code == 0; }, absl::Seconds(30)))
      << daemon->Log();
  testing::CommandResult made = Ctl("release create k");
  ASSERT_EQ(made.exit_code, 0) << made.output << daemon->Log();
  EXPECT_EQ(Count("SELECT count(*) FROM release_k.detection"),
            Count("SELECT count(*) FROM live_detection"));
  EXPECT_EQ(Ctl("release verify k").exit_code, 0);
  EXPECT_THAT(made.output, HasSubstr("by cert:curator-node"));
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'release "
            "create' AND producer = 'cert:curator-node'"),
      1);
}

}  // namespace
}  // namespace curator
