#include "ingester/detection_stream.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace curator::ingester {
namespace {

// The header every stream sent starts with: signature, no flags, no
// header extension.
constexpr char kHeader[19] = {'P',  'G', 'C', 'O', 'P', 'Y', '\n', '\377', '\r', '\n',
                              '\0', 0,   0,   0,   0,   0,   0,    0,      0};
constexpr char kTrailer[2] = {'\377', '\377'};
// No field of a detection comes near this; a larger length means the
// layout is broken, and nothing that large is buffered.
constexpr int32_t kMaxFieldBytes = 1 << 20;
constexpr uint32_t kMaxHeaderExtension = 1 << 20;

int16_t ReadInt16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return static_cast<int16_t>(__builtin_bswap16(v));
}
int32_t ReadInt32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return static_cast<int32_t>(__builtin_bswap32(v));
}
int64_t ReadInt64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return static_cast<int64_t>(__builtin_bswap64(v));
}
double ReadFloat64(const char* p) {
  const uint64_t bits = static_cast<uint64_t>(ReadInt64(p));
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}
void WriteInt64(char* p, int64_t v) {
  const uint64_t be = __builtin_bswap64(static_cast<uint64_t>(v));
  std::memcpy(p, &be, 8);
}

std::string RowRange(int64_t first, int64_t last) {
  return first == last ? absl::StrCat("row ", first) : absl::StrCat("rows ", first, "..", last);
}

}  // namespace

bool IdRanges::Taken(int64_t index) const {
  auto it = ranges_.upper_bound(index);
  if (it == ranges_.begin()) return false;
  --it;
  return index < it->second;
}

int64_t IdRanges::NextTaken(int64_t index) const {
  auto it = ranges_.upper_bound(index);
  return it == ranges_.end() ? count_ : it->first;
}

void IdRanges::Take(int64_t first, int64_t end) {
  if (end > first) ranges_[first] = end;
}

DetectionStream::DetectionStream(const DetectionFile& file, int64_t base, int64_t event_id,
                                 IdRanges* ids)
    : file_(file), base_(base), event_id_(event_id), ids_(ids), offsets_(file.columns.size()) {}

void DetectionStream::Reject() { rejected_ = true; }

void DetectionStream::Fail(int hdu, std::string item, std::string message) {
  problems_.push_back({hdu, std::move(item), std::move(message)});
  rejected_ = true;
  stopped_ = true;
}

DetectionStream::Tally& DetectionStream::TallyOf(int ext) {
  if (last_ != nullptr && last_->ext == ext) return *last_;
  auto [it, added] = tallies_.try_emplace(ext);
  if (added) {
    it->second.ext = ext;
    it->second.known = std::binary_search(file_.detectors.begin(), file_.detectors.end(), ext);
  }
  last_ = &it->second;
  return *last_;
}

absl::string_view DetectionStream::Feed(absl::string_view chunk) {
  ready_.clear();
  if (!header_sent_) {
    ready_.append(kHeader, sizeof(kHeader));
    header_sent_ = true;
  }
  if (trailer_seen_ && !chunk.empty() && !stopped_) {
    Fail(0, "", absl::StrCat(file_.name, " has bytes after its trailer"));
  }
  if (!stopped_) {
    pending_.append(chunk.data(), chunk.size());
    size_t pos = 0;
    if (!header_done_ && pending_.size() >= sizeof(kHeader)) {
      const uint32_t flags = static_cast<uint32_t>(ReadInt32(pending_.data() + 11));
      const uint32_t extension = static_cast<uint32_t>(ReadInt32(pending_.data() + 15));
      if (std::memcmp(pending_.data(), kHeader, 11) != 0) {
        Fail(0, "",
             absl::StrCat(file_.name, " is not a PostgreSQL binary COPY file (bad signature)"));
      } else if ((flags >> 16) != 0) {
        // Bit 16 says rows carry OIDs; the others are reserved: a reader
        // must not guess.
        Fail(0, "",
             absl::StrCat(file_.name, " has binary COPY flags 0x", absl::Hex(flags),
                          ", which a detection file cannot have"));
      } else if (extension > kMaxHeaderExtension) {
        Fail(0, "", absl::StrCat(file_.name, " has a header extension of ", extension, " bytes"));
      } else if (pending_.size() >= sizeof(kHeader) + extension) {
        pos = sizeof(kHeader) + extension;
        header_done_ = true;
      }
    }
    if (header_done_) {
      send_end_ = pos;
      const size_t end = Rows(pos);
      ready_.append(pending_.data() + pos, send_end_ - pos);
      pending_.erase(0, end);
    }
    if (stopped_) pending_.clear();
  }
  // What was sent ends with a trailer: the file's own, or this one when
  // the file was rejected.
  if (rejected_ && !closed_) {
    ready_.append(kTrailer, sizeof(kTrailer));
    closed_ = true;
  }
  return ready_;
}

size_t DetectionStream::Rows(size_t pos) {
  const size_t ncols = file_.columns.size();
  while (!stopped_) {
    const char* d = pending_.data();
    const size_t size = pending_.size();
    if (size - pos < 2) break;
    const int16_t fields = ReadInt16(d + pos);
    if (fields == -1) {
      trailer_seen_ = true;
      pos += 2;
      if (!rejected_) {
        send_end_ = pos;
        closed_ = true;
      }
      if (pos < size) Fail(0, "", absl::StrCat(file_.name, " has bytes after its trailer"));
      break;
    }
    if (fields < 0 || static_cast<size_t>(fields) != ncols) {
      Fail(0, "",
           absl::StrCat("row ", rows_read_ + 1, " of ", file_.name, " has ", fields,
                        " fields, but the manifest lists ", ncols, " columns"));
      break;
    }
    size_t p = pos + 2;
    bool complete = true;
    for (size_t f = 0; f < ncols; ++f) {
      if (size - p < 4) {
        complete = false;
        break;
      }
      const int32_t len = ReadInt32(d + p);
      if (len < -1 || len > kMaxFieldBytes) {
        Fail(0, file_.columns[f].name,
             absl::StrCat("row ", rows_read_ + 1, " of ", file_.name, ": column '",
                          file_.columns[f].name, "' has a length of ", len, " bytes"));
        return pos;
      }
      offsets_[f] = p;
      p += 4 + (len > 0 ? len : 0);
      if (p > size) {
        complete = false;
        break;
      }
    }
    if (!complete) break;
    const int64_t row = rows_read_++;
    const bool send = !rejected_ && CheckRow(d, row);
    if (stopped_) break;
    Tallied(d);
    if (send && !rejected_) {
      WriteInt64(pending_.data() + offsets_[0] + 4, base_ + first_index_ + row);
      WriteInt64(pending_.data() + offsets_[ncols - 1] + 4, event_id_);
      ++rows_sent_;
      send_end_ = p;
    }
    pos = p;
  }
  return pos;
}

bool DetectionStream::CheckRow(const char* d, int64_t row) {
  const std::vector<DetectionFile::Column>& cols = file_.columns;
  auto where = [&] { return absl::StrCat("row ", row + 1, " of ", file_.name); };
  for (size_t f = 0; f < cols.size(); ++f) {
    const int32_t len = ReadInt32(d + offsets_[f]);
    const DetectionFile::Column& c = cols[f];
    if (len == -1 ? c.not_null : c.length >= 0 && len != c.length) {
      Fail(0, c.name,
           len == -1
               ? absl::StrCat(where(), ": column '", c.name, "' is NULL, but NOT NULL in detection")
               : absl::StrCat(where(), ": column '", c.name, "' has ", len, " bytes, its type ",
                              c.length));
      return false;
    }
  }
  if (ReadInt32(d + offsets_[0]) != 8 || ReadInt32(d + offsets_.back()) != 8 ||
      ReadInt32(d + offsets_[file_.multiframe_field]) != 8) {
    Fail(0, "",
         absl::StrCat(where(), ": obj_id, multiframe_id and cu_event_id must be 8-byte integers"));
    return false;
  }
  if (row >= file_.rows) {  // counted on to the end, for the report
    too_many_rows_ = true;
    Reject();
    return false;
  }
  // Temporary ids: -1, -2, ... over the night, so consecutive in a file.
  const int64_t temp = ReadInt64(d + offsets_[0] + 4);
  const int64_t count = ids_->count();
  if (row == 0) {
    if (temp >= 0 || temp < -count) {
      Fail(0, "obj_id",
           absl::StrCat(where(), ": temporary id ", temp, " is outside the batch's [-", count,
                        ", -1]"));
      return false;
    }
    first_index_ = -temp - 1;
    if (ids_->Taken(first_index_)) {
      Fail(0, "obj_id",
           absl::StrCat(where(), ": temporary id ", temp, " is another file's of the batch"));
      return false;
    }
    limit_ = ids_->NextTaken(first_index_);
  } else {
    const int64_t index = first_index_ + row;
    if (temp != -index - 1) {
      Fail(0, "obj_id",
           absl::StrCat(where(), ": temporary id ", temp, " where ", -index - 1,
                        " follows (a file's ids run on by one)"));
      return false;
    }
    if (index >= limit_) {
      Fail(0, "obj_id",
           absl::StrCat(where(), ": temporary id ", temp,
                        limit_ >= count ? absl::StrCat(" is outside the batch's [-", count, ", -1]")
                                        : std::string(" is another file's of the batch")));
      return false;
    }
  }
  const int64_t mf = ReadInt64(d + offsets_[file_.multiframe_field] + 4);
  if (mf != file_.multiframe_id) {
    Fail(
        0, "multiframe_id",
        absl::StrCat(where(), ": multiframe_id ", mf,
                     ", but the manifest says the file is multiframe ", file_.multiframe_id, "'s"));
    return false;
  }
  return true;
}

void DetectionStream::Tallied(const char* d) {
  const size_t ext_at = offsets_[file_.ext_field];
  if (ReadInt32(d + ext_at) != 2) return;  // only when counting on past the manifest's rows
  Tally& t = TallyOf(ReadInt16(d + ext_at + 4));
  const int64_t r = ++t.rows;  // the row's number in its HDU's table
  if (!t.known) Reject();
  auto angle = [&](int field, double* v) {
    if (ReadInt32(d + offsets_[field]) != 8) return false;
    *v = ReadFloat64(d + offsets_[field] + 4);
    return true;
  };
  double ra = 0, dec = 0;
  // NaN fails both comparisons.
  if (!(angle(file_.ra_field, &ra) && ra >= 0 && ra < 360)) {
    if (t.bad_ra++ == 0) t.first_bad_ra = r;
    t.last_bad_ra = r;
    Reject();
  }
  if (!(angle(file_.dec_field, &dec) && dec >= -90 && dec <= 90)) {
    if (t.bad_dec++ == 0) t.first_bad_dec = r;
    t.last_bad_dec = r;
    Reject();
  }
}

void DetectionStream::Finish() {
  if (!stopped_) {
    if (!header_done_) {
      Fail(0, "", absl::StrCat(file_.name, " ends within its header"));
    } else if (!trailer_seen_) {
      Fail(0, "",
           pending_.empty()
               ? absl::StrCat(file_.name, " ends without its trailer after row ", rows_read_)
               : absl::StrCat(file_.name, " ends inside row ", rows_read_ + 1));
    }
  }
  if (read_to_end() && rows_read_ != file_.rows) {
    problems_.push_back({0, "",
                         absl::StrCat(file_.name, " holds ", rows_read_,
                                      " detections, but the manifest says ", file_.rows)});
    rejected_ = true;
  } else if (too_many_rows_ && !read_to_end()) {
    problems_.push_back(
        {0, "",
         absl::StrCat(file_.name, " holds more than the manifest's ", file_.rows, " detections")});
  }
  for (const auto& [ext, t] : tallies_) {
    if (!t.known) {
      problems_.push_back(
          {ext, "ext_num",
           absl::StrCat(t.rows,
                        " detections of a detector multiframe_detector does not have (multiframe ",
                        file_.multiframe_id, ", ext_num ", ext, ")")});
    }
    if (t.bad_ra > 0) {
      problems_.push_back({ext, "ra",
                           absl::StrCat(t.bad_ra, " detections with RA outside [0, 360) (",
                                        RowRange(t.first_bad_ra, t.last_bad_ra), ")")});
    }
    if (t.bad_dec > 0) {
      problems_.push_back({ext, "dec",
                           absl::StrCat(t.bad_dec, " detections with Dec outside [-90, 90] (",
                                        RowRange(t.first_bad_dec, t.last_bad_dec), ")")});
    }
  }
  ids_->Take(first_index_, first_index_ + rows_sent_);
}

}  // namespace curator::ingester
