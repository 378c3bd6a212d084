#include "tests/support/archive_digest.h"

#include <pqxx/pqxx>

#include "absl/strings/str_replace.h"

namespace curator::testing {

std::map<std::string, std::string> ArchiveDigests(const std::string& conninfo,
                                                  bool live) {
  // {multiframe}, {multiframe_detector}, {detection}: the tables, or their
  // live views.
  const std::map<std::string, std::string> queries = {
      {"multiframe",
       "SELECT md5(string_agg(row(file_name, cat_name, night, frame_type, "
       "telescope, instrument, "
       "project, survey, object, obs_type, filter_name, ut_date, date_obs, "
       "mjd_obs, exp_time, "
       "ra_base, dec_base, run_id, obs_num, num_detectors)::text, '|' ORDER BY "
       "file_name)) FROM "
       "{multiframe}"},
      {"multiframe_detector",
       "SELECT md5(string_agg(row(m.file_name, d.ext_num, d.cam_num, d.crval1, "
       "d.crval2, d.cd1_1, "
       "d.seeing, d.sky_level, d.mag_zpt, d.axis1_length, d.comp_file)::text, "
       "'|' ORDER BY "
       "m.file_name, d.ext_num)) FROM {multiframe_detector} d JOIN "
       "{multiframe} m USING "
       "(multiframe_id)"},
      {"multiframe_header_card",
       "SELECT md5(string_agg(row(m.file_name, h.hdu, h.card_num, h.keyword, "
       "h.value, "
       "h.comment)::text, '|' ORDER BY m.file_name, h.hdu, h.card_num)) FROM "
       "multiframe_header_card h JOIN {multiframe} m USING (multiframe_id)"},
      {"detection",
       "SELECT md5(string_agg(row(m.file_name, d.ext_num, d.seq_num, d.ra, "
       "d.dec, d.x, d.y, "
       "d.aper_flux_3, d.aper_mag_3, d.class)::text, '|' ORDER BY m.file_name, "
       "d.ext_num, "
       "d.seq_num)) || ' ' || count(*) || ' ' || count(DISTINCT d.obj_id) FROM "
       "{detection} d "
       "JOIN {multiframe} m USING (multiframe_id)"},
  };
  const std::string prefix = live ? "live_" : "";
  std::map<std::string, std::string> out;
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  for (const auto& [table, sql] : queries) {
    const std::string query = absl::StrReplaceAll(
        sql, {{"{multiframe}", prefix + "multiframe"},
              {"{multiframe_detector}", prefix + "multiframe_detector"},
              {"{detection}", prefix + "detection"}});
    out[table] = tx.exec1(query)[0].as<std::string>();
  }
  return out;
}

}  // namespace curator::testing
