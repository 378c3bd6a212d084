// The structure of an HDU as its header states it, checked before anything
// is read or allocated from it (fits/limits.h): CheckHeaderStructure, the
// image checks GetImageInfo and ImageInfoFromHeader share, and
// FitsFile::CheckHeaderAt, which reads the structural cards of the next
// header itself so that CFITSIO never parses an HDU whose sizes are absurd
// (CFITSIO allocates a column descriptor per TFIELDS, a tile buffer per
// ZTILEn product, and computes where the next HDU starts in arithmetic
// that overflows).
#include <fitsio.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "base/status.h"
#include "fits/fits.h"
#include "fits/fits_internal.h"

// Reads bytes at the current position (fitsio2.h; exported by libcfitsio).
extern "C" int ffgbyt(fitsfile* fptr, LONGLONG nbytes, void* buffer, int* status);

namespace curator::fits {

using internal::F;

namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

// a * b for a, b >= 0; nullopt if it overflows int64.
std::optional<int64_t> Multiply(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

// Values as a message shows them: exact, or "4e+18" style when large.
std::string Shown(double v) { return absl::StrFormat("%.3g", v); }

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// The extension types CFITSIO reads (fitscore.c ffrhdu, getkey.c ffgphd);
// it treats any other XTENSION as an image of unknown kind.
bool KnownExtension(absl::string_view x) {
  for (const char* known : {"IMAGE", "TABLE", "BINTABLE", "IUEIMAGE", "A3DTABLE", "3DTABLE"}) {
    if (x == known) return true;
  }
  return false;
}

bool IsTable(absl::string_view x) { return x == "TABLE" || x == "BINTABLE" || x == "A3DTABLE" || x == "3DTABLE"; }

// An integer keyword that must be there.
absl::StatusOr<int64_t> Int(const Header& h, const std::string& key) { return h.GetInt(key); }

// An integer keyword with a default when absent.
absl::StatusOr<int64_t> IntOr(const Header& h, const std::string& key, int64_t fallback) {
  return h.Has(key) ? h.GetInt(key) : absl::StatusOr<int64_t>(fallback);
}

// The checks of a compressed image's tiles and algorithm parameters:
// ZTILEn, the tile count against the table's rows, the Rice block size.
absl::Status CheckTiles(const Header& h, const std::vector<int64_t>& axes, int64_t table_rows) {
  const std::string& where = h.where();
  std::vector<int64_t> tiles;
  std::vector<std::string> names;
  int64_t tile_pixels = 1;
  double tile_pixels_shown = 1;
  bool overflow = false;
  int64_t expected_rows = 1;
  for (size_t i = 0; i < axes.size(); ++i) {
    const std::string key = absl::StrCat("ZTILE", i + 1);
    CURATOR_ASSIGN_OR_RETURN(const int64_t t, IntOr(h, key, i == 0 ? axes[0] : 1));
    if (t < 1) {
      return Invalid(where, absl::StrCat(key, " = ", t, ", expected a tile size of 1 or more"));
    }
    tiles.push_back(t);
    names.push_back(key);
    tile_pixels_shown *= static_cast<double>(t);
    if (std::optional<int64_t> p = Multiply(tile_pixels, t)) {
      tile_pixels = *p;
    } else {
      overflow = true;
    }
    // As CFITSIO counts them (imcomp_get_compressed_image_par).
    expected_rows *= (axes[i] - 1) / t + 1;
  }
  if (overflow || tile_pixels > kMaxTilePixels) {
    return Invalid(where, absl::StrCat(absl::StrJoin(names, " x "), " = ",
                                       absl::StrJoin(tiles, " x "), " = ",
                                       Shown(tile_pixels_shown),
                                       " pixels a tile, more than the limit of ", kMaxTilePixels));
  }
  if (expected_rows != table_rows) {
    std::vector<std::string> znames;
    for (size_t i = 0; i < axes.size(); ++i) znames.push_back(absl::StrCat("ZNAXIS", i + 1));
    return absl::DataLossError(absl::StrCat(
        where, ": the tile table has NAXIS2 = ", table_rows, " rows, but ",
        absl::StrJoin(axes, " x "), " pixels in tiles of ", absl::StrJoin(tiles, " x "),
        " need ", expected_rows));
  }
  for (int n = 1;; ++n) {
    const std::string name_key = absl::StrCat("ZNAME", n);
    if (!h.Has(name_key)) break;
    CURATOR_ASSIGN_OR_RETURN(const std::string name, h.GetString(name_key));
    const std::string value_key = absl::StrCat("ZVAL", n);
    if (absl::AsciiStrToUpper(name) != "BLOCKSIZE" || !h.Has(value_key)) continue;
    absl::StatusOr<int64_t> size = h.GetInt(value_key);
    if (!size.ok() || *size < 1 || *size > kMaxRiceBlockSize) {
      return Invalid(where, absl::StrCat(value_key, " (", name_key, " = 'BLOCKSIZE') = ",
                                         h.GetString(value_key).value_or("?"),
                                         ", expected a Rice block size in 1..",
                                         kMaxRiceBlockSize));
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace internal {

absl::Status CheckImageSize(absl::string_view where, absl::string_view prefix, int64_t bitpix,
                            const std::vector<int64_t>& axes) {
  if (bitpix != 8 && bitpix != 16 && bitpix != 32 && bitpix != 64 && bitpix != -32 &&
      bitpix != -64) {
    return Invalid(where, absl::StrCat(prefix, "BITPIX = ", bitpix,
                                       " is not a FITS data type (8, 16, 32, 64, -32 or -64)"));
  }
  if (axes.size() > static_cast<size_t>(kMaxAxes)) {
    return Invalid(where, absl::StrCat(prefix, "NAXIS = ", axes.size(), ", more than the limit of ",
                                       kMaxAxes, " axes"));
  }
  std::vector<std::string> names;
  int64_t pixels = axes.empty() ? 0 : 1;
  double shown = pixels;
  bool overflow = false;
  for (size_t i = 0; i < axes.size(); ++i) {
    names.push_back(absl::StrCat(prefix, "NAXIS", i + 1));
    if (axes[i] < 0) {
      return Invalid(where, absl::StrCat(names.back(), " = ", axes[i], " is negative"));
    }
    shown *= static_cast<double>(axes[i]);
    if (std::optional<int64_t> p = Multiply(pixels, axes[i])) {
      pixels = *p;
    } else {
      overflow = true;
    }
  }
  // The product first: it is what an image costs.
  if (overflow || pixels > kMaxImagePixels) {
    return Invalid(where, absl::StrCat(absl::StrJoin(names, " x "), " = ",
                                       absl::StrJoin(axes, " x "), " = ", Shown(shown),
                                       " pixels, more than the limit of ", kMaxImagePixels));
  }
  // An image without pixels costs nothing, whatever its axes say (AIPS
  // writes NAXIS1 = 777777701, NAXIS2 = 0 as a signature of UV data).
  for (size_t i = 0; i < axes.size() && pixels > 0; ++i) {
    if (axes[i] > kMaxAxisLength) {
      return Invalid(where, absl::StrCat(names[i], " = ", axes[i], ", more than the limit of ",
                                         kMaxAxisLength, " pixels an axis"));
    }
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::Status CheckHeaderStructure(const Header& h) {
  const std::string& where = h.where();
  if (h.cards().empty()) return absl::DataLossError(absl::StrCat(where, ": empty header"));
  const std::string& first = h.cards().front().keyword;
  const bool primary = first == "SIMPLE";
  std::string xtension;
  if (!primary) {
    if (first != "XTENSION") {
      return absl::DataLossError(absl::StrCat(
          where, ": the header starts with keyword '", absl::CHexEscape(first),
          "', not SIMPLE or XTENSION: these bytes are not a FITS header"));
    }
    CURATOR_ASSIGN_OR_RETURN(xtension, h.GetString("XTENSION"));
    if (!KnownExtension(xtension)) {
      return Invalid(where, absl::StrCat("XTENSION = '", absl::CHexEscape(xtension),
                                         "' is not a FITS extension type (IMAGE, TABLE, "
                                         "BINTABLE, or IUEIMAGE, A3DTABLE)"));
    }
  }
  CURATOR_ASSIGN_OR_RETURN(const int64_t bitpix, Int(h, "BITPIX"));
  CURATOR_ASSIGN_OR_RETURN(const int64_t naxis, Int(h, "NAXIS"));
  if (naxis < 0 || naxis > kMaxAxes) {
    return Invalid(where, absl::StrCat("NAXIS = ", naxis, ", expected 0..", kMaxAxes));
  }
  std::vector<int64_t> axes;
  for (int64_t i = 1; i <= naxis; ++i) {
    CURATOR_ASSIGN_OR_RETURN(const int64_t n, Int(h, absl::StrCat("NAXIS", i)));
    if (n < 0) return Invalid(where, absl::StrCat("NAXIS", i, " = ", n, " is negative"));
    axes.push_back(n);
  }
  CURATOR_ASSIGN_OR_RETURN(const int64_t pcount, IntOr(h, "PCOUNT", 0));
  CURATOR_ASSIGN_OR_RETURN(const int64_t gcount, IntOr(h, "GCOUNT", 1));
  if (pcount < 0) return Invalid(where, absl::StrCat("PCOUNT = ", pcount, " is negative"));
  if (gcount < 0) return Invalid(where, absl::StrCat("GCOUNT = ", gcount, " is negative"));

  if (!IsTable(xtension)) {
    // The primary array or an IMAGE extension. Its data, as CFITSIO sizes
    // it (ffpinit): GCOUNT x (PCOUNT + pixels) values, where random groups
    // (GROUPS = T, NAXIS1 = 0) count NAXIS2 x NAXIS3 x ... a group.
    CURATOR_RETURN_IF_ERROR(internal::CheckImageSize(where, "", bitpix, axes));
    const bool groups = h.Has("GROUPS") && h.GetBool("GROUPS").value_or(false);
    std::optional<int64_t> values = axes.empty() ? 0 : groups ? 1 : axes[0];
    for (size_t i = 1; i < axes.size() && values; ++i) values = Multiply(*values, axes[i]);
    int64_t sum = 0;
    if (values && __builtin_add_overflow(*values, pcount, &sum)) values.reset();
    if (values) values = Multiply(sum, gcount);
    if (values) values = Multiply(*values, std::abs(bitpix) / 8);
    if (!values || *values > kInt64Max / 2) {
      return Invalid(where, absl::StrCat("GCOUNT x (PCOUNT + NAXIS1 x ...) = ", gcount, " x (",
                                         pcount, " + ...) values: more than a file can hold"));
    }
    return absl::OkStatus();
  }

  // A table: 8-bit bytes in NAXIS2 rows of NAXIS1, then a heap of PCOUNT.
  if (bitpix != 8) {
    return Invalid(where, absl::StrCat("BITPIX = ", bitpix, ", but a ", xtension, " needs 8"));
  }
  if (naxis != 2) {
    return Invalid(where, absl::StrCat("NAXIS = ", naxis, ", but a ", xtension, " needs 2"));
  }
  if (gcount != 1) {
    return Invalid(where, absl::StrCat("GCOUNT = ", gcount, ", but a ", xtension, " needs 1"));
  }
  const int64_t row_bytes = axes[0], rows = axes[1];
  if (row_bytes > kMaxRowBytes) {
    return Invalid(where, absl::StrCat("NAXIS1 = ", row_bytes,
                                       " bytes a row, more than the limit of ", kMaxRowBytes));
  }
  CURATOR_ASSIGN_OR_RETURN(const int64_t tfields, Int(h, "TFIELDS"));
  if (tfields < 0 || tfields > kMaxColumns) {
    return Invalid(where, absl::StrCat("TFIELDS = ", tfields, ", expected 0..", kMaxColumns,
                                       " columns"));
  }
  std::optional<int64_t> table_bytes = Multiply(row_bytes, rows);
  if (!table_bytes || *table_bytes > kInt64Max / 2 - pcount) {
    return Invalid(where, absl::StrCat("NAXIS1 x NAXIS2 + PCOUNT = ", row_bytes, " x ", rows,
                                       " + ", pcount, " = ",
                                       Shown(static_cast<double>(row_bytes) * rows + pcount),
                                       " bytes: more than a file can hold"));
  }
  if (h.Has("THEAP")) {
    CURATOR_ASSIGN_OR_RETURN(const int64_t theap, Int(h, "THEAP"));
    if (theap < 0 || theap > *table_bytes + pcount) {
      return Invalid(where, absl::StrCat("THEAP = ", theap, " lies outside the table's ",
                                         *table_bytes + pcount, " bytes of data"));
    }
  }

  // A tile-compressed image (FITS 4.0, section 10): the image's own sizes.
  if (xtension != "BINTABLE" || !h.Has("ZIMAGE") || !h.GetBool("ZIMAGE").value_or(false)) {
    return absl::OkStatus();
  }
  CURATOR_ASSIGN_OR_RETURN(const int64_t zbitpix, Int(h, "ZBITPIX"));
  CURATOR_ASSIGN_OR_RETURN(const int64_t znaxis, Int(h, "ZNAXIS"));
  if (znaxis < 1 || znaxis > kMaxAxes) {
    return Invalid(where, absl::StrCat("ZNAXIS = ", znaxis, ", expected 1..", kMaxAxes));
  }
  std::vector<int64_t> zaxes;
  for (int64_t i = 1; i <= znaxis; ++i) {
    CURATOR_ASSIGN_OR_RETURN(const int64_t n, Int(h, absl::StrCat("ZNAXIS", i)));
    zaxes.push_back(n);
  }
  CURATOR_RETURN_IF_ERROR(internal::CheckImageSize(where, "Z", zbitpix, zaxes));
  return CheckTiles(h, zaxes, rows);
}

absl::StatusOr<bool> FitsFile::CheckHeaderAt(int64_t start, int hdu) {
  fitsfile* f = F(handle_);
  int status = 0;
  // Only whole blocks inside the file are read: a read that meets the end
  // leaves CFITSIO's buffers in a state its own move then misreads.
  const LONGLONG size = f->Fptr->logfilesize;
  if (start < 0 || start + 2880 > size) return false;
  ffmbyt(f, start, /*REPORT_EOF=*/0, &status);
  if (status != 0) return false;
  std::vector<Card> cards;
  std::vector<KeyType> types;
  std::string extname;
  char block[2880];
  for (int b = 0;; ++b) {
    // The file ends inside the header: MoveToNextHdu says how.
    if (start + 2880 * (b + 1) > size) return false;
    ffgbyt(f, sizeof block, block, &status);
    if (status != 0) return Error(status, absl::StrCat("reading the header of HDU ", hdu));
    // CFITSIO takes a NUL or newline here for the end of the file.
    if (b == 0 && (block[0] == '\0' || block[0] == '\n')) return false;
    for (int i = 0; i < 36; ++i) {
      const char* card = block + 80 * i;
      const absl::string_view keyword =
          absl::StripTrailingAsciiWhitespace(absl::string_view(card, 8));
      if (keyword == "END") {
        std::string where = absl::StrCat(path_, " HDU ", hdu);
        if (!extname.empty()) absl::StrAppend(&where, " (", extname, ")");
        CURATOR_RETURN_IF_ERROR(
            CheckHeaderStructure(Header(std::move(where), std::move(cards), std::move(types))));
        return true;
      }
      // The first card whatever it is; after it only what decides the
      // HDU's structure (a few cards of a usual header's hundred).
      const bool first = b == 0 && i == 0;
      if (!first && !internal::IsStructuralKeyword(keyword) && keyword != "EXTNAME") continue;
      if (first && keyword != (hdu == 1 ? "SIMPLE" : "XTENSION")) {
        return absl::DataLossError(absl::StrCat(
            path_, " HDU ", hdu, ": the header starts with '",
            absl::CHexEscape(absl::string_view(card, 20)), "', not ",
            hdu == 1 ? "SIMPLE" : "XTENSION", ": these bytes are not a FITS header"));
      }
      Card c;
      KeyType type = KeyType::kUndefined;
      internal::ParseCard(card, &c, &type);
      if (c.keyword == "EXTNAME" && extname.empty()) extname = c.value;
      cards.push_back(std::move(c));
      types.push_back(type);
    }
  }
}

}  // namespace curator::fits
