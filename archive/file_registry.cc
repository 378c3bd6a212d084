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
  // What is registered already, by path.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result known,
      conn.Exec("SELECT path, file_id, coalesce(multiframe_id, 0), bytes, "
                "(extract(epoch from file_time_stamp) * 1000000)::bigint, file_name, kind "
                "FROM curation.registered_file WHERE night = $1",
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
  for (RegisteredFile& f : reg.files) {
    auto it = known_row.find(f.path);
    if (it != known_row.end()) {
      const int r = it->second;
      f.file_id = known.GetInt(r, 1);
      f.multiframe_id = known.GetInt(r, 2);
      const int64_t old_bytes = known.GetInt(r, 3);
      const int64_t old_micros = known.GetInt(r, 4);
      if (old_bytes != f.bytes || old_micros != absl::ToUnixMicros(f.file_time_stamp)) {
        f.changed = true;
        reg.problems.push_back(absl::StrCat(
            paths::ShowBytes(f.path), ": changed since it was registered (", old_bytes, " -> ",
            f.bytes, " bytes); it keeps file id ", f.file_id, " and is not registered again"));
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
    } else if (!f.is_catalogue) {
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result r,
          conn.Exec(absl::StrCat(
                        "INSERT INTO curation.registered_file (multiframe_id, night, kind, "
                        "path, file_name, bytes, file_time_stamp) VALUES "
                        "(nextval('curation.multiframe_id_seq'), $1, 'image', $2, $3, $4, ",
                        absl::StrFormat(kFromMicros, 5), ") RETURNING file_id, multiframe_id"),
                    {reg.night, f.path, f.file_name, std::to_string(f.bytes),
                     MicrosParam(f.file_time_stamp)}));
      f.file_id = r.GetInt(0, 0);
      f.multiframe_id = r.GetInt(0, 1);
      f.is_new = true;
      ++reg.new_files;
      CURATOR_RETURN_IF_ERROR(unrefuse(f));
    }
    if (!f.is_catalogue) {
      image_id_by_stem[StemOfImage(f.file_name)] = f.multiframe_id;
      continue;
    }
    // A catalogue: link it to its image's multiframe, now or when the
    // image arrives.
    auto image = image_id_by_stem.find(ImageNameOfCatalogue(f.file_name));
    const int64_t image_id = image == image_id_by_stem.end() ? 0 : image->second;
    if (f.file_id == 0) {
      CURATOR_ASSIGN_OR_RETURN(
          pg::Result r,
          conn.Exec(absl::StrCat(
                        "INSERT INTO curation.registered_file (multiframe_id, night, kind, "
                        "path, file_name, bytes, file_time_stamp) VALUES "
                        "(nullif($1, 0), $2, 'catalogue', $3, $4, $5, ",
                        absl::StrFormat(kFromMicros, 6), ") RETURNING file_id"),
                    {std::to_string(image_id), reg.night, f.path, f.file_name,
                     std::to_string(f.bytes), MicrosParam(f.file_time_stamp)}));
      f.file_id = r.GetInt(0, 0);
      f.is_new = true;
      ++reg.new_files;
      CURATOR_RETURN_IF_ERROR(unrefuse(f));
    } else if (f.multiframe_id == 0 && image_id != 0) {
      // Not if the image has a catalogue already (two registered before
      // clashes were refused): one image, one catalogue.
      CURATOR_RETURN_IF_ERROR(
          conn.Exec("UPDATE curation.registered_file SET multiframe_id = $2 "
                    "WHERE file_id = $1 AND multiframe_id IS NULL AND NOT EXISTS (SELECT 1 "
                    "FROM curation.registered_file WHERE multiframe_id = $2 AND kind = "
                    "'catalogue')",
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
  CURATOR_RETURN_IF_ERROR(RecordRefusals(conn, dir, reg));
  std::sort(reg.files.begin(), reg.files.end(),
            [](const RegisteredFile& a, const RegisteredFile& b) {
              return a.file_name < b.file_name;
            });
  return absl::OkStatus();
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
  if (!IsNightName(night)) {
    return absl::InvalidArgumentError(absl::StrCat("'", night, "' is not a night (YYYYMMDD)"));
  }
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
      conn.Exec("SELECT i.multiframe_id, i.path, i.file_name, "
                "(extract(epoch from i.file_time_stamp) * 1000000)::bigint, "
                "coalesce(c.file_name, '') FROM curation.registered_file i "
                "LEFT JOIN curation.registered_file c ON c.multiframe_id = i.multiframe_id "
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
      conn.Exec("SELECT coalesce(c.multiframe_id, 0), c.path, coalesce(i.path, '') FROM "
                "curation.registered_file c LEFT JOIN curation.registered_file i ON "
                "i.multiframe_id = c.multiframe_id AND i.kind = 'image' WHERE c.night = $1 "
                "AND c.kind = 'catalogue' ORDER BY c.file_name",
                {night}));
  std::vector<CatalogueFile> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.GetInt(i, 0), r.Get(i, 1), r.Get(i, 2)});
  return out;
}

}  // namespace curator::archive
