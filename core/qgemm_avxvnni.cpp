// minidl/core/qgemm_avxvnni.cpp — the AVX-VNNI path (256-bit vpdpbusd, e.g.
// Alder Lake, Zen 5 without using zmm). Compiled with -march=x86-64-v3
// -mavxvnni; called only when CPUID reports AVX-VNNI.
//
// vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes per int32 lane and
// adds the 4 products to the lane, in 32 bits without saturation (4 × 255 ×
// 127 fits) — exactly Σ a·w. The tiles, packing and blocking (MR = 4 × NV = 3
// vectors: 12 accumulators + 3 operands + 1 broadcast = 16 ymm registers) are
// core/qgemm_dp4_256.inc, shared with the AVX2 7-bit path.
#ifdef MINIDL_QGEMM_EMULATE_VNNI
// Tests only (tests/qgemm_avxvnni_emulated.cpp): this file built again with
// vpdpbusd emulated exactly in AVX2, so that its packing, tiling and tails are
// tested bit for bit on CPUs without AVX-VNNI.
#define xw_avxvnni xw_avxvnni_emulated
#define wx_avxvnni wx_avxvnni_emulated
#define hwc_avxvnni hwc_avxvnni_emulated
#endif

#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

namespace minidl::qkern {

namespace {

#ifdef MINIDL_QGEMM_EMULATE_VNNI
// Per int32 lane: acc + a0·b0 + a1·b1 + a2·b2 + a3·b3, a unsigned, b signed bytes.
inline __m256i dp4(__m256i acc, __m256i a, __m256i b) {
  const __m256i lo8 = _mm256_set1_epi16(0x00FF);
  const __m256i a_even = _mm256_and_si256(a, lo8), a_odd = _mm256_srli_epi16(a, 8);
  const __m256i b_even = _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8), b_odd = _mm256_srai_epi16(b, 8);
  return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(a_even, b_even), _mm256_madd_epi16(a_odd, b_odd)));
}
#else
inline __m256i dp4(__m256i acc, __m256i a, __m256i b) { return _mm256_dpbusd_avx_epi32(acc, a, b); }
#endif

constexpr int MR = 4, NV = 3;

#include "core/qgemm_x86_256.inc"
#include "core/qgemm_dp4_256.inc"

}  // namespace

void xw_avxvnni(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  xw_dp4(m_lo, m_hi, A, lda, w, o);
}
void wx_avxvnni(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) { wx_dp4(p_lo, p_hi, X, w, o); }
void hwc_avxvnni(int64_t p_lo, int64_t p_hi, const HwcSrc& X, const W& w, const Out& o) { hwc_dp4(p_lo, p_hi, X, w, o); }

}  // namespace minidl::qkern
