#include "worker/cu5_task.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "curator/v1/cu.pb.h"
#include "db/pg.h"
#include "db/pgcopy.h"
#include "worker/zones_match.h"

namespace curator::worker {
namespace {

constexpr double kDegree = M_PI / 180.0;

struct NightDetection {
  match::Detection d;
  int64_t multiframe_id = 0;
  int ext_num = 0;
};

// A detector's circle on the sky: its detections' mean direction and the
// largest separation of one of them from it, in degrees.
struct Cone {
  double ra = 0, dec = 0, radius = 0;
};

std::vector<Cone> DetectorCones(const std::vector<NightDetection>& detections) {
  std::map<std::pair<int64_t, int>, std::vector<const NightDetection*>>
      by_detector;
  for (const NightDetection& n : detections) {
    by_detector[{n.multiframe_id, n.ext_num}].push_back(&n);
  }
  std::vector<Cone> cones;
  for (const auto& [key, members] : by_detector) {
    double x = 0, y = 0, z = 0;
    for (const NightDetection* n : members) {
      const double ra = n->d.ra * kDegree, dec = n->d.dec * kDegree;
      x += std::cos(dec) * std::cos(ra);
      y += std::cos(dec) * std::sin(ra);
      z += std::sin(dec);
    }
    Cone c;
    c.ra = std::atan2(y, x) / kDegree;
    if (c.ra < 0) c.ra += 360;
    if (c.ra >= 360) c.ra -= 360;
    c.dec = std::atan2(z, std::hypot(x, y)) / kDegree;
    for (const NightDetection* n : members) {
      c.radius = std::max(
          c.radius,
          match::SeparationArcsec(c.ra, c.dec, n->d.ra, n->d.dec) / 3600.0);
    }
    cones.push_back(c);
  }
  return cones;
}

// Runs `copy` (a COPY ... TO STDOUT (FORMAT binary) of rows `fields`
// wide) and hands each row to `row`.
absl::Status CopyRows(
    pg::Connection& conn, const std::string& copy, int fields,
    const std::function<void(const pgcopy::Reader::Row&)>& row) {
  pgcopy::Reader reader(fields);
  CURATOR_RETURN_IF_ERROR(conn.CopyOut(copy,
                                       [&](absl::string_view chunk) {
                                         return reader.Feed(
                                             chunk,
                                             [&](const pgcopy::Reader::Row& r) {
                                               row(r);
                                               return absl::OkStatus();
                                             });
                                       })
                              .status());
  return reader.Finish();
}

// The night's detections with no source yet. They lie in the partitions
// of the night's CU4 batches (ingester/detection_loader.h: one per
// batch, by its block of obj_ids), so only those are read.
absl::StatusOr<std::vector<NightDetection>> ReadDetections(
    pg::Connection& conn, const std::string& night) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result blocks,
      conn.Exec("SELECT i.base, i.count FROM curation.id_block i JOIN "
                "curation.batch b USING "
                "(batch_id) WHERE b.night = $1::date AND b.cu = $2 AND b.state "
                "= 'ingested' "
                "ORDER BY i.base",
                {night, std::to_string(v1::CU4)}));
  std::vector<NightDetection> out;
  if (blocks.rows() == 0) return out;
  std::vector<std::string> ranges;
  for (int i = 0; i < blocks.rows(); ++i) {
    const int64_t base = blocks.GetInt(i, 0), count = blocks.GetInt(i, 1);
    if (count > 0)
      ranges.push_back(
          absl::StrCat("d.obj_id BETWEEN ", base, " AND ", base + count - 1));
  }
  if (ranges.empty()) return out;
  const std::string copy = absl::StrCat(
      "COPY (SELECT d.obj_id, d.multiframe_id, d.ext_num, coalesce(m.mjd_obs, "
      "0), d.ra, d.dec "
      "FROM detection d JOIN multiframe m USING (multiframe_id) WHERE (",
      absl::StrJoin(ranges, " OR "),
      ") AND NOT EXISTS (SELECT 1 FROM source_detection l WHERE l.obj_id = "
      "d.obj_id)) TO STDOUT "
      "(FORMAT binary)");
  CURATOR_RETURN_IF_ERROR(
      CopyRows(conn, copy, 6, [&](const pgcopy::Reader::Row& r) {
        NightDetection n;
        n.d.id = r.Int64(0);
        n.multiframe_id = n.d.frame = r.Int64(1);
        n.ext_num = r.Int16(2);
        n.d.epoch = r.Float64(3);
        n.d.ra = r.Float64(4);
        n.d.dec = r.Float64(5);
        out.push_back(n);
      }));
  return out;
}

// The grid of source.sky_cell (deploy/migrations/0011_sources.sql): rows
// of 0.25 degree in Dec from -90, columns of 0.25 degree in RA from 0. The
// same floating-point operations as the SQL, so the same cell.
constexpr int kCellsPerDegree = 4;
constexpr int kColumns = 360 * kCellsPerDegree;

int Row(double dec) {
  return static_cast<int>(std::floor((dec + 90) * kCellsPerDegree));
}
int Column(double ra) {
  return static_cast<int>(std::floor(ra * kCellsPerDegree));
}

// Every cell a cone of `radius` degrees around each of `cones` touches.
std::set<int32_t> CellsAround(const std::vector<Cone>& cones, double margin) {
  std::set<int32_t> cells;
  for (const Cone& c : cones) {
    const double r = c.radius + margin;
    const double lo = std::max(-90.0, c.dec - r),
                 hi = std::min(90.0, c.dec + r);
    // The RA half-width of the cone at the largest |Dec| it reaches; all
    // of each row when it reaches a pole.
    const double widest = std::max(std::fabs(lo), std::fabs(hi));
    const bool all = c.dec + r >= 90 || c.dec - r <= -90 || widest >= 89.999;
    double alpha = 180;
    if (!all) {
      const double s = std::sin(r * kDegree) / std::cos(widest * kDegree);
      alpha = s >= 1 ? 180 : std::asin(s) / kDegree;
    }
    for (int row = Row(lo); row <= Row(hi); ++row) {
      if (alpha >= 180) {
        for (int col = 0; col < kColumns; ++col)
          cells.insert(row * kColumns + col);
        continue;
      }
      // Columns, wrapped at RA = 0/360; one column more each side, for
      // RA that rounds into it.
      for (int col = Column(c.ra - alpha) - 1; col <= Column(c.ra + alpha) + 1;
           ++col) {
        cells.insert(row * kColumns + ((col % kColumns) + kColumns) % kColumns);
      }
    }
  }
  return cells;
}

struct FootprintSources {
  std::vector<match::Point> points;
  std::set<int64_t> ids_on_detectors;  // within a detector's own circle
};

// The sources within `margin` degrees of any detector's circle, or a
// little more (whole cells).
absl::StatusOr<FootprintSources> ReadSources(pg::Connection& conn,
                                             const std::vector<Cone>& cones,
                                             double margin) {
  FootprintSources out;
  if (cones.empty()) return out;
  std::vector<std::string> cells;
  for (int32_t cell : CellsAround(cones, margin))
    cells.push_back(std::to_string(cell));
  const std::string copy = absl::StrCat(
      "COPY (SELECT source_id, ra, dec FROM source WHERE sky_cell = ANY('{",
      absl::StrJoin(cells, ","), "}'::integer[])) TO STDOUT (FORMAT binary)");
  CURATOR_RETURN_IF_ERROR(
      CopyRows(conn, copy, 3, [&](const pgcopy::Reader::Row& r) {
        out.points.push_back({r.Int64(0), r.Float64(1), r.Float64(2)});
      }));
  // Which lie on a detector (its own circle), for the night's count of
  // sources it did not see: the detectors' centres in zones, searched
  // from each source.
  double widest = 0;
  std::vector<match::Point> centres;
  for (size_t i = 0; i < cones.size(); ++i) {
    centres.push_back({static_cast<int64_t>(i), cones[i].ra, cones[i].dec});
    widest = std::max(widest, cones[i].radius);
  }
  absl::StatusOr<match::ZoneIndex> detectors = match::ZoneIndex::Build(
      std::move(centres), std::clamp(widest * 3600, 1.0, 3600.0), 1);
  if (!detectors.ok())
    return out;  // a detector wider than two degrees: no count
  for (const match::Point& p : out.points) {
    for (const match::ZoneIndex::Hit& h : detectors->Within(p.ra, p.dec)) {
      if (h.separation_arcsec <= cones[h.id].radius * 3600) {
        out.ids_on_detectors.insert(p.id);
        break;
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<TaskOutput> RunCu5(const Cu5Input& input) {
  auto cancelled = [&] {
    return input.control != nullptr && input.control->Cancelled();
  };
  tasklog::Step read_step{"read"}, match_step{"match"}, write_step{"write"};
  read_step.started = absl::Now();
  CURATOR_ASSIGN_OR_RETURN(std::unique_ptr<pg::Connection> conn,
                           pg::Connection::Connect(input.conninfo));
  // One snapshot for both reads: the sources are those of the nights whose
  // links the detections query saw.
  CURATOR_RETURN_IF_ERROR(
      conn->Exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  CURATOR_ASSIGN_OR_RETURN(pg::Result version,
                           conn->Exec("SELECT version FROM source_version"));
  if (version.rows() != 1)
    return absl::InternalError("source_version has no row");
  const int64_t source_version = version.GetInt(0, 0);
  CURATOR_ASSIGN_OR_RETURN(std::vector<NightDetection> night,
                           ReadDetections(*conn, input.night));
  if (cancelled()) return absl::CancelledError("CU5 cancelled");
  const std::vector<Cone> cones = DetectorCones(night);
  const double radius_deg = input.radius_arcsec / 3600.0;
  CURATOR_ASSIGN_OR_RETURN(FootprintSources existing,
                           ReadSources(*conn, cones, 2 * radius_deg));
  CURATOR_RETURN_IF_ERROR(conn->Commit());
  read_step.finished = absl::Now();
  read_step.rows = static_cast<int64_t>(night.size() + existing.points.size());
  read_step.messages.push_back(
      {"info", "", 0, "",
       absl::StrCat(night.size(), " detections without a source on ",
                    cones.size(), " detectors; ", existing.points.size(),
                    " sources around them")});
  if (cancelled()) return absl::CancelledError("CU5 cancelled");

  match_step.started = absl::Now();
  const size_t existing_count = existing.points.size();
  CURATOR_ASSIGN_OR_RETURN(
      match::ZoneIndex index,
      match::ZoneIndex::Build(std::move(existing.points), input.radius_arcsec,
                              input.threads));
  std::vector<match::Detection> detections;
  detections.reserve(night.size());
  for (const NightDetection& n : night) detections.push_back(n.d);
  CURATOR_ASSIGN_OR_RETURN(match::Association a,
                           match::Associate(index, detections, input.threads));
  std::set<int64_t> updated;
  for (const match::Link& l : a.links) {
    if (!l.new_source) updated.insert(l.source_id);
  }
  int64_t unmatched = 0;
  for (int64_t id : existing.ids_on_detectors) unmatched += !updated.count(id);
  match_step.finished = absl::Now();
  match_step.rows = static_cast<int64_t>(a.links.size());
  match_step.messages.push_back(
      {"info", "", 0, "",
       absl::StrFormat(
           "%d detections against %d sources within %g arcsec: %d new "
           "sources, %d updated, %d unmatched",
           detections.size(), existing_count, input.radius_arcsec,
           a.new_sources.size(), updated.size(), unmatched)});
  if (cancelled()) return absl::CancelledError("CU5 cancelled");

  write_step.started = absl::Now();
  // The same detections, sources and radius name the same batch.
  const int64_t first = night.empty() ? 0 : a.links.front().detection_id;
  const int64_t last = night.empty() ? 0 : a.links.back().detection_id;
  CURATOR_ASSIGN_OR_RETURN(
      std::unique_ptr<BatchWriter> batch,
      BatchWriter::Create(
          input.archive_root, input.night, v1::CU5,
          MakeBatchId(
              input.night, v1::CU5,
              {absl::StrCat("detections:", night.size(), ":", first, ":", last),
               absl::StrCat("sources:", existing_count),
               absl::StrFormat("radius:%.17g", input.radius_arcsec)}),
          input.cu_event_id, input.rerun));
  CURATOR_ASSIGN_OR_RETURN(
      pgcopy::Writer * sources,
      batch->AddFile("source.pgcopy", "source", {"source_id", "ra", "dec"}));
  for (const match::Point& p : a.new_sources) {
    sources->StartRow(3);
    sources->AddInt64(p.id);
    sources->AddFloat64(p.ra);
    sources->AddFloat64(p.dec);
  }
  CURATOR_ASSIGN_OR_RETURN(
      pgcopy::Writer * links,
      batch->AddFile("source_detection.pgcopy", "source_detection",
                     {"obj_id", "source_id", "separation"}));
  for (const match::Link& l : a.links) {
    links->StartRow(3);
    links->AddInt64(l.detection_id);
    links->AddInt64(l.source_id);
    links->AddFloat32(static_cast<float>(l.separation_arcsec));
  }
  CURATOR_ASSIGN_OR_RETURN(
      pgcopy::Writer * summary,
      batch->AddFile("source_night.pgcopy", "source_night",
                     {"detections", "new_sources", "updated_sources",
                      "unmatched_sources", "radius_arcsec", "source_version"}));
  summary->StartRow(6);
  summary->AddInt64(static_cast<int64_t>(a.links.size()));
  summary->AddInt64(static_cast<int64_t>(a.new_sources.size()));
  summary->AddInt64(static_cast<int64_t>(updated.size()));
  summary->AddInt64(unmatched);
  summary->AddFloat64(input.radius_arcsec);
  summary->AddInt64(source_version);
  CURATOR_ASSIGN_OR_RETURN(std::string dir, batch->Commit());
  write_step.finished = absl::Now();
  write_step.rows =
      static_cast<int64_t>(a.new_sources.size() + a.links.size() + 1);

  TaskOutput out;
  out.batch_dir = dir;
  out.manifest = batch->manifest();
  out.steps = {std::move(read_step), std::move(match_step),
               std::move(write_step)};
  return out;
}

}  // namespace curator::worker
