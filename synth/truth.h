// The revisited sky's truth files, CSV with a header line, one record a
// line, fields separated by commas (none contains a comma or a quote),
// "\n" line ends. Angles in degrees (%.9f), magnitudes %.4f, proper
// motions %.4f; ref_mjd %.6f, var_amp %.6f, var_period and var_phase %.9f.
//
// truth/objects.csv, the whole fixed sky, one line per object by id:
//   object_id,ra,dec,pm_ra,pm_dec,kind,mag_Z,mag_Y,mag_J,mag_H,mag_K,
//   field,ref_mjd,var_amp,var_period,var_phase,size,transient_catalogue
// ra, dec at the reference epoch ref_mjd (the same on every line); pm_ra
// (mu_alpha cos dec) and pm_dec in arcsec/yr; kind one of star, galaxy,
// variable, moving, transient; mag_b the mean magnitude in band b (a
// band no night observes included); var_amp (mag), var_period (days) and
// var_phase (radians) 0 unless variable; size the galaxy's intrinsic
// Gaussian sigma in arcsec, 0 for point sources; transient_catalogue the
// catalogue file of the one frame a transient is in, empty otherwise.
// Positions and magnitudes at an epoch follow synth/sky.h.
//
// truth/<YYYYMMDD>_objects.csv, per night, one line per row of every
// catalogue file of the night, by file name, then table, then row:
//   catalogue_file,ext_num,seq_num,object_id,true_ra,true_dec,true_mag,band,kind
// catalogue_file the file's name (w20071021_00001_cat.fits); ext_num the
// HDU number of the row's table (2 for the first table, as CU4 stores
// detection.ext_num); seq_num the row's Sequence_number as written (what
// CU4 stores as detection.seq_num: the 1-based row number; the
// duplicate-seqnum defect makes row 2 of DET1 say 1 again); object_id the
// line of objects.csv; true_ra, true_dec and true_mag the object's
// position and magnitude at the frame's MJD-OBS in its band (the
// catalogue's RA/DEC and aperture fluxes are measurements about these);
// band the frame's filter; kind the object's. Catalogues spoilt by a
// defect are listed as written (the night's JSON names the defects): their
// tables' rows, none for an emptied or missing table, the copies'
// rows again under extra-tables.
#ifndef CURATOR_SYNTH_TRUTH_H_
#define CURATOR_SYNTH_TRUTH_H_

#include <string>

#include "synth/frame_writer.h"
#include "synth/sky.h"
#include "synth/survey_model.h"

namespace curator::synth {

inline constexpr char kObjectsHeader[] =
    "object_id,ra,dec,pm_ra,pm_dec,kind,mag_Z,mag_Y,mag_J,mag_H,mag_K,"
    "field,ref_mjd,var_amp,var_period,var_phase,size,transient_catalogue\n";
inline constexpr char kDetectionsHeader[] =
    "catalogue_file,ext_num,seq_num,object_id,true_ra,true_dec,true_mag,band,"
    "kind\n";

// truth/objects.csv, header included.
std::string ObjectsCsv(const Options& options, const Sky& sky);

// The lines of truth/<night>_objects.csv for the catalogue of `frame`
// written with `defects` (no header).
std::string DetectionTruthCsv(const FrameModel& frame,
                              const FrameDefects& defects);

}  // namespace curator::synth

#endif  // CURATOR_SYNTH_TRUTH_H_
