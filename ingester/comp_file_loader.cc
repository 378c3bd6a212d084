#include "ingester/comp_file_loader.h"

#include <sys/stat.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/status.h"
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
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result dup, conn.Exec("SELECT multiframe_id, ext_num FROM load_comp_file GROUP BY 1, 2 "
                                "HAVING count(*) > 1 LIMIT 5"));
  for (int i = 0; i < dup.rows(); ++i) {
    problems->push_back(absl::StrCat("detector ", dup.Get(i, 0), "/", dup.Get(i, 1),
                                     " has two previews in the batch"));
  }
  CURATOR_ASSIGN_OR_RETURN(pg::Result paths, conn.Exec("SELECT comp_file FROM load_comp_file"));
  for (int i = 0; i < paths.rows(); ++i) {
    const std::string rel = paths.Get(i, 0);
    struct stat st;
    if (rel.empty() || rel[0] == '/' || absl::StrContains(rel, "..")) {
      problems->push_back(absl::StrCat("comp_file '", rel, "' is not a path inside the archive"));
    } else if (stat(absl::StrCat(archive_root, "/", rel).c_str(), &st) != 0 || st.st_size == 0) {
      problems->push_back(absl::StrCat("comp_file '", rel, "' does not exist under ", archive_root));
    }
    if (problems->size() > 10) break;
  }
  if (!problems->empty()) return load;
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result orphans,
      conn.Exec("DELETE FROM load_comp_file l WHERE NOT EXISTS (SELECT 1 FROM multiframe_detector "
                "d WHERE d.multiframe_id = l.multiframe_id AND d.ext_num = l.ext_num) RETURNING "
                "multiframe_id, ext_num, comp_file"));
  for (int i = 0; i < orphans.rows(); ++i) {
    v1::FileProblem* p = &load.left_out.emplace_back();
    p->set_path(orphans.Get(i, 2));
    p->set_message(absl::StrCat(orphans.Get(i, 2), ": detector ", orphans.Get(i, 0), "/",
                                orphans.Get(i, 1),
                                " has no CU3 row (its image failed CU3); left out"));
  }
  validate.finished = absl::Now();
  validate.warnings = static_cast<int>(load.left_out.size());
  for (const v1::FileProblem& l : load.left_out) {
    validate.messages.push_back({"warning", dir, 0, "", l.message()});
  }

  tasklog::Step publish{"publish", absl::Now()};
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
