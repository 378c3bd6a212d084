// Where things live under the archive root. One place, so the generator,
// the daemon, the workers and the ingester agree.
//
//   <root>/incoming/<YYYYMMDD>/        files as transferred (CU1)
//   <root>/incoming/<YYYYMMDD>/TRANSFER_COMPLETE   the night is complete
//   <root>/staging/<YYYYMMDD>/<batch>/ batches ready for the ingester
//   <root>/ingested/, <root>/quarantine/  batches after ingest
//   <root>/jpeg/<YYYYMMDD>/            CU2 previews
#ifndef CURATOR_ARCHIVE_LAYOUT_H_
#define CURATOR_ARCHIVE_LAYOUT_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace curator::layout {

inline constexpr char kIncoming[] = "incoming";
inline constexpr char kStaging[] = "staging";
inline constexpr char kIngested[] = "ingested";
inline constexpr char kQuarantine[] = "quarantine";
inline constexpr char kJpeg[] = "jpeg";
// Written last, atomically, when a night's transfer is complete.
inline constexpr char kTransferMarker[] = "TRANSFER_COMPLETE";

inline std::string IncomingNightDir(absl::string_view root,
                                    absl::string_view night) {
  return absl::StrCat(root, "/", kIncoming, "/", night);
}

inline std::string NightDir(absl::string_view root, absl::string_view area,
                            absl::string_view night) {
  return absl::StrCat(root, "/", area, "/", night);
}

// <root>/<area>/<night>/<batch_id>, area being staging, ingested or
// quarantine.
inline std::string BatchDir(absl::string_view root, absl::string_view area,
                            absl::string_view night, absl::string_view batch_id) {
  return absl::StrCat(root, "/", area, "/", night, "/", batch_id);
}

inline constexpr char kManifest[] = "manifest.json";

}  // namespace curator::layout

#endif  // CURATOR_ARCHIVE_LAYOUT_H_
