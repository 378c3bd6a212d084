#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "config/site.h"

ABSL_FLAG(std::string, config, "", "Curator config file (protobuf text format)");
ABSL_FLAG(std::string, archive, "", "Archive root (overrides archive_root of --config)");
ABSL_FLAG(std::string, db, "",
          "libpq connection string (overrides database.conninfo of --config)");

namespace curator {

absl::StatusOr<Site> SiteFromFlags(bool need_archive) {
  Site site;
  const std::string path = absl::GetFlag(FLAGS_config);
  if (!path.empty()) {
    absl::StatusOr<v1::Config> config = LoadConfig(path);
    if (!config.ok()) return config.status();
    site.config = *std::move(config);
  }
  if (!absl::GetFlag(FLAGS_archive).empty()) {
    site.config.set_archive_root(absl::GetFlag(FLAGS_archive));
  }
  if (!absl::GetFlag(FLAGS_db).empty()) {
    site.config.mutable_database()->set_conninfo(absl::GetFlag(FLAGS_db));
  }
  if (need_archive &&
      (site.config.archive_root().empty() || site.config.archive_root()[0] != '/')) {
    return absl::InvalidArgumentError(
        "give the archive root as an absolute path: --archive DIR or --config FILE");
  }
  if (site.config.database().conninfo().empty()) {
    return absl::InvalidArgumentError(
        "give the database: --db CONNINFO or --config FILE");
  }
  return site;
}

}  // namespace curator
