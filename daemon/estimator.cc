#include "daemon/estimator.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace curator::daemon {
namespace {

constexpr double kBytesPerMb = 1e6;
constexpr double kMinFactor = 0.25;
constexpr double kMaxFactor = 4;

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<long>(mid), v.end());
  if (v.size() % 2 == 1) return v[mid];
  const double upper = v[mid];
  const double lower =
      *std::max_element(v.begin(), v.begin() + static_cast<long>(mid));
  return (lower + upper) / 2;
}

// The smallest value with at least `q` of `v` at or below it.
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank =
      static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

Estimator::Estimator(const std::vector<PastAttempt>& history) {
  std::map<int, std::vector<double>> per_mb, whole;
  for (const PastAttempt& a : history) {
    if (a.seconds < 0) continue;
    if (a.input_bytes > 0) {
      std::vector<double>& v = per_mb[a.cu];
      if (v.size() < kHistoryPerCu) {
        v.push_back(a.seconds /
                    (static_cast<double>(a.input_bytes) / kBytesPerMb));
      }
    } else {
      std::vector<double>& v = whole[a.cu];
      if (v.size() < kHistoryPerCu) v.push_back(a.seconds);
    }
  }
  for (auto& [cu, v] : per_mb) {
    cus_[cu].seconds_per_mb = Median(v);
    cus_[cu].with_input = static_cast<int>(v.size());
  }
  for (auto& [cu, v] : whole) {
    cus_[cu].seconds_without_input = Median(v);
    cus_[cu].without_input = static_cast<int>(v.size());
  }
  // Each worker's speed against the CU models just made (which it is
  // part of: with few workers, a slow one pulls them its way, and its
  // factor stays nearer 1 than its true speed; the median keeps that
  // small once others have history too).
  std::map<std::string, std::vector<double>> ratios;
  for (const PastAttempt& a : history) {
    if (a.worker_id.empty() || a.seconds <= 0) continue;
    double base = 0;
    std::string unused;
    if (!Base(a.cu, a.input_bytes, &base, &unused) || base <= 0) continue;
    std::vector<double>& v = ratios[a.worker_id];
    if (v.size() < kHistoryPerCu) v.push_back(a.seconds / base);
  }
  for (auto& [worker, v] : ratios) {
    WorkerFactor& f = workers_[worker];
    f.attempts = static_cast<int>(v.size());
    f.factor = std::clamp(Median(v), kMinFactor, kMaxFactor);
  }
}

bool Estimator::Base(int cu, int64_t input_bytes, double* seconds,
                     std::string* basis) const {
  auto it = cus_.find(cu);
  if (it == cus_.end()) return false;
  const CuModel& m = it->second;
  if (input_bytes > 0 && m.seconds_per_mb >= 0) {
    const double mb = static_cast<double>(input_bytes) / kBytesPerMb;
    *seconds = m.seconds_per_mb * mb;
    if (basis != nullptr) {
      *basis = absl::StrFormat("%.3g s/MB x %.3g MB (median of %d attempts)",
                               m.seconds_per_mb, mb, m.with_input);
    }
    return true;
  }
  if (input_bytes <= 0 && m.seconds_without_input >= 0) {
    *seconds = m.seconds_without_input;
    if (basis != nullptr) {
      *basis = absl::StrFormat("%.3g s a task (median of %d attempts)",
                               m.seconds_without_input, m.without_input);
    }
    return true;
  }
  return false;
}

TaskEstimate Estimator::Estimate(int cu, int64_t input_bytes, int files,
                                 const std::string& worker_id,
                                 bool explain) const {
  TaskEstimate e;
  if (!Base(cu, input_bytes, &e.seconds, explain ? &e.basis : nullptr)) {
    const int n = std::max(files, 1);
    e.seconds = kDefaultSecondsPerFile * n;
    if (explain) {
      e.basis = absl::StrFormat("default %.3g s/file x %d files (no history)",
                                kDefaultSecondsPerFile, n);
    }
    return e;
  }
  if (worker_id.empty()) return e;
  auto w = workers_.find(worker_id);
  if (w == workers_.end() || w->second.attempts < kMinWorkerAttempts) return e;
  e.seconds *= w->second.factor;
  if (!explain) return e;
  absl::StrAppend(&e.basis, absl::StrFormat(" x %.3g (worker %s, %d attempts)",
                                            w->second.factor, worker_id,
                                            w->second.attempts));
  return e;
}

double Estimator::Remaining(double estimated, double elapsed, int files_done,
                            int files) {
  elapsed = std::max(elapsed, 0.0);
  if (files <= 0 || files_done <= 0) {
    if (estimated < 0) return -1;
    const double left = estimated - elapsed;
    return left > 0 ? left : -1;
  }
  const int done = std::min(files_done, files);
  const double seen = elapsed / done;
  double rate = seen;
  if (estimated >= 0) {
    const double weight = std::max(1.0, 0.25 * files);
    rate = (weight * estimated / files + elapsed) / (weight + done);
  }
  return rate * (files - done);
}

EstimateErrors Estimator::Errors(const std::vector<PastAttempt>& history,
                                 size_t limit) {
  std::vector<double> abs_errors;
  double signed_sum = 0;
  for (const PastAttempt& a : history) {
    if (abs_errors.size() >= limit) break;
    if (a.estimated_seconds < 0 || a.seconds <= 0) continue;
    const double e = (a.seconds - a.estimated_seconds) / a.seconds;
    abs_errors.push_back(std::fabs(e));
    signed_sum += e;
  }
  EstimateErrors out;
  out.compared = static_cast<int>(abs_errors.size());
  if (abs_errors.empty()) return out;
  out.median = Median(abs_errors);
  out.p90 = Quantile(abs_errors, 0.9);
  out.mean_signed = signed_sum / static_cast<double>(abs_errors.size());
  return out;
}

}  // namespace curator::daemon
