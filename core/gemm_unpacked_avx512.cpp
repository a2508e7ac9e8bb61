// minidl/core/gemm_unpacked_avx512.cpp — gemm_unpacked's AVX-512 register
// tile (see core/gemm_unpacked.h). This file alone is compiled for x86-64-v4
// (core/CMakeLists.txt), whatever the rest of the build targets, and is only
// entered when the CPU has AVX-512 (core/cpu_features.h), so a portable build
// carries it without requiring it. It includes no header that defines inline
// functions or templates other translation units also instantiate (only the
// intrinsics and plain declarations), so no AVX-512 copy of shared code can
// leak into the rest of the library through the linker.
#include <immintrin.h>

#include <cstdint>

#include "core/gemm_unpacked.h"

namespace minidl {

// GCC 12's unmasked intrinsics (max, set1) start from _mm512_undefined_ps(),
// which -Wmaybe-uninitialized reports once inlined (a known false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace {

// (No std::min: a template instantiated here would be compiled for AVX-512
// and could be the copy the linker keeps for every other file.)
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Where the 16 lanes of one C vector live: lanes `lo` at row + off + l, and
// lanes `hi` (those past the end of a column block, see GemmC) at
// row + off + jump + l. A plain C has hi = 0: one masked load or store.
struct Lanes {
  int64_t off;
  __mmask16 lo, hi;
};

__mmask16 first_lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

// The lanes of the n (<= 16) columns starting at column j. A vector spans at
// most two blocks since blocks are >= 16 wide.
Lanes lanes_of(const GemmC& C, int64_t j, int64_t n) {
  if (n <= 0) return {0, 0, 0};
  n = min64(n, 16);
  if (C.nb <= 0) return {j, first_lanes(n), 0};
  const int64_t off = (j / C.nb) * C.nbs + j % C.nb, left = C.nb - j % C.nb;  // columns left in this block
  if (left >= n) return {off, first_lanes(n), 0};
  return {off, first_lanes(left), __mmask16(first_lanes(n) & ~first_lanes(left))};
}

inline __m512 load_lanes(const float* row, const Lanes& m, int64_t jump) {
  __m512 v = _mm512_maskz_loadu_ps(m.lo, row + m.off);
  if (m.hi) v = _mm512_mask_loadu_ps(v, m.hi, row + m.off + jump);
  return v;
}
inline void store_lanes(float* row, const Lanes& m, int64_t jump, __m512 v) {
  _mm512_mask_storeu_ps(row + m.off, m.lo, v);
  if (m.hi) _mm512_mask_storeu_ps(row + m.off + jump, m.hi, v);
}

// One call of a tile: up to 8 rows × 32 columns of C.
struct Tile {
  int64_t KR, KC;  // K = KR blocks of KC (KR = 1 for a plain A)
  const float* A;
  int64_t rsa, csa, kbs;
  const float* B;
  int64_t ldb;
  __mmask16 b0, b1;  // the strip's columns in B
  Lanes c0, c1;      // and in C
  int64_t jump;
  float* crow[8];      // C's rows
  const float* bias;   // row_init of these rows, or null
  bool load_c, relu;
};

inline __m512 finish(__m512 v, const Tile& t, int r) {
  if (t.bias) v = _mm512_add_ps(v, _mm512_set1_ps(t.bias[r]));  // added last, as sgemm's beta·C would be
  if (t.relu) v = _mm512_max_ps(v, _mm512_setzero_ps());        // max(NaN, 0) = 0, as relu()
  return v;
}

// One tile of MR rows × up to 32 columns of C: 2·MR accumulators of 16
// floats stay in registers for the whole K loop. Per k it loads two vectors
// of B's row k and broadcasts MR elements of A's column k: 2·MR FMAs against
// 2 + MR loads, so the two FMA pipes, not the loads, set the pace. MR = 8
// (16 accumulators) hides the FMA latency (4 cycles × 2 pipes = 8 in flight)
// with room to spare, and divides the seed CNN's channel counts. The K loop
// is two loops (KR blocks of KC) so that A can be an image window read in
// place; for a plain A, KR = 1.
template <int MR>
[[maybe_unused]] void tile(const Tile& t) {
  __m512 c0[MR], c1[MR];
  for (int r = 0; r < MR; ++r) {
    c0[r] = t.load_c ? load_lanes(t.crow[r], t.c0, t.jump) : _mm512_setzero_ps();
    c1[r] = t.load_c ? load_lanes(t.crow[r], t.c1, t.jump) : _mm512_setzero_ps();
  }
  const int64_t rsa = t.rsa, csa = t.csa, ldb = t.ldb;
  for (int64_t kr = 0; kr < t.KR; ++kr) {
    const float* A = t.A + kr * t.kbs;
    const float* B = t.B + kr * t.KC * ldb;
#pragma GCC unroll 4
    for (int64_t k = 0; k < t.KC; ++k) {
      const __m512 b0 = _mm512_maskz_loadu_ps(t.b0, B + k * ldb);
      const __m512 b1 = _mm512_maskz_loadu_ps(t.b1, B + k * ldb + 16);
      const float* a = A + k * csa;
      for (int r = 0; r < MR; ++r) {
        const __m512 ar = _mm512_set1_ps(a[r * rsa]);
        c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
        c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
      }
    }
  }
  for (int r = 0; r < MR; ++r) {
    store_lanes(t.crow[r], t.c0, t.jump, finish(c0[r], t, r));
    store_lanes(t.crow[r], t.c1, t.jump, finish(c1[r], t, r));
  }
}

// The full 8-row tile, with the accumulators as named variables: GCC does not
// keep an array of 16 vectors in registers (it stores it back to the stack on
// every k step, which halved the speed), so the 8 rows are spelled out.
void tile8(const Tile& t) {
#define MINIDL_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define MINIDL_DECLARE(r) __m512 a##r, b##r;
  MINIDL_ROWS(MINIDL_DECLARE)
#define MINIDL_INIT(r)                                  \
  if (t.load_c) {                                       \
    a##r = load_lanes(t.crow[r], t.c0, t.jump);         \
    b##r = load_lanes(t.crow[r], t.c1, t.jump);         \
  } else {                                              \
    a##r = b##r = _mm512_setzero_ps();                  \
  }
  MINIDL_ROWS(MINIDL_INIT)
  const int64_t rsa = t.rsa, csa = t.csa, ldb = t.ldb, KC = t.KC;
  const __mmask16 m0 = t.b0, m1 = t.b1;
  for (int64_t kr = 0; kr < t.KR; ++kr) {
    const float* A = t.A + kr * t.kbs;
    const float* B = t.B + kr * KC * ldb;
#pragma GCC unroll 2
    for (int64_t k = 0; k < KC; ++k) {
      const __m512 v0 = _mm512_maskz_loadu_ps(m0, B + k * ldb);
      const __m512 v1 = _mm512_maskz_loadu_ps(m1, B + k * ldb + 16);
      const float* a = A + k * csa;
#define MINIDL_FMA(r)                                   \
  {                                                     \
    const __m512 x = _mm512_set1_ps(a[r * rsa]);        \
    a##r = _mm512_fmadd_ps(x, v0, a##r);                \
    b##r = _mm512_fmadd_ps(x, v1, b##r);                \
  }
      MINIDL_ROWS(MINIDL_FMA)
    }
  }
#define MINIDL_STORE(r)                                 \
  store_lanes(t.crow[r], t.c0, t.jump, finish(a##r, t, r)); \
  store_lanes(t.crow[r], t.c1, t.jump, finish(b##r, t, r));
  MINIDL_ROWS(MINIDL_STORE)
#undef MINIDL_ROWS
#undef MINIDL_DECLARE
#undef MINIDL_INIT
#undef MINIDL_FMA
#undef MINIDL_STORE
}

using TileFn = void (*)(const Tile&);
// Fewer than 8 rows left (M not a multiple of 8): the array version, slower but rare.
constexpr TileFn kTiles[9] = {nullptr, tile<1>, tile<2>, tile<3>, tile<4>, tile<5>, tile<6>, tile<7>, tile8};
constexpr int64_t kMR = 8, kNR = 32;

}  // namespace

namespace detail {

// Called by gemm_unpacked() (core/gemm_unpacked.cpp) after its argument
// checks, only when cpu_features().avx512.
void gemm_unpacked_avx512(int64_t M, int64_t N, int64_t K, const GemmA& A, const float* B, int64_t ldb,
                          const GemmC& C, const float* row_init, bool accumulate, bool relu) {
  Tile t{};
  t.KC = A.kb > 0 ? A.kb : K;
  t.KR = t.KC > 0 ? K / t.KC : 0;
  t.rsa = A.rsa;
  t.csa = A.csa;
  t.kbs = A.kb > 0 ? A.kbs : 0;
  t.ldb = ldb;
  t.jump = C.nbs - C.nb;
  t.load_c = accumulate && !row_init;
  t.relu = relu;
  // Column blocks outside, row blocks inside: one 32-column strip of B
  // (K × 128 bytes, 36 KiB for K = 288) stays in the L1 cache while every
  // row block of A passes over it.
  for (int64_t j0 = 0; j0 < N; j0 += kNR) {
    const int64_t nr = min64(kNR, N - j0);
    t.b0 = first_lanes(nr);
    t.b1 = first_lanes(nr - 16);
    t.B = B + j0;
    t.c0 = lanes_of(C, j0, nr);
    t.c1 = lanes_of(C, j0 + 16, nr - 16);
    for (int64_t i0 = 0; i0 < M; i0 += kMR) {
      const int64_t mr = min64(kMR, M - i0);
      t.A = A.p + i0 * A.rsa;
      for (int64_t r = 0; r < mr; ++r) t.crow[r] = C.p + (C.rows ? C.rows[i0 + r] : (i0 + r) * C.ldc);
      t.bias = row_init ? row_init + i0 : nullptr;
      kTiles[mr](t);
    }
  }
}

}  // namespace detail
#pragma GCC diagnostic pop


}  // namespace minidl
