// minidl/core/cpu_features.h — what the CPU running minidl can execute, for
// kernels that pick their instruction set at run time.
//
// The library is built portable by default (MINIDL_NATIVE=OFF: the compiler's
// baseline x86-64 instructions), so a program built on one machine runs on
// any other. Kernels that need wider vectors live in their own translation
// units compiled for that ISA (e.g. core/gemm_unpacked_avx512.cpp with
// -march=x86-64-v4) and are only called when cpu_features() says the CPU
// (and the OS, which must save the wider registers — GCC's probe checks
// XGETBV) supports them. With -DMINIDL_NATIVE=ON everything is compiled for
// the build machine instead, as before, and the result may crash elsewhere.
//
// MINIDL_FP32_ISA=portable in the environment turns the wider fp32 kernels
// off (the OpenBLAS fallback runs everywhere), to test or compare that path;
// MINIDL_FP32_ISA=avx512 insists on them and is an error on CPUs without.
#pragma once

#include <string>

namespace minidl {

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 + FMA3 (x86-64-v3)
  bool avx512 = false;    // AVX-512 F, BW, DQ, VL (x86-64-v4): the fp32 register-tile GEMM
  bool avx512_vnni = false;
  bool avx_vnni = false;
};

// Probed once (CPUID: __builtin_cpu_supports, which also checks that the OS
// saves the registers, and leaf 7.1 directly for AVX-VNNI).
const CpuFeatures& cpu_features();

// The fp32 kernels' ISA after MINIDL_FP32_ISA: "avx512" or "portable".
// Throws minidl::Error for an unknown value or an ISA the CPU lacks.
const std::string& fp32_isa();
bool use_avx512_fp32();  // fp32_isa() == "avx512", cached

}  // namespace minidl
