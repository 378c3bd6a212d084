// SpoilImageFile: damage to a finished image file that no FITS writer
// would produce, made by rewriting 80-byte header cards in place.
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "synth/frame_writer.h"

namespace curator::synth {
namespace {

constexpr size_t kBlock = 2880, kCard = 80;

// One header of the file: where it starts and ends (its END card's block
// included) and where each keyword's card is.
struct HeaderAt {
  size_t start = 0, end = 0;
  std::map<std::string, size_t> cards;  // keyword -> byte offset, first card wins

  std::string Value(const std::string& bytes, const std::string& key) const {
    auto it = cards.find(key);
    if (it == cards.end()) return "";
    std::string v = bytes.substr(it->second + 10, 70);
    if (size_t slash = v.find('/'); slash != std::string::npos && v[0] != '\'') v.resize(slash);
    if (!v.empty() && v[0] == '\'') v = v.substr(1, v.find('\'', 1) - 1);
    return std::string(absl::StripAsciiWhitespace(v));
  }
  int64_t Int(const std::string& bytes, const std::string& key, int64_t fallback) const {
    int64_t v = fallback;
    return absl::SimpleAtoi(Value(bytes, key), &v) ? v : fallback;
  }
};

// The headers of a file as this generator writes them (whole blocks,
// sizes from BITPIX, NAXISn, PCOUNT and GCOUNT).
absl::StatusOr<std::vector<HeaderAt>> Headers(const std::string& bytes, const std::string& path) {
  std::vector<HeaderAt> out;
  size_t at = 0;
  while (at + kBlock <= bytes.size()) {
    HeaderAt h;
    h.start = at;
    bool end = false;
    for (size_t c = at; !end && c + kCard <= bytes.size(); c += kCard) {
      const std::string key(absl::StripTrailingAsciiWhitespace(bytes.substr(c, 8)));
      if (key == "END") {
        end = true;
        h.end = (c + kCard + kBlock - 1) / kBlock * kBlock;
      } else {
        h.cards.emplace(key, c);
      }
    }
    if (!end) return absl::DataLossError(absl::StrCat(path, ": a header without END"));
    int64_t values = h.Int(bytes, "NAXIS", 0) > 0 ? 1 : 0;
    for (int64_t i = 1; i <= h.Int(bytes, "NAXIS", 0); ++i) {
      values *= h.Int(bytes, absl::StrCat("NAXIS", i), 0);
    }
    const int64_t data = std::abs(h.Int(bytes, "BITPIX", 8)) / 8 * h.Int(bytes, "GCOUNT", 1) *
                         (h.Int(bytes, "PCOUNT", 0) + values);
    at = h.end + (static_cast<size_t>(data) + kBlock - 1) / kBlock * kBlock;
    out.push_back(std::move(h));
  }
  return out;
}

// A value card: KEYWORD = value, the value as FITS writes it (a string
// quoted from column 11, a number right-aligned to column 30).
std::string Card(const std::string& key, const std::string& value, const std::string& comment) {
  std::string c = absl::StrFormat("%-8s= %20s / %s", key, value, comment);
  if (!value.empty() && value[0] == '\'') {
    c = absl::StrFormat("%-8s= %-20s / %s", key, value, comment);
  }
  c.resize(kCard, ' ');
  return c;
}

}  // namespace

absl::Status SpoilImageFile(const std::string& path, Defect defect, bool compressed) {
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) return ErrnoToStatus(errno, path);
    std::ostringstream s;
    s << in.rdbuf();
    bytes = s.str();
  }
  CURATOR_ASSIGN_OR_RETURN(std::vector<HeaderAt> headers, Headers(bytes, path));
  const auto detector = [&](const std::string& extname) -> absl::StatusOr<const HeaderAt*> {
    for (const HeaderAt& h : headers) {
      if (h.Value(bytes, "EXTNAME") == extname) return &h;
    }
    return absl::NotFoundError(absl::StrCat(path, ": no HDU ", extname));
  };
  const auto put = [&](const HeaderAt& h, const std::string& key,
                       const std::string& card) -> absl::Status {
    auto it = h.cards.find(key);
    if (it == h.cards.end()) return absl::NotFoundError(absl::StrCat(path, ": no card ", key));
    bytes.replace(it->second, kCard, card);
    return absl::OkStatus();
  };
  size_t keep = bytes.size();
  switch (defect) {
    case Defect::kGarbageXtension: {
      CURATOR_ASSIGN_OR_RETURN(const HeaderAt* h, detector("DET3"));
      CURATOR_RETURN_IF_ERROR(put(*h, "XTENSION", Card("XTENSION", "'IM@G#~ 3'", "")));
      break;
    }
    case Defect::kHugeImage: {
      CURATOR_ASSIGN_OR_RETURN(const HeaderAt* h, detector("DET4"));
      const std::string prefix = compressed ? "Z" : "";
      for (const char* axis : {"NAXIS1", "NAXIS2"}) {
        const std::string key = prefix + axis;
        CURATOR_RETURN_IF_ERROR(put(*h, key, Card(key, "2000000000", "length of data axis")));
      }
      keep = h->end;  // no data: there could never be enough
      break;
    }
    case Defect::kBadZbitpix: {
      CURATOR_ASSIGN_OR_RETURN(const HeaderAt* h, detector("DET2"));
      const std::string key = compressed ? "ZBITPIX" : "BITPIX";
      CURATOR_RETURN_IF_ERROR(put(*h, key, Card(key, "13", "data type of original image")));
      break;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("defect '", DefectName(defect), "' is not made by rewriting headers"));
  }
  bytes.resize(keep);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return ErrnoToStatus(errno, path);
  return absl::OkStatus();
}

}  // namespace curator::synth
