#include "ingester/source_loader.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "base/status.h"
#include "db/lock_keys.h"
#include "ingester/batch_copy.h"

namespace curator::ingester {
namespace {

// The batch's files: table, its columns in order, and its load table.
struct FileRule {
  const char* table;
  std::vector<std::string> columns;
  const char* load_table;
  const char* create;
};

const std::vector<FileRule>& FileRules() {
  static const auto* rules = new std::vector<FileRule>{
      {"source",
       {"source_id", "ra", "dec"},
       "load_source",
       "CREATE TEMP TABLE load_source (source_id bigint, ra float8, dec "
       "float8) ON COMMIT DROP"},
      {"source_detection",
       {"obj_id", "source_id", "separation"},
       "load_source_detection",
       "CREATE TEMP TABLE load_source_detection (obj_id bigint, source_id "
       "bigint, separation "
       "real) ON COMMIT DROP"},
      {"source_night",
       {"detections", "new_sources", "updated_sources", "unmatched_sources",
        "radius_arcsec", "source_version"},
       "load_source_night",
       "CREATE TEMP TABLE load_source_night (detections bigint, new_sources "
       "bigint, "
       "updated_sources bigint, unmatched_sources bigint, radius_arcsec "
       "float8, source_version bigint) ON COMMIT DROP"},
  };
  return *rules;
}

// The bands of source's per-band columns (deploy/migrations/0011): the
// column prefix is the filter name in lower case.
constexpr const char* kBands[] = {"Z", "Y", "J", "H", "K"};

// Each check: a query of at most a few lines naming what is wrong.
struct Check {
  const char* what;
  const char* sql;
};

const std::vector<Check>& Checks() {
  static const auto* checks = new std::vector<Check>{
      {"a link to a detection the archive does not have",
       "SELECT 'detection ' || l.obj_id FROM load_source_detection l WHERE NOT "
       "EXISTS (SELECT 1 "
       "FROM detection d WHERE d.obj_id = l.obj_id) LIMIT 3"},
      {"a detection linked twice in the batch",
       "SELECT 'detection ' || obj_id FROM load_source_detection GROUP BY "
       "obj_id HAVING count(*) "
       "> 1 LIMIT 3"},
      {"a detection linked already (another CU5 load of its night came first)",
       "SELECT 'detection ' || l.obj_id || ' is linked to source ' || "
       "s.source_id FROM "
       "load_source_detection l JOIN source_detection s USING (obj_id) LIMIT "
       "3"},
      {"a link to a source that neither exists nor is new in the batch",
       "SELECT 'source ' || l.source_id FROM load_source_detection l WHERE NOT "
       "EXISTS (SELECT 1 "
       "FROM source s WHERE s.source_id = l.source_id) AND NOT EXISTS (SELECT "
       "1 FROM load_source "
       "n WHERE n.source_id = l.source_id) LIMIT 3"},
      {"a new source whose id is taken",
       "SELECT 'source ' || n.source_id FROM load_source n WHERE EXISTS "
       "(SELECT 1 FROM source s "
       "WHERE s.source_id = n.source_id) OR n.source_id IN (SELECT source_id "
       "FROM load_source "
       "GROUP BY 1 HAVING count(*) > 1) LIMIT 3"},
      {"a new source not linked to the detection that founded it",
       "SELECT 'source ' || n.source_id FROM load_source n WHERE NOT EXISTS "
       "(SELECT 1 FROM "
       "load_source_detection l WHERE l.obj_id = n.source_id AND l.source_id = "
       "n.source_id) "
       "LIMIT 3"},
      {"a new source outside the sky or a separation out of range",
       "SELECT 'source ' || source_id FROM load_source WHERE NOT (ra >= 0 AND "
       "ra < 360 AND dec "
       "BETWEEN -90 AND 90) UNION ALL (SELECT 'detection ' || obj_id FROM "
       "load_source_detection "
       "WHERE NOT (separation >= 0 AND separation <= 3600)) LIMIT 3"},
      {"a batch matched against sources that have changed since (another "
       "night's CU5 load committed in between); its retry matches again",
       "SELECT 'matched against source version ' || n.source_version || ', "
       "the archive is at ' || v.version FROM load_source_night n, "
       "source_version v WHERE n.source_version IS DISTINCT FROM v.version"},
      {"not one summary row",
       "SELECT count(*) || ' rows' FROM load_source_night HAVING count(*) <> "
       "1"},
  };
  return *checks;
}

// The statistics of every source in load_touched, from its links, into
// load_stats (source_id and kStatColumns).
std::string StatsSql() {
  std::vector<std::string> per_band, band_columns, bands_seen;
  for (const char* band : kBands) {
    const std::string c = absl::AsciiStrToLower(band);
    const std::string in_band =
        absl::StrCat("FILTER (WHERE upper(m.filter_name) = '", band, "')");
    per_band.push_back(absl::StrCat("count(d.aper_mag_3) ", in_band, " AS ", c,
                                    "_n, avg(d.aper_mag_3) ", in_band, " AS ",
                                    c, "_mag, stddev_samp(d.aper_mag_3) ",
                                    in_band, " AS ", c, "_mag_rms"));
    band_columns.push_back(absl::StrCat(c, "_n, ", c, "_mag, ", c, "_mag_rms"));
    bands_seen.push_back(absl::StrCat("(", c, "_n > 0)::integer"));
  }
  // The mean position is the direction of the mean unit vector (right
  // across RA = 0 and at the poles). Its error is the scatter of the unit
  // vectors about their mean, over n: summed as offsets from a reference
  // direction near them (the source's position before this load, or its
  // founder's), so that no difference of nearly equal numbers loses the
  // milliarcseconds of a bright star.
  return absl::StrCat(
      "CREATE TEMP TABLE load_stats ON COMMIT DROP AS WITH ref AS (SELECT "
      "t.source_id, cosd(coalesce(o.dec, n.dec)) * cosd(coalesce(o.ra, n.ra)) "
      "AS rx, cosd(coalesce(o.dec, n.dec)) * sind(coalesce(o.ra, n.ra)) AS ry, "
      "sind(coalesce(o.dec, n.dec)) AS rz FROM load_touched t LEFT JOIN source "
      "o USING (source_id) LEFT JOIN load_source n USING (source_id)), v AS "
      "(SELECT l.source_id, d.aper_mag_3, m.filter_name, m.night, m.mjd_obs, "
      "cosd(d.dec) * cosd(d.ra) - r.rx AS dx, cosd(d.dec) * sind(d.ra) - r.ry "
      "AS dy, sind(d.dec) - r.rz AS dz, r.rx, r.ry, r.rz FROM source_detection "
      "l JOIN ref r USING (source_id) JOIN detection d USING (obj_id) JOIN "
      "multiframe m USING (multiframe_id)), s AS (SELECT source_id, count(*) "
      "AS n, count(DISTINCT night) AS nights, min(mjd_obs) AS first_mjd, "
      "max(mjd_obs) AS last_mjd, min(rx) + avg(dx) AS x, min(ry) + avg(dy) AS "
      "y, min(rz) + avg(dz) AS z, sum(dx * dx + dy * dy + dz * dz) - (sum(dx) "
      "* sum(dx) + sum(dy) * sum(dy) + sum(dz) * sum(dz)) / count(*) AS ss, ",
      absl::StrReplaceAll(
          absl::StrJoin(per_band, ", "),
          {{"d.aper_mag_3", "aper_mag_3"}, {"m.filter_name", "filter_name"}}),
      " FROM v GROUP BY source_id), p AS (SELECT s.*, atan2d(y, x) AS ra0, "
      "atan2d(z, sqrt(x * x + y * y)) AS dec0 FROM s) SELECT source_id, CASE "
      "WHEN ra0 < 0 AND ra0 + 360 < 360 THEN ra0 + 360 WHEN ra0 < 0 OR ra0 >= "
      "360 THEN 0 ELSE ra0 END AS ra, greatest(-90, least(90, dec0)) AS dec, "
      "(CASE WHEN n > 1 THEN degrees(sqrt(greatest(ss, 0) / (n - 1) / n)) * "
      "3600 END)::real AS pos_err, n::integer AS n_detections, "
      "nights::integer AS n_epochs, (",
      absl::StrJoin(bands_seen, " + "),
      ")::smallint AS n_bands, first_mjd, last_mjd, ",
      absl::StrJoin(band_columns, ", "), " FROM p");
}

// The columns of source that load_stats gives.
std::vector<std::string> StatColumns() {
  std::vector<std::string> out = {"ra",           "dec",      "pos_err",
                                  "n_detections", "n_epochs", "n_bands",
                                  "first_mjd",    "last_mjd"};
  for (const char* band : kBands) {
    const std::string c = absl::AsciiStrToLower(band);
    for (const char* suffix : {"_n", "_mag", "_mag_rms"})
      out.push_back(absl::StrCat(c, suffix));
  }
  return out;
}

}  // namespace

absl::StatusOr<LoadResult> SourceLoader::Load(
    const LoadInput& in, std::vector<std::string>* problems) {
  pg::Connection& conn = in.conn;
  const v1::Manifest& m = in.manifest;
  LoadResult load;
  std::map<std::string, const v1::BatchFile*> by_table;
  for (const v1::BatchFile& f : m.files()) {
    if (!by_table.emplace(f.table(), &f).second) {
      problems->push_back(
          absl::StrCat("a CU5 batch has two files for table ", f.table()));
    }
  }
  for (const FileRule& r : FileRules()) {
    auto it = by_table.find(r.table);
    if (it == by_table.end() ||
        std::vector<std::string>(it->second->columns().begin(),
                                 it->second->columns().end()) != r.columns) {
      problems->push_back(absl::StrCat("a CU5 batch has one file for ", r.table,
                                       " of (", absl::StrJoin(r.columns, ", "),
                                       ") rows"));
    }
  }
  if (by_table.size() != FileRules().size()) {
    problems->push_back(
        "a CU5 batch has files for source, source_detection and source_night "
        "only");
  }
  if (!problems->empty()) return load;

  tasklog::Step copy{"copy", absl::Now()};
  // One CU5 load at a time: each recomputes sources that another night's
  // load could touch too.
  CURATOR_RETURN_IF_ERROR(
      conn.Exec(absl::StrCat("SELECT pg_advisory_xact_lock(",
                             pg::lock_keys::kSources, ")"))
          .status());
  for (const FileRule& r : FileRules()) {
    CURATOR_RETURN_IF_ERROR(conn.Exec(r.create).status());
    CURATOR_ASSIGN_OR_RETURN(
        std::optional<int64_t> copied,
        CopyBatchFile(
            conn,
            absl::StrCat("COPY ", r.load_table, " FROM STDIN (FORMAT binary)"),
            in.dir, *by_table[r.table], problems));
    if (!copied) return load;
    copy.rows += *copied;
    copy.files.push_back({absl::StrCat(in.dir, "/", by_table[r.table]->name()),
                          0, copy.started, absl::Now(), *copied});
  }
  // Their indexes, and sizes for the planner (autovacuum never sees
  // temporary tables): without them the checks below pick nested loops.
  CURATOR_RETURN_IF_ERROR(conn.ExecScript(
      "CREATE INDEX ON load_source (source_id); CREATE INDEX ON "
      "load_source_detection (obj_id); "
      "CREATE INDEX ON load_source_detection (source_id); ANALYZE load_source, "
      "load_source_detection, load_source_night"));
  copy.finished = absl::Now();

  tasklog::Step validate{"validate", absl::Now()};
  for (const Check& c : Checks()) {
    CURATOR_ASSIGN_OR_RETURN(pg::Result r, conn.Exec(c.sql));
    if (r.rows() == 0) continue;
    std::vector<std::string> lines;
    for (int i = 0; i < r.rows(); ++i) lines.push_back(r.Get(i, 0));
    problems->push_back(absl::StrCat(c.what, ": ", absl::StrJoin(lines, ", ")));
  }
  validate.finished = absl::Now();
  if (!problems->empty()) return load;

  tasklog::Step publish{"publish", absl::Now()};
  const std::string event = std::to_string(m.cu_event_id());
  const std::string& night = m.night();
  // The sources whose statistics change: those linked now, and those that
  // lose the links of detections a CU4 rerun replaced.
  CURATOR_RETURN_IF_ERROR(conn.Exec("CREATE TEMP TABLE load_touched ON COMMIT "
                                    "DROP AS SELECT DISTINCT source_id FROM "
                                    "load_source_detection")
                              .status());
  CURATOR_ASSIGN_OR_RETURN(pg::Result gone,
                           conn.Exec("CREATE TEMP TABLE load_gone ON COMMIT "
                                     "DROP AS WITH g AS (DELETE FROM "
                                     "source_detection l WHERE l.night = "
                                     "$1::date AND NOT EXISTS (SELECT 1 FROM "
                                     "detection d WHERE d.obj_id = l.obj_id) "
                                     "RETURNING l.source_id) SELECT DISTINCT "
                                     "source_id FROM g",
                                     {night}));
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("INSERT INTO load_touched SELECT source_id FROM load_gone "
                "EXCEPT SELECT source_id FROM load_touched")
          .status());
  CURATOR_RETURN_IF_ERROR(conn.Exec("ANALYZE load_touched").status());
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result linked, conn.Exec("INSERT INTO source_detection (obj_id, "
                                   "source_id, separation, night, cu_event_id) "
                                   "SELECT obj_id, source_id, separation, "
                                   "$1::date, $2 FROM load_source_detection",
                                   {night, event}));
  // Statistics first, then the new sources inserted with theirs (in cell
  // order) and the others updated.
  CURATOR_RETURN_IF_ERROR(conn.Exec(StatsSql()).status());
  CURATOR_RETURN_IF_ERROR(conn.Exec("ANALYZE load_stats").status());
  std::vector<std::string> stat_columns = StatColumns(), set;
  for (const std::string& c : stat_columns)
    set.push_back(absl::StrCat(c, " = s.", c));
  const std::string listed = absl::StrJoin(stat_columns, ", ");
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result made,
      conn.Exec(
          absl::StrCat(
              "INSERT INTO source (source_id, ", listed,
              ", first_night, cu_event_id) SELECT s.source_id, s.",
              absl::StrJoin(stat_columns, ", s."),
              ", $1::date, $2 FROM "
              "load_stats s JOIN load_source n USING (source_id) ORDER BY "
              "floor((s.dec + 90) * 4), floor(s.ra * 4), s.source_id"),
          {night, event}));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result changed,
      conn.Exec(
          absl::StrCat(
              "UPDATE source o SET ", absl::StrJoin(set, ", "),
              ", cu_event_id = $1 FROM load_stats s WHERE o.source_id = "
              "s.source_id AND NOT EXISTS (SELECT 1 FROM load_source n WHERE "
              "n.source_id = s.source_id)"),
          {event}));
  CURATOR_ASSIGN_OR_RETURN(pg::Result emptied,
                           conn.Exec("DELETE FROM source o USING load_gone g "
                                     "WHERE o.source_id = g.source_id AND NOT "
                                     "EXISTS (SELECT 1 FROM source_detection l "
                                     "WHERE l.source_id = o.source_id)"));
  // The night's summary: what the archive now holds of the night, and
  // this batch's updated and unmatched counts. A load that linked nothing
  // and lost nothing (a rerun) leaves it as it was.
  if (linked.AffectedRows() > 0 || gone.AffectedRows() > 0) {
    CURATOR_RETURN_IF_ERROR(
        conn.Exec("INSERT INTO source_night (night, detections, new_sources, "
                  "updated_sources, "
                  "unmatched_sources, radius_arcsec, cu_event_id) SELECT "
                  "$1::date, (SELECT "
                  "count(*) FROM source_detection WHERE night = $1::date), "
                  "(SELECT count(*) FROM "
                  "source_detection WHERE night = $1::date AND obj_id = "
                  "source_id), "
                  "updated_sources, unmatched_sources, radius_arcsec, $2 FROM "
                  "load_source_night "
                  "ON CONFLICT (night) DO UPDATE SET detections = "
                  "EXCLUDED.detections, "
                  "new_sources = EXCLUDED.new_sources, updated_sources = "
                  "EXCLUDED.updated_sources, unmatched_sources = "
                  "EXCLUDED.unmatched_sources, "
                  "radius_arcsec = EXCLUDED.radius_arcsec, cu_event_id = "
                  "EXCLUDED.cu_event_id, "
                  "loaded_at = now()",
                  {night, event})
            .status());
  }
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("UPDATE source_version SET version = version + 1").status());
  publish.finished = absl::Now();
  publish.rows = made.AffectedRows() + linked.AffectedRows();
  publish.messages.push_back(
      {"info", "", 0, "",
       absl::StrCat(
           made.AffectedRows(), " new sources, ", linked.AffectedRows(),
           " links, ", changed.AffectedRows(), " sources updated",
           gone.AffectedRows() > 0
               ? absl::StrCat("; ", gone.AffectedRows(),
                              " sources lost detections a CU4 rerun replaced")
               : "",
           emptied.AffectedRows() > 0
               ? absl::StrCat("; ", emptied.AffectedRows(),
                              " sources left empty, deleted")
               : "")});
  load.rows = made.AffectedRows() + linked.AffectedRows() + 1;
  load.rows_per_table = {{"source", made.AffectedRows()},
                         {"source_detection", linked.AffectedRows()},
                         {"source_night", 1}};
  load.steps = {std::move(copy), std::move(validate), std::move(publish)};
  return load;
}

}  // namespace curator::ingester
