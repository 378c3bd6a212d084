#include "ingester/comp_file_loader.h"

#include <sys/stat.h>

#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "archive/paths.h"
#include "base/status.h"
#include "ingester/assets.h"
#include "ingester/batch_copy.h"

namespace curator::ingester {

absl::StatusOr<LoadResult> CompFileLoader::Load(const LoadInput& in,
                                                std::vector<std::string>* problems) {
  pg::Connection& conn = in.conn;
  const std::string& archive_root = in.archive_root;
  const std::string& dir = in.dir;
  const v1::Manifest& m = in.manifest;
  LoadResult load;
  if (m.files_size() != 1 || m.files(0).table() != "multiframe_detector" ||
      m.files(0).columns_size() != 3 || m.files(0).columns(0) != "multiframe_id" ||
      m.files(0).columns(1) != "ext_num" || m.files(0).columns(2) != "comp_file") {
    problems->push_back("a CU2 batch has one file of (multiframe_id, ext_num, comp_file) rows");
    return load;
  }
  const v1::BatchFile& f = m.files(0);
  tasklog::Step copy{"copy", absl::Now()};
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("CREATE TEMP TABLE load_comp_file (multiframe_id bigint, ext_num smallint, "
                "comp_file text) ON COMMIT DROP")
          .status());
  CURATOR_ASSIGN_OR_RETURN(
      std::optional<int64_t> copied,
      CopyBatchFile(conn, "COPY load_comp_file FROM STDIN (FORMAT binary)", dir, f, problems));
  if (!copied) return load;
  copy.rows = *copied;
  copy.finished = absl::Now();

  tasklog::Step validate{"validate", absl::Now()};
  // What is wrong with one image's rows takes that image out of the
  // batch; the rest loads.
  std::map<int64_t, std::string> bad;  // multiframe_id -> why
  const auto reject = [&](int64_t multiframe_id, std::string why) {
    bad.emplace(multiframe_id, std::move(why));
  };
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result dup, conn.Exec("SELECT multiframe_id, ext_num FROM load_comp_file GROUP BY 1, 2 "
                                "HAVING count(*) > 1"));
  for (int i = 0; i < dup.rows(); ++i) {
    reject(dup.GetInt(i, 0),
           absl::StrCat("HDU ", dup.Get(i, 1), " has two previews in the batch"));
  }
  // Each preview is one the batch carries (its assets); an older batch
  // without assets names files already under the archive root.
  std::map<std::string, const v1::BatchAsset*> asset_at;
  for (const v1::BatchAsset& a : m.assets()) asset_at[a.publish_to()] = &a;
  CURATOR_ASSIGN_OR_RETURN(pg::Result rows,
                           conn.Exec("SELECT multiframe_id, ext_num, comp_file FROM load_comp_file"));
  std::vector<v1::BatchAsset> to_publish;
  for (int i = 0; i < rows.rows(); ++i) {
    const std::string rel = rows.Get(i, 2);
    const std::string shown = paths::ShowBytes(rel);
    struct stat st;
    if (!m.assets().empty()) {
      auto a = asset_at.find(rel);
      if (a == asset_at.end()) {
        reject(rows.GetInt(i, 0), absl::StrCat("HDU ", rows.Get(i, 1), ": preview '", shown,
                                               "' is not one the batch carries"));
      }
    } else if (rel.empty() || rel[0] == '/' || absl::StrContains(rel, "..")) {
      reject(rows.GetInt(i, 0), absl::StrCat("HDU ", rows.Get(i, 1), ": comp_file '", shown,
                                             "' is not a path inside the archive"));
    } else if (stat(absl::StrCat(archive_root, "/", rel).c_str(), &st) != 0 || st.st_size == 0) {
      reject(rows.GetInt(i, 0), absl::StrCat("HDU ", rows.Get(i, 1), ": comp_file '", shown,
                                             "' does not exist under ", archive_root));
    }
  }
  std::map<int64_t, std::string> input_path;
  for (const v1::InputOutcome& i : m.inputs()) input_path[i.multiframe_id()] = i.path();
  if (!bad.empty()) {
    std::vector<std::string> ids;
    for (const auto& [id, why] : bad) {
      ids.push_back(std::to_string(id));
      v1::FileProblem* p = &load.left_out.emplace_back();
      p->set_path(input_path.count(id) ? input_path[id] : absl::StrCat("multiframe ", id));
      p->set_message(absl::StrCat(why, "; its previews are left out"));
    }
    CURATOR_RETURN_IF_ERROR(
        conn.Exec("DELETE FROM load_comp_file WHERE multiframe_id = ANY($1::bigint[])",
                  {pg::TextArray(ids)})
            .status());
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result orphans,
      conn.Exec("DELETE FROM load_comp_file l WHERE NOT EXISTS (SELECT 1 FROM multiframe_detector "
                "d WHERE d.multiframe_id = l.multiframe_id AND d.ext_num = l.ext_num) RETURNING "
                "multiframe_id, ext_num, comp_file"));
  for (int i = 0; i < orphans.rows(); ++i) {
    v1::FileProblem* p = &load.left_out.emplace_back();
    const int64_t id = orphans.GetInt(i, 0);
    p->set_path(input_path.count(id) ? input_path[id] : orphans.Get(i, 2));
    p->set_hdu(static_cast<int32_t>(orphans.GetInt(i, 1)));
    p->set_message(absl::StrCat(orphans.Get(i, 2), ": detector ", orphans.Get(i, 0), "/",
                                orphans.Get(i, 1),
                                " has no CU3 row (its image failed CU3); left out"));
  }
  validate.finished = absl::Now();
  validate.warnings = static_cast<int>(load.left_out.size());
  for (const v1::FileProblem& l : load.left_out) {
    validate.messages.push_back({"warning", l.path(), l.hdu(), "", l.message()});
  }

  tasklog::Step publish{"publish", absl::Now()};
  // The previews the remaining rows name go into the archive first: a
  // row never points at a file that is not there.
  CURATOR_ASSIGN_OR_RETURN(pg::Result kept, conn.Exec("SELECT comp_file FROM load_comp_file"));
  for (int i = 0; i < kept.rows(); ++i) {
    auto a = asset_at.find(kept.Get(i, 0));
    if (a != asset_at.end()) to_publish.push_back(*a->second);
  }
  CURATOR_RETURN_IF_ERROR(PublishAssets(archive_root, dir, to_publish));
  if (!in.replaced.empty()) {
    // A rerun's previews are the night's: a detector it made none for
    // keeps no preview of the batch it replaces.
    CURATOR_RETURN_IF_ERROR(
        conn.Exec(
                "UPDATE multiframe_detector d SET comp_file = NULL FROM "
                "multiframe m WHERE "
                "m.multiframe_id = d.multiframe_id AND m.night = $1::date AND "
                "d.comp_file IS "
                "NOT NULL AND NOT EXISTS (SELECT 1 FROM load_comp_file l WHERE "
                "l.multiframe_id = d.multiframe_id AND l.ext_num = d.ext_num)",
                {m.night()})
            .status());
  }
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result updated,
      conn.Exec("UPDATE multiframe_detector d SET comp_file = l.comp_file FROM load_comp_file l "
                "WHERE d.multiframe_id = l.multiframe_id AND d.ext_num = l.ext_num"));
  load.rows = publish.rows = updated.AffectedRows();
  load.rows_per_table["multiframe_detector.comp_file"] = load.rows;
  publish.finished = absl::Now();
  load.steps = {std::move(copy), std::move(validate), std::move(publish)};
  return load;
}

}  // namespace curator::ingester
