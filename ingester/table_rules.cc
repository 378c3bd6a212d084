#include "ingester/table_rules.h"

namespace curator::ingester {

std::string LoadTableName(const std::string& table) { return "load_" + table; }

std::vector<TableRule> MetadataRules() {
  return std::vector<TableRule>{
      {"multiframe",
       {"multiframe_id"},
       {{"ra_base", 0, 360, true}, {"dec_base", -90, 90}},
       {"SELECT l.multiframe_id, 0, 'multiframe_id', 'multiframe_id ' || l.multiframe_id || ' ("
        "' || l.file_name || ') is not a registered image' FROM {load} l WHERE NOT EXISTS "
        "(SELECT 1 FROM curation.registered_file r WHERE r.multiframe_id = l.multiframe_id AND "
        "r.kind = 'image')",
        "SELECT l.multiframe_id, 0, 'night', 'multiframe_id ' || l.multiframe_id || ' (' || "
        "l.file_name || ') is of night ' || l.night || ', not the batch''s' FROM {load} l WHERE "
        "l.night <> {night}",
        "SELECT l.multiframe_id, 0, 'num_detectors', 'multiframe_id ' || l.multiframe_id || ' "
        "has ' || l.num_detectors || ' detectors but ' || (SELECT count(*) FROM "
        "{load:multiframe_detector} d WHERE d.multiframe_id = l.multiframe_id) || ' detector "
        "rows' FROM {load} l WHERE l.num_detectors <> (SELECT count(*) FROM "
        "{load:multiframe_detector} d WHERE d.multiframe_id = l.multiframe_id)"},
       "multiframe_id",
       "1"},
      {"multiframe_detector",
       {"multiframe_id", "ext_num"},
       {{"crval1", 0, 360, true}, {"crval2", -90, 90}},
       {"SELECT l.multiframe_id, l.ext_num, '', 'detector ' || l.multiframe_id || '/' || "
        "l.ext_num || ' has no multiframe' FROM {load} l WHERE NOT EXISTS (SELECT 1 FROM "
        "{load:multiframe} m WHERE m.multiframe_id = l.multiframe_id) AND NOT EXISTS (SELECT 1 "
        "FROM multiframe a WHERE a.multiframe_id = l.multiframe_id)",
        "SELECT l.multiframe_id, l.ext_num, 'axis1_length', 'detector ' || l.multiframe_id || "
        "'/' || l.ext_num || ' has a non-positive size' FROM {load} l WHERE l.axis1_length <= 0 "
        "OR l.axis2_length <= 0"},
       "multiframe_id",
       "l.ext_num"},
      {"multiframe_header_card",
       {"multiframe_id", "hdu", "card_num"},
       {},
       {"SELECT l.multiframe_id, l.hdu, l.keyword, 'header card ' || l.multiframe_id || '/' || "
        "l.hdu || '/' || l.card_num || ' has no multiframe' FROM {load} l WHERE NOT EXISTS "
        "(SELECT 1 FROM {load:multiframe} m WHERE m.multiframe_id = l.multiframe_id) AND NOT "
        "EXISTS (SELECT 1 FROM multiframe a WHERE a.multiframe_id = l.multiframe_id)"},
       "multiframe_id",
       "l.hdu"},
  };
}

}  // namespace curator::ingester
