// minidl/core/conv_util_avx512.cpp — the AVX-512 part of conv::mask_transpose
// (core/conv_util.h): masked 16 × 16 blocks transposed in registers. Compiled
// for x86-64-v4 on its own and called only on CPUs with AVX-512
// (core/cpu_features.h); like core/gemm_unpacked_avx512.cpp it includes no
// header with inline code other files share.
#include <immintrin.h>

#include <cstdint>

namespace minidl::conv::detail {

namespace {

// GCC 12's unmasked unpack intrinsics start from _mm512_undefined_ps(), which
// -Wmaybe-uninitialized reports once inlined (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
// v[i][j] → v[j][i] for a 16 × 16 block held in 16 registers: 32-bit, then
// 64-bit interleaves within 128-bit lanes, then two rounds of 128-bit lane
// shuffles (64 shuffles, no memory round trip; the scalar 16 × 16 loop it
// replaces moved each float through the stack).
inline void transpose16(__m512 v[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]);
  }
  __m512 u[16];
  for (int i = 0; i < 4; ++i) {  // u[4i + m], lane L: column 4L + m of rows 4i … 4i + 3
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), d = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
  }
  for (int m = 0; m < 4; ++m) {
    const __m512 e0 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0x88), e1 = _mm512_shuffle_f32x4(u[m], u[4 + m], 0xdd);
    const __m512 f0 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0x88);
    const __m512 f1 = _mm512_shuffle_f32x4(u[8 + m], u[12 + m], 0xdd);
    v[m] = _mm512_shuffle_f32x4(e0, f0, 0x88);
    v[8 + m] = _mm512_shuffle_f32x4(e0, f0, 0xdd);
    v[4 + m] = _mm512_shuffle_f32x4(e1, f1, 0x88);
    v[12 + m] = _mm512_shuffle_f32x4(e1, f1, 0xdd);
  }
}
#pragma GCC diagnostic pop

}  // namespace

void mask_transpose_blocks_avx512(const float* gy, const float* y, int64_t ld, float* dm, float* dt, int64_t rows,
                                  int64_t cols, int64_t r16, int64_t c16) {
  for (int64_t c0 = 0; c0 < c16; c0 += 16)
    for (int64_t r0 = 0; r0 < r16; r0 += 16) {
      __m512 v[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t o = (r0 + i) * ld + c0;
        v[i] = _mm512_loadu_ps(gy + o);
        if (y) v[i] = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(_mm512_loadu_ps(y + o), _mm512_setzero_ps(), _CMP_GT_OQ), v[i]);
        if (dm) _mm512_storeu_ps(dm + (r0 + i) * cols + c0, v[i]);
      }
      transpose16(v);
      for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dt + (c0 + i) * rows + r0, v[i]);
    }
}

}  // namespace minidl::conv::detail
