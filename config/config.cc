#include "config/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"

namespace curator {
namespace {

// Collects the parser's messages with their line and column.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  explicit ErrorCollector(absl::string_view source) : source_(source) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(
        absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override {
    AddError(line, column, message);
  }
  std::string Joined() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::string source_;
  std::vector<std::string> errors_;
};

// `listen`: port 0 (any free port) is allowed.
absl::Status ValidateAddress(absl::string_view field, const std::string& value,
                             bool required, bool listen = false) {
  if (value.empty()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrCat(field, " is not set"));
  }
  size_t colon = value.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(value.substr(colon + 1), &port) || port < (listen ? 0 : 1) ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be host:port with a port in ", listen ? 0 : 1,
                     "..65535, not '", value, "'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::Config> ParseConfig(absl::string_view text,
                                       absl::string_view source) {
  v1::Config config;
  google::protobuf::TextFormat::Parser parser;
  ErrorCollector errors(source);
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse config: ", errors.Joined()));
  }
  CURATOR_RETURN_IF_ERROR(Annotate(ValidateConfig(config),
                                   absl::StrCat("invalid config ", source)));
  return config;
}

absl::StatusOr<v1::Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return ErrnoToStatus(errno, absl::StrCat("config file ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ParseConfig(buffer.str(), path);
}

absl::Status ValidateConfig(const v1::Config& config) {
  if (config.archive_root().empty() || config.archive_root()[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "archive_root must be an absolute path, not '", config.archive_root(),
        "'"));
  }
  if (config.database().conninfo().empty()) {
    return absl::InvalidArgumentError("database.conninfo is not set");
  }
  std::set<std::string> shard_names;
  for (const v1::ShardConfig& shard : config.database().shards()) {
    const std::string& name = shard.name();
    const bool valid =
        !name.empty() && name.size() <= 40 &&
        std::all_of(name.begin(), name.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        });
    if (!valid) {
      return absl::InvalidArgumentError(
          absl::StrCat("database.shards: name '", name,
                       "' must be 1 to 40 lower-case letters, digits or _"));
    }
    if (!shard_names.insert(name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("database.shards: '", name, "' is given twice"));
    }
    if (shard.conninfo().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("database.shards: '", name, "' has no conninfo"));
    }
  }
  if (config.has_daemon()) {
    CURATOR_RETURN_IF_ERROR(ValidateAddress(
        "daemon.listen_address", config.daemon().listen_address(), true, true));
    CURATOR_RETURN_IF_ERROR(ValidateAddress(
        "daemon.monitor_address", config.daemon().monitor_address(), false, true));
    if (const v1::MonitorActionsConfig& a = config.daemon().monitor_actions();
        a.enabled()) {
      CURATOR_RETURN_IF_ERROR(
          ValidateAddress("daemon.monitor_actions.https_address",
                          a.https_address(), true, true));
      if (a.cert_file().empty() != a.key_file().empty()) {
        return absl::InvalidArgumentError(
            "daemon.monitor_actions: cert_file and key_file go together");
      }
      if (a.cert_file().empty() && config.security().cert_file().empty()) {
        return absl::InvalidArgumentError(
            "daemon.monitor_actions needs a certificate and key to serve "
            "HTTPS: its own "
            "cert_file and key_file, or security's");
      }
      if (config.security().token_file().empty() &&
          a.client_ca_file().empty() && config.security().ca_file().empty()) {
        return absl::InvalidArgumentError(
            "daemon.monitor_actions: nobody could sign in; give "
            "security.token_file or a CA "
            "for client certificates");
      }
    }
  }
  if (config.has_worker()) {
    const v1::WorkerConfig& w = config.worker();
    CURATOR_RETURN_IF_ERROR(
        ValidateAddress("worker.listen_address", w.listen_address(), true, true));
    CURATOR_RETURN_IF_ERROR(
        ValidateAddress("worker.daemon_address", w.daemon_address(), true));
    CURATOR_RETURN_IF_ERROR(
        ValidateAddress("worker.metrics_address", w.metrics_address(), false, true));
    if (w.slots() < 1 || w.slots() > 1024) {
      return absl::InvalidArgumentError(absl::StrCat(
          "worker.slots must be in 1..1024, not ", w.slots()));
    }
  }
  if (config.has_security()) {
    const v1::SecurityConfig& s = config.security();
    if (s.plaintext() && (!s.ca_file().empty() || !s.cert_file().empty())) {
      return absl::InvalidArgumentError(
          "security: plaintext: true and TLS files together; choose one");
    }
    if (s.cert_file().empty() != s.key_file().empty()) {
      return absl::InvalidArgumentError("security: cert_file and key_file go together");
    }
    if (!s.cert_file().empty() && s.ca_file().empty()) {
      return absl::InvalidArgumentError("security: cert_file needs ca_file");
    }
  }
  if (const double r = config.cross_match().radius_arcsec();
      !(r >= 0 && r <= 60)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cross_match.radius_arcsec must be in 0..60 arcsec (0: 1), not ", r));
  }
  if (config.has_ingester()) {
    if (config.ingester().poll_interval_ms() == 0) {
      return absl::InvalidArgumentError("ingester.poll_interval_ms must be greater than 0");
    }
    CURATOR_RETURN_IF_ERROR(ValidateAddress("ingester.listen_address",
                                            config.ingester().listen_address(), false, true));
    CURATOR_RETURN_IF_ERROR(ValidateAddress("ingester.metrics_address",
                                            config.ingester().metrics_address(), false, true));
  }
  return absl::OkStatus();
}

absl::Status RequireSection(const v1::Config& config, absl::string_view name) {
  bool present = (name == "daemon" && config.has_daemon()) ||
                 (name == "worker" && config.has_worker()) ||
                 (name == "ingester" && config.has_ingester());
  if (present) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the config has no '", name, "' section"));
}

}  // namespace curator
