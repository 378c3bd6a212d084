#include "synth/truth.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace curator::synth {

std::string ObjectsCsv(const Options& options, const Sky& sky) {
  std::string out = kObjectsHeader;
  for (const SkyObject& o : sky.objects()) {
    std::string transient;
    if (o.kind == ObjectKind::kTransient) {
      transient = absl::StrFormat("w%s_%05d_cat.fits",
                                  NightName(options, o.transient_night),
                                  o.transient_run);
    }
    absl::StrAppendFormat(&out, "%d,%.9f,%.9f,%.4f,%.4f,%s", o.id, o.ra, o.dec,
                          o.pm_ra, o.pm_dec, ObjectKindName(o.kind));
    for (double m : o.mag) absl::StrAppendFormat(&out, ",%.4f", m);
    absl::StrAppendFormat(&out, ",%d,%.6f,%.6f,%.9f,%.9f,%.3f,%s\n", o.field,
                          sky.reference_mjd(), o.var_amp, o.var_period,
                          o.var_phase, o.size, transient);
  }
  return out;
}

std::string DetectionTruthCsv(const FrameModel& frame,
                              const FrameDefects& defects) {
  std::string out;
  const std::vector<CatalogueTable> tables = CatalogueTables(frame, defects);
  for (size_t k = 0; k < tables.size(); ++k) {
    if (tables[k].empty) continue;
    const DetectorModel& det = *tables[k].detector;
    for (size_t i = 0; i < det.truth.size(); ++i) {
      const RowTruth& t = det.truth[i];
      absl::StrAppendFormat(
          &out, "%s,%d,%d,%d,%.9f,%.9f,%.4f,%s,%s\n", frame.catalogue_name,
          k + 2, WrittenSequenceNumber(det, defects, i), t.object_id, t.ra,
          t.dec, t.mag, frame.filter, ObjectKindName(t.kind));
    }
  }
  return out;
}

}  // namespace curator::synth
