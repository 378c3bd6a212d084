// Which build of a hot loop to run. A few loops (Rice decoding, CU2's
// row scaling) are compiled twice: for baseline x86-64 (SSE2, what Debian
// targets) and for x86-64-v3 (AVX2, BMI2, LZCNT: Haswell, 2013, and any
// AMD Zen). The newer build runs when the CPU has it, so older pixel
// servers still work, and tests can run both on one machine.
#ifndef CURATOR_BASE_CPU_H_
#define CURATOR_BASE_CPU_H_

namespace curator::cpu {

// Whether the x86-64-v3 builds may run: the CPU has the instructions and
// no test has asked for the baseline builds.
bool UseX86_64V3();

// For tests: run the baseline builds even on a CPU that has more (false
// restores the CPU's choice).
void ForceBaselineForTesting(bool on);

// ForceBaselineForTesting(on) for a scope.
class ScopedBuildForTesting {
 public:
  explicit ScopedBuildForTesting(bool baseline) { ForceBaselineForTesting(baseline); }
  ~ScopedBuildForTesting() { ForceBaselineForTesting(false); }
  ScopedBuildForTesting(const ScopedBuildForTesting&) = delete;
  ScopedBuildForTesting& operator=(const ScopedBuildForTesting&) = delete;
};

}  // namespace curator::cpu

// Marks a function compiled for x86-64-v3 (nothing on other machines,
// where UseX86_64V3() is false).
#if defined(__x86_64__)
#define CURATOR_TARGET_X86_64_V3 __attribute__((target("arch=x86-64-v3")))
#else
#define CURATOR_TARGET_X86_64_V3
#endif

#endif  // CURATOR_BASE_CPU_H_
