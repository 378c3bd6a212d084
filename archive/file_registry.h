// Registration of a night's files (DESIGN.md, "Identifiers"): every image
// gets its multiframe_id at once, from the database, recorded with path,
// size and time stamp; each catalogue is linked to its image's
// multiframe_id. Registering again returns the same ids; a file whose
// size or time stamp changed is reported (curation.file_change), never
// given a second id.
#ifndef CURATOR_ARCHIVE_FILE_REGISTRY_H_
#define CURATOR_ARCHIVE_FILE_REGISTRY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/pg.h"

namespace curator::archive {

struct RegisteredFile {
  int64_t file_id = 0;
  int64_t multiframe_id = 0;  // 0 for a catalogue without an image
  std::string path;
  std::string file_name;
  bool is_catalogue = false;
  int64_t bytes = 0;
  absl::Time file_time_stamp;
  bool is_new = false;      // registered by this call
  bool changed = false;     // size or time stamp differ from the record
};

struct NightRegistration {
  std::string night;  // YYYYMMDD
  bool transfer_complete = false;
  std::vector<RegisteredFile> files;  // by file name
  int new_files = 0;
  std::vector<std::string> problems;  // changed files, orphan catalogues
};

// Registers every *.fit / *.fits file in <archive_root>/incoming/<night>/.
// Safe to run concurrently with itself (serialised per night).
absl::StatusOr<NightRegistration> RegisterNight(pg::Connection& conn,
                                                const std::string& archive_root,
                                                const std::string& night);

// The registered image files of a night with their catalogues' names, by
// file name: the input of the CU tasks.
struct ImageFile {
  int64_t multiframe_id = 0;
  std::string path;
  std::string file_name;
  absl::Time file_time_stamp;
  std::string cat_name;  // empty if no catalogue is registered
};
absl::StatusOr<std::vector<ImageFile>> RegisteredImages(pg::Connection& conn,
                                                        const std::string& night);

// The registered catalogues of a night, by file name, with their image's
// multiframe_id and path (0 and "" when the image was never registered).
struct CatalogueFile {
  int64_t multiframe_id = 0;
  std::string path;
  std::string image_path;
};
absl::StatusOr<std::vector<CatalogueFile>> RegisteredCatalogues(pg::Connection& conn,
                                                                const std::string& night);

// True if `night` is YYYYMMDD naming a real calendar day.
bool IsNightName(absl::string_view night);

}  // namespace curator::archive

#endif  // CURATOR_ARCHIVE_FILE_REGISTRY_H_
