#include "config/config.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

constexpr char kSite[] = R"pb(
  archive_root: "/srv/curator"
  database { conninfo: "host=db1 dbname=wsa user=curator" }
  daemon { listen_address: "0.0.0.0:7400" monitor_address: "0.0.0.0:7480" }
  worker {
    listen_address: "0.0.0.0:7401"
    daemon_address: "pixel0:7400"
    slots: 4
  }
  ingester { poll_interval_ms: 500 }
)pb";

TEST(ConfigTest, ParsesAFullSiteConfig) {
  auto config = ParseConfig(kSite, "curator.conf");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->archive_root(), "/srv/curator");
  EXPECT_EQ(config->worker().slots(), 4u);
  EXPECT_EQ(config->worker().daemon_address(), "pixel0:7400");
  EXPECT_EQ(config->ingester().poll_interval_ms(), 500u);
  EXPECT_TRUE(RequireSection(*config, "daemon").ok());
}

TEST(ConfigTest, TheExampleSiteConfigIsValid) {
  auto config = LoadConfig(std::string(CURATOR_SOURCE_DIR) + "/deploy/curator.conf.example");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->archive_root(), "/srv/curator/archive");
  for (const char* section : {"daemon", "worker", "ingester"}) {
    EXPECT_TRUE(RequireSection(*config, section).ok()) << section;
  }
}

TEST(ConfigTest, UnknownFieldIsAnErrorWithItsPosition) {
  auto config = ParseConfig("archive_root: \"/a\"\narchive_rot: \"/b\"\n",
                            "curator.conf");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("curator.conf:2:"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("archive_rot"));
}

TEST(ConfigTest, ValidationNamesTheField) {
  struct Case { const char* text; const char* expected;
  } cases[] = {
      {"database { conninfo: \"x\" }", "archive_root must be an absolute path"},
      {"archive_root: \"srv\" database { conninfo: \"x\" }", "not 'srv'"},
      {"archive_root: \"/srv\"", "database.conninfo is not set"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } "
       "daemon { listen_address: \"host\" }",
       "daemon.listen_address must be host:port"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } "
       "daemon { listen_address: \"h:70000\" }",
       "..65535, not 'h:70000'"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } worker { "
       "listen_address: \"h:1\" daemon_address: \"d:2\" slots: 0 }",
       "worker.slots must be in 1..1024, not 0"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } ingester {}",
       "ingester.poll_interval_ms must be greater than 0"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } daemon { "
       "listen_address: "
       "\"h:1\" monitor_actions { enabled: true } }",
       "daemon.monitor_actions.https_address is not set"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } daemon { "
       "listen_address: "
       "\"h:1\" monitor_actions { enabled: true https_address: \"h:2\" } }",
       "needs a certificate and key to serve HTTPS"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" } daemon { "
       "listen_address: "
       "\"h:1\" monitor_actions { enabled: true https_address: \"h:2\" "
       "cert_file: \"/c\" "
       "key_file: \"/k\" } }",
       "nobody could sign in"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" shards { name: "
       "\"S-1\" conninfo: \"y\" } }",
       "database.shards: name 'S-1' must be 1 to 40 lower-case letters"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" shards { name: "
       "\"s1\" conninfo: \"y\" } shards { name: \"s1\" conninfo: \"z\" } }",
       "database.shards: 's1' is given twice"},
      {"archive_root: \"/srv\" database { conninfo: \"x\" shards { name: "
       "\"s1\" } }",
       "database.shards: 's1' has no conninfo"},
  };
  for (const Case& c : cases) {
    auto config = ParseConfig(c.text, "t.conf");
    ASSERT_FALSE(config.ok()) << c.text;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.expected)) << c.text;
  }
}

TEST(ConfigTest, MissingSectionIsFailedPrecondition) {
  auto config = ParseConfig("archive_root: \"/a\" database { conninfo: \"x\" }",
                            "t.conf");
  ASSERT_TRUE(config.ok());
  absl::Status s = RequireSection(*config, "worker");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(s.message()), HasSubstr("no 'worker' section"));
}

TEST(ConfigTest, LoadsFromFileAndReportsMissingFile) {
  testing::TempDir dir;
  {
    std::ofstream out(dir.Join("curator.conf"));
    out << kSite;
  }
  auto config = LoadConfig(dir.Join("curator.conf"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->daemon().listen_address(), "0.0.0.0:7400");

  auto missing = LoadConfig(dir.Join("nope.conf"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope.conf"));
}

}  // namespace
}  // namespace curator
