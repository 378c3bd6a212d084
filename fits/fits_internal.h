// Helpers shared by the files that implement fits.h. Includes
// fitsio.h, whose macros break other headers: include it only from
// common/fits*.cc.
#ifndef CURATOR_FITS_FITS_INTERNAL_H_
#define CURATOR_FITS_FITS_INTERNAL_H_

#include <fitsio.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "fits/fits.h"

namespace curator::fits {

// One decoded Rice tile and its image's scaling (FitsFile::DecodeRiceTiles).
struct FitsFile::RiceTile {
  const int32_t* pixels;   // w * h values, row by row
  int64_t x0, y0, w, h;    // its place in the image, 0-based
  int64_t nx, ny;          // the image's size
  double scale, zero;      // BSCALE, BZERO
  bool has_blank;          // ZBLANK or BLANK given
  int32_t blank;
};

}  // namespace curator::fits

namespace curator::fits::internal {

inline fitsfile* F(void* handle) { return static_cast<fitsfile*>(handle); }

inline std::string CfitsioText(int status) {
  char text[FLEN_STATUS] = {0};
  fits_get_errstatus(status, text);
  return absl::StrCat(text, " (CFITSIO ", status, ")");
}

// The canonical code for a CFITSIO status (see base/status.h).
inline absl::StatusCode CodeFor(int status) {
  switch (status) {
    case FILE_NOT_OPENED:
    case KEY_NO_EXIST:
    case COL_NOT_FOUND:
    case BAD_HDU_NUM:
    case BAD_COL_NUM:
      return absl::StatusCode::kNotFound;
    case VALUE_UNDEFINED:
    case NO_QUOTE:
    case NOT_IMAGE:
    case NOT_TABLE:
    case NOT_BTABLE:
    case BAD_TFORM_DTYPE:
    case BAD_INTKEY:
    case BAD_LOGICALKEY:
    case BAD_FLOATKEY:
    case BAD_DOUBLEKEY:
    case BAD_C2I:
    case BAD_C2F:
    case BAD_C2D:
    case BAD_DATATYPE:
    case NUM_OVERFLOW:
      return absl::StatusCode::kInvalidArgument;
    case WRITE_ERROR:
      return absl::StatusCode::kUnavailable;
    case MEMORY_ALLOCATION:
      return absl::StatusCode::kResourceExhausted;
    default:
      // Unreadable headers, short reads, bad compression: the file itself
      // is damaged.
      return absl::StatusCode::kDataLoss;
  }
}

// Removes the quotes of a FITS string value and undoubles inner quotes;
// trailing blanks inside the quotes are not significant (FITS 4.2.1).
inline std::string UnquoteValue(absl::string_view raw) {
  raw = absl::StripAsciiWhitespace(raw);
  if (raw.size() < 2 || raw.front() != '\'') return std::string(raw);
  std::string out;
  for (size_t i = 1; i < raw.size(); ++i) {
    if (raw[i] == '\'') {
      if (i + 1 < raw.size() && raw[i + 1] == '\'') {
        out.push_back('\'');
        ++i;
        continue;
      }
      break;
    }
    out.push_back(raw[i]);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The shortest %G representation of `value` that reads back identically.
inline int RoundTripDigits(double value) {
  for (int digits = 15; digits < 17; ++digits) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "%.*G", digits, value);
    if (std::strtod(buffer, nullptr) == value) return digits;
  }
  return 17;
}


// Parses one 80-byte header card (not NUL-terminated) as ReadHeader does:
// keyword (HIERARCH names without the prefix), value without quotes,
// comment, and the value's type.
void ParseCard(const char* card, Card* out, KeyType* type);

// Whether a keyword decides an HDU's structure or size (BITPIX, NAXISn,
// PCOUNT, TFIELDS, ZIMAGE, ZNAXISn, ZTILEn, ZNAMEn, ...): the cards
// FitsFile::CheckHeaderAt keeps for CheckHeaderStructure.
bool IsStructuralKeyword(absl::string_view keyword);

// The checks of an image's data type and size against fits/limits.h:
// BITPIX (or ZBITPIX with prefix "Z") one of FITS's six, at most kMaxAxes
// axes, none negative or longer than kMaxAxisLength, at most
// kMaxImagePixels pixels. InvalidArgument naming `where` and the keyword.
absl::Status CheckImageSize(absl::string_view where, absl::string_view prefix, int64_t bitpix,
                            const std::vector<int64_t>& axes);

}  // namespace curator::fits::internal

#endif  // CURATOR_FITS_FITS_INTERNAL_H_
