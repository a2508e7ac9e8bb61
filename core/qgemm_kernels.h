// minidl/core/qgemm_kernels.h — the interface between core/qgemm.cpp (checks,
// packing, threads, dispatch) and the per-ISA kernel files
// core/qgemm_{generic,avx2,avxvnni,avx512vnni}.cpp.
//
// Each ISA file is compiled with its own -march flags (core/CMakeLists.txt),
// so this header holds only plain structs and declarations: an inline function
// or a template from a shared header, instantiated in an AVX-512 file, could
// be the copy the linker keeps for everyone (an ODR trap that crashes CPUs
// without AVX-512). The kernel files include nothing else but <immintrin.h>
// and <cstdint>/<cstring>.
#pragma once

#include <cstdint>

namespace minidl::qkern {

// The packed weights, as the kernels see them (see PackedWeights).
struct W {
  int64_t n, k, kp;         // kp: k rounded up to 4, the pad holds zero weights
  const int8_t* rows;       // [n16][kp] (n16: n rounded up to 16, zero rows)
  const int8_t* panels;     // [ceil(n/16)][kp/4][16][4]
  const int16_t* rows16;    // [n16][kp]
  const int16_t* panels16;  // [ceil(n/8)][kp/2][8][2]
};

// Where results go and the epilogue, per output channel c ∈ [0, n):
//   v = bias[c] + Σ a·w          (bias already holds b[c] − z_a·colsum[c])
//   c32: store v; c8: store clamp(((v·m0[c] + 2^(rs[c]−1)) >> rs[c]), lo, hi) + zp
// with lo = qmin − zp, hi = qmax − zp (the clamp before adding zp is the same
// clamp, and keeps every step in range).
struct Out {
  int32_t* c32;          // either this ...
  uint8_t* c8;           // ... or this
  int64_t ldc;
  const int32_t* bias;   // [n], readable up to n rounded up to 64
  const int32_t* m0;     // [n]  (c8 only; same padding)
  const int32_t* rs;     // [n]  total right shift 31 + shift, 1..62
  int32_t lo, hi, zp;
  int32_t rs_min;        // min over channels of rs: ≥ 32 (every M < 1/2) allows the 32-bit epilogue
};

// "xw" (linear): C[m][c] for m ∈ [m_lo, m_hi), all c; A uint8 rows of k bytes (lda).
// "wx" (conv):   C[c][p] for p ∈ [p_lo, p_hi), all c; X uint8 [k][ldx] (rows of pixels).
// The caller splits [0, M) / [0, P) between threads; a kernel never reads
// outside the rows/columns it was given (no over-read past k either).
using XwFn = void (*)(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o);
using WxFn = void (*)(int64_t p_lo, int64_t p_hi, const uint8_t* X, int64_t ldx, const W& w, const Out& o);

void xw_generic(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_generic(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void xw_avx2(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avx2(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void xw_avxvnni(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avxvnni(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void xw_avx512vnni(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avx512vnni(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);

// Tests only: run this pair instead of the ISA's kernels (null: back to dispatch).
void set_kernels_for_testing(XwFn xw, WxFn wx);

// Row/pixel block a thread's share is rounded to (a multiple of every tile).
constexpr int64_t kSplitAlign = 48;

}  // namespace minidl::qkern
