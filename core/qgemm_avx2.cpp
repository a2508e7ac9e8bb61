// minidl/core/qgemm_avx2.cpp — the AVX2 path of the int8 GEMM (no VNNI).
// Compiled with -march=x86-64-v3 (AVX2, FMA, BMI2) whatever the build's
// -march; called only when CPUID reports AVX2 (core/qgemm.cpp).
//
// Why not vpmaddubsw (u8 × s8 pairs → int16): it saturates. Two products of
// 255 × 127 sum to 64,770 > 32,767, so with full-range uint8 activations it
// returns wrong sums (PyTorch's fbgemm avoids this with 7-bit activations,
// reduce_range; oneDNN documents the saturation). This path widens both
// operands to int16 instead and multiplies with vpmaddwd (int16 × int16
// pairs → int32, exact: 2 × 255 × 127 fits easily), then vpaddd. Weights are
// widened once at pack time (PackedWeights::panels16, tiles16, panels16_hwc); activations are
// widened on the fly into a small buffer reused across all output columns.
// When a call's activations are all < 128, core/qgemm.cpp runs the vpmaddubsw
// kernels of core/qgemm_avx2_u7.cpp instead (exact there, ~1.5x faster).
//
// Blocking (Zen 3 / Haswell-class: 16 ymm registers, 2 vpmaddwd per cycle):
//   MR = 4 rows × NV = 2 vectors of 8 int32 = 8 accumulators, + 2 vector
//   operands + 1 broadcast + 1 product temporary (vpmaddwd cannot add into an
//   accumulator, so 4 × 3 tiles need 17 registers and spill). Per K pair:
//   8 vpmaddwd, 8 vpaddd, 2 loads + 4 broadcasts.
//   xw: the 4 widened A rows (4·K·2 bytes, 18 KB at K = 2304) stay in L1 while
//       the weight panels stream from L2.
//   wx: a block of PB = 16 pixels of X (read in place from the image for a
//       convolution, see XSrc) is widened and interleaved into [K/2][16][2]
//       int16 (9 KB at K = 288, L1) and multiplied by every 4-channel tile
//       of the weights, read from PackedWeights::tiles16 where a tile's 4
//       rows are interleaved per K pair: one sequential stream feeds the 4
//       broadcasts instead of four.
#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

namespace minidl::qkern {

namespace {

#include "core/qgemm_x86_256.inc"

constexpr int MR = 4, NV = 2, PB = 8 * NV;

// out[i][j] = Σ_kk vpmaddwd(R[i] pair kk, V vector j at kk): R rows int16
// with stride ldr (pair kk at R + i·ldr + kk·rk), V vectors of 16 int16 at V + j·vpanel + kk·vstride. The
// accumulators are locals stored once at the end: kept as an array the caller
// owns, GCC 12 allocates them so that every add is followed by a register copy
// (one vmovdqa per multiply made the loop rename-bound).
template <int nv>
inline void tile(const int16_t* R, int64_t ldr, int64_t rk, const int16_t* V, int64_t vstride, int64_t vpanel, int64_t k2,
                 __m256i (&out)[MR][NV]) {
  __m256i acc[MR][nv];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < nv; ++j) acc[i][j] = _mm256_setzero_si256();
  for (int64_t kk = 0; kk < k2; ++kk) {
    __m256i v[nv];
#pragma GCC unroll 8
    for (int j = 0; j < nv; ++j)
      v[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(V + j * vpanel + kk * vstride));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t pair;
      __builtin_memcpy(&pair, R + i * ldr + rk * kk, 4);
      const __m256i b = _mm256_set1_epi32(pair);
#pragma GCC unroll 8
      for (int j = 0; j < nv; ++j) acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(b, v[j]));
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < nv; ++j) out[i][j] = acc[i][j];
}

#include "core/qgemm_hwc.inc"

// 4 bytes → 4 int16.
inline void widen4(const uint8_t* src, int16_t* dst) {
  int32_t four;
  __builtin_memcpy(&four, src, 4);
  _mm_storel_epi64(reinterpret_cast<__m128i*>(dst), _mm_cvtepu8_epi16(_mm_cvtsi32_si128(four)));
}
// n bytes → n int16 (16, then 4 at a time).
inline void widen(const uint8_t* src, int64_t n, int16_t* dst) {
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k),
                        _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k))));
  for (; k + 4 <= n; k += 4) widen4(src + k, dst + k);
  for (; k < n; ++k) dst[k] = src[k];
}

// Rows [m, m + valid) of A widened to int16 into buf [MR][kp] (zeros past k and valid).
void widen_rows(const uint8_t* A, int64_t lda, int64_t m, int64_t valid, const W& w, int16_t* buf) {
  for (int i = 0; i < MR; ++i) {
    int16_t* dst = buf + i * w.kp;
    int64_t k = 0;
    if (i < valid) {
      const uint8_t* src = A + (m + i) * lda;
      for (; k + 16 <= w.k; k += 16)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + k),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k))));
      for (; k < w.k; ++k) dst[k] = src[k];
    }
    for (; k < w.kp; ++k) dst[k] = 0;
  }
}

// buf [MR][kp] (int16 rows) times the 8-column vectors p, p+1 of panels16
// ([ceil(n/8)][kp/2][8][2]: w.panels16, or w.panels16_hwc with kp_hwc).
template <int nv>
void xw_panels(const int16_t* buf, int64_t m, int64_t rows, int64_t p, const int16_t* panels16, int64_t kp, const W& w,
               const Out& o, const Req8* reqs) {
  __m256i acc[MR][NV];
  tile<nv>(buf, kp, 2, panels16 + p * kp * 8, 16, kp * 8, kp / 2, acc);
  for (int i = 0; i < rows; ++i) {
    const int64_t at = (m + i) * o.ldc + 8 * p;
    if (nv == 2) store16(o, at, acc[i][0], acc[i][1], reqs[p], reqs[p + 1], int(min64(16, w.n - 8 * p)));
    else store8(o, at, acc[i][0], reqs[p], int(min64(8, w.n - 8 * p)));
  }
}

void buf_times_panels(const int16_t* buf, int64_t m, int64_t rows, const int16_t* panels16, int64_t kp, const W& w,
                      const Out& o, const Req8* reqs) {
  const int64_t np8 = (w.n + 7) / 8;
  for (int64_t p = 0; p < np8; p += NV) {
    if (np8 - p >= 2) xw_panels<2>(buf, m, rows, p, panels16, kp, w, o, reqs);
    else xw_panels<1>(buf, m, rows, p, panels16, kp, w, o, reqs);
  }
}

// X rows k of pixels [p, p + np) → buf [kp/2][PB][2] int16 (pairs of rows interleaved).
void pack_pixels(const XSrc& X, int64_t p, int64_t np, const W& w, int16_t* buf) {
  const __m128i zero = _mm_setzero_si128();
  alignas(16) uint8_t tmp[2][16];
  for (int j = 0; j < NV; ++j) {
    const int64_t left = min64(8, np - 8 * j), q = p + 8 * j;
    if (left <= 0) {
      for (int64_t kk = 0; kk < w.kp / 2; ++kk)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(buf + (kk * PB + 8 * j) * 2), _mm256_setzero_si256());
      continue;
    }
    const int64_t oy = X.conv ? q / X.OW : 0, ox = X.conv ? q % X.OW : 0;
    int16_t* dst = buf + 8 * j * 2;
    auto put = [&](int64_t kk, __m128i a, __m128i b) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + kk * PB * 2), _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(a, b)));
    };
    const int64_t full = w.k / 2;  // K pairs with both rows present
    if (X.conv && X.stride == 1 && X.pad == 0 && ox + left <= X.OW) {
      // the common case, hoisted: the 8 pixels are one contiguous run of each image row
      const uint8_t* base = X.p + oy * X.W + ox;
      for (int64_t kk = 0; kk < full; ++kk)
        put(kk, load8(base + X.koff[2 * kk], left), load8(base + X.koff[2 * kk + 1], left));
    } else if (!X.conv) {
      const uint8_t* base = X.p + q;
      for (int64_t kk = 0; kk < full; ++kk)
        put(kk, load8(base + 2 * kk * X.ld, left), load8(base + (2 * kk + 1) * X.ld, left));
    } else {
      for (int64_t kk = 0; kk < full; ++kk)
        put(kk, load8(x_row(X, 2 * kk, q, oy, ox, left, tmp[0]), left),
            load8(x_row(X, 2 * kk + 1, q, oy, ox, left, tmp[1]), left));
    }
    for (int64_t kk = full; kk < w.kp / 2; ++kk) {  // the zero-padded tail of K
      const int64_t k0 = 2 * kk;
      put(kk, k0 < w.k ? load8(x_row(X, k0, q, oy, ox, left, tmp[0]), left) : zero, zero);
    }
  }
}

template <int nv>
void wx_channels(const int16_t* buf, int64_t p, int64_t np, const W& w, const Out& o) {
  for (int64_t c = 0; c < w.n; c += MR) {
    __m256i acc[MR][NV];
    tile<nv>(w.tiles16 + c * w.kp, 2, 2 * MR, buf, 2 * PB, 16, w.kp / 2, acc);
    for (int i = 0; i < MR && c + i < w.n; ++i) {
      const Req8 q = req_row(o, c + i);
      const int64_t at = (c + i) * o.ldc + p;
      int j = 0;
      for (; j + 1 < nv; j += 2) store16(o, at + 8 * j, acc[i][j], acc[i][j + 1], q, q, int(min64(16, np - 8 * j)));
      if (j < nv) store8(o, at + 8 * j, acc[i][j], q, int(min64(8, np - 8 * j)));
    }
  }
}

}  // namespace

void xw_avx2(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  int16_t* buf = new int16_t[size_t(MR * w.kp)];  // ≤ 512 KiB (kp ≤ 65536)
  const ColReqs reqs(o, w.n);
  for (int64_t m = m_lo; m < m_hi; m += MR) {
    const int64_t rows = min64(MR, m_hi - m);
    widen_rows(A, lda, m, rows, w, buf);
    buf_times_panels(buf, m, rows, w.panels16, w.kp, w, o, reqs.data());
  }
  delete[] buf;
}

// The direct convolution of an NHWC image (as in core/qgemm_dp4_256.inc's
// hwc_dp4): blocks of MR output pixels within one output row, each pixel's
// im2col row widened straight from the image — per kernel row, `row` bytes
// (KW·C and the pad to 4, against zero weights) — where the windows are inside
// it, else gathered first; then the xw tiles on panels16_hwc.
void hwc_avx2(int64_t p_lo, int64_t p_hi, const HwcSrc& X, const W& w, const Out& o) {
  const int64_t row = w.kp_hwc / X.KH;
  const ColReqs reqs(o, w.n);
  uint8_t* rows8 = new uint8_t[size_t(MR * w.kp_hwc)];
  int16_t* buf = new int16_t[size_t(MR * w.kp_hwc)]();  // rows past a ragged block's are computed, not stored
  for (HwcCursor at(X, p_lo); at.p < p_hi; at.next()) {
    const uint8_t* first = nullptr;
    if (at.block(X, row, p_hi, MR, &first)) {
      const int64_t ldr = X.stride * X.C, rseg = X.W * X.C;
      for (int64_t i = 0; i < at.rows; ++i)
        if (row == 4) {  // one channel, 3 taps (conv1): each kernel row one 4-byte step
          for (int64_t s = 0; s < X.KH; ++s) widen4(first + i * ldr + s * rseg, buf + i * w.kp_hwc + 4 * s);
        } else {
          for (int64_t s = 0; s < X.KH; ++s) widen(first + i * ldr + s * rseg, row, buf + i * w.kp_hwc + s * row);
        }
    } else {
      gather_rows(X, at.p, at.rows, MR, w.kp_hwc, rows8);
      widen(rows8, MR * w.kp_hwc, buf);
    }
    buf_times_panels(buf, at.p, at.rows, w.panels16_hwc, w.kp_hwc, w, o, reqs.data());
  }
  delete[] buf;
  delete[] rows8;
}

void wx_avx2(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) {
  int16_t* buf = new int16_t[size_t(w.kp * PB)];
  for (int64_t p = p_lo; p < p_hi; p += PB) {
    const int64_t np = min64(PB, p_hi - p);
    pack_pixels(X, p, np, w, buf);
    if (np > 8) wx_channels<2>(buf, p, np, w, o);
    else wx_channels<1>(buf, p, np, w, o);
  }
  delete[] buf;
}

}  // namespace minidl::qkern
