// CU2: a JPEG preview of every detector image of a night, for
// <archive>/jpeg/<night>/<file stem>_<ext>.jpg, and a batch of
// (multiframe_id, ext_num, comp_file) rows for multiframe_detector. The
// previews travel in the batch (previews/, listed as assets in its
// manifest) and are published by the ingest that loads it, so two attempts
// of a night's CU2 never touch each other's files and the archive holds
// the previews of the batch it ingested.
//
// Per detector: pixels read with CFITSIO (plain or tile-compressed,
// BSCALE/BZERO applied, blank and NaN pixels ignored), display limits by
// zscale (default), min/max or percentiles, an optional block average
// down to a maximum size, FITS orientation kept (row 1 at the bottom),
// grayscale JPEG by TurboJPEG, written durably. One detector per thread
// in memory; files in parallel. A file that cannot be read is named in the
// batch's failures; all-NaN data gives a black picture and a warning,
// constant data a uniform grey one. A preview that cannot be written (a
// full disk) fails the task, to be retried: it is never done with
// previews missing.
#ifndef CURATOR_WORKER_CU2_TASK_H_
#define CURATOR_WORKER_CU2_TASK_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fits/fits.h"
#include "worker/cu3_task.h"
#include "worker/scaling.h"
#include "worker/task_control.h"

namespace curator::worker {

struct JpegOptions {
  enum class Scaling { kZScale, kMinMax, kPercentile };
  Scaling scaling = Scaling::kZScale;
  ZScaleParams zscale;
  double percentile_lo = 0.5, percentile_hi = 99.5;
  int max_size = 0;  // bin down so neither side exceeds this; 0: full size
  int quality = 85;
};

struct Cu2Input {
  std::string archive_root;
  std::string night;
  int64_t cu_event_id = 0;
  std::vector<ImageInput> images;
  int threads = 0;
  JpegOptions jpeg;
  TaskControl* control = nullptr;  // progress and cancellation, optional
  Rerun rerun;
};

// Buffers one thread reuses from detector to detector: the 8-bit picture
// and TurboJPEG's output.
struct PreviewScratch {
  std::vector<uint8_t> picture;
  std::vector<uint8_t> jpeg;
};

// One detector's preview.
struct Preview {
  int width = 0, height = 0;
  Limits limits;
  bool all_blank = false;
  absl::string_view jpeg;  // in the PreviewScratch it was made with
};

// Scales `pixels` (nx * ny, FITS row 1 first) into a JPEG.
absl::StatusOr<Preview> MakePreview(const float* pixels, int64_t nx, int64_t ny,
                                    const JpegOptions& options, PreviewScratch& scratch);
// The same from pixels as stored (fits::FitsFile::ReadStored), converted
// once, straight to 8 bits: the same limits, and the same picture within
// one grey level. For zscale and percentiles at full size; nullopt for
// options it does not take (min/max, binning).
std::optional<absl::StatusOr<Preview>> MakePreview(const fits::StoredImage& image,
                                                   const JpegOptions& options,
                                                   PreviewScratch& scratch);

absl::StatusOr<TaskOutput> RunCu2(const Cu2Input& input);

}  // namespace curator::worker

#endif  // CURATOR_WORKER_CU2_TASK_H_
