#include "tests/support/stilts.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/status.h"
#include "fits/fits.h"
#include "tests/support/command.h"

namespace curator::testing {
namespace {

using worker::match::Point;

// `s` in single quotes for sh.
std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

absl::Status WriteTable(const std::vector<Point>& points,
                        const std::string& path) {
  CURATOR_ASSIGN_OR_RETURN(fits::FitsFile f, fits::FitsFile::Create(path));
  CURATOR_RETURN_IF_ERROR(f.CreateImage(8, {}));
  CURATOR_RETURN_IF_ERROR(f.CreateTable(
      "POINTS", {{"id", "1K", ""}, {"ra", "1D", "deg"}, {"dec", "1D", "deg"}}));
  std::vector<int64_t> id(points.size());
  std::vector<double> ra(points.size()), dec(points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    id[i] = points[i].id, ra[i] = points[i].ra, dec[i] = points[i].dec;
  }
  const int64_t n = static_cast<int64_t>(points.size());
  CURATOR_RETURN_IF_ERROR(f.WriteColumn(1, 0, n, id.data()));
  CURATOR_RETURN_IF_ERROR(f.WriteColumn(2, 0, n, ra.data()));
  CURATOR_RETURN_IF_ERROR(f.WriteColumn(3, 0, n, dec.data()));
  return f.Close();
}

}  // namespace

bool StiltsInstalled() {
  return RunCommand("command -v stilts >/dev/null").exit_code == 0;
}

absl::StatusOr<std::vector<StiltsPair>> StiltsBestMatchesWithSeparation(
    const std::vector<Point>& queries, const std::vector<Point>& catalogue,
    double radius_arcsec, const std::string& work_dir,
    const std::string& java_heap) {
  if (!StiltsInstalled()) {
    return absl::UnavailableError(
        "stilts is not installed (apt-get install stilts)");
  }
  const std::string in1 = work_dir + "/stilts_queries.fits";
  const std::string in2 = work_dir + "/stilts_catalogue.fits";
  const std::string out = work_dir + "/stilts_pairs.csv";
  CURATOR_RETURN_IF_ERROR(WriteTable(queries, in1));
  CURATOR_RETURN_IF_ERROR(WriteTable(catalogue, in2));
  // Columns id_1, ..., id_2, ..., Separation (arcsec): STILTS renames the
  // duplicated names with suffixes _1 and _2.
  const std::string command = absl::StrCat(
      "stilts ", java_heap.empty() ? "" : absl::StrCat("-Xmx", java_heap, " "),
      "tmatch2 in1=", ShellQuote(in1), " ifmt1=fits in2=", ShellQuote(in2),
      " ifmt2=fits matcher=sky values1='ra dec' values2='ra dec' params=",
      absl::StrFormat("%.17g", radius_arcsec),
      " find=best1 join=1and2 progress=none",
      " ocmd='keepcols \"id_1 id_2 Separation\"' ofmt=csv out=",
      ShellQuote(out));
  const CommandResult run = RunCommand(command);
  if (run.exit_code != 0) {
    return absl::InternalError(absl::StrCat("stilts tmatch2 failed (exit ",
                                            run.exit_code, "): ", run.output));
  }
  const std::string csv = ReadFileToString(out);
  std::vector<StiltsPair> pairs;
  bool header = true;
  for (absl::string_view line : absl::StrSplit(csv, '\n', absl::SkipEmpty())) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (header) {
      if (line != "id_1,id_2,Separation") {
        return absl::InternalError(
            absl::StrCat("stilts tmatch2: unexpected CSV header '", line, "'"));
      }
      header = false;
      continue;
    }
    std::vector<absl::string_view> f = absl::StrSplit(line, ',');
    StiltsPair p;
    if (f.size() != 3 || !absl::SimpleAtoi(f[0], &p.query_id) ||
        !absl::SimpleAtoi(f[1], &p.match_id) ||
        !absl::SimpleAtod(f[2], &p.separation_arcsec)) {
      return absl::InternalError(
          absl::StrCat("stilts tmatch2: unexpected CSV line '", line, "'"));
    }
    pairs.push_back(p);
  }
  if (header) {
    return absl::InternalError(absl::StrCat(
        "stilts tmatch2 wrote no CSV header to ", out, ": ", run.output));
  }
  return pairs;
}

absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> StiltsBestMatches(
    const std::vector<Point>& queries, const std::vector<Point>& catalogue,
    double radius_arcsec, const std::string& work_dir) {
  CURATOR_ASSIGN_OR_RETURN(std::vector<StiltsPair> pairs,
                           StiltsBestMatchesWithSeparation(
                               queries, catalogue, radius_arcsec, work_dir));
  std::vector<std::pair<int64_t, int64_t>> ids;
  ids.reserve(pairs.size());
  for (const StiltsPair& p : pairs) ids.emplace_back(p.query_id, p.match_id);
  return ids;
}

}  // namespace curator::testing
