#include "archive/file_registry.h"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "archive/layout.h"
#include "archive/paths.h"
#include "base/status.h"
#include "db/lock_keys.h"

namespace curator::archive {
namespace {

namespace fs = std::filesystem;

// Timestamps travel as microseconds since the Unix epoch, exactly.
std::string MicrosParam(absl::Time t) {
  return std::to_string(absl::ToUnixMicros(t));
}
constexpr char kFromMicros[] = "(timestamptz 'epoch' + $%d * interval '1 microsecond')";

std::string ImageNameOfCatalogue(const std::string& name) {
  // w20071021_00123_cat.fits -> w20071021_00123
  for (const char* suffix : {"_cat.fits", "_cat.fit"}) {
    if (absl::EndsWith(name, suffix)) return name.substr(0, name.size() - strlen(suffix));
  }
  return "";
}

bool IsCatalogueName(const std::string& name) {
  return absl::EndsWith(name, "_cat.fits") || absl::EndsWith(name, "_cat.fit");
}

std::string StemOfImage(const std::string& name) {
  for (const char* suffix : {".fits", ".fit"}) {
    if (absl::EndsWith(name, suffix)) return name.substr(0, name.size() - strlen(suffix));
  }
  return name;
}

// What a directory entry's name makes of it.
enum class NameKind { kIgnored, kFits, kWrongCase };

NameKind KindOfName(const std::string& name, std::string* suffix) {
  for (const char* s : {"_cat.fits", "_cat.fit", ".fits", ".fit"}) {
    if (absl::EndsWith(name, s)) return NameKind::kFits;
    if (absl::EndsWithIgnoreCase(name, s)) {
      *suffix = name.substr(name.size() - strlen(s));
      return NameKind::kWrongCase;
    }
  }
  return NameKind::kIgnored;
}

const char* TypeOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "of an unknown type";
}

void Refuse(NightRegistration& reg, const std::string& name, std::string reason) {
  reg.refused.push_back({name, paths::ShowBytes(name), std::move(reason)});
}

// Why the entry `name` of `dir` cannot be registered, or "" if it can;
// fills *st with what it is (the target's, for a link). Sets *skip for a
// name that is not a FITS file's, or an entry gone meanwhile.
std::string Refusal(const std::string& real_root, const std::string& dir, const std::string& name,
                    struct stat* st, bool* skip) {
  std::string suffix;
  switch (KindOfName(name, &suffix)) {
    case NameKind::kIgnored:
      *skip = true;  // not ours: neither registered nor refused
      return "";
    case NameKind::kWrongCase:
      return absl::StrCat("the name ends in '", paths::ShowBytes(suffix),
                          "': FITS files must end in .fit or .fits (catalogues in _cat.fit or "
                          "_cat.fits), in lower case");
    case NameKind::kFits:
      break;
  }
  // Hidden names are what transfer tools write while a file is on its way;
  // never registered, but named so that one left behind is seen.
  if (name[0] == '.') return "a hidden file (the name starts with '.')";
  if (!paths::IsValidUtf8(name)) {
    return "the name is not valid UTF-8 (PostgreSQL text cannot hold it); rename the file";
  }
  const std::string path = absl::StrCat(dir, "/", name);
  if (lstat(path.c_str(), st) != 0) {
    if (errno == ENOENT) {
      *skip = true;  // removed meanwhile
      return "";
    }
    return absl::StrCat("cannot be examined: ", std::strerror(errno));
  }
  if (S_ISLNK(st->st_mode)) {
    // A link to a file inside the archive is as trustworthy as the file
    // (e.g. one delivered once and linked into a second night), and every
    // process resolves it again before opening it; a link out of the
    // archive would make Curator read whatever it points at.
    char target[PATH_MAX + 1];
    const ssize_t n = readlink(path.c_str(), target, PATH_MAX);
    const std::string shown = n < 0 ? "?" : paths::ShowBytes(std::string(target, n));
    absl::StatusOr<std::string> real = paths::RealPath(path);
    if (!real.ok()) {
      if (real.status().code() == absl::StatusCode::kNotFound) {
        return absl::StrCat("a dangling symbolic link (to ", shown, ")");
      }
      return absl::StrCat("a symbolic link (to ", shown, ") that cannot be resolved: ",
                          real.status().message());
    }
    if (!paths::IsUnder(real_root, *real)) {
      return absl::StrCat("symbolic link to ", paths::ShowBytes(*real), ", outside the archive");
    }
    if (stat(path.c_str(), st) != 0) {
      return absl::StrCat("a symbolic link (to ", shown, ") that cannot be followed: ",
                          std::strerror(errno));
    }
  }
  if (!S_ISREG(st->st_mode)) return absl::StrCat("not a regular file (", TypeOf(st->st_mode), ")");
  return "";
}

// Reads the night's directory entry by entry (readdir: the names as bytes,
// no exceptions), sorting each into reg.files or reg.refused.
absl::Status ScanNight(const std::string& real_root, const std::string& dir,
                       NightRegistration& reg) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoToStatus(errno, paths::ShowBytes(dir));
  while (true) {
    errno = 0;
    const dirent* e = readdir(d);
    if (e == nullptr) {
      const int error = errno;
      closedir(d);
      if (error != 0) return ErrnoToStatus(error, paths::ShowBytes(dir));
      break;
    }
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    bool skip = false;
    std::string refusal = Refusal(real_root, dir, name, &st, &skip);
    if (skip) continue;
    if (!refusal.empty()) {
      Refuse(reg, name, std::move(refusal));
      continue;
    }
    RegisteredFile f;
    f.path = absl::StrCat(dir, "/", name);
    f.file_name = name;
    f.is_catalogue = IsCatalogueName(name);
    f.bytes = st.st_size;
    // The database keeps microseconds.
    f.file_time_stamp =
        absl::FromUnixMicros(absl::ToUnixMicros(absl::TimeFromTimespec(st.st_mtim)));
    reg.files.push_back(std::move(f));
  }
  return absl::OkStatus();
}

// Images and catalogues are paired by name: an image's name without
// .fit/.fits (its stem, also the name of its previews) and a catalogue's
// name without _cat.fit/_cat.fits. A new file that would share a stem
// with another image, or be a second catalogue of one image, is refused;
// what is registered already keeps its place.
void RefuseNameClashes(const pg::Result& known, NightRegistration& reg) {
  struct Claim {
    std::string name, path;
  };
  std::map<std::string, Claim> image_of_stem, catalogue_of_image;
  std::set<std::string> known_paths;
  for (int r = 0; r < known.rows(); ++r) {
    known_paths.insert(known.Get(r, 0));
    const std::string name = known.Get(r, 5);
    if (known.Get(r, 6) == "catalogue") {
      catalogue_of_image.emplace(ImageNameOfCatalogue(name), Claim{name, known.Get(r, 0)});
    } else {
      image_of_stem.emplace(StemOfImage(name), Claim{name, known.Get(r, 0)});
    }
  }
  std::vector<RegisteredFile> kept;
  for (RegisteredFile& f : reg.files) {  // by name: the first one keeps its place
    if (known_paths.count(f.path)) {
      kept.push_back(std::move(f));
      continue;
    }
    auto& claims = f.is_catalogue ? catalogue_of_image : image_of_stem;
    const std::string key = f.is_catalogue ? ImageNameOfCatalogue(f.file_name)
                                           : StemOfImage(f.file_name);
    auto [it, claimed] = claims.emplace(key, Claim{f.file_name, f.path});
    if (claimed) {
      kept.push_back(std::move(f));
      continue;
    }
    const Claim& other = it->second;
    std::string reason;
    if (other.name == f.file_name) {  // e.g. the archive root has moved
      reason = absl::StrCat("registered already for this night from another path, ",
                            paths::ShowBytes(other.path));
    } else if (f.is_catalogue) {
      reason = absl::StrCat("a second catalogue of image ", paths::ShowBytes(key), " (",
                            paths::ShowBytes(other.name), " is its catalogue)");
    } else {
      reason = absl::StrCat("image ", paths::ShowBytes(other.name),
                            " has the same name before .fit/.fits (previews and catalogues are "
                            "matched by that name)");
    }
    Refuse(reg, f.file_name, std::move(reason));
  }
  reg.files = std::move(kept);
}

absl::Status RecordRefusals(pg::Connection& conn, const std::string& dir,
                            NightRegistration& reg) {
  std::sort(reg.refused.begin(), reg.refused.end(),
            [](const RefusedFile& a, const RefusedFile& b) { return a.name < b.name; });
  for (const RefusedFile& r : reg.refused) {
    CURATOR_RETURN_IF_ERROR(
        conn.Exec("INSERT INTO curation.refused_file (night, name_bytes, name_shown, reason) "
                  "VALUES ($1, decode($2, 'hex'), $3, $4) ON CONFLICT (night, name_bytes) DO "
                  "UPDATE SET name_shown = EXCLUDED.name_shown, reason = EXCLUDED.reason, "
                  "last_seen = now()",
                  {reg.night, absl::BytesToHexString(r.name), r.name_shown, r.reason})
            .status());
    reg.problems.push_back(absl::StrCat(paths::ShowBytes(absl::StrCat(dir, "/", r.name)),
                                        ": not registered: ", r.reason));
  }
  return absl::OkStatus();
}

absl::Status RegisterInTransaction(pg::Connection& conn, const std::string& dir,
                                   NightRegistration& reg) {
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(", pg::lock_keys::kRegisterNight, ")"),
                {reg.night})
          .status());
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("INSERT INTO curation.night (night, incoming_dir, transfer_complete) "
                "VALUES ($1, $2, $3) ON CONFLICT (night) DO UPDATE SET "
                "last_registered = now(), transfer_complete = EXCLUDED.transfer_complete",
                {reg.night, dir, reg.transfer_complete ? "true" : "false"})
          .status());
  // The night's delivery, and whether its tasks are made: from then on
  // what appears or changes is registered for the next delivery and waits
  // to be accepted (docs/ARCHITECTURE.md, "Changing what is live").
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result night_row,
      conn.Exec("SELECT n.delivery, EXISTS (SELECT 1 FROM curation.task t "
                "WHERE t.night = "
                "n.night) FROM curation.night n WHERE n.night = $1",
                {reg.night}));
  const int64_t delivery = night_row.GetInt(0, 0);
  const bool fixed = night_row.Get(0, 1) == "t";
  const std::string next = std::to_string(delivery + 1);
  const std::string new_delivery = fixed ? next : std::to_string(delivery);
  // What is registered already and not superseded, by path: the newest
  // version of each (a pending one over the live one).
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result known,
      conn.Exec("SELECT path, file_id, coalesce(multiframe_id, 0), bytes, "
                "(extract(epoch from file_time_stamp) * 1000000)::bigint, "
                "file_name, kind, "
                "delivery FROM curation.registered_file WHERE night = $1 AND "
                "superseded_in IS "
                "NULL ORDER BY delivery",
                {reg.night}));
  std::map<std::string, int> known_row;
  std::map<std::string, int64_t> image_id_by_stem;
  for (int r = 0; r < known.rows(); ++r) {
    known_row[known.Get(r, 0)] = r;
    if (known.Get(r, 6) == "image") image_id_by_stem[StemOfImage(known.Get(r, 5))] = known.GetInt(r, 2);
  }

  // Images first, so catalogues can find their multiframe_id.
  std::stable_sort(reg.files.begin(), reg.files.end(),
                   [](const RegisteredFile& a, const RegisteredFile& b) {
                     if (a.is_catalogue != b.is_catalogue) return !a.is_catalogue;
                     return a.file_name < b.file_name;
                   });
  RefuseNameClashes(known, reg);
  // A file refused once (e.g. a dangling link since fixed) and registered
  // now is no longer refused.
  auto unrefuse = [&](const RegisteredFile& f) {
    return conn
        .Exec("DELETE FROM curation.refused_file WHERE night = $1 AND name_bytes = "
              "decode($2, 'hex')",
              {reg.night, absl::BytesToHexString(f.file_name)})
        .status();
  };
  // A new row for `f`, of `in_delivery`: an image gets its multiframe_id
  // now, a catalogue its image's (`image_id`, 0 for none yet).
  auto insert = [&](RegisteredFile& f, int64_t image_id,
                    const std::string& in_delivery) -> absl::Status {
    CURATOR_ASSIGN_OR_RETURN(
        pg::Result r,
        conn.Exec(
            absl::StrCat("INSERT INTO curation.registered_file (multiframe_id, "
                         "night, kind, "
                         "path, file_name, bytes, file_time_stamp, delivery) "
                         "VALUES (CASE "
                         "WHEN $3 = 'image' THEN "
                         "nextval('curation.multiframe_id_seq') ELSE "
                         "nullif($1::bigint, 0) END, $2, $3, $4, $5, $6, ",
                         absl::StrFormat(kFromMicros, 7),
                         ", $8) RETURNING file_id, coalesce(multiframe_id, 0)"),
            {std::to_string(image_id), reg.night,
             f.is_catalogue ? "catalogue" : "image", f.path, f.file_name,
             std::to_string(f.bytes), MicrosParam(f.file_time_stamp),
             in_delivery}));
    f.file_id = r.GetInt(0, 0);
    f.multiframe_id = r.GetInt(0, 1);
    return absl::OkStatus();
  };
  std::vector<std::string> seen;
  for (RegisteredFile& f : reg.files) {
    seen.push_back(f.path);
    auto image = image_id_by_stem.end();
    if (f.is_catalogue)
      image = image_id_by_stem.find(ImageNameOfCatalogue(f.file_name));
    const int64_t image_id =
        image == image_id_by_stem.end() ? 0 : image->second;
    auto it = known_row.find(f.path);
    if (it == known_row.end()) {
      CURATOR_RETURN_IF_ERROR(insert(f, image_id, new_delivery));
      f.is_new = true;
      ++reg.new_files;
      if (fixed) {
        ++reg.pending_files;
        reg.problems.push_back(absl::StrCat(
            paths::ShowBytes(f.path),
            ": new since the night's tasks were made: registered for "
            "delivery ",
            next, " (curatorctl changes ", reg.night, ")"));
      }
      CURATOR_RETURN_IF_ERROR(unrefuse(f));
    } else {
      const int r = it->second;
      f.file_id = known.GetInt(r, 1);
      f.multiframe_id = known.GetInt(r, 2);
      const int64_t old_bytes = known.GetInt(r, 3);
      const int64_t old_micros = known.GetInt(r, 4);
      const bool pending = known.GetInt(r, 7) > delivery;
      const bool differs = old_bytes != f.bytes ||
                           old_micros != absl::ToUnixMicros(f.file_time_stamp);
      if (differs) {
        f.changed = true;
        CURATOR_RETURN_IF_ERROR(
            conn.Exec(absl::StrCat("INSERT INTO curation.file_change (file_id, old_bytes, "
                                   "new_bytes, old_file_time_stamp, new_file_time_stamp) "
                                   "SELECT $1, $2, $3, ",
                                   absl::StrFormat(kFromMicros, 4), ", ",
                                   absl::StrFormat(kFromMicros, 5)),
                      {std::to_string(f.file_id), std::to_string(old_bytes),
                       std::to_string(f.bytes), std::to_string(old_micros),
                       MicrosParam(f.file_time_stamp)})
                .status());
      }
      if (differs && pending) {
        // Not processed yet: the pending version follows the file.
        CURATOR_RETURN_IF_ERROR(
            conn.Exec(
                    absl::StrCat(
                        "UPDATE curation.registered_file SET bytes = $2, "
                        "file_time_stamp = ",
                        absl::StrFormat(kFromMicros, 3), " WHERE file_id = $1"),
                    {std::to_string(f.file_id), std::to_string(f.bytes),
                     MicrosParam(f.file_time_stamp)})
                .status());
      } else if (differs && fixed) {
        CURATOR_RETURN_IF_ERROR(insert(f, image_id, next));
        ++reg.pending_files;
        reg.problems.push_back(absl::StrCat(
            paths::ShowBytes(f.path), ": changed since it was registered (",
            old_bytes, " -> ", f.bytes,
            " bytes): registered as a new version for delivery ", next,
            " (curatorctl changes ", reg.night, ")"));
      } else if (differs) {
        reg.problems.push_back(absl::StrCat(
            paths::ShowBytes(f.path), ": changed since it was registered (",
            old_bytes, " -> ", f.bytes, " bytes); it keeps file id ", f.file_id,
            " and is not registered again"));
      } else if (f.is_catalogue && fixed && !pending && image_id != 0 &&
                 image_id != f.multiframe_id) {
        // The same catalogue, but its image has a new version: so has it.
        CURATOR_RETURN_IF_ERROR(insert(f, image_id, next));
        ++reg.pending_files;
      }
      if (f.is_catalogue && pending && image_id != 0 &&
          image_id != f.multiframe_id) {
        // A pending catalogue registered before its image's new version
        // (or a newer one) follows it.
        CURATOR_RETURN_IF_ERROR(
            conn.Exec("UPDATE curation.registered_file SET multiframe_id = $2 "
                      "WHERE file_id = $1",
                      {std::to_string(f.file_id), std::to_string(image_id)})
                .status());
        f.multiframe_id = image_id;
      }
    }
    if (!f.is_catalogue) {
      image_id_by_stem[StemOfImage(f.file_name)] = f.multiframe_id;
      continue;
    }
    // A catalogue: link it to its image's multiframe, now or when the
    // image arrives.
    if (f.multiframe_id == 0 && image_id != 0) {
      // Not if the image has a catalogue already (two registered before
      // clashes were refused): one image, one catalogue.
      CURATOR_RETURN_IF_ERROR(
          conn.Exec("UPDATE curation.registered_file SET multiframe_id = $2 "
                    "WHERE file_id = $1 AND multiframe_id IS NULL AND NOT "
                    "EXISTS (SELECT 1 "
                    "FROM curation.registered_file WHERE multiframe_id = $2 "
                    "AND kind = "
                    "'catalogue' AND superseded_in IS NULL)",
                    {std::to_string(f.file_id), std::to_string(image_id)})
              .status());
    }
    f.multiframe_id = image_id;
    if (image_id == 0) {
      reg.problems.push_back(absl::StrCat(
          paths::ShowBytes(f.path), ": catalogue without an image (",
          paths::ShowBytes(ImageNameOfCatalogue(f.file_name)), ".fit is not registered)"));
    }
  }
  // Files gone from the directory: a pending version is forgotten (nothing
  // used it), a live one is marked missing until it is back or a delivery
  // without it is accepted.
  // A pending catalogue that followed a pending image now gone goes too:
  // the next registration links it again.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("WITH doomed AS (SELECT file_id FROM curation.registered_file "
                "p WHERE p.night = $1 AND p.delivery > $2 "
                "AND (p.path <> ALL($3::text[]) OR (p.kind = 'catalogue' "
                "AND p.multiframe_id IN (SELECT g.multiframe_id "
                "FROM curation.registered_file g WHERE g.night = p.night "
                "AND g.delivery > $2 AND g.kind = 'image' "
                "AND g.path <> ALL($3::text[]))))), "
                "changes AS (DELETE FROM curation.file_change "
                "WHERE file_id IN (SELECT file_id FROM doomed)) "
                "DELETE FROM curation.registered_file "
                "WHERE file_id IN (SELECT file_id FROM doomed)",
                {reg.night, std::to_string(delivery), pg::TextArray(seen)})
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result missing,
      conn.Exec(
          "UPDATE curation.registered_file SET missing_since = CASE WHEN path "
          "= "
          "ANY($2::text[]) THEN NULL ELSE coalesce(missing_since, now()) END "
          "WHERE night = "
          "$1 AND superseded_in IS NULL AND (missing_since IS NULL) = (path <> "
          "ALL($2::text[])) RETURNING path, missing_since IS NOT NULL",
          {reg.night, pg::TextArray(seen)}));
  for (int i = 0; i < missing.rows(); ++i) {
    if (missing.Get(i, 1) != "t") continue;
    reg.problems.push_back(
        absl::StrCat(paths::ShowBytes(missing.Get(i, 0)),
                     ": registered, but gone from the night's directory"));
  }
  CURATOR_RETURN_IF_ERROR(RecordRefusals(conn, dir, reg));
  std::sort(reg.files.begin(), reg.files.end(),
            [](const RegisteredFile& a, const RegisteredFile& b) {
              return a.file_name < b.file_name;
            });
  return absl::OkStatus();
}

}  // namespace

namespace {

absl::Status CheckNightName(const std::string& night) {
  if (IsNightName(night)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("'", night, "' is not a night (YYYYMMDD)"));
}

}  // namespace

bool IsNightName(absl::string_view night) {
  int y = 0, m = 0, d = 0;
  if (night.size() != 8 || !absl::SimpleAtoi(night.substr(0, 4), &y) ||
      !absl::SimpleAtoi(night.substr(4, 2), &m) || !absl::SimpleAtoi(night.substr(6, 2), &d)) {
    return false;
  }
  absl::CivilDay day(y, m, d);
  return day.year() == y && day.month() == m && day.day() == d;
}

absl::StatusOr<NightRegistration> RegisterNight(pg::Connection& conn,
                                                const std::string& archive_root,
                                                const std::string& night) {
  CURATOR_RETURN_IF_ERROR(CheckNightName(night));
  NightRegistration reg;
  reg.night = night;
  const std::string dir = layout::IncomingNightDir(archive_root, night);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(paths::ShowBytes(dir), ": no such night directory"));
  }
  // Every file is checked against the real archive root; the directory
  // itself, if a link, must not lead out of the archive either.
  CURATOR_ASSIGN_OR_RETURN(const std::string real_root, paths::RealPath(archive_root));
  CURATOR_ASSIGN_OR_RETURN(const std::string real_dir, paths::RealPath(dir));
  if (!paths::IsUnder(real_root, real_dir)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "night directory not registered: ", paths::ShowBytes(dir), " resolves to ",
        paths::ShowBytes(real_dir), ", outside the archive root ", paths::ShowBytes(real_root)));
  }
  std::error_code ec;
  reg.transfer_complete = fs::exists(absl::StrCat(dir, "/", layout::kTransferMarker), ec);
  CURATOR_RETURN_IF_ERROR(ScanNight(real_root, dir, reg));

  CURATOR_RETURN_IF_ERROR(conn.Begin());
  absl::Status status = RegisterInTransaction(conn, dir, reg);
  if (!status.ok()) {
    (void)conn.Rollback();
    return Annotate(status, absl::StrCat("registering night ", night));
  }
  CURATOR_RETURN_IF_ERROR(conn.Commit());
  return reg;
}

absl::StatusOr<std::vector<ImageFile>> RegisteredImages(pg::Connection& conn,
                                                        const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          "SELECT i.multiframe_id, i.path, i.file_name, "
          "(extract(epoch from i.file_time_stamp) * 1000000)::bigint, "
          "coalesce(c.file_name, '') FROM curation.live_file i "
          "LEFT JOIN curation.live_file c ON c.multiframe_id = i.multiframe_id "
          "AND c.kind = 'catalogue' WHERE i.night = $1 AND i.kind = 'image' "
          "ORDER BY i.file_name",
          {night}));
  std::vector<ImageFile> images;
  for (int i = 0; i < r.rows(); ++i) {
    ImageFile f;
    f.multiframe_id = r.GetInt(i, 0);
    f.path = r.Get(i, 1);
    f.file_name = r.Get(i, 2);
    f.file_time_stamp = absl::FromUnixMicros(r.GetInt(i, 3));
    f.cat_name = r.Get(i, 4);
    images.push_back(std::move(f));
  }
  return images;
}

absl::StatusOr<std::vector<CatalogueFile>> RegisteredCatalogues(pg::Connection& conn,
                                                                const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT coalesce(c.multiframe_id, 0), c.path, coalesce(i.path, "
                "'') FROM "
                "curation.live_file c LEFT JOIN curation.live_file i ON "
                "i.multiframe_id = c.multiframe_id AND i.kind = 'image' WHERE "
                "c.night = $1 "
                "AND c.kind = 'catalogue' ORDER BY c.file_name",
                {night}));
  std::vector<CatalogueFile> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.GetInt(i, 0), r.Get(i, 1), r.Get(i, 2)});
  return out;
}

absl::StatusOr<std::vector<std::string>> NightsWaiting(pg::Connection& conn) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT to_char(n.night, 'YYYYMMDD') FROM curation.night n "
                "WHERE n.retired_event IS NULL AND EXISTS (SELECT 1 "
                "FROM curation.waiting_file f WHERE f.night = n.night) "
                "ORDER BY n.night"));
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.Get(i, 0));
  return out;
}

bool DeliveryChanges::images_changed() const {
  return std::any_of(changes.begin(), changes.end(),
                     [](const DeliveryChange& c) { return !c.is_catalogue; });
}

absl::StatusOr<DeliveryChanges> PendingChanges(pg::Connection& conn,
                                               const std::string& night) {
  CURATOR_RETURN_IF_ERROR(CheckNightName(night));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result n,
      conn.Exec("SELECT delivery FROM curation.night WHERE night = $1",
                {night}));
  if (n.rows() == 0)
    return absl::NotFoundError(
        absl::StrCat("night ", night, " is not registered"));
  DeliveryChanges out;
  out.night = night;
  out.delivery = static_cast<int>(n.GetInt(0, 0));
  // A pending row is new, or a new version of a live row of its path; a
  // live row missing from the directory is removed; a live catalogue of a
  // removed image without a version of its own is orphaned.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec("SELECT p.path, p.kind, CASE WHEN o.file_id IS NULL THEN 'new' "
                "WHEN o.bytes = p.bytes "
                "AND o.file_time_stamp = p.file_time_stamp THEN 'relinked' "
                "ELSE 'changed' END, "
                "coalesce(o.multiframe_id, 0), coalesce(p.multiframe_id, 0), "
                "coalesce(o.bytes, 0), "
                "p.bytes FROM curation.registered_file p LEFT JOIN "
                "curation.live_file o ON o.path = "
                "p.path WHERE p.night = $1 AND p.superseded_in IS NULL AND "
                "p.delivery > $2 "
                "UNION ALL SELECT o.path, o.kind, 'removed', "
                "coalesce(o.multiframe_id, 0), 0, o.bytes, "
                "0 FROM curation.live_file o WHERE o.night = $1 AND "
                "o.missing_since IS NOT NULL "
                "UNION ALL SELECT c.path, c.kind, 'orphaned', c.multiframe_id, "
                "0, c.bytes, 0 FROM "
                "curation.live_file c JOIN curation.live_file i ON "
                "i.multiframe_id = c.multiframe_id "
                "AND i.kind = 'image' WHERE c.night = $1 AND c.kind = "
                "'catalogue' AND "
                "c.missing_since IS NULL AND i.missing_since IS NOT NULL AND "
                "NOT EXISTS (SELECT 1 "
                "FROM curation.registered_file p WHERE p.path = c.path AND "
                "p.delivery > $2) ORDER BY 1",
                {night, std::to_string(out.delivery)}));
  for (int i = 0; i < r.rows(); ++i) {
    DeliveryChange c;
    c.path = r.Get(i, 0);
    c.is_catalogue = r.Get(i, 1) == "catalogue";
    c.change = r.Get(i, 2);
    c.old_multiframe_id = r.GetInt(i, 3);
    c.new_multiframe_id = r.GetInt(i, 4);
    c.old_bytes = r.GetInt(i, 5);
    c.new_bytes = r.GetInt(i, 6);
    out.changes.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<DeliveryChanges> AcceptDelivery(pg::Connection& conn,
                                               const std::string& night) {
  CURATOR_RETURN_IF_ERROR(CheckNightName(night));
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(",
                             pg::lock_keys::kRegisterNight, ")"),
                {night})
          .status());
  CURATOR_ASSIGN_OR_RETURN(DeliveryChanges changes,
                           PendingChanges(conn, night));
  if (changes.changes.empty()) return changes;
  std::vector<std::string> paths;
  for (const DeliveryChange& c : changes.changes) paths.push_back(c.path);
  const std::string next = std::to_string(changes.delivery + 1);
  CURATOR_RETURN_IF_ERROR(conn.Exec("UPDATE curation.registered_file SET "
                                    "superseded_in = $3 WHERE night = $1 AND "
                                    "superseded_in IS NULL AND delivery < $3 "
                                    "AND path = ANY($2::text[])",
                                    {night, pg::TextArray(paths), next})
                              .status());
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("UPDATE curation.night SET delivery = $2 WHERE night = $1",
                {night, next})
          .status());
  ++changes.delivery;
  return changes;
}

}  // namespace curator::archive
