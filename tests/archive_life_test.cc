// The archive's life after the first load (docs/ARCHITECTURE.md, "Changing
// what is live"), with real processes on loopback: a night re-delivered
// with changed, new and removed files makes, once accepted, the live
// archive a fresh load of the new delivery would; readers see the old
// night or the new one, never a mix; frames deprecated by hand and
// retired nights leave the live views and come back; every action is an
// event naming who asked, and repeating one changes nothing.
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/archive_digest.h"
#include "tests/support/cluster_test.h"
#include "tests/support/http.h"
#include "tests/support/temp_dir.h"

namespace curator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kNight[] = "20071021";

class ArchiveLifeTest : public testing::ClusterTest {
 protected:
  std::string NightDir(const std::string& archive) const {
    return absl::StrCat(archive, "/incoming/", kNight);
  }
  // The night's image file names, sorted (curator-synth's catalogues are
  // <image>_cat.fits).
  std::vector<std::string> Images(const std::string& archive) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(NightDir(archive))) {
      const std::string name = e.path().filename();
      if (absl::EndsWith(name, ".fit")) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  static std::string CatalogueOf(const std::string& image) {
    return image.substr(0, image.size() - 4) + "_cat.fits";
  }
  // Every task of the night ingested, and `replaced` batches replaced.
  bool Settled(int replaced, absl::Duration timeout) {
    return testing::WaitUntil(
        [&] {
          return Count(
                     "SELECT count(*) FILTER (WHERE state <> 'ingested') + "
                     "(count(*) = 0)::int "
                     "FROM curation.task") == 0 &&
                 Count(
                     "SELECT count(*) FROM curation.batch WHERE state = "
                     "'replaced'") == replaced;
        },
        timeout);
  }
  int64_t Frame(const std::string& file, int code) {
    return Count(absl::StrCat(
        "SELECT coalesce(max(multiframe_id), 0) FROM multiframe WHERE "
        "file_name = '",
        file, "' AND deprecated = ", code));
  }
  // The live detections of an image file.
  int64_t DetectionsOf(const std::string& file) {
    return Count(
        absl::StrCat("SELECT count(*) FROM live_detection d JOIN "
                     "multiframe m USING (multiframe_id) WHERE "
                     "m.file_name = '",
                     file, "'"));
  }
  // (count, min obj_id, max obj_id) of the night's live detections.
  static std::string NightDetections(pg::Connection& c) {
    auto r = c.Exec(absl::StrCat(
        "SELECT count(*) || ' ' || coalesce(min(d.obj_id), 0) || ' ' || "
        "coalesce(max(d.obj_id), 0) FROM live_detection d JOIN "
        "multiframe m USING (multiframe_id) WHERE m.night = '",
        kNight, "'"));
    return r.ok() ? r->Get(0, 0) : r.status().ToString();
  }
  // Counts the night's live detections (NightDetections) in a loop, on a
  // connection of its own, until stopped; returns every answer it saw.
  class Reader {
   public:
    explicit Reader(const std::string& conninfo)
        : thread_([this, conninfo] {
            auto c = pg::Connection::Connect(conninfo);
            ASSERT_TRUE(c.ok()) << c.status();
            while (!stop_) seen_.insert(NightDetections(**c));
          }) {}
    std::set<std::string> Stop() {
      stop_ = true;
      thread_.join();
      return seen_;
    }

   private:
    std::atomic<bool> stop_{false};
    std::set<std::string> seen_;
    std::thread thread_;
  };
  // Sends the marker again, as a re-delivery does.
  void TouchMarker(const std::string& archive) {
    const fs::path marker = fs::path(NightDir(archive)) / "TRANSFER_COMPLETE";
    fs::last_write_time(marker,
                        fs::last_write_time(marker) + std::chrono::seconds(10));
  }
};

TEST_F(ArchiveLifeTest, AnAcceptedReDeliveryMakesTheArchiveOfAFreshLoad) {
  Generate(Survey(1, 5, 60, 256));
  // The pipeline's second delivery of the night: other pixels and
  // catalogues under the same names, and a sixth frame.
  testing::TempDir redo;
  synth::Options second = Survey(1, 6, 70, 256);
  second.out_dir = redo.path();
  second.seed = 7;
  Generate(second);

  WriteConfig(/*auto_approve=*/true);
  std::map<std::string, std::string> fresh_digests;
  {
    testing::Process daemon = Daemon();
    testing::Process worker = Worker("w1");
    testing::Process ingester = Ingester();
    ASSERT_TRUE(Settled(0, absl::Seconds(90)))
        << daemon.Log() << ingester.Log();
    const std::vector<std::string> images = Images(archive_);
    ASSERT_EQ(images.size(), 5u);
    const std::vector<int64_t> old_ids = {
        Frame(images[0], 0), Frame(images[1], 0), Frame(images[4], 0)};
    const std::string before = NightDetections(*conn_);

    // Re-delivered: two frames changed, one new, one gone.
    for (const std::string& image :
         {images[0], images[1], Images(redo.path())[5]}) {
      for (const std::string& f : {image, CatalogueOf(image)}) {
        fs::copy_file(NightDir(redo.path()) + "/" + f,
                      NightDir(archive_) + "/" + f,
                      fs::copy_options::overwrite_existing);
      }
    }
    fs::remove(NightDir(archive_) + "/" + images[4]);
    fs::remove(NightDir(archive_) + "/" + CatalogueOf(images[4]));
    TouchMarker(archive_);

    testing::CommandResult changes = Ctl(absl::StrCat("changes ", kNight));
    ASSERT_EQ(changes.exit_code, 0) << changes.output;
    EXPECT_THAT(changes.output, HasSubstr("delivery 1: 8 changes"));
    const auto lines_with = [&](const std::string& word) {
      int n = 0;
      for (absl::string_view l : absl::StrSplit(changes.output, '\n')) {
        n += absl::StartsWith(absl::StripLeadingAsciiWhitespace(l), word);
      }
      return n;
    };
    EXPECT_EQ(lines_with("changed"), 4) << changes.output;
    EXPECT_EQ(lines_with("new"), 2) << changes.output;
    EXPECT_EQ(lines_with("removed"), 2) << changes.output;
    // Nothing changed in the archive yet; the operator sees it waiting.
    EXPECT_EQ(NightDetections(*conn_), before);
    EXPECT_THAT(Ctl("nights").output, HasSubstr("8 files changed, waiting"));
    EXPECT_THAT(testing::Http("GET", monitor_port_, "/metrics").body,
                HasSubstr("\ncurator_files_waiting_acceptance 8\n"));

    // A reader counting the night's detections while it is redone.
    Reader reader(conninfo());
    testing::CommandResult accept = Ctl(absl::StrCat("accept ", kNight));
    ASSERT_EQ(accept.exit_code, 0) << accept.output;
    EXPECT_THAT(accept.output, HasSubstr("delivery 2 accepted"));
    EXPECT_THAT(accept.output, HasSubstr("3 tasks to run again"));
    const bool settled = Settled(3, absl::Seconds(90));
    const std::set<std::string> seen = reader.Stop();
    ASSERT_TRUE(settled) << daemon.Log() << ingester.Log()
                         << Ctl("tasks").output;
    const std::string after = NightDetections(*conn_);
    EXPECT_NE(after, before);
    EXPECT_THAT(seen, ::testing::IsSubsetOf({before, after}));
    EXPECT_TRUE(seen.count(after));

    // The replaced frames stay, deprecated with their reason.
    EXPECT_EQ(Frame(images[0], 10), old_ids[0]);
    EXPECT_EQ(Frame(images[1], 10), old_ids[1]);
    EXPECT_EQ(Frame(images[4], 11), old_ids[2]);
    EXPECT_EQ(
        Count(absl::StrCat(
            "SELECT count(*) FROM curation.deprecation WHERE multiframe_id = ",
            old_ids[0],
            " AND code = 10 AND reason = 'superseded by "
            "delivery 2'")),
        1);
    EXPECT_GT(Frame(images[0], 0), old_ids[0]);  // its new version, live
    EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE deprecated = 90"),
              0);
    EXPECT_THAT(Ctl("nights").output,
                HasSubstr("; delivery 2; 3 frames deprecated\n"));
    const std::string metrics =
        testing::Http("GET", monitor_port_, "/metrics").body;
    EXPECT_THAT(metrics,
                HasSubstr("\ncurator_frames{deprecated=\"superseded\"} 2\n"));
    EXPECT_THAT(metrics,
                HasSubstr("\ncurator_frames{deprecated=\"removed\"} 1\n"));
    EXPECT_THAT(metrics, HasSubstr("\ncurator_files_waiting_acceptance 0\n"));
    // The action is an event, with who asked.
    EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE kind = "
                    "'accept' AND producer = "
                    "'token' AND status = 'done'"),
              1);
    // Accepting again has nothing to do.
    testing::CommandResult again = Ctl(absl::StrCat("accept ", kNight));
    EXPECT_EQ(again.exit_code, 0) << again.output;
    EXPECT_THAT(again.output, HasSubstr("nothing to accept"));
  }

  // A fresh archive that only ever saw the new delivery.
  testing::TempDir fresh;
  fs::create_directories(fresh.path() + "/incoming");
  fs::copy(NightDir(archive_), NightDir(fresh.path()));
  const std::string fresh_db = dbname() + "_fresh";
  ASSERT_TRUE(server().CreateDatabase(fresh_db).ok());
  const std::string fresh_conninfo = server().ConnInfo(fresh_db);
  WriteConfigFor(/*auto_approve=*/true, fresh_conninfo, fresh.path());
  {
    testing::Process daemon = Daemon("fresh-daemon.log");
    testing::Process worker = Worker("w2");
    testing::Process ingester = Ingester("fresh-ingester.log");
    auto c = pg::Connection::Connect(fresh_conninfo);
    ASSERT_TRUE(testing::WaitUntil(
        [&] {
          if (!c.ok()) c = pg::Connection::Connect(fresh_conninfo);
          if (!c.ok()) return false;
          auto r = (*c)->Exec(
              "SELECT count(*) FILTER (WHERE state = 'ingested'), count(*) "
              "FROM curation.task");
          return r.ok() && r->Get(0, 0) == "3" && r->Get(0, 1) == "3";
        },
        absl::Seconds(90)))
        << daemon.Log() << ingester.Log();
  }
  const auto live = testing::ArchiveDigests(conninfo(), /*live=*/true);
  const auto fresh_live =
      testing::ArchiveDigests(fresh_conninfo, /*live=*/true);
  for (const auto& [table, digest] : fresh_live)
    EXPECT_EQ(live.at(table), digest) << table;
}

TEST_F(ArchiveLifeTest,
       DeprecatedFramesAndRetiredNightsLeaveTheLiveViewsAndComeBack) {
  Generate(Survey(1, 3, 50, 256));
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(Settled(0, absl::Seconds(90))) << daemon.Log() << ingester.Log();
  const std::vector<std::string> images = Images(archive_);
  const int64_t detections = Count("SELECT count(*) FROM live_detection");
  const int64_t of_first =
      Count(absl::StrCat("SELECT count(*) FROM detection d JOIN multiframe m "
                         "USING (multiframe_id) WHERE "
                         "m.file_name = '",
                         images[0], "'"));
  ASSERT_GT(of_first, 0);

  // Deprecation needs a reason, the token, and a file the archive has.
  EXPECT_EQ(Ctl(absl::StrCat("deprecate ", images[0])).exit_code, 1);
  testing::CommandResult unknown = Ctl("deprecate nosuch.fit --reason=x");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_THAT(unknown.output,
              HasSubstr("nosuch.fit: no frame of that file is in the archive"));
  testing::CommandResult dep =
      Ctl(absl::StrCat("deprecate ", images[0], " --reason='satellite trail'"));
  ASSERT_EQ(dep.exit_code, 0) << dep.output;
  EXPECT_THAT(dep.output, HasSubstr("1 frames deprecated: satellite trail"));
  EXPECT_EQ(Count("SELECT count(*) FROM live_detection"),
            detections - of_first);
  EXPECT_EQ(Count("SELECT count(*) FROM live_multiframe"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"),
            detections);  // kept for audit
  EXPECT_EQ(Count("SELECT count(*) FROM curation.deprecation WHERE code = 20 "
                  "AND reason = "
                  "'satellite trail'"),
            1);
  // Again: nothing to do, nothing recorded.
  EXPECT_EQ(
      Ctl(absl::StrCat("deprecate ", images[0], " --reason=again")).exit_code,
      0);
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.cu_event WHERE kind = 'deprecate'"),
      1);

  // The night retired: its detections leave, kept in curation_retired.
  EXPECT_EQ(Ctl(absl::StrCat("retire ", kNight)).exit_code, 1);  // no reason
  testing::CommandResult retire =
      Ctl(absl::StrCat("retire ", kNight, " --reason='bad calibration'"));
  ASSERT_EQ(retire.exit_code, 0) << retire.output;
  EXPECT_THAT(retire.output, HasSubstr("1 detection partitions kept"));
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM live_multiframe"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_tables WHERE schemaname = "
                  "'curation_retired'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE deprecated = 30"), 2);
  EXPECT_EQ(Ctl(absl::StrCat("reload ", kNight)).exit_code,
            2);  // retired: refused
  testing::CommandResult twice =
      Ctl(absl::StrCat("retire ", kNight, " --reason=x"));
  EXPECT_EQ(twice.exit_code, 0);
  EXPECT_THAT(twice.output, HasSubstr("retired already"));

  // Restored: as before the retirement (the operator's deprecation stays).
  testing::CommandResult restore = Ctl(absl::StrCat("restore ", kNight));
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), detections);
  EXPECT_EQ(Count("SELECT count(*) FROM live_detection"),
            detections - of_first);
  EXPECT_EQ(Count("SELECT count(*) FROM pg_tables WHERE schemaname = "
                  "'curation_retired'"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE deprecated = 20"), 1);

  testing::CommandResult undep = Ctl(absl::StrCat("undeprecate ", images[0]));
  ASSERT_EQ(undep.exit_code, 0) << undep.output;
  EXPECT_EQ(Count("SELECT count(*) FROM live_detection"), detections);
  // Every action an event: deprecate, retire, restore, undeprecate.
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE cu IS NULL AND "
                  "producer = "
                  "'token'"),
            4);

  // Reload: every task again; readers see the old rows until the new.
  const std::string before = NightDetections(*conn_);
  Reader reader(conninfo());
  testing::CommandResult reload = Ctl(absl::StrCat("reload ", kNight));
  ASSERT_EQ(reload.exit_code, 0) << reload.output;
  EXPECT_THAT(reload.output, HasSubstr("reload of 3 tasks"));
  const bool settled = Settled(3, absl::Seconds(90));
  const std::set<std::string> seen = reader.Stop();
  ASSERT_TRUE(settled) << daemon.Log() << ingester.Log();
  const std::string after = NightDetections(*conn_);
  EXPECT_NE(after, before);  // new obj_ids
  EXPECT_THAT(seen, ::testing::IsSubsetOf({before, after}));
  EXPECT_EQ(Count("SELECT count(*) FROM live_detection"), detections);

  // Without the token, no action.
  std::string text;
  {
    std::ifstream in(config_);
    text.assign(std::istreambuf_iterator<char>(in),
                std::istreambuf_iterator<char>());
  }
  const size_t at = text.find(" token_file:");
  ASSERT_NE(at, std::string::npos);
  text.erase(at, text.find(" }", at) - at);
  std::ofstream(config_ + ".anonymous") << text;
  testing::CommandResult anonymous = testing::RunCommand(absl::StrCat(
      Bin("daemon/curatorctl"), " --daemon 127.0.0.1:", port_, " --config ",
      config_, ".anonymous retire ", kNight, " --reason=x 2>&1"));
  EXPECT_EQ(anonymous.exit_code, 2) << anonymous.output;
  EXPECT_THAT(anonymous.output, HasSubstr("token"));
  EXPECT_EQ(Count("SELECT count(*) FROM multiframe WHERE deprecated = 30"), 0);
}

// With daemon.accept_redeliveries, a night sent again (its marker's time
// stamp moves) is accepted by the policy, recorded as such, and redone.
TEST_F(ArchiveLifeTest, ThePolicyAcceptsANightSentAgain) {
  Generate(Survey(1, 2, 40, 128));
  testing::TempDir redo;
  synth::Options second = Survey(1, 2, 50, 128);
  second.out_dir = redo.path();
  second.seed = 5;
  Generate(second);
  extra_daemon_config_ = "accept_redeliveries: true ";
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(Settled(0, absl::Seconds(90))) << daemon.Log();
  const std::vector<std::string> images = Images(archive_);
  const int64_t old_id = Frame(images[1], 0);
  const int64_t detections_before = DetectionsOf(images[1]);
  ASSERT_GT(detections_before, 0);
  // Changed, but not sent again: nothing happens by itself.
  for (const std::string& f : {images[1], CatalogueOf(images[1])}) {
    fs::copy_file(NightDir(redo.path()) + "/" + f, NightDir(archive_) + "/" + f,
                  fs::copy_options::overwrite_existing);
  }
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.cu_event WHERE kind = "
                  "'accept'"),
            0);
  TouchMarker(archive_);
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count(
                   "SELECT count(*) FROM curation.cu_event WHERE kind = "
                   "'accept' AND producer = 'policy'") == 1;
      },
      absl::Seconds(30)))
      << daemon.Log();
  ASSERT_TRUE(Settled(3, absl::Seconds(90))) << daemon.Log();
  EXPECT_EQ(Frame(images[1], 10), old_id);
  EXPECT_GT(Frame(images[1], 0), old_id);
  // Its detections are the new catalogue's (50 sources a detector, not 40).
  EXPECT_GT(DetectionsOf(images[1]), detections_before);
}

// A delivery seen in steps before it is accepted: a catalogue changed
// before its image follows the image's new version; a file changed twice
// and then gone is forgotten; a retired night runs nothing until it is
// restored.
TEST_F(ArchiveLifeTest, ChangesSeenInStepsEndAsTheLastStepSays) {
  Generate(Survey(1, 3, 40, 128));
  testing::TempDir redo;
  synth::Options second = Survey(1, 3, 50, 128);
  second.out_dir = redo.path();
  second.seed = 9;
  Generate(second);
  WriteConfig(/*auto_approve=*/true);
  testing::Process daemon = Daemon();
  testing::Process worker = Worker("w1");
  testing::Process ingester = Ingester();
  ASSERT_TRUE(Settled(0, absl::Seconds(90))) << daemon.Log();
  const std::vector<std::string> images = Images(archive_);
  const auto bring = [&](const std::string& f) {
    fs::copy_file(NightDir(redo.path()) + "/" + f, NightDir(archive_) + "/" + f,
                  fs::copy_options::overwrite_existing);
  };
  const auto changes = [&] {
    testing::CommandResult c = Ctl(absl::StrCat("changes ", kNight));
    EXPECT_EQ(c.exit_code, 0) << c.output;
    return c.output;
  };
  // Frame 1: the catalogue first, then the image.
  bring(CatalogueOf(images[0]));
  EXPECT_THAT(changes(), HasSubstr("1 changes"));
  bring(images[0]);
  EXPECT_THAT(changes(), HasSubstr("2 changes"));
  // Frame 3's image: changed, changed again (its size too), then gone.
  bring(images[2]);
  changes();
  { std::ofstream(NightDir(archive_) + "/" + images[2], std::ios::app) << "x"; }
  changes();
  fs::remove(NightDir(archive_) + "/" + images[2]);
  const std::string seen = changes();
  // Frame 1's image and catalogue, frame 3's image gone and its catalogue
  // left without one.
  EXPECT_THAT(seen, HasSubstr("4 changes")) << seen;
  EXPECT_THAT(seen, HasSubstr("removed   image")) << seen;
  EXPECT_THAT(seen, HasSubstr("orphaned  catalogue")) << seen;

  testing::CommandResult accept = Ctl(absl::StrCat("accept ", kNight));
  ASSERT_EQ(accept.exit_code, 0) << accept.output;
  ASSERT_TRUE(Settled(3, absl::Seconds(90))) << daemon.Log();
  // Frame 1's new version is live with the new catalogue's detections.
  const int64_t live_id = Frame(images[0], 0);
  EXPECT_GT(live_id, 0);
  EXPECT_GT(DetectionsOf(images[0]), 0);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM detection WHERE "
                               "multiframe_id = ",
                               live_id)),
            DetectionsOf(images[0]));
  EXPECT_GT(Frame(images[2], 11), 0);  // removed
  EXPECT_EQ(Count("SELECT count(*) FROM live_multiframe"), 2);

  // Retired: a rerun of its CU4 waits until the night is restored.
  ASSERT_EQ(Ctl(absl::StrCat("retire ", kNight, " --reason=test")).exit_code,
            0);
  const std::string cu4 =
      std::to_string(Count("SELECT task_id FROM curation.task WHERE cu = 4"));
  ASSERT_EQ(Ctl("rerun " + cu4).exit_code, 0);
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(
      Count("SELECT count(*) FROM curation.task WHERE state = 'approved'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 0);
  ASSERT_EQ(Ctl(absl::StrCat("restore ", kNight)).exit_code, 0);
  ASSERT_TRUE(Settled(4, absl::Seconds(90))) << daemon.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM live_multiframe"), 2);
  EXPECT_EQ(Count("SELECT count(*) - count(DISTINCT obj_id) FROM detection"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM detection d JOIN multiframe m USING "
                  "(multiframe_id) WHERE m.deprecated <> 0"),
            0);
}

// SIGKILLs of the daemon, the worker and the ingester at random moments of
// accepts (the night's content flipping between two deliveries) and
// reloads: after the restarts each run ends with the live archive a load
// of the delivery the night says is live, never between two, and never
// a detection twice. Then the daemon is killed while it makes a release:
// the release is whole (it verifies) or not there at all.
TEST_F(ArchiveLifeTest,
       KillsDuringAcceptsReloadsAndReleasesLeaveTheOldStateOrTheNew) {
  Generate(Survey(1, 3, 40, 128));
  testing::TempDir b;
  synth::Options other = Survey(1, 3, 55, 128);
  other.out_dir = b.path();
  other.seed = 11;
  Generate(other);
  testing::TempDir a;  // the first delivery, kept
  fs::create_directories(a.path() + "/incoming");
  fs::copy(NightDir(archive_), NightDir(a.path()));

  WriteConfig(/*auto_approve=*/true);
  std::optional<testing::Process> procs[3];
  const auto start = [&](int i) {
    procs[i].reset();
    if (i == 0) procs[i].emplace(Daemon());
    if (i == 1) procs[i].emplace(Worker("w1"));
    if (i == 2) procs[i].emplace(Ingester());
  };
  for (int i = 0; i < 3; ++i) start(i);
  const auto settle = [&]() {
    return testing::WaitUntil(
        [&] {
          return Count(
                     "SELECT count(*) FILTER (WHERE state <> 'ingested') + "
                     "(count(*) = 0)::int "
                     "FROM curation.task") == 0 &&
                 Count(
                     "SELECT count(*) FROM multiframe WHERE deprecated = 90") ==
                     0 &&
                 Count(
                     "SELECT count(*) FROM curation.night WHERE delivery <> "
                     "published_delivery") == 0;
        },
        absl::Seconds(120));
  };
  ASSERT_TRUE(settle()) << procs[0]->Log();
  std::map<int, std::map<std::string, std::string>>
      digest_of;  // content -> live digest
  digest_of[0] = testing::ArchiveDigests(conninfo(), /*live=*/true);

  std::mt19937 random(20071021);
  int kills = 0;
  int releases = 0;  // of the ten tried
  int content = 0;  // 0: delivery A's files, 1: B's
  for (int run = 0; run < 10; ++run) {
    const bool accept = run % 2 == 0;
    if (accept) {
      content = 1 - content;
      const std::string from = content == 0 ? a.path() : b.path();
      for (const auto& e : fs::directory_iterator(NightDir(from))) {
        if (e.path().filename() == "TRANSFER_COMPLETE") continue;
        fs::copy_file(e.path(), NightDir(archive_) / e.path().filename(),
                      fs::copy_options::overwrite_existing);
      }
    }
    const int64_t delivery_before =
        Count("SELECT delivery FROM curation.night");
    std::thread action([&, accept] {
      (void)Ctl(absl::StrCat(accept ? "accept " : "reload ", kNight));
    });
    // Two kills, each of any process, at any moment of the action.
    for (int k = 0; k < 2; ++k) {
      absl::SleepFor(absl::Milliseconds(
          std::uniform_int_distribution<int>(0, 1500)(random)));
      const int victim = std::uniform_int_distribution<int>(0, 2)(random);
      procs[victim]->Signal(SIGKILL);
      procs[victim]->Wait(absl::Seconds(10));
      ++kills;
      start(victim);
    }
    action.join();
    // The operator sees what is left and asks again: an accept the kill
    // cut off is accepted now, a reload is done again (it is idempotent).
    if (accept &&
        Count("SELECT delivery FROM curation.night") == delivery_before) {
      testing::WaitUntil(
          [&] { return Ctl(absl::StrCat("accept ", kNight)).exit_code == 0; },
          absl::Seconds(60));
    }
    ASSERT_TRUE(settle()) << "run " << run << ": " << Ctl("tasks").output
                          << procs[0]->Log();
    const int64_t delivery = Count("SELECT delivery FROM curation.night");
    EXPECT_EQ((delivery - 1) % 2, content) << "run " << run;
    const auto live = testing::ArchiveDigests(conninfo(), /*live=*/true);
    if (!digest_of.count(content)) digest_of[content] = live;
    for (const auto& [table, digest] : digest_of[content]) {
      EXPECT_EQ(live.at(table), digest) << "run " << run << ", " << table;
    }
    EXPECT_EQ(Count("SELECT count(*) - count(DISTINCT obj_id) FROM detection"),
              0);

    // A release made while the daemon is killed: whole, or none at all.
    const std::string name = absl::StrCat("r", run);
    std::thread create([&] { (void)Ctl("release create " + name); });
    absl::SleepFor(
        absl::Milliseconds(std::uniform_int_distribution<int>(0, 400)(random)));
    procs[0]->Signal(SIGKILL);
    procs[0]->Wait(absl::Seconds(10));
    ++kills;
    start(0);
    create.join();
    const int64_t schema = Count(absl::StrCat(
        "SELECT count(*) FROM pg_namespace WHERE nspname = 'release_", name,
        "'"));
    const int64_t manifest = Count(
        absl::StrCat("SELECT count(*) FROM curation.release WHERE name = '",
                     name, "' AND state = 'frozen'"));
    EXPECT_EQ(schema, manifest) << "run " << run;
    if (manifest == 1) {
      testing::CommandResult verify;
      testing::WaitUntil(
          [&] {
            verify = Ctl("release verify " + name);
            return verify.exit_code != 3;  // the daemon is back
          },
          absl::Seconds(30));
      EXPECT_EQ(verify.exit_code, 0) << "run " << run << ": " << verify.output;
      ++releases;
    }
  }
  EXPECT_GE(kills, 30);
  RecordProperty("releases_made", releases);
  // The two contents really differ, so the check above could fail.
  EXPECT_NE(digest_of[0].at("detection"), digest_of[1].at("detection"));
}

}  // namespace
}  // namespace curator
