#include "archive/file_registry.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "archive/layout.h"
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

std::string StemOfImage(const std::string& name) {
  for (const char* suffix : {".fits", ".fit"}) {
    if (absl::EndsWith(name, suffix)) return name.substr(0, name.size() - strlen(suffix));
  }
  return name;
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
                "(extract(epoch from file_time_stamp) * 1000000)::bigint "
                "FROM curation.registered_file WHERE night = $1",
                {reg.night}));
  std::map<std::string, int> known_row;
  for (int r = 0; r < known.rows(); ++r) known_row[known.Get(r, 0)] = r;

  std::map<std::string, int64_t> image_id_by_stem;
  // Images first, so catalogues can find their multiframe_id.
  std::stable_sort(reg.files.begin(), reg.files.end(),
                   [](const RegisteredFile& a, const RegisteredFile& b) {
                     if (a.is_catalogue != b.is_catalogue) return !a.is_catalogue;
                     return a.file_name < b.file_name;
                   });
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
            f.path, ": changed since it was registered (", old_bytes, " -> ", f.bytes,
            " bytes); it keeps file id ", f.file_id, " and is not registered again"));
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
    } else if (f.multiframe_id == 0 && image_id != 0) {
      CURATOR_RETURN_IF_ERROR(
          conn.Exec("UPDATE curation.registered_file SET multiframe_id = $2 "
                    "WHERE file_id = $1 AND multiframe_id IS NULL",
                    {std::to_string(f.file_id), std::to_string(image_id)})
              .status());
    }
    f.multiframe_id = image_id;
    if (image_id == 0) {
      reg.problems.push_back(absl::StrCat(
          f.path, ": catalogue without an image (",
          ImageNameOfCatalogue(f.file_name), ".fit is not registered)"));
    }
  }
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
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": no such night directory"));
  }
  reg.transfer_complete = fs::exists(absl::StrCat(dir, "/", layout::kTransferMarker), ec);
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename();
    if (!entry.is_regular_file() || name[0] == '.' ||
        !(absl::EndsWith(name, ".fit") || absl::EndsWith(name, ".fits"))) {
      continue;
    }
    struct stat st;
    if (stat(entry.path().c_str(), &st) != 0) continue;  // vanished meanwhile
    RegisteredFile f;
    f.path = entry.path().string();
    f.file_name = name;
    f.is_catalogue = !ImageNameOfCatalogue(name).empty();
    f.bytes = st.st_size;
    f.file_time_stamp = absl::TimeFromTimespec(st.st_mtim);
    // The database keeps microseconds.
    f.file_time_stamp = absl::FromUnixMicros(absl::ToUnixMicros(f.file_time_stamp));
    reg.files.push_back(std::move(f));
  }
  if (ec) return absl::UnavailableError(absl::StrCat(dir, ": ", ec.message()));

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
