#include "server/metrics.h"

#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/build_info.h"

namespace curator {
namespace {

// Every digit: a counter of millions of rows must move by one row, not by
// the sixth significant digit (absl's default). The shortest text that
// reads back as the same double; integers without exponent.
std::string Number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  std::to_chars_result r =
      std::abs(value) < 9007199254740992.0 && value == std::trunc(value)
          ? std::to_chars(text, text + sizeof(text),
                          static_cast<int64_t>(value))
          : std::to_chars(text, text + sizeof(text), value);
  return std::string(text, r.ptr - text);
}

}  // namespace

void MetricsText::Family(const std::string& name, const std::string& type,
                         const std::string& help) {
  if (name == last_name_) return;
  absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ",
                  type, "\n");
  last_name_ = name;
}

void MetricsText::Sample(const std::string& name, const Labels& labels,
                         double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_ += ',';
      absl::StrAppend(
          &out_, labels[i].first, "=\"",
          absl::StrReplaceAll(labels[i].second,
                              {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}}),
          "\"");
    }
    out_ += '}';
  }
  absl::StrAppend(&out_, " ", Number(value), "\n");
}

void MetricsText::Add(const std::string& name, const std::string& type,
                      const std::string& help, const Labels& labels,
                      double value) {
  Family(name, type, help);
  Sample(name, labels, value);
}

void MetricsText::AddHistogram(const std::string& name, const std::string& help,
                               const Labels& labels, const HistogramData& h) {
  Family(name, "histogram", help);
  Labels with_le = labels;
  with_le.emplace_back("le", "");
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    with_le.back().second = Number(h.bounds[i]);
    Sample(name + "_bucket", with_le, static_cast<double>(h.cumulative[i]));
  }
  with_le.back().second = "+Inf";
  Sample(name + "_bucket", with_le, static_cast<double>(h.count));
  Sample(name + "_sum", labels, h.sum);
  Sample(name + "_count", labels, static_cast<double>(h.count));
}

void MetricsText::AddBuildInfo() {
  Add("curator_build_info", "gauge",
      "Always 1; the labels say which Curator this process runs: its "
      "version and the git commit its build was configured at.",
      {{"version", BuildVersion()}, {"commit", BuildCommit()}}, 1);
}

}  // namespace curator
