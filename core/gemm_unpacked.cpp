#include "core/gemm_unpacked.h"

#include <algorithm>

#include "core/blas.h"
#include "core/error.h"

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace minidl {

#ifdef __AVX512F__
namespace {

// One tile of MR rows × up to 32 columns of C: 2·MR accumulators of 16
// floats stay in registers for the whole K loop. Per k it loads two vectors
// of B's row k and broadcasts MR elements of A's column k: 2·MR FMAs against
// 2 + MR loads, so the two FMA pipes, not the loads, set the pace. MR = 8
// (16 accumulators) hides the FMA latency (4 cycles × 2 pipes = 8 in flight)
// with room to spare, and divides the seed CNN's 64 output channels.
// m0 / m1 mask the two column vectors for a partial tile at the right edge.
template <int MR>
[[maybe_unused]] void tile(int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t ldb, float* C, int64_t ldc,
          const float* row_init, bool accumulate, __mmask16 m0, __mmask16 m1) {
  __m512 c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) {
    if (accumulate && !row_init) {
      c0[r] = _mm512_maskz_loadu_ps(m0, C + r * ldc);
      c1[r] = _mm512_maskz_loadu_ps(m1, C + r * ldc + 16);
    } else {
      c0[r] = c1[r] = _mm512_setzero_ps();
    }
  }
#pragma GCC unroll 4
  for (int64_t k = 0; k < K; ++k) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, B + k * ldb);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, B + k * ldb + 16);
    const float* a = A + k * csa;
    for (int r = 0; r < MR; ++r) {
      const __m512 ar = _mm512_set1_ps(a[r * rsa]);
      c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    if (row_init) {  // added last, as sgemm's beta·C would be
      c0[r] = _mm512_add_ps(c0[r], _mm512_set1_ps(row_init[r]));
      c1[r] = _mm512_add_ps(c1[r], _mm512_set1_ps(row_init[r]));
    }
    _mm512_mask_storeu_ps(C + r * ldc, m0, c0[r]);
    _mm512_mask_storeu_ps(C + r * ldc + 16, m1, c1[r]);
  }
}

// The full 8-row tile, with the accumulators as named variables: GCC does not
// keep an array of 16 vectors in registers (it stores it back to the stack on
// every k step, which halved the speed), so the 8 rows are spelled out.
void tile8(int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B, int64_t ldb, float* C, int64_t ldc,
           const float* row_init, bool accumulate, __mmask16 m0, __mmask16 m1) {
#define MINIDL_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define MINIDL_DECLARE(r) __m512 a##r, b##r;
  MINIDL_ROWS(MINIDL_DECLARE)
#define MINIDL_INIT(r)                                        \
  if (accumulate && !row_init) {                              \
    a##r = _mm512_maskz_loadu_ps(m0, C + r * ldc);            \
    b##r = _mm512_maskz_loadu_ps(m1, C + r * ldc + 16);       \
  } else {                                                    \
    a##r = b##r = _mm512_setzero_ps();                        \
  }
  MINIDL_ROWS(MINIDL_INIT)
#pragma GCC unroll 2
  for (int64_t k = 0; k < K; ++k) {
    const __m512 v0 = _mm512_maskz_loadu_ps(m0, B + k * ldb);
    const __m512 v1 = _mm512_maskz_loadu_ps(m1, B + k * ldb + 16);
    const float* a = A + k * csa;
#define MINIDL_FMA(r)                                         \
  {                                                           \
    const __m512 x = _mm512_set1_ps(a[r * rsa]);              \
    a##r = _mm512_fmadd_ps(x, v0, a##r);                      \
    b##r = _mm512_fmadd_ps(x, v1, b##r);                      \
  }
    MINIDL_ROWS(MINIDL_FMA)
  }
#define MINIDL_STORE(r)                                       \
  if (row_init) {                                             \
    a##r = _mm512_add_ps(a##r, _mm512_set1_ps(row_init[r]));  \
    b##r = _mm512_add_ps(b##r, _mm512_set1_ps(row_init[r]));  \
  }                                                           \
  _mm512_mask_storeu_ps(C + r * ldc, m0, a##r);               \
  _mm512_mask_storeu_ps(C + r * ldc + 16, m1, b##r);
  MINIDL_ROWS(MINIDL_STORE)
#undef MINIDL_ROWS
#undef MINIDL_DECLARE
#undef MINIDL_INIT
#undef MINIDL_FMA
#undef MINIDL_STORE
}

using TileFn = void (*)(int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t, const float*,
                        bool, __mmask16, __mmask16);
// Fewer than 8 rows left (M not a multiple of 8): the array version, slower but rare.
constexpr TileFn kTiles[9] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>, tile<7>, tile8};
constexpr int64_t kMR = 8, kNR = 32;

}  // namespace

void gemm_unpacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
                   int64_t ldb, float* C, int64_t ldc, const float* row_init, bool accumulate) {
  // Column blocks outside, row blocks inside: one 32-column strip of B
  // (K × 128 bytes, 36 KiB for K = 288) stays in the L1 cache while every
  // row block of A passes over it.
  for (int64_t j0 = 0; j0 < N; j0 += kNR) {
    const int64_t nr = std::min(kNR, N - j0);
    const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr > 16 ? __mmask16((1u << (nr - 16)) - 1) : __mmask16(0);
    for (int64_t i0 = 0; i0 < M; i0 += kMR) {
      const int64_t mr = std::min(kMR, M - i0);
      kTiles[mr](K, A + i0 * rsa, rsa, csa, B + j0, ldb, C + i0 * ldc + j0, ldc, row_init ? row_init + i0 : nullptr,
                 accumulate, m0, m1);
    }
  }
}

#else  // no AVX-512 at compile time: the same product through OpenBLAS

void gemm_unpacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
                   int64_t ldb, float* C, int64_t ldc, const float* row_init, bool accumulate) {
  MINIDL_CHECK(csa == 1 || rsa == 1, "gemm_unpacked: A must be row-major or transposed row-major");
  if (row_init)
    for (int64_t i = 0; i < M; ++i) std::fill_n(C + i * ldc, N, row_init[i]);
  const bool trans_a = csa != 1;
  sgemm_serial(trans_a, false, M, N, K, 1.f, A, trans_a ? csa : rsa, B, ldb, row_init || accumulate ? 1.f : 0.f, C,
               ldc);
}

#endif

}  // namespace minidl
