// One CU4 batch file on its way to PostgreSQL (docs/ARCHITECTURE.md,
// "Identifiers" and "Bad input"). The stream is read once: every row is
// checked as it passes, its temporary id becomes its obj_id
// (base - temp_id - 1) and its cu_event_id the batch's event, and only rows
// PostgreSQL will take are sent, so that a bad file never aborts the load's
// transaction:
//  - the stream sent always starts with a valid header and holds whole
//    rows only, whatever the file holds;
//  - rows are checked against the file's columns (field count, the size of
//    each fixed-size type, NULL in a NOT NULL column), its multiframe_id,
//    its temporary ids (see IdRanges) and its detectors (ext_num in
//    multiframe_detector, RA in [0, 360), Dec in [-90, 90]);
//  - at the first row that fails, the file is rejected: that row and every
//    row after it stay out (a trailer ends what was sent), and the rest of
//    the file is still read to count what is wrong with it, unless its
//    layout itself is broken.
// Rows sent before the rejection are in the table already: they are
// [first_obj_id(), first_obj_id() + rows_sent()), and the loader deletes
// them. Not thread-safe.
#ifndef CURATOR_INGESTER_DETECTION_STREAM_H_
#define CURATOR_INGESTER_DETECTION_STREAM_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace curator::ingester {

// The temporary ids the files of a batch have taken, as ranges of indexes
// into the batch's id block: index i is temporary id -(i + 1), obj_id
// base + i. The producer numbers a night's detections -1, -2, ... in
// (multiframe, extension, row) order, so each file holds one run of
// consecutive ids, and no two files share one; a file whose ids are not
// consecutive, leave the block or run into another file's is rejected
// (the one read later, where two overlap).
class IdRanges {
 public:
  explicit IdRanges(int64_t count) : count_(count) {}
  int64_t count() const { return count_; }
  bool Taken(int64_t index) const;
  // The first taken index above `index`, or count() if none: how far a
  // file starting at `index` may run.
  int64_t NextTaken(int64_t index) const;
  void Take(int64_t first, int64_t end);  // [first, end)

 private:
  int64_t count_;
  std::map<int64_t, int64_t> ranges_;  // first -> end
};

// What the loader knows of a file before reading it.
struct DetectionFile {
  struct Column {
    std::string name;
    int32_t length = -1;  // bytes of a fixed-size type; -1: any
    bool not_null = false;
  };
  std::string name;             // in the batch directory
  std::vector<Column> columns;  // obj_id first, cu_event_id last
  int multiframe_field = -1, ext_field = -1, ra_field = -1, dec_field = -1;
  int64_t multiframe_id = 0;   // the manifest's
  std::vector<int> detectors;  // its ext_nums in multiframe_detector, sorted
  int64_t rows = 0;            // the manifest's
};

class DetectionStream {
 public:
  struct Problem {
    int hdu = 0;       // the detector's ext_num, 0 when not one detector's
    std::string item;  // the column, when there is one
    std::string message;
  };

  // `file` and `ids` must outlive the stream. Finish() takes the ids of
  // the rows sent in `ids`.
  DetectionStream(const DetectionFile& file, int64_t base, int64_t event_id, IdRanges* ids);

  // The bytes to send for the next `chunk` of the file (possibly none);
  // valid until the next call.
  absl::string_view Feed(absl::string_view chunk);
  // After the last chunk: checks the file's end and row count, and turns
  // the per-detector tallies into problems.
  void Finish();

  bool rejected() const { return rejected_; }
  const std::vector<Problem>& problems() const { return problems_; }
  // Rows read, and whether the whole file was read (its layout held).
  int64_t rows_read() const { return rows_read_; }
  bool read_to_end() const { return !stopped_ || trailer_seen_; }
  int64_t rows_sent() const { return rows_sent_; }
  int64_t first_obj_id() const { return base_ + first_index_; }

 private:
  struct Tally {  // one detector's rows, and those out of range
    int ext = 0;
    bool known = false;
    int64_t rows = 0;
    int64_t bad_ra = 0, first_bad_ra = 0, last_bad_ra = 0;
    int64_t bad_dec = 0, first_bad_dec = 0, last_bad_dec = 0;
  };
  // Parses the whole rows of pending_ from `pos`; returns where it
  // stopped. Rows to send end at send_end_.
  size_t Rows(size_t pos);
  // Checks the row whose field lengths start at offsets_ (its 0-based
  // number in the file is `row`); true if it may be sent.
  bool CheckRow(const char* d, int64_t row);
  void Tallied(const char* d);  // counts the row for its detector
  void Reject();
  void Fail(int hdu, std::string item, std::string message);  // and stop reading
  Tally& TallyOf(int ext);

  const DetectionFile& file_;
  const int64_t base_, event_id_;
  IdRanges* ids_;
  std::string pending_;  // bytes of the file not yet parsed (part of a row)
  std::string ready_;
  bool header_sent_ = false, header_done_ = false;
  bool trailer_seen_ = false;
  bool closed_ = false;    // a trailer was sent
  bool rejected_ = false;  // nothing more is sent
  bool stopped_ = false;   // nothing more is read
  bool too_many_rows_ = false;
  int64_t rows_read_ = 0, rows_sent_ = 0;
  int64_t first_index_ = 0, limit_ = 0;  // ids of this file: [first_index_, limit_)
  std::vector<size_t> offsets_;          // of the current row's field lengths
  size_t send_end_ = 0;                  // of the rows of pending_ to send
  std::map<int, Tally> tallies_;         // by ext_num
  Tally* last_ = nullptr;                // the last row's
  std::vector<Problem> problems_;
};

}  // namespace curator::ingester

#endif  // CURATOR_INGESTER_DETECTION_STREAM_H_
