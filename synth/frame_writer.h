// Writes one multiframe's image and catalogue files as WFCAM and CASU
// would: an image with a primary header and four detector extensions, and
// a catalogue with the same primary header and four CASU type-6 tables.
#ifndef CURATOR_SYNTH_FRAME_WRITER_H_
#define CURATOR_SYNTH_FRAME_WRITER_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "synth/random.h"
#include "synth/survey_model.h"

namespace curator::synth {

// The defects that change how a frame's files are written (truncation and
// copies are done on the finished files).
struct FrameDefects {
  bool missing_keyword = false;
  bool wrong_keyword_type = false;
  bool nan_columns = false;
  bool empty_table = false;
  bool wrong_column_type = false;
  bool ra_out_of_range = false;
  bool extra_tables = false;
  bool missing_tables = false;
  bool duplicate_seqnum = false;
};

// The tables WriteCatalogueFile writes for `frame` with `defects`, in file
// order (the k-th, 0-based, is HDU k + 2): the detector each describes and
// whether it is written without rows.
struct CatalogueTable {
  const DetectorModel* detector;
  bool empty;
};
std::vector<CatalogueTable> CatalogueTables(const FrameModel& frame,
                                            const FrameDefects& defects);

// The Sequence_number WriteCatalogueFile writes in row `row` (0-based) of
// a table of `det`: row + 1, but 1 in row 1 of DET1's tables under
// duplicate-seqnum.
int64_t WrittenSequenceNumber(const DetectorModel& det,
                              const FrameDefects& defects, size_t row);

// The catalogue rows WriteCatalogueFile writes for `frame` with `defects`.
int64_t CatalogueRows(const FrameModel& frame, const FrameDefects& defects);

// Spoils a finished image file for `defect` (kGarbageXtension,
// kHugeImage, kBadZbitpix) by rewriting cards of a detector's header in
// place, as damage in transfer or a broken writer would leave it;
// `compressed`: the detectors are tile-compressed (ZBITPIX, ZNAXISn).
// Other defects are not this function's: InvalidArgument.
absl::Status SpoilImageFile(const std::string& path, Defect defect, bool compressed);

// The pixels of one detector: sky, read and photon noise, and the stars,
// each integrated over its pixels (row 1 first, as FITS stores them).
std::vector<float> RenderDetector(const FrameModel& frame,
                                  const DetectorModel& det,
                                  const Options& options,
                                  const FastNormal& normal, int night_index);

absl::Status WriteImageFile(const FrameModel& frame, const Options& options,
                            const FrameDefects& defects, int night_index,
                            const FastNormal& normal, const std::string& path);

// Rows of the catalogue of `det`, column by column (80 columns).
std::vector<std::vector<float>> CatalogueColumns(const FrameModel& frame,
                                                 const DetectorModel& det);

absl::Status WriteCatalogueFile(const FrameModel& frame,
                                const FrameDefects& defects,
                                const std::string& path);

}  // namespace curator::synth

#endif  // CURATOR_SYNTH_FRAME_WRITER_H_
