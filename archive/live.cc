#include "archive/live.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status.h"

namespace curator::archive::live {
namespace {

// Logs the frames an UPDATE ... RETURNING multiframe_id, code, reason of
// `changes` moved, under the event (NULL if it is not recorded).
constexpr char kLogChanges[] =
    ") INSERT INTO curation.deprecation (multiframe_id, code, reason, "
    "cu_event_id) SELECT "
    "multiframe_id, code, reason, (SELECT cu_event_id FROM curation.cu_event "
    "WHERE "
    "cu_event_id = $2) FROM changed RETURNING multiframe_id";

}  // namespace

absl::Status HoldNewVersions(pg::Connection& conn, const std::string& night) {
  return conn
      .Exec(absl::StrCat(
                "UPDATE multiframe m SET deprecated = ", kPending,
                " FROM curation.registered_file r, curation.night n WHERE "
                "r.multiframe_id = m.multiframe_id AND r.kind = 'image' AND "
                "n.night = "
                "m.night AND m.night = $1 AND m.deprecated = ",
                kLive, " AND r.delivery > n.published_delivery"),
            {night})
      .status();
}

absl::StatusOr<int64_t> PublishDelivery(pg::Connection& conn,
                                        const std::string& night,
                                        int64_t cu_event_id) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result n,
      conn.Exec("SELECT delivery, published_delivery FROM curation.night WHERE "
                "night = $1 FOR UPDATE",
                {night}));
  if (n.rows() == 0 || n.GetInt(0, 0) == n.GetInt(0, 1)) return 0;
  const std::string event = std::to_string(cu_event_id);
  // Out: frames whose image a delivery up to the night's superseded
  // (another version of its path) or removed.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result gone,
      conn.Exec(
          absl::StrCat(
              "WITH changed AS (UPDATE multiframe m SET deprecated = g.code "
              "FROM (SELECT r.multiframe_id, "
              "CASE WHEN v.file_id IS NULL THEN ",
              kRemoved, " ELSE ", kSuperseded,
              " END AS code, "
              "CASE WHEN v.file_id IS NULL THEN 'removed in delivery ' "
              "ELSE 'superseded by delivery ' END || r.superseded_in AS reason "
              "FROM curation.registered_file r "
              "JOIN curation.night n ON n.night = r.night "
              "LEFT JOIN curation.registered_file v ON v.path = r.path "
              "AND v.delivery = r.superseded_in "
              "WHERE r.night = $1 AND r.kind = 'image' "
              "AND r.superseded_in <= n.delivery "
              // A version whose metadata did not load (its CU3 failed or
              // left it out) replaces nothing: the old frame stays.
              "AND (v.file_id IS NULL OR EXISTS (SELECT 1 FROM multiframe x "
              "WHERE x.multiframe_id = v.multiframe_id))) g "
              "WHERE m.multiframe_id = g.multiframe_id "
              // An operator's deprecation gives way too: undeprecating the
              // old version must not bring it back beside the new one.
              "AND m.deprecated IN (",
              kLive, ", ", kPending, ", ", kOperator,
              ") RETURNING m.multiframe_id, g.code, g.reason", kLogChanges),
          {night, event}));
  // In: the pending versions.
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result in,
      conn.Exec(
          absl::StrCat(
              "WITH changed AS (UPDATE multiframe m SET deprecated = ", kLive,
              " WHERE m.night = $1 AND m.deprecated = ", kPending,
              " RETURNING m.multiframe_id, m.deprecated AS code, 'delivery ' "
              "|| "
              "(SELECT delivery FROM curation.night WHERE night = $1) || ' "
              "published' AS reason",
              kLogChanges),
          {night, event}));
  CURATOR_RETURN_IF_ERROR(
      conn.Exec("UPDATE curation.night SET published_delivery = delivery WHERE "
                "night = $1",
                {night})
          .status());
  return gone.rows() + in.rows();
}

absl::StatusOr<std::vector<int64_t>> SetCode(
    pg::Connection& conn, const std::vector<int64_t>& multiframe_ids,
    const std::vector<int>& from, Code code, const std::string& reason,
    int64_t cu_event_id) {
  std::vector<std::string> ids;
  for (int64_t id : multiframe_ids) ids.push_back(std::to_string(id));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result r,
      conn.Exec(
          absl::StrCat("WITH changed AS (UPDATE multiframe m SET deprecated = ",
                       static_cast<int>(code),
                       " WHERE m.multiframe_id = ANY($1::bigint[]) AND "
                       "m.deprecated IN (",
                       absl::StrJoin(from, ", "),
                       ") RETURNING m.multiframe_id, ", static_cast<int>(code),
                       " AS code, $3::text AS reason", kLogChanges),
          {pg::TextArray(ids), std::to_string(cu_event_id), reason}));
  std::vector<int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.GetInt(i, 0));
  return out;
}

absl::StatusOr<Counts> Count(pg::Connection& conn) {
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result codes,
      conn.Exec(
          "SELECT c.name, (SELECT count(*) FROM multiframe m "
          "WHERE m.deprecated = c.code) FROM curation.deprecation_code c"));
  CURATOR_ASSIGN_OR_RETURN(
      pg::Result nights,
      conn.Exec("SELECT (SELECT count(*) FROM curation.waiting_file), "
                "(SELECT count(*) FROM curation.night "
                "WHERE retired_event IS NOT NULL)"));
  Counts out;
  for (int i = 0; i < codes.rows(); ++i) {
    out.frames_by_code[codes.Get(i, 0)] = codes.GetInt(i, 1);
  }
  out.files_waiting = nights.GetInt(0, 0);
  out.nights_retired = nights.GetInt(0, 1);
  return out;
}

}  // namespace curator::archive::live
