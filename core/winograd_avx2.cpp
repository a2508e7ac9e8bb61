// minidl/core/winograd_avx2.cpp — the Winograd convolution's kernels with AVX2
// + FMA (8 floats per register), compiled for x86-64-v3 on its own and called
// only on CPUs that have it (core/winograd.cpp asks core/cpu_features.h). The
// math is core/winograd_kernels.inc, shared with core/winograd_portable.cpp.
#include <immintrin.h>

#include <cstdint>

#include "core/blas.h"
#include "core/winograd_item.h"

namespace minidl::wino::detail {

namespace {

struct V8 {
  __m256 r;
};
inline V8 load(const float* p) { return {_mm256_loadu_ps(p)}; }
inline void store(float* p, V8 a) { _mm256_storeu_ps(p, a.r); }
inline V8 bcast(float s) { return {_mm256_set1_ps(s)}; }
inline V8 zero() { return {_mm256_setzero_ps()}; }
inline V8 operator+(V8 a, V8 b) { return {_mm256_add_ps(a.r, b.r)}; }
inline V8 operator-(V8 a, V8 b) { return {_mm256_sub_ps(a.r, b.r)}; }
inline V8 operator*(V8 a, V8 b) { return {_mm256_mul_ps(a.r, b.r)}; }
inline V8 fma(V8 a, V8 b, V8 c) { return {_mm256_fmadd_ps(a.r, b.r, c.r)}; }
inline V8 max0(V8 a) { return {_mm256_max_ps(a.r, _mm256_setzero_ps())}; }
inline V8 keep_gt0(V8 v, V8 m) { return {_mm256_and_ps(v.r, _mm256_cmp_ps(m.r, _mm256_setzero_ps(), _CMP_GT_OQ))}; }

// v[i][j] → v[j][i] for an 8 × 8 block: 32-bit and 64-bit interleaves within
// the 128-bit lanes, then the lanes swapped (24 shuffles).
inline void transpose8(V8 v[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(v[2 * i].r, v[2 * i + 1].r);
    t[2 * i + 1] = _mm256_unpackhi_ps(v[2 * i].r, v[2 * i + 1].r);
  }
  for (int i = 0; i < 2; ++i) {
    u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
    u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    v[i].r = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
    v[4 + i].r = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
  }
}

// C[R × 8·NV] = A[R × K] · B[K × 8·NV] (row strides lda, ldb, ldc): R·NV
// accumulators, B's row loaded once per k, A's element broadcast. kRows = 6,
// NV = 2 is 12 accumulators + 2 B registers + 1 broadcast of the 16 ymm
// registers: per k, 12 FMAs against 2 loads + 6 broadcasts, so the two FMA
// pipes, not the load ports, set the pace.
constexpr int kRows = 6;
template <int R, int NV>
void tile(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K) {
  __m256 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    __m256 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(B + k * ldb + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(A + r * lda + k);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(C + r * ldc + 8 * v, acc[r][v]);
}

// The full 6 × 16 tile with the accumulators as named variables: written as
// an array (tile<6, 2>), GCC 12 kept it on the stack and stored every
// accumulator back after each FMA (measured: 2.2x slower).
void tile6x16(const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *a0 = A, *a1 = A + lda, *a2 = A + 2 * lda, *a3 = A + 3 * lda, *a4 = A + 4 * lda, *a5 = A + 5 * lda;
  for (int64_t k = 0; k < K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * ldb), b1 = _mm256_loadu_ps(B + k * ldb + 8);
    __m256 a = _mm256_broadcast_ss(a0 + k);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(a1 + k);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(a2 + k);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(a3 + k);
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(a4 + k);
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(a5 + k);
    c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
  }
  _mm256_storeu_ps(C, c00), _mm256_storeu_ps(C + 8, c01);
  _mm256_storeu_ps(C + ldc, c10), _mm256_storeu_ps(C + ldc + 8, c11);
  _mm256_storeu_ps(C + 2 * ldc, c20), _mm256_storeu_ps(C + 2 * ldc + 8, c21);
  _mm256_storeu_ps(C + 3 * ldc, c30), _mm256_storeu_ps(C + 3 * ldc + 8, c31);
  _mm256_storeu_ps(C + 4 * ldc, c40), _mm256_storeu_ps(C + 4 * ldc + 8, c41);
  _mm256_storeu_ps(C + 5 * ldc, c50), _mm256_storeu_ps(C + 5 * ldc + 8, c51);
}

template <int NV>
void tile_rows(int64_t R, const float* A, int64_t lda, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t K) {
  switch (R) {
    case 1: return tile<1, NV>(A, lda, B, ldb, C, ldc, K);
    case 2: return tile<2, NV>(A, lda, B, ldb, C, ldc, K);
    case 3: return tile<3, NV>(A, lda, B, ldb, C, ldc, K);
    case 4: return tile<4, NV>(A, lda, B, ldb, C, ldc, K);
    case 5: return tile<5, NV>(A, lda, B, ldb, C, ldc, K);
    default:
      if (NV == 2) return tile6x16(A, lda, B, ldb, C, ldc, K);
      return tile<kRows, NV>(A, lda, B, ldb, C, ldc, K);
  }
}

// Step 3: M[p] (T × N) = V[p] (T × K) · U[p] (K × N) for p < P; N a multiple of 8.
// Each output is one dot product over k in order, whatever the blocking.
void gemm_stage(int P, int64_t T, int64_t K, int64_t N, const float* V, const float* U, float* M, bool blas) {
  for (int p = 0; p < P; ++p) {
    const float* a = V + p * T * K;
    const float* b = U + p * K * N;
    float* c = M + p * T * N;
    if (blas) {
      sgemm_serial(false, false, T, N, K, 1.f, a, K, b, N, 0.f, c, N);
      continue;
    }
    for (int64_t j = 0; j < N; j += 16)
      for (int64_t i = 0; i < T; i += kRows) {
        const int64_t r = T - i < kRows ? T - i : kRows;
        if (N - j >= 16) tile_rows<2>(r, a + i * K, K, b + j, N, c + i * N + j, N, K);
        else tile_rows<1>(r, a + i * K, K, b + j, N, c + i * N + j, N, K);
      }
  }
}

#include "core/winograd_kernels.inc"

}  // namespace

void run_item_avx2(const Item& it, int m) {
  if (m == 2) run_item_m<2>(it);
  else run_item_m<4>(it);
}

}  // namespace minidl::wino::detail
