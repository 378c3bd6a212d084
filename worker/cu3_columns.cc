#include "worker/cu3_columns.h"

namespace curator::worker {

namespace {
using T = ColumnType;
}  // namespace

const std::vector<KeywordColumn>& MultiframeKeywords() {
  static const std::vector<KeywordColumn>* columns = new std::vector<KeywordColumn>{
      {"telescope", "TELESCOP", T::kText},
      {"instrument", "INSTRUME", T::kText},
      {"project", "PROJECT", T::kText},
      {"survey", "SURVEY", T::kText},
      {"object", "OBJECT", T::kText},
      {"obs_type", "OBSTYPE", T::kText},
      {"filter_name", "FILTER", T::kText},
      {"ut_date", "UTDATE", T::kDate},
      {"date_obs", "DATE-OBS", T::kTimestamp},
      {"date_end", "DATE-END", T::kTimestamp},
      {"mjd_obs", "MJD-OBS", T::kFloat64},
      {"exp_time", "EXPTIME", T::kFloat64, {}, 0.0},
      {"ra_base", "RABASE", T::kFloat64, {}, 0.0, 360.0, true},
      {"dec_base", "DECBASE", T::kFloat64, {}, -90.0, 90.0},
      {"run_id", "RUNID", T::kText},
      {"obs_num", "OBSNUM", T::kInt32},
      {"am_start", "AMSTART", T::kFloat64},
      {"am_end", "AMEND", T::kFloat64},
  };
  return *columns;
}

const std::vector<KeywordColumn>& DetectorKeywords() {
  static const std::vector<KeywordColumn>* columns = new std::vector<KeywordColumn>{
      {"cam_num", "CAMNUM", T::kInt32},
      {"device_id", "DETECTID", T::kText},
      {"image_ext_name", "EXTNAME", T::kText},
      {"data_scale", "BSCALE", T::kFloat64, 1.0},
      {"data_zero", "BZERO", T::kFloat64, 0.0},
      {"ctype1", "CTYPE1", T::kText},
      {"ctype2", "CTYPE2", T::kText},
      {"crval1", "CRVAL1", T::kFloat64, {}, 0.0, 360.0, true},
      {"crval2", "CRVAL2", T::kFloat64, {}, -90.0, 90.0},
      {"crpix1", "CRPIX1", T::kFloat64},
      {"crpix2", "CRPIX2", T::kFloat64},
      {"cd1_1", "CD1_1", T::kFloat64},
      {"cd1_2", "CD1_2", T::kFloat64},
      {"cd2_1", "CD2_1", T::kFloat64},
      {"cd2_2", "CD2_2", T::kFloat64},
      {"pv2_1", "PV2_1", T::kFloat64},
      {"pv2_2", "PV2_2", T::kFloat64},
      {"pv2_3", "PV2_3", T::kFloat64},
      {"seeing", "SEEING", T::kFloat64, {}, 0.0},
      {"sky_level", "SKYLEVEL", T::kFloat64},
      {"sky_noise", "SKYNOISE", T::kFloat64, {}, 0.0},
      {"mag_zpt", "MAGZPT", T::kFloat64},
      {"mag_zpt_err", "MAGZRR", T::kFloat64},
      {"extinction", "EXTINCT", T::kFloat64},
      {"gain", "GAIN", T::kFloat64},
      {"read_noise", "READNOIS", T::kFloat64},
  };
  return *columns;
}

}  // namespace curator::worker
