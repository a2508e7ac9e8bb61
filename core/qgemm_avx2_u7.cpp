// minidl/core/qgemm_avx2_u7.cpp — the AVX2 kernels for 7-bit activations:
// vpmaddubsw, exact when every activation byte is < 128. Compiled with
// -march=x86-64-v3; core/qgemm.cpp calls it on AVX2 CPUs (no VNNI) only after
// checking the operand: every activation byte (and, for a padded convolution,
// the zero point that fills the padding) below 128 — otherwise it runs the
// widening kernels of core/qgemm_avx2.cpp. The choice is made per call from
// the data itself, so no caller can get saturated sums by mistake.
//
// Why it is exact there. vpmaddubsw multiplies unsigned by signed bytes and
// adds adjacent pairs into int16 with saturation: a0·w0 + a1·w1. With a ≤ 127
// and w ∈ [−128, 127] the pair is at most 2·127·128 = 32,512 in magnitude,
// inside int16 — no saturation, the sum is exact. (Full-range activations
// reach 2·255·128 = 65,280 and saturate: that is the error oneDNN's AVX2
// kernel makes and core/qgemm_avx2.cpp avoids.) A vpmaddwd by ones then adds
// the two int16 pairs of each 32-bit lane — 4 products per lane, exactly
// vpdpbusd — and vpaddd accumulates. 7-bit activations are what
// PyTorch's reduce_range produces (QConfig::reduce_range in compress/), so
// such models take this path on every layer.
//
// Why it is faster than widening: per 32 MACs, 2 multiply-unit µops
// (vpmaddubsw, vpmaddwd) + 1 add, reading bytes; the widening kernel needs 2
// vpmaddwd + 2 vpaddd and twice the operand bytes (int16). Zen 3 and Haswell
// have two vector multiply pipes, so both are bound near 32 MACs/cycle, but
// the widening kernel is also short of issue slots (4 vector µops per 32 MACs
// on 4 pipes, plus broadcasts), and this one is not.
//
// Blocking: the tiles and packing of core/qgemm_dp4_256.inc with NV = 2:
// vpmaddubsw's result and the ones vector need two registers vpdpbusd does not,
// so MR = 4 × NV = 3 (12 accumulators + 3 + 1 + 2 = 18 ymm) would spill;
// 4 × 2 is 8 accumulators + 2 operands + 1 broadcast + 1 product + ones = 13.
#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

namespace minidl::qkern {

namespace {

// acc + Σ_{t<4} a[t]·b[t] per int32 lane, a < 128 unsigned, b signed bytes.
inline __m256i dp4(__m256i acc, __m256i a, __m256i b) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)));
}

constexpr int MR = 4, NV = 2;

#include "core/qgemm_x86_256.inc"
#include "core/qgemm_dp4_256.inc"

}  // namespace

void xw_avx2_u7(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  xw_dp4(m_lo, m_hi, A, lda, w, o);
}
void wx_avx2_u7(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) { wx_dp4(p_lo, p_hi, X, w, o); }
void hwc_avx2_u7(int64_t p_lo, int64_t p_hi, const HwcSrc& X, const W& w, const Out& o) { hwc_dp4(p_lo, p_hi, X, w, o); }

}  // namespace minidl::qkern
