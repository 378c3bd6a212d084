// Where a command finds the archive and the database: a config file
// (--config), with --archive and --db overriding it, so one-shot commands
// run by hand need no file. Flags are defined by config/site_flags.cc,
// linked only into binaries.
#ifndef CURATOR_CONFIG_SITE_H_
#define CURATOR_CONFIG_SITE_H_

#include <string>

#include "absl/status/statusor.h"
#include "curator/v1/config.pb.h"

namespace curator {

struct Site {
  v1::Config config;  // archive_root and database.conninfo filled in
};

// From the --config, --archive and --db flags. InvalidArgument naming the
// flag when the database, or the archive root if `need_archive`, is not
// given either way.
absl::StatusOr<Site> SiteFromFlags(bool need_archive = true);

}  // namespace curator

#endif  // CURATOR_CONFIG_SITE_H_
