#include "worker/multiframe_reader.h"

#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "worker/cu3_columns.h"

namespace curator::worker {
namespace {

using fits::FitsFile;

std::optional<absl::CivilDay> ParseDate(absl::string_view s) {
  int y = 0, m = 0, d = 0;
  std::string text(s);
  if ((std::sscanf(text.c_str(), "%4d-%2d-%2d", &y, &m, &d) == 3 && text.size() == 10) ||
      (std::sscanf(text.c_str(), "%4d%2d%2d", &y, &m, &d) == 3 && text.size() == 8)) {
    absl::CivilDay day(y, m, d);
    if (day.year() == y && day.month() == m && day.day() == d) return day;
  }
  return std::nullopt;
}

std::optional<absl::Time> ParseTimestamp(absl::string_view s) {
  absl::Time t;
  std::string err;
  for (const char* format : {"%Y-%m-%dT%H:%M:%E*S", "%Y-%m-%d"}) {
    if (absl::ParseTime(format, s, absl::UTCTimeZone(), &t, &err)) return t;
  }
  return std::nullopt;
}

// The value of one mapped keyword, or NULL/default with a warning.
Value ReadColumnValue(const fits::Header& h, const std::string& path,
                      const KeywordColumn& col, int hdu,
                      std::vector<v1::FileProblem>& warnings) {
  auto warn = [&](const std::string& message) -> Value {
    v1::FileProblem p;
    p.set_path(path);
    p.set_hdu(hdu);
    p.set_item(col.keyword);
    p.set_message(message);
    warnings.push_back(std::move(p));
    if (col.default_value) return *col.default_value;
    return std::monostate();
  };
  if (!h.Has(col.keyword)) {
    if (col.default_value) return *col.default_value;  // FITS default, no warning
    return warn(absl::StrCat("keyword ", col.keyword, " is missing; ", col.column,
                             " is NULL"));
  }
  switch (col.type) {
    case ColumnType::kText: {
      auto v = h.GetString(col.keyword);
      if (!v.ok()) return warn(std::string(v.status().message()));
      return *v;
    }
    case ColumnType::kInt32: {
      auto v = h.GetInt(col.keyword);
      if (!v.ok()) return warn(absl::StrCat(v.status().message(), "; ", col.column, " is NULL"));
      if (*v < INT32_MIN || *v > INT32_MAX) {
        return warn(absl::StrCat(col.keyword, " = ", *v, " does not fit ", col.column));
      }
      return *v;
    }
    case ColumnType::kFloat64: {
      auto v = h.GetDouble(col.keyword);
      if (!v.ok()) {
        return warn(absl::StrCat(v.status().message(), "; ", col.column,
                                 col.default_value ? " takes its default" : " is NULL"));
      }
      const bool below = col.min && *v < *col.min;
      const bool above = col.max && (col.max_exclusive ? *v >= *col.max : *v > *col.max);
      if (!std::isfinite(*v) || below || above) {
        return warn(absl::StrCat(col.keyword, " = ", *v, " is out of range for ",
                                 col.column, "; it is NULL"));
      }
      return *v;
    }
    case ColumnType::kDate:
    case ColumnType::kTimestamp: {
      auto v = h.GetString(col.keyword);
      if (!v.ok()) return warn(absl::StrCat(v.status().message(), "; ", col.column, " is NULL"));
      if (col.type == ColumnType::kDate) {
        if (auto d = ParseDate(*v)) return *d;
      } else if (auto t = ParseTimestamp(*v)) {
        return *t;
      }
      return warn(absl::StrCat(col.keyword, " = '", *v, "' is not a ",
                               col.type == ColumnType::kDate ? "date" : "date and time",
                               "; ", col.column, " is NULL"));
    }
  }
  return std::monostate();
}

// The HDU's cards as the image's own header has them: a tile-compressed
// image's table keywords become the image's (fits::ImageCards).
void KeepCards(fits::Header&& h, int hdu, bool compressed, MultiframeRecord& record) {
  int n = 0;
  std::vector<fits::Card> cards = std::move(h).TakeCards();
  if (compressed) cards = fits::ImageCards(std::move(cards));
  for (fits::Card& c : cards) record.cards.push_back({hdu, ++n, std::move(c)});
}

}  // namespace

absl::StatusOr<MultiframeRecord> ReadMultiframe(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, path);
  CURATOR_ASSIGN_OR_RETURN(FitsFile f, FitsFile::Open(path));
  MultiframeRecord record;
  record.cards.reserve(256);
  CURATOR_ASSIGN_OR_RETURN(fits::Header primary, f.ReadHeader());
  for (const KeywordColumn& col : MultiframeKeywords()) {
    record.values.push_back(ReadColumnValue(primary, path, col, 1, record.warnings));
  }
  KeepCards(std::move(primary), 1, /*compressed=*/false, record);
  int64_t data_end = 0;
  CURATOR_ASSIGN_OR_RETURN(data_end, f.CurrentHduDataEnd());
  int hdus = 1;
  while (true) {
    CURATOR_ASSIGN_OR_RETURN(bool more, f.MoveToNextHdu());
    if (!more) break;
    const int hdu = ++hdus;
    CURATOR_ASSIGN_OR_RETURN(data_end, f.CurrentHduDataEnd());
    CURATOR_ASSIGN_OR_RETURN(fits::Header header, f.ReadHeader());
    absl::StatusOr<fits::ImageInfo> info = fits::ImageInfoFromHeader(header);
    if (!info.ok() && info.status().code() != absl::StatusCode::kFailedPrecondition) {
      return info.status();
    }
    if (!info.ok() || info->axes.size() != 2) {
      v1::FileProblem p;
      p.set_path(path);
      p.set_hdu(hdu);
      p.set_message("not a 2-D image extension; skipped");
      record.warnings.push_back(std::move(p));
      continue;
    }
    DetectorRecord det;
    det.ext_num = hdu;
    det.bits_per_pix = info->bitpix;
    det.tile_compressed = info->tile_compressed;
    det.axis1 = info->axes[0];
    det.axis2 = info->axes[1];
    for (const KeywordColumn& col : DetectorKeywords()) {
      det.values.push_back(ReadColumnValue(header, path, col, hdu, record.warnings));
    }
    KeepCards(std::move(header), hdu, det.tile_compressed, record);
    record.detectors.push_back(std::move(det));
  }
  // The headers say where the data must end; a shorter file was cut off
  // (an interrupted transfer), and its pixels cannot be trusted.
  if (data_end > f.FileBytes()) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated: the file has ", f.FileBytes(), " bytes but HDU ", hdus,
        "'s data ends at byte ", data_end));
  }
  if (record.detectors.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no 2-D image extensions (detectors) in ", hdus, " HDUs"));
  }
  return record;
}

}  // namespace curator::worker
