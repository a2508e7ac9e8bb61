#include "core/cpu_features.h"

#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <mutex>

#include "core/error.h"

namespace minidl {

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    c.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    c.avx512_vnni = c.avx512 && __builtin_cpu_supports("avx512vnni");
    // AVX-VNNI is CPUID leaf 7, sub-leaf 1, EAX bit 4, read directly: clang 14
    // (Debian 12) does not know "avxvnni" in __builtin_cpu_supports. Its YMM
    // state is the one AVX2 already needs the OS to enable.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    c.avx_vnni = c.avx2_fma && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax >> 4 & 1u);
#endif
    return c;
  }();
  return f;
}

const std::string& fp32_isa() {
  static std::string isa;
  static std::once_flag once;
  std::call_once(once, [] {
#ifdef MINIDL_HAVE_AVX512_KERNELS
    const bool can = cpu_features().avx512;
#else
    const bool can = false;  // not compiled in (not an x86-64 GCC/Clang build)
#endif
    const char* env = std::getenv("MINIDL_FP32_ISA");
    const std::string want = env ? env : "";
    MINIDL_CHECK(want.empty() || want == "portable" || want == "avx512", "MINIDL_FP32_ISA: unknown value '", want,
                 "' (allowed: portable, avx512)");
    MINIDL_CHECK(want != "avx512" || can, "MINIDL_FP32_ISA=avx512: this CPU (or build) has no AVX-512 F/BW/DQ/VL");
    isa = want == "portable" || !can ? "portable" : "avx512";
  });
  return isa;
}

bool use_avx512_fp32() {
  static const bool v = fp32_isa() == "avx512";
  return v;
}

}  // namespace minidl
