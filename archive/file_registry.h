// Registration of a night's files (docs/ARCHITECTURE.md, "Identifiers"): every
// image gets its multiframe_id at once, from the database, recorded with path,
// size and time stamp; each catalogue is linked to its image's
// multiframe_id. Registering again returns the same ids. Once the night's
// tasks are made, a file that appears or whose size or time stamp changed
// is registered for the night's next delivery (a changed image with a new
// multiframe_id; the change also in curation.file_change), and a file gone
// is marked missing, until an operator accepts the delivery
// (AcceptDelivery; docs/ARCHITECTURE.md, "Changing what is live").
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

// A file of the night that is not registered, and why. Recorded in
// curation.refused_file (one row per night and name, first_seen and
// last_seen) so an operator sees it; registering again updates last_seen.
struct RefusedFile {
  std::string name;        // the bytes of the name, as the directory holds them
  std::string name_shown;  // paths::ShowBytes(name): safe to print or store as text
  std::string reason;      // e.g. "the name is not valid UTF-8"
};

struct NightRegistration {
  std::string night;  // YYYYMMDD
  bool transfer_complete = false;
  std::vector<RegisteredFile> files;  // by file name
  int new_files = 0;
  // Registered for the night's next delivery (new or changed since its
  // tasks were made), waiting to be accepted.
  int pending_files = 0;
  std::vector<RefusedFile> refused;   // by name
  // Changed files, orphan catalogues, refused files ("<path>: not
  // registered: <reason>"); every name in them shown with paths::ShowBytes.
  std::vector<std::string> problems;
};

// Registers every *.fit / *.fits file in <archive_root>/incoming/<night>/.
// Any name the file system allows is registered or refused by name (see
// RefusedFile), never failing the night: a name that is not valid UTF-8
// (PostgreSQL text cannot hold it), a hidden name (".x.fit"), a suffix
// right but for case (".FIT"), a symbolic link that is dangling or leads
// outside the archive root, something that is not a regular file, an
// image whose name before .fit/.fits another image of the night has
// (x.fit and x.fits), a second catalogue for one image. Names without a
// FITS suffix in any case (TRANSFER_COMPLETE, logs) are ignored.
// NotFound if the night's directory is missing; InvalidArgument if it
// resolves outside the archive root.
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

// What a night's next delivery changes against the live one: files new
// since its tasks were made, changed (a new version), removed (gone from
// the directory), and files that follow another's change (a catalogue
// whose image has a new version: "relinked"; one whose image is removed:
// "orphaned"). By path.
struct DeliveryChange {
  std::string path;
  bool is_catalogue = false;
  std::string change;             // new, changed, removed, relinked, orphaned
  int64_t old_multiframe_id = 0;  // 0: none
  int64_t new_multiframe_id = 0;  // 0: none (removed, orphaned)
  int64_t old_bytes = 0, new_bytes = 0;
};
struct DeliveryChanges {
  std::string night;
  int delivery = 0;  // the night's live delivery
  std::vector<DeliveryChange> changes;
  bool images_changed() const;
};
absl::StatusOr<DeliveryChanges> PendingChanges(pg::Connection& conn,
                                               const std::string& night);

// Makes the night's next delivery its live one, in the caller's
// transaction (under the night's registration lock): the rows a change
// replaces or removes are superseded by it. Returns what it accepted,
// with the new delivery's number; no changes: nothing was done. The
// frames' archive rows are switched by the ingests that follow
// (docs/ARCHITECTURE.md, "Changing what is live").
absl::StatusOr<DeliveryChanges> AcceptDelivery(pg::Connection& conn,
                                               const std::string& night);

// The nights, not retired, with files waiting in a next delivery (new,
// changed or gone since their delivery), by night.
absl::StatusOr<std::vector<std::string>> NightsWaiting(pg::Connection& conn);

// True if `night` is YYYYMMDD naming a real calendar day.
bool IsNightName(absl::string_view night);

}  // namespace curator::archive

#endif  // CURATOR_ARCHIVE_FILE_REGISTRY_H_
