// RAII wrapper over CFITSIO.
//
// Every error is an absl::Status whose message names the file, the HDU
// (number and EXTNAME) and the keyword or column involved, followed by
// CFITSIO's own text and status number, e.g.
//   w20071021_00001.fit HDU 3 (DET2): keyword 'MAGZPT': keyword not found
//   in header (CFITSIO 202)
// Codes follow base/status.h: NotFound for a missing file, HDU, keyword
// or column; InvalidArgument for a value of the wrong type, a structural
// value FITS does not allow (BITPIX = 13, XTENSION = 'GARBAGE', NAXIS =
// 1000) or a size beyond one of the limits of fits/limits.h, e.g.
//   w20071021_00003.fit HDU 2: NAXIS1 x NAXIS2 = 2000000000 x 2000000000
//   = 4e+18 pixels, more than the limit of 268435456
// DataLoss for a truncated or corrupt file (data the header declares past
// the end of the file, bytes that are not a header where one must start);
// Unavailable for a failed write (disk full).
//
// Every HDU's structural keywords (BITPIX, NAXISn, PCOUNT, GCOUNT,
// TFIELDS, ZBITPIX, ZNAXISn, ZTILEn, ...) are checked against FITS and
// fits/limits.h when FitsFile first moves to it, before CFITSIO parses it
// (CheckHeaderStructure): whatever a header says, nothing is allocated
// from an unchecked size.
//
// fitsio.h is included only by fits.cc: its macros (READONLY, ...) break
// other libraries' headers (see shared/TOOLCHAIN.md).
//
// Thread-safety: one FitsFile is used by one thread at a time; different
// FitsFile objects may be used from different threads at once (Debian's
// CFITSIO is built reentrant).
#ifndef CURATOR_FITS_FITS_H_
#define CURATOR_FITS_FITS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fits/limits.h"

namespace curator::fits {

enum class HduType { kImage, kAsciiTable, kBinaryTable };

// One header card as written: `value` is the text after "= " without the
// quotes of a string (empty for COMMENT/HISTORY cards, whose text is in
// `comment`).
struct Card {
  std::string keyword;
  std::string value;
  std::string comment;
};

// The value type a keyword holds, from its written form.
enum class KeyType { kString, kLogical, kInteger, kFloat, kComplex,
                     kUndefined };

// The header of one HDU, read once and held in memory: keyword look-ups
// cost a hash probe instead of a scan through CFITSIO's buffers. Errors
// name the file, HDU and keyword exactly as FitsFile's do. The first card
// of a keyword wins when it repeats. Thread-compatible.
class Header {
 public:
  Header() = default;
  Header(std::string where, std::vector<Card> cards, std::vector<KeyType> types);

  const std::vector<Card>& cards() const { return cards_; }
  // Moves the cards out; the header is empty afterwards.
  std::vector<Card> TakeCards() && { index_.clear(); types_.clear(); return std::move(cards_); }
  // "path HDU n (EXTNAME)".
  const std::string& where() const { return where_; }

  bool Has(absl::string_view key) const;
  // NotFound if absent.
  absl::StatusOr<KeyType> Type(absl::string_view key) const;
  // Strings keep their text (CONTINUE cards joined); a number is returned
  // as written. NotFound if absent.
  absl::StatusOr<std::string> GetString(absl::string_view key) const;
  // InvalidArgument when the value is not of the asked type ('12.5' as a
  // string is not a number; 12.7 is not an integer).
  absl::StatusOr<int64_t> GetInt(absl::string_view key) const;
  absl::StatusOr<double> GetDouble(absl::string_view key) const;
  absl::StatusOr<bool> GetBool(absl::string_view key) const;

 private:
  absl::StatusOr<int> Find(absl::string_view key) const;
  absl::Status WrongType(int index, absl::string_view key, const char* expected) const;
  std::string where_;
  std::vector<Card> cards_;
  std::vector<KeyType> types_;
  std::vector<int> index_;  // card numbers sorted by keyword, first card first
};

struct ImageInfo {
  int bitpix = 0;             // BITPIX of the (uncompressed) image
  int equivalent_bitpix = 0;  // the type the values need after BSCALE/BZERO
  std::vector<int64_t> axes;  // NAXIS1, NAXIS2, ... (ZNAXISn if compressed)
  bool tile_compressed = false;
  int64_t num_pixels() const;
};

struct ColumnInfo {
  int number = 0;  // 1-based column number
  std::string name;
  std::string unit;  // TUNITn, empty when absent
  std::string tform;
  int type_code = 0;   // CFITSIO type code (TFLOAT=42, TDOUBLE=82, ...)
  int64_t repeat = 0;  // elements per row
  int64_t byte_offset = -1;  // within a row, from the TFORMs; -1 if unknown
  int64_t bytes = 0;         // per row
  double scale = 1.0, zero = 0.0;  // TSCALn, TZEROn
};

// The image parameters a header states: BITPIX and NAXISn, or ZBITPIX and
// ZNAXISn for a tile-compressed image (ZIMAGE = T). FailedPrecondition for
// a table HDU; InvalidArgument naming the keyword if they are malformed,
// not FITS (BITPIX = 13) or beyond the limits (CheckHeaderStructure),
// NotFound if missing.
// Same answer as FitsFile::GetImageInfo without asking CFITSIO again
// (equivalent_bitpix is left equal to bitpix).
struct ImageInfo;
absl::StatusOr<ImageInfo> ImageInfoFromHeader(const Header& header);

// Whether a header's structure is one FITS allows and within the limits
// of fits/limits.h: the first card SIMPLE or XTENSION (of a type CFITSIO
// reads), BITPIX, NAXIS and NAXISn, PCOUNT, GCOUNT; for tables TFIELDS,
// the row width and THEAP; for tile-compressed images ZBITPIX, ZNAXISn,
// ZTILEn (and the tile count against the table's rows) and the Rice block
// size. InvalidArgument (DataLoss for bytes that are not a header, or a
// tile table that cannot be the image's) naming where, the keyword and
// its value. Missing keywords are NotFound.
absl::Status CheckHeaderStructure(const Header& header);

// The cards of a tile-compressed image's header (a BINTABLE with ZIMAGE =
// T) as the image's own header has them, following the FITS standard's
// tiled image compression convention (FITS 4.0, section 10): ZTENSION,
// ZBITPIX, ZNAXIS, ZNAXISn, ZPCOUNT, ZGCOUNT, ZSIMPLE, ZEXTEND, ZBLOCKED,
// ZHECKSUM and ZDATASUM become the keywords they stand for, first the
// mandatory ones in their order; the table's own structure keywords
// (BITPIX, NAXISn, PCOUNT, GCOUNT, TFIELDS, TTYPEn, TFORMn, THEAP, ...),
// its CHECKSUM/DATASUM and the compression parameters (ZIMAGE, ZCMPTYPE,
// ZTILEn, ZNAMEn, ZVALn, ZQUANTIZ, ZDITHER0, ZMASKCMP, ZBLANK) are left
// out; every other card keeps its place. Other headers come back as they
// are.
std::vector<Card> ImageCards(std::vector<Card> cards);

// How a new image HDU is stored.
enum class Compression { kNone, kRice, kGzip };

struct ColumnSpec {
  std::string name;
  std::string tform;  // "1E", "1D", "1J", "1K", "1I", "20A", ...
  std::string unit;
};

// A 2-D image's pixels as stored, before any conversion to float, for a
// reader that converts each pixel once itself (CU2 scales straight to 8
// bits). physical = stored * scale + zero.
//   kFloat32BigEndian: BITPIX = -32, not compressed: the file's bytes as
//     they are (big-endian IEEE); blank pixels are NaN (or infinite).
//   kInt32: Rice-compressed integers (what FitsFile's own decoder reads),
//     decoded; blank pixels equal `blank` when has_blank.
struct StoredImage {
  enum class Type { kFloat32BigEndian, kInt32 };
  Type type = Type::kInt32;
  int64_t nx = 0, ny = 0;
  double scale = 1, zero = 0;
  bool has_blank = false;
  int32_t blank = 0;
  int64_t blank_pixels = 0;     // counted while reading
  std::vector<uint32_t> words;  // nx * ny, FITS row 1 first; kept between reads

  size_t size() const { return static_cast<size_t>(nx * ny); }
  // Whether a big-endian float, as loaded, is NaN or infinite: its
  // exponent bits (bits 0-6 and 15 of the word) all ones.
  static bool NonFiniteBigEndian(uint32_t word) { return (word & 0x807Fu) == 0x807Fu; }
  bool IsBlank(size_t i) const {
    return type == Type::kFloat32BigEndian
               ? NonFiniteBigEndian(words[i])
               : has_blank && static_cast<int32_t>(words[i]) == blank;
  }
  // Pixel i's physical value as float, as ReadRows gives it (NaN if blank).
  float Value(size_t i) const;
};

class FitsFile {
 public:
  // Opens an existing file read-only (or read-write), positioned at the
  // primary HDU.
  static absl::StatusOr<FitsFile> Open(const std::string& path,
                                       bool read_write = false);
  // Creates a new empty file, replacing one that exists.
  static absl::StatusOr<FitsFile> Create(const std::string& path);

  FitsFile(FitsFile&& other) noexcept;
  FitsFile& operator=(FitsFile&& other) noexcept;
  FitsFile(const FitsFile&) = delete;
  FitsFile& operator=(const FitsFile&) = delete;
  // Closes the file; errors at this point are logged. Call Close() to see
  // them (always do after writing).
  ~FitsFile();

  // Flushes and closes; the object is empty afterwards.
  absl::Status Close();

  const std::string& path() const { return path_; }

  // --- HDUs (1 = primary) ---
  // Every HDU is checked (CheckHeaderStructure) the first time a call
  // reaches it: these fail with that check's error at the first HDU whose
  // structure is bad or beyond the limits.
  absl::StatusOr<int> NumHdus();
  int CurrentHdu() const;
  absl::Status MoveToHdu(int hdu_number);
  // The first HDU whose EXTNAME (or HDUNAME) is `extname`, ignoring case.
  absl::Status MoveToExtName(absl::string_view extname);
  // Moves to the next HDU; false at a clean end of file (the file ends
  // where the current HDU's data ends, with or without the padding to a
  // whole block). DataLoss if the file ends inside the data ("truncated")
  // or bytes follow that are not a whole HDU (a file cut inside a header).
  // Cheaper than NumHdus, which walks the whole file (and, as CFITSIO,
  // counts the HDUs whose headers are there, whatever follows the last).
  absl::StatusOr<bool> MoveToNextHdu();
  absl::StatusOr<HduType> CurrentHduType();
  // DataLoss ("truncated: ...") if the file ends before the current HDU's
  // data does; call before reading pixels.
  absl::Status CheckCurrentHduComplete();
  // Byte offset just past the current HDU's data as its header declares
  // them, padding not included (no data is read): compare with FileBytes()
  // to find truncation.
  absl::StatusOr<int64_t> CurrentHduDataEnd();
  // The file's size as CFITSIO reads it (uncompressed, for a .gz file).
  int64_t FileBytes() const;

  // --- Keywords of the current HDU ---
  // NotFound if absent; InvalidArgument if the value cannot be converted.
  absl::StatusOr<std::string> ReadString(absl::string_view key);
  absl::StatusOr<int64_t> ReadInt(absl::string_view key);
  absl::StatusOr<double> ReadDouble(absl::string_view key);
  absl::StatusOr<bool> ReadBool(absl::string_view key);
  absl::StatusOr<KeyType> ReadKeyType(absl::string_view key);
  absl::StatusOr<bool> HasKeyword(absl::string_view key);
  // Every card of the current header, in order, END excluded.
  absl::StatusOr<std::vector<Card>> ReadCards();
  // The whole current header in one read (fits_hdr2str), for many look-ups.
  absl::StatusOr<Header> ReadHeader();

  // --- Images (plain or tile-compressed, transparently) ---
  absl::StatusOr<ImageInfo> GetImageInfo();
  // Reads `num_rows` whole rows of a 2-D image starting at 0-based row
  // `first_row` into `out` (num_rows * NAXIS1 values), scaled by
  // BSCALE/BZERO. Blank (and NaN) pixels become NaN.
  absl::Status ReadRows(int64_t first_row, int64_t num_rows, float* out);
  absl::Status ReadRows(int64_t first_row, int64_t num_rows, double* out);
  // Raw integer read (no NaN substitution; BLANK pixels keep their value).
  absl::Status ReadRows(int64_t first_row, int64_t num_rows, int32_t* out);
  // Rice-compressed integer images (RICE_1, ZBITPIX 8/16/32, no per-tile
  // scaling columns) are read to float by Curator's own decoder
  // (fits/rice.h), which gives CFITSIO's values bit for bit, faster;
  // false sends them through CFITSIO too (for comparisons).
  void set_own_rice_decoder(bool on) { own_rice_ = on; }
  // That path alone (fits/fits_rice.cc): false, having read nothing, if
  // this HDU is not a Rice image it handles.
  absl::StatusOr<bool> ReadRiceRows(int64_t first_row, int64_t num_rows, float* out);
  // The current HDU's pixels as stored (see StoredImage), reusing
  // `image.words`: a plain float32 image in one pass over its bytes, a Rice
  // integer image by the own decoder. False, having read nothing, for any
  // other image: read those with ReadRows.
  absl::StatusOr<bool> ReadStored(StoredImage& image);

  // --- Tables ---
  // NAXIS2; DataLoss ("truncated") if NAXIS1 x NAXIS2 + PCOUNT bytes do
  // not fit in what the file holds after the header.
  absl::StatusOr<int64_t> NumRows();
  absl::StatusOr<std::vector<ColumnInfo>> Columns();
  // Case-insensitive exact name match; NotFound naming the column.
  absl::StatusOr<ColumnInfo> FindColumn(absl::string_view name);
  // The number of rows CFITSIO reads most efficiently at once
  // (fits_get_rowsize): read tables in chunks of this many rows.
  absl::StatusOr<int64_t> OptimalRowChunk();
  // Bytes per row (NAXIS1) of the current binary table.
  absl::StatusOr<int64_t> RowBytes();
  // The raw bytes (big-endian, as stored) of `num_rows` rows from 0-based
  // `first_row`, into `out` (num_rows * row_bytes bytes; row_bytes from
  // RowBytes()). With ColumnInfo::byte_offset, the fastest way through a
  // wide table.
  absl::Status ReadRawRows(int64_t first_row, int64_t num_rows, int64_t row_bytes,
                           uint8_t* out);
  // Reads `num_rows` values of a scalar column starting at 0-based row
  // `first_row`, converting to the output type. Undefined float values come
  // back as NaN; InvalidArgument if the column cannot be converted.
  absl::Status ReadColumn(int column, int64_t first_row, int64_t num_rows,
                          float* out);
  absl::Status ReadColumn(int column, int64_t first_row, int64_t num_rows,
                          double* out);
  absl::Status ReadColumn(int column, int64_t first_row, int64_t num_rows,
                          int32_t* out);
  absl::Status ReadColumn(int column, int64_t first_row, int64_t num_rows,
                          int64_t* out);

  // --- Writing ---
  // Appends an image HDU (the primary if the file is empty). `axes` empty
  // makes a header-only HDU. Compressed images use tiles of one row.
  // `dither_seed` (1..10000) fixes the quantisation dither of compressed
  // float images, so the same data compresses to the same bytes.
  absl::Status CreateImage(int bitpix, const std::vector<int64_t>& axes,
                           Compression compression = Compression::kNone,
                           int dither_seed = 1);
  absl::Status WritePixels(const float* data, int64_t count);
  absl::Status WritePixels(const int32_t* data, int64_t count);
  // Appends a binary table with the given columns and EXTNAME.
  absl::Status CreateTable(absl::string_view extname,
                           const std::vector<ColumnSpec>& columns);
  // Writes `count` values to a column from 0-based row `first_row`.
  absl::Status WriteColumn(int column, int64_t first_row, int64_t count,
                           const float* data);
  absl::Status WriteColumn(int column, int64_t first_row, int64_t count,
                           const double* data);
  absl::Status WriteColumn(int column, int64_t first_row, int64_t count,
                           const int32_t* data);
  absl::Status WriteColumn(int column, int64_t first_row, int64_t count,
                           const int64_t* data);
  absl::Status WriteColumn(int column, int64_t first_row,
                           const std::vector<std::string>& data);
  absl::Status WriteKey(absl::string_view key, absl::string_view value,
                        absl::string_view comment = "");
  absl::Status WriteKey(absl::string_view key, const char* value,
                        absl::string_view comment = "");
  absl::Status WriteKey(absl::string_view key, int64_t value,
                        absl::string_view comment = "");
  absl::Status WriteKey(absl::string_view key, int value,
                        absl::string_view comment = "");
  // Written with 17 significant digits so it reads back bit for bit.
  absl::Status WriteKey(absl::string_view key, double value,
                        absl::string_view comment = "");
  absl::Status WriteKey(absl::string_view key, bool value,
                        absl::string_view comment = "");
  absl::Status DeleteKey(absl::string_view key);
  // CHECKSUM and DATASUM of the current HDU. Their comments are fixed
  // text rather than CFITSIO's time stamp, so the same data always gives
  // the same bytes.
  absl::Status WriteChecksum();

 private:
  FitsFile(void* handle, std::string path);
  // A Status for CFITSIO error `status` in the current HDU, naming `what`
  // (e.g. "keyword 'MAGZPT'"); empty `what` names only file and HDU.
  absl::Status Error(int status, absl::string_view what) const;
  // "path HDU n (EXTNAME)": where an error happened.
  std::string Where() const;
  absl::Status CheckOpen() const;
  // CheckHeaderStructure on the header of HDU `hdu` at byte `start`, read
  // through CFITSIO's I/O layer but not parsed by CFITSIO. False, having
  // checked nothing, where no whole header starts there (the end of the
  // file or a cut): CFITSIO's move then says what it is.
  absl::StatusOr<bool> CheckHeaderAt(int64_t start, int hdu);
  // One step of MoveToNextHdu: moved, or why not at the end of the file.
  struct Step {
    enum Kind { kMoved, kEnd, kTruncated, kJunk } kind;
    int from = 0;                // the last HDU
    int64_t size = 0;            // FileBytes()
    int64_t data_end = 0;        // its CurrentHduDataEnd()
    int64_t padded_end = 0;      // where a next HDU could start
  };
  absl::StatusOr<Step> StepToNextHdu();
  // Rice tiles (fits/fits_rice.cc), decoded in turn for rows
  // [first_row, first_row + num_rows), each handed to `sink`. With
  // `direct` (the image's rows from first_row on) and tiles that are whole
  // rows, tiles are decoded in place there. False if this HDU is not a
  // Rice image the own decoder handles.
  struct RiceTile;
  absl::StatusOr<bool> DecodeRiceTiles(int64_t first_row, int64_t num_rows, int32_t* direct,
                                       absl::FunctionRef<void(const RiceTile&)> sink);
  // Before CFITSIO decompresses a tile-compressed image's tiles (it
  // allocates a buffer of each descriptor's length unchecked): every tile's
  // descriptor lies inside the heap and the heap inside the file. DataLoss
  // naming the tile otherwise; OK for other HDUs.
  absl::Status CheckTileDescriptors();
  template <typename T>
  absl::Status ReadRowsImpl(int64_t first_row, int64_t num_rows, T* out,
                            int datatype, bool nan_for_null);

  template <typename T>
  absl::Status ReadColumnImpl(int column, int64_t first_row, int64_t num_rows,
                              T* out, int datatype);
  template <typename T>
  absl::Status WriteColumnImpl(int column, int64_t first_row, int64_t count,
                               const T* data, int datatype);
  template <typename T>
  absl::Status ReadKeyImpl(absl::string_view key, int datatype, T* value);

  void* handle_ = nullptr;  // fitsfile*
  std::string path_;
  bool own_rice_ = true;
  // HDUs 1..checked_hdus_ have passed CheckHeaderStructure (files this
  // object writes are trusted).
  int checked_hdus_ = 0;
};

}  // namespace curator::fits

#endif  // CURATOR_FITS_FITS_H_
