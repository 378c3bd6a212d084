// What every Curator process writes at /metrics: the Prometheus text
// exposition format (version 0.0.4), built one family at a time:
// counters, gauges, histograms (base/histogram.h) and the build
// information that all three processes share.
//
// Names follow Prometheus' conventions: base units (seconds, bytes),
// `_total` for counters, HELP and TYPE once per family. A name means the
// same thing in every process that exports it (curator_build_info,
// curator_database_up); anything else is the daemon's (the archive as the
// database records it) or carries its process' prefix (curator_worker_,
// curator_ingester_, curator_daemon_worker_ for the daemon's view of each
// worker). README.md, "Watching it", lists every family.
#ifndef CURATOR_SERVER_METRICS_H_
#define CURATOR_SERVER_METRICS_H_

#include <string>
#include <utility>
#include <vector>

#include "base/histogram.h"

namespace curator {

// The exposition text. HELP and TYPE are written once per family, before
// its first sample, so every sample of a family must be added together.
class MetricsText {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  // One sample of a counter or a gauge, with every digit of its value.
  void Add(const std::string& name, const std::string& type,
           const std::string& help, const Labels& labels, double value);
  // One series of a histogram: name_bucket{labels, le} for each bound and
  // +Inf, name_sum and name_count.
  void AddHistogram(const std::string& name, const std::string& help,
                    const Labels& labels, const HistogramData& h);
  // curator_build_info{version, commit} 1 (base/build_info.h).
  void AddBuildInfo();
  const std::string& str() const { return out_; }

 private:
  void Family(const std::string& name, const std::string& type,
              const std::string& help);
  void Sample(const std::string& name, const Labels& labels, double value);

  std::string out_;
  std::string last_name_;
};

// Content type of MetricsText.
inline constexpr char kMetricsContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

}  // namespace curator

#endif  // CURATOR_SERVER_METRICS_H_
