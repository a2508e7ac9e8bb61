// minidl/core/qgemm_avx512vnni.cpp — the AVX-512 VNNI path (512-bit
// vpdpbusd: 64 u8×s8 MACs per instruction; Cascade Lake+, Ice Lake+, Zen 4/5).
// Compiled with -march=x86-64-v4 -mavx512vnni; called only when CPUID reports
// AVX-512 F/BW/VL/VNNI and the OS saves the zmm state.
//
// Same scheme as the AVX-VNNI path (core/qgemm_avxvnni.cpp) at twice the
// width: xw broadcasts 4 bytes of an A row against a 16-column VNNI panel
// ([K/4][16][4], one zmm per K group); wx broadcasts 4 weight bytes of one
// channel against 16 pixels of X packed as [K/4][PB][4].
//
// Blocking (FBGEMM's PackingTraits for AVX-512 VNNI use 14×32 / 8×48-style
// tiles): 32 zmm registers → MR = 8 rows × NV = 3 vectors of 16 = 24
// accumulators + 3 operands + 1 broadcast. Per K group: 24 vpdpbusd, 3 loads,
// 8 broadcasts (with 2 vpdpbusd per cycle, 12 cycles of multiply against 11
// loads). PB = 48 pixels (13.5 KB packed at K = 288, inside L1).
// The epilogue uses AVX-512's 64-bit arithmetic shift and min/max directly.
#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports once inlined (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace minidl::qkern {

namespace {

constexpr int MR = 8, NV = 3, PB = 16 * NV;

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline __mmask16 first(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// requantize() of core/qgemm.h on 16 lanes, then + zp (int32 codes).
// The per-channel epilogue constants of 16 lanes; rnd_even/rnd_odd: the
// rounding offsets (Out::rnd) of the channels in the even/odd int32 lanes.
struct Req16 {
  __m512i bias, m0, rs, rnd_even, rnd_odd;
};
// Channels c … c+15 (the arrays are padded, see Out).
inline Req16 req_columns(const Out& o, int64_t c) {
  Req16 q{};
  q.bias = _mm512_loadu_si512(o.bias + c);
  if (!o.c8) return q;
  q.m0 = _mm512_loadu_si512(o.m0 + c), q.rs = _mm512_loadu_si512(o.rs + c);
  const __m512i idx = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
  q.rnd_even = _mm512_i64gather_epi64(idx, o.rnd + c, 8);
  q.rnd_odd = _mm512_i64gather_epi64(idx, o.rnd + c + 1, 8);
  return q;
}
// Channel c in every lane.
inline Req16 req_row(const Out& o, int64_t c) {
  Req16 q{};
  q.bias = _mm512_set1_epi32(o.bias[c]);
  if (!o.c8) return q;
  q.m0 = _mm512_set1_epi32(o.m0[c]), q.rs = _mm512_set1_epi32(o.rs[c]);
  q.rnd_even = q.rnd_odd = _mm512_set1_epi64(o.rnd[c]);
  return q;
}

inline __m512i requant16(__m512i v, const Req16& q, const Out& o) {
  const __m512i lo = _mm512_set1_epi64(o.lo), hi = _mm512_set1_epi64(o.hi);
  const __m512i low32 = _mm512_set1_epi64(0xFFFFFFFFll);
  auto half = [&](__m512i prod, __m512i rnd, __m512i s) {
    __m512i x = _mm512_add_epi64(prod, rnd);
    x = _mm512_srav_epi64(x, s);
    return _mm512_min_epi64(_mm512_max_epi64(x, lo), hi);
  };
  const __m512i even = half(_mm512_mul_epi32(v, q.m0), q.rnd_even, _mm512_and_si512(q.rs, low32));
  const __m512i odd = half(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), _mm512_srli_epi64(q.m0, 32)), q.rnd_odd,
                           _mm512_srli_epi64(q.rs, 32));
  const __m512i r = _mm512_mask_blend_epi32(__mmask16(0xAAAA), even, _mm512_slli_epi64(odd, 32));
  return _mm512_add_epi32(r, _mm512_set1_epi32(o.zp));
}

// s ≥ 32: the high dword of v·m0 + rnd, then a 32-bit shift and clamps
// (see requant8_s32 in core/qgemm_x86_256.inc for why this is exact).
inline __m512i requant16_s32(__m512i v, const Req16& q, const Out& o) {
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(v, q.m0), q.rnd_even);
  const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), _mm512_srli_epi64(q.m0, 32)), q.rnd_odd);
  __m512i r = _mm512_mask_blend_epi32(__mmask16(0xAAAA), _mm512_srli_epi64(even, 32), odd);
  r = _mm512_srav_epi32(r, _mm512_sub_epi32(q.rs, _mm512_set1_epi32(32)));
  r = _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(o.lo)), _mm512_set1_epi32(o.hi));
  return _mm512_add_epi32(r, _mm512_set1_epi32(o.zp));
}

inline void store16(const Out& o, int64_t at, __m512i v, const Req16& q, int64_t valid) {
  v = _mm512_add_epi32(v, q.bias);
  const __mmask16 k = first(valid);
  if (o.c32) {
    _mm512_mask_storeu_epi32(o.c32 + at, k, v);
    return;
  }
  const __m512i r = o.rs_min >= 32 ? requant16_s32(v, q, o) : requant16(v, q, o);
  _mm_mask_storeu_epi8(o.c8 + at, k, _mm512_cvtepi32_epi8(r));
}

// The accumulators are locals, stored to `out` once at the end (GCC 12
// otherwise spills or copies them every step, see core/qgemm_avx2.cpp).
template <int nv, bool u8_is_r>
inline void tile(const uint8_t* R, int64_t ldr, const uint8_t* const (&V)[NV], int64_t vstride, int64_t k4,
                 __m512i (&out)[MR][NV]) {
  __m512i acc[MR][nv];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < nv; ++j) acc[i][j] = _mm512_setzero_si512();
  const uint8_t* v0 = V[0];
  const uint8_t* v1 = V[nv > 1 ? 1 : 0];
  const uint8_t* v2 = V[nv > 2 ? 2 : 0];
  for (int64_t kk = 0; kk < k4; ++kk) {
    __m512i v[nv];
    const uint8_t* base[3] = {v0, v1, v2};
#pragma GCC unroll 8
    for (int j = 0; j < nv; ++j) v[j] = _mm512_loadu_si512(base[j] + kk * vstride);
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t quad;
      __builtin_memcpy(&quad, R + i * ldr + 4 * kk, 4);
      const __m512i b = _mm512_set1_epi32(quad);
#pragma GCC unroll 8
      for (int j = 0; j < nv; ++j) acc[i][j] = u8_is_r ? _mm512_dpbusd_epi32(acc[i][j], b, v[j]) : _mm512_dpbusd_epi32(acc[i][j], v[j], b);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < nv; ++j) out[i][j] = acc[i][j];
}

void copy_rows(const uint8_t* A, int64_t lda, int64_t m, int64_t valid, const W& w, uint8_t* buf) {
  for (int i = 0; i < MR; ++i) {
    uint8_t* dst = buf + i * w.kp;
    int64_t k = 0;
    if (i < valid) {
      __builtin_memcpy(dst, A + (m + i) * lda, size_t(w.k));
      k = w.k;
    }
    for (; k < w.kp; ++k) dst[k] = 0;
  }
}

template <int nv>
void xw_panels(const uint8_t* buf, int64_t m, int64_t rows, int64_t p, const W& w, const Out& o) {
  const uint8_t* V[NV] = {};
  for (int j = 0; j < nv; ++j) V[j] = reinterpret_cast<const uint8_t*>(w.panels) + (p + j) * w.kp * 16;
  __m512i acc[MR][NV];
  tile<nv, true>(buf, w.kp, V, 64, w.kp / 4, acc);
  for (int j = 0; j < nv; ++j) {
    const int64_t c = (p + j) * 16;
    const Req16 q = req_columns(o, c);
    for (int i = 0; i < rows; ++i) store16(o, (m + i) * o.ldc + c, acc[i][j], q, w.n - c);
  }
}

// X rows of pixels [p, p + np) → buf [kp/4][PB][4].
void pack_pixels(const XSrc& X, int64_t p, int64_t np, const W& w, uint8_t* buf) {
  alignas(16) uint8_t tmp[4][16];
  for (int j = 0; j < NV; ++j) {
    const int64_t left = min64(16, np - 16 * j), q = p + 16 * j;
    const int64_t oy = X.conv && left > 0 ? q / X.OW : 0, ox = X.conv && left > 0 ? q % X.OW : 0;
    for (int64_t kk = 0; kk < w.kp / 4; ++kk) {
      __m128i r[4];
      for (int t = 0; t < 4; ++t) {
        const int64_t k = 4 * kk + t;
        r[t] = k < w.k && left > 0 ? _mm_maskz_loadu_epi8(first(left), x_row(X, k, q, oy, ox, left, tmp[t]))
                                   : _mm_setzero_si128();
      }
      const __m128i ab0 = _mm_unpacklo_epi8(r[0], r[1]), ab1 = _mm_unpackhi_epi8(r[0], r[1]);
      const __m128i cd0 = _mm_unpacklo_epi8(r[2], r[3]), cd1 = _mm_unpackhi_epi8(r[2], r[3]);
      uint8_t* dst = buf + (kk * PB + 16 * j) * 4;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi16(ab0, cd0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_unpackhi_epi16(ab0, cd0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 32), _mm_unpacklo_epi16(ab1, cd1));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 48), _mm_unpackhi_epi16(ab1, cd1));
    }
  }
}

template <int nv>
void wx_channels(const uint8_t* buf, int64_t p, int64_t np, const W& w, const Out& o) {
  const uint8_t* V[NV] = {buf, buf + 64, buf + 128};
  for (int64_t c = 0; c < w.n; c += MR) {
    __m512i acc[MR][NV];
    tile<nv, false>(reinterpret_cast<const uint8_t*>(w.rows) + c * w.kp, w.kp, V, 4 * PB, w.kp / 4, acc);
    for (int i = 0; i < MR && c + i < w.n; ++i) {
      const Req16 q = req_row(o, c + i);
      for (int j = 0; j < nv; ++j) store16(o, (c + i) * o.ldc + p + 16 * j, acc[i][j], q, np - 16 * j);
    }
  }
}

}  // namespace

void xw_avx512vnni(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  uint8_t* buf = new uint8_t[size_t(MR * w.kp)];
  const int64_t np16 = (w.n + 15) / 16;
  for (int64_t m = m_lo; m < m_hi; m += MR) {
    const int64_t rows = min64(MR, m_hi - m);
    copy_rows(A, lda, m, rows, w, buf);
    for (int64_t p = 0; p < np16; p += NV) {
      const int64_t nv = min64(NV, np16 - p);
      if (nv == 3) xw_panels<3>(buf, m, rows, p, w, o);
      else if (nv == 2) xw_panels<2>(buf, m, rows, p, w, o);
      else xw_panels<1>(buf, m, rows, p, w, o);
    }
  }
  delete[] buf;
}

void wx_avx512vnni(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) {
  uint8_t* buf = new uint8_t[size_t(w.kp * PB)];
  for (int64_t p = p_lo; p < p_hi; p += PB) {
    const int64_t np = min64(PB, p_hi - p);
    pack_pixels(X, p, np, w, buf);
    if (np > 32) wx_channels<3>(buf, p, np, w, o);
    else if (np > 16) wx_channels<2>(buf, p, np, w, o);
    else wx_channels<1>(buf, p, np, w, o);
  }
  delete[] buf;
}

}  // namespace minidl::qkern
