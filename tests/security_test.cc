// TLS with client certificates between the daemon, workers and ingester,
// made with deploy/make-test-ca.sh; which callers may change state (a
// certificate the CA signed, or the operator token); and configs that
// would be plaintext without saying so.
#include <filesystem>
#include <fstream>
#include <regex>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "config/config.h"
#include "server/rpc_security.h"
#include "tests/support/cluster_test.h"
#include "tests/support/grpc_health.h"

namespace curator {
namespace {

using ::testing::HasSubstr;

class SecurityTest : public testing::ClusterTest {
 protected:
  // config_ with its security section replaced by `security`.
  std::string ConfigWith(const std::string& name, const std::string& security) {
    std::string text = testing::ReadFileToString(config_);
    text = std::regex_replace(text, std::regex("security \\{[^}]*\\}"), security);
    const std::string path = archive_dir_.Join(name);
    std::ofstream(path) << text;
    return path;
  }
  testing::CommandResult CtlWith(const std::string& config, const std::string& args) {
    return testing::RunCommand(absl::StrCat(Bin("daemon/curatorctl"), " ", args, " --config ",
                                            config, " --daemon 127.0.0.1:", port_, " 2>&1"));
  }
};

TEST_F(SecurityTest, TlsClusterRunsAndOnlyCertificatesOrTheTokenChangeState) {
  Generate(Survey(1, 2));
  WriteConfig(/*auto_approve=*/false, /*tls=*/true);
  testing::Process daemon = Daemon();
  testing::Process w1 = Worker("w1");
  testing::Process ingester = Ingester();
  // The worker's certificate lets it register and heartbeat.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        return Count("SELECT count(*) FROM curation.task") == 3 &&
               Count("SELECT count(*) FROM curation.worker") == 1;
      },
      absl::Seconds(30)))
      << daemon.Log() << w1.Log();
  const std::string ca = tls_dir_ + "/ca.pem";

  // An operator's machine: the CA only, no certificate. Listing is open;
  // approving needs the token, and a wrong one is named as wrong.
  const std::string no_token =
      ConfigWith("no-token.conf", absl::StrCat("security { ca_file: \"", ca, "\" }"));
  testing::CommandResult tasks = CtlWith(no_token, "tasks");
  EXPECT_EQ(tasks.exit_code, 0) << tasks.output;
  EXPECT_THAT(tasks.output, HasSubstr("pending"));
  testing::CommandResult refused = CtlWith(no_token, "approve --all");
  EXPECT_EQ(refused.exit_code, 2) << refused.output;  // refused, not unreachable
  EXPECT_THAT(refused.output, HasSubstr("needs a client certificate signed by the Curator CA, "
                                        "or the operator token"));
  std::ofstream(archive_dir_.Join("wrong-token")) << "a-token-that-is-not-the-right-one\n";
  const std::string wrong = ConfigWith(
      "wrong-token.conf", absl::StrCat("security { ca_file: \"", ca, "\" token_file: \"",
                                       archive_dir_.Join("wrong-token"), "\" }"));
  testing::CommandResult wrong_token = CtlWith(wrong, "approve --all");
  EXPECT_EQ(wrong_token.exit_code, 2);
  EXPECT_THAT(wrong_token.output, HasSubstr("the token is wrong"));
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state <> 'pending'"), 0);

  // A plaintext client cannot talk to the TLS daemon at all.
  const std::string plain = ConfigWith(
      "plain.conf", absl::StrCat("security { plaintext: true token_file: \"", tls_dir_,
                                 "/token\" }"));
  testing::CommandResult plaintext = CtlWith(plain, "approve --all");
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.output;
  // Nor can a client whose certificate another CA signed.
  testing::CommandResult other_ca = testing::RunCommand(absl::StrCat(
      "bash ", Source("deploy/make-test-ca.sh"), " ", archive_dir_.Join("other-ca"), " 2>&1"));
  ASSERT_EQ(other_ca.exit_code, 0) << other_ca.output;
  const std::string other = archive_dir_.Join("other-ca");
  const std::string stranger = ConfigWith(
      "stranger.conf", absl::StrCat("security { ca_file: \"", ca, "\" cert_file: \"", other,
                                    "/node.pem\" key_file: \"", other, "/node.key\" }"));
  testing::CommandResult strange = CtlWith(stranger, "approve --all");
  EXPECT_EQ(strange.exit_code, 3) << strange.output;
  EXPECT_EQ(Count("SELECT count(*) FROM curation.task WHERE state <> 'pending'"), 0);

  // The daemon and the ingester answer health checks over TLS only.
  auto config = LoadConfig(config_);
  ASSERT_TRUE(config.ok()) << config.status();
  auto security = RpcSecurity::FromConfig(*config);
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_EQ(testing::HealthStatus(absl::StrCat("127.0.0.1:", port_),
                                  security->ChannelCredentials()),
            1);
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        return testing::HealthStatus(absl::StrCat("127.0.0.1:", ingester_port_),
                                     security->ChannelCredentials()) == 1;
      },
      absl::Seconds(30)))
      << ingester.Log();
  EXPECT_EQ(testing::HealthStatus(absl::StrCat("127.0.0.1:", ingester_port_)), -1);

  // With the token, over TLS: approved, run on the worker over TLS, and
  // ingested.
  testing::CommandResult approve = Ctl("approve --all");
  EXPECT_EQ(approve.exit_code, 0) << approve.output;
  ASSERT_TRUE(AllIngested(3, absl::Seconds(60))) << daemon.Log() << w1.Log() << ingester.Log();
  EXPECT_EQ(Count("SELECT count(*) FROM detection"), 2 * 4 * 40);
}

TEST_F(SecurityTest, PlaintextOnlyWhenTheConfigSaysSo) {
  WriteConfig(/*auto_approve=*/false);
  const std::string none = ConfigWith("none.conf", "");
  for (const std::string binary : {"daemon/curator-daemon", "worker/curator-worker serve"}) {
    testing::CommandResult r =
        testing::RunCommand(absl::StrCat(Bin(binary), " --config ", none, " 2>&1"));
    EXPECT_EQ(r.exit_code, 1) << binary << ": " << r.output;
    EXPECT_THAT(r.output, HasSubstr("the config has no TLS settings: give security { ca_file "
                                    "cert_file key_file }, or security { plaintext: true }"));
  }
  testing::CommandResult ctl = CtlWith(none, "tasks");
  EXPECT_EQ(ctl.exit_code, 1);
  EXPECT_THAT(ctl.output, HasSubstr("the config has no TLS settings"));
  // Half a TLS setting is refused with what is missing.
  const std::string half = ConfigWith(
      "half.conf", absl::StrCat("security { ca_file: \"/x/ca.pem\" cert_file: \"/x/n.pem\" }"));
  testing::CommandResult r =
      testing::RunCommand(absl::StrCat(Bin("daemon/curator-daemon"), " --config ", half, " 2>&1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("security: cert_file and key_file go together"));
}

}  // namespace
}  // namespace curator
