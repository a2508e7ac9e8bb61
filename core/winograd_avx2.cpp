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
// A's element (r, k) is at A[r·lda + k·csa] (A, or Vᵀ for the weight
// gradient); C is overwritten, or added to with `acc`.
struct TileArgs {
  const float* A;
  int64_t lda, csa;
  const float* B;
  int64_t ldb;
  float* C;
  int64_t ldc, K;
  bool acc;
};
template <int R, int NV>
void tile(const TileArgs& t) {
  __m256 acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = t.acc ? _mm256_loadu_ps(t.C + r * t.ldc + 8 * v) : _mm256_setzero_ps();
  for (int64_t k = 0; k < t.K; ++k) {
    __m256 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm256_loadu_ps(t.B + k * t.ldb + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(t.A + r * t.lda + k * t.csa);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(a, b[v], acc[r][v]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) _mm256_storeu_ps(t.C + r * t.ldc + 8 * v, acc[r][v]);
}

// The full 6 × 16 tile with the accumulators as named variables: written as
// an array (tile<6, 2>), GCC 12 kept it on the stack and stored every
// accumulator back after each FMA (measured: 2.2x slower).
void tile6x16(const TileArgs& t) {
  float* C = t.C;
  const int64_t ldc = t.ldc, lda = t.lda, csa = t.csa, ldb = t.ldb;
  auto ld = [&](int64_t r, int64_t v) { return t.acc ? _mm256_loadu_ps(C + r * ldc + 8 * v) : _mm256_setzero_ps(); };
  __m256 c00 = ld(0, 0), c01 = ld(0, 1), c10 = ld(1, 0), c11 = ld(1, 1), c20 = ld(2, 0), c21 = ld(2, 1);
  __m256 c30 = ld(3, 0), c31 = ld(3, 1), c40 = ld(4, 0), c41 = ld(4, 1), c50 = ld(5, 0), c51 = ld(5, 1);
  const float *a0 = t.A, *a1 = a0 + lda, *a2 = a0 + 2 * lda, *a3 = a0 + 3 * lda, *a4 = a0 + 4 * lda, *a5 = a0 + 5 * lda;
  const float* B = t.B;
  for (int64_t k = 0; k < t.K; ++k) {
    const __m256 b0 = _mm256_loadu_ps(B + k * ldb), b1 = _mm256_loadu_ps(B + k * ldb + 8);
    const int64_t o = k * csa;
    __m256 a = _mm256_broadcast_ss(a0 + o);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(a1 + o);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(a2 + o);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(a3 + o);
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(a4 + o);
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(a5 + o);
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
void tile_rows(int64_t R, const TileArgs& t) {
  switch (R) {
    case 1: return tile<1, NV>(t);
    case 2: return tile<2, NV>(t);
    case 3: return tile<3, NV>(t);
    case 4: return tile<4, NV>(t);
    case 5: return tile<5, NV>(t);
    default:
      if (NV == 2) return tile6x16(t);
      return tile<kRows, NV>(t);
  }
}

// C (R × N) (+)= A · B over row blocks of kRows and column blocks of 16 (N a
// multiple of 8).
void product(int64_t R, int64_t N, TileArgs t) {
  const float *A = t.A, *B = t.B;
  float* C = t.C;
  for (int64_t j = 0; j < N; j += 16)
    for (int64_t i = 0; i < R; i += kRows) {
      t.A = A + i * t.lda, t.B = B + j, t.C = C + i * t.ldc + j;
      const int64_t r = R - i < kRows ? R - i : kRows;
      if (N - j >= 16) tile_rows<2>(r, t);
      else tile_rows<1>(r, t);
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
    product(T, N, {a, K, 1, b, N, c, N, K, false});
  }
}

// The weight gradient's products: dU[p] (K × N) += V[p]ᵀ (K × T) · Z[p] (T × N).
void wgrad_stage(int P, int64_t T, int64_t K, int64_t N, const float* V, const float* Z, float* dU, bool blas) {
  for (int p = 0; p < P; ++p) {
    const float* a = V + p * T * K;
    const float* b = Z + p * T * N;
    float* c = dU + p * K * N;
    if (blas) sgemm_serial(true, false, K, N, T, 1.f, a, K, b, N, 1.f, c, N);
    else product(K, N, {a, 1, K, b, N, c, N, T, true});
  }
}

#include "core/winograd_kernels.inc"

}  // namespace

void run_item_avx2(const Item& it, int m) {
  if (m == 2) run_item_m<2>(it);
  else run_item_m<4>(it);
}
void run_wgrad_item_avx2(const Item& it, int m) {
  if (m == 2) run_wgrad_item_m<2>(it);
  else run_wgrad_item_m<4>(it);
}

}  // namespace minidl::wino::detail
