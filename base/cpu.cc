#include "base/cpu.h"

#include <atomic>

namespace curator::cpu {
namespace {

bool Detected() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("x86-64-v3");
#else
  return false;
#endif
}

std::atomic<bool> force_baseline{false};

}  // namespace

bool UseX86_64V3() {
  static const bool detected = Detected();
  return detected && !force_baseline.load(std::memory_order_relaxed);
}

void ForceBaselineForTesting(bool on) { force_baseline.store(on, std::memory_order_relaxed); }

}  // namespace curator::cpu
