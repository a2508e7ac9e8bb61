// minidl/core/qgemm_avxvnni.cpp — the AVX-VNNI path (256-bit vpdpbusd, e.g.
// Alder Lake, Zen 5 without using zmm). Compiled with -march=x86-64-v3
// -mavxvnni; called only when CPUID reports AVX-VNNI.
//
// vpdpbusd multiplies 4 unsigned bytes by 4 signed bytes per int32 lane and
// adds the 4 products to the lane, in 32 bits without saturation (4 × 255 ×
// 127 fits) — exactly Σ a·w. The u8 operand is the activations in both
// orientations: xw broadcasts 4 bytes of an A row against 8 weight columns of
// the VNNI panels ([K/4][16][4]: a 256-bit half is 8 columns); wx broadcasts 4
// weight bytes of one channel against 8 pixels of X packed as [K/4][PB][4].
//
// Blocking: 16 ymm registers → MR = 4 rows × NV = 3 vectors = 12
// accumulators + 3 operands + 1 broadcast (as the AVX2 path, one instruction
// per 32 MACs instead of two per 16). PB = 24 pixels per packed X block.
#ifdef MINIDL_QGEMM_EMULATE_VNNI
// Tests only (tests/qgemm_avxvnni_emulated.cpp): this file built again with
// vpdpbusd emulated exactly in AVX2, so that its packing, tiling and tails are
// tested bit for bit on CPUs without AVX-VNNI.
#define xw_avxvnni xw_avxvnni_emulated
#define wx_avxvnni wx_avxvnni_emulated
#endif

#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

namespace minidl::qkern {

namespace {

#ifdef MINIDL_QGEMM_EMULATE_VNNI
// Per int32 lane: acc + a0·b0 + a1·b1 + a2·b2 + a3·b3, a unsigned, b signed bytes.
inline __m256i dpbusd(__m256i acc, __m256i a, __m256i b) {
  const __m256i lo8 = _mm256_set1_epi16(0x00FF);
  const __m256i a_even = _mm256_and_si256(a, lo8), a_odd = _mm256_srli_epi16(a, 8);
  const __m256i b_even = _mm256_srai_epi16(_mm256_slli_epi16(b, 8), 8), b_odd = _mm256_srai_epi16(b, 8);
  return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(a_even, b_even), _mm256_madd_epi16(a_odd, b_odd)));
}
#else
inline __m256i dpbusd(__m256i acc, __m256i a, __m256i b) { return _mm256_dpbusd_avx_epi32(acc, a, b); }
#endif

#include "core/qgemm_x86_256.inc"

constexpr int MR = 4, NV = 3, PB = 8 * NV;

// acc[i][j] += dpbusd over kk; V vector j at V[j] + kk·vstride (bytes);
// R rows of 4-byte groups with stride ldr. u8_is_r: R holds the unsigned operand.
// The accumulators are locals, stored to `out` once at the end (GCC 12
// otherwise spills or copies them every step, see core/qgemm_avx2.cpp).
template <int nv, bool u8_is_r>
inline void tile(const uint8_t* R, int64_t ldr, const uint8_t* const (&V)[NV], int64_t vstride, int64_t k4,
                 __m256i (&out)[MR][NV]) {
  __m256i acc[MR][nv];
#pragma GCC unroll 8
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < nv; ++j) acc[i][j] = _mm256_setzero_si256();
  const uint8_t* v0 = V[0];
  const uint8_t* v1 = V[nv > 1 ? 1 : 0];
  const uint8_t* v2 = V[nv > 2 ? 2 : 0];
  for (int64_t kk = 0; kk < k4; ++kk) {
    __m256i v[nv];
    const uint8_t* base[3] = {v0, v1, v2};
#pragma GCC unroll 8
    for (int j = 0; j < nv; ++j) v[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base[j] + kk * vstride));
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      int32_t quad;
      __builtin_memcpy(&quad, R + i * ldr + 4 * kk, 4);
      const __m256i b = _mm256_set1_epi32(quad);
#pragma GCC unroll 8
      for (int j = 0; j < nv; ++j) acc[i][j] = u8_is_r ? dpbusd(acc[i][j], b, v[j]) : dpbusd(acc[i][j], v[j], b);
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
void xw_vectors(const uint8_t* buf, int64_t m, int64_t rows, int64_t q, const W& w, const Out& o) {
  const uint8_t* V[NV] = {};
  for (int j = 0; j < nv; ++j)  // 8-column vector q + j: panel (q+j)/2, half (q+j)%2
    V[j] = reinterpret_cast<const uint8_t*>(w.panels) + ((q + j) / 2) * w.kp * 16 + ((q + j) % 2) * 32;
  __m256i acc[MR][NV];
  tile<nv, true>(buf, w.kp, V, 64, w.kp / 4, acc);
  for (int j = 0; j < nv; ++j) {
    const int64_t c = (q + j) * 8;
    const int valid = int(min64(8, w.n - c));
    const Req8 q = req_columns(o, c);
    for (int i = 0; i < rows; ++i) store8(o, (m + i) * o.ldc + c, acc[i][j], q, valid);
  }
}

// X rows of pixels [p, p + np) → buf [kp/4][PB][4] (4 rows interleaved per pixel).
void pack_pixels(const XSrc& X, int64_t p, int64_t np, const W& w, uint8_t* buf) {
  const __m128i zero = _mm_setzero_si128();
  alignas(16) uint8_t tmp[4][16];
  for (int j = 0; j < NV; ++j) {
    const int64_t left = min64(8, np - 8 * j), q = p + 8 * j;
    const int64_t oy = X.conv && left > 0 ? q / X.OW : 0, ox = X.conv && left > 0 ? q % X.OW : 0;
    // the common case, hoisted (as in the AVX2 path): 8 pixels contiguous in one image row
    const bool run = left > 0 && X.conv && X.stride == 1 && X.pad == 0 && ox + left <= X.OW;
    const uint8_t* base = X.p + oy * X.W + ox;
    for (int64_t kk = 0; kk < w.kp / 4; ++kk) {
      __m128i r[4];
      for (int t = 0; t < 4; ++t) {
        const int64_t k = 4 * kk + t;
        r[t] = k >= w.k || left <= 0 ? zero
               : run                 ? load8(base + X.koff[k], left)
                                     : load8(x_row(X, k, q, oy, ox, left, tmp[t]), left);
      }
      const __m128i ab = _mm_unpacklo_epi8(r[0], r[1]), cd = _mm_unpacklo_epi8(r[2], r[3]);
      uint8_t* dst = buf + (kk * PB + 8 * j) * 4;
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_unpacklo_epi16(ab, cd));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 16), _mm_unpackhi_epi16(ab, cd));
    }
  }
}

template <int nv>
void wx_channels(const uint8_t* buf, int64_t p, int64_t np, const W& w, const Out& o) {
  const uint8_t* V[NV] = {buf, buf + 32, buf + 64};
  for (int64_t c = 0; c < w.n; c += MR) {
    __m256i acc[MR][NV];
    tile<nv, false>(reinterpret_cast<const uint8_t*>(w.rows) + c * w.kp, w.kp, V, 4 * PB, w.kp / 4, acc);
    for (int i = 0; i < MR && c + i < w.n; ++i) {
      const Req8 q = req_row(o, c + i);
      for (int j = 0; j < nv; ++j) store8(o, (c + i) * o.ldc + p + 8 * j, acc[i][j], q, int(min64(8, np - 8 * j)));
    }
  }
}

}  // namespace

void xw_avxvnni(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  uint8_t* buf = new uint8_t[size_t(MR * w.kp)];
  const int64_t nq = (w.n + 7) / 8;  // 8-column vectors
  for (int64_t m = m_lo; m < m_hi; m += MR) {
    const int64_t rows = min64(MR, m_hi - m);
    copy_rows(A, lda, m, rows, w, buf);
    for (int64_t q = 0; q < nq; q += NV) {
      const int64_t nv = min64(NV, nq - q);
      if (nv == 3) xw_vectors<3>(buf, m, rows, q, w, o);
      else if (nv == 2) xw_vectors<2>(buf, m, rows, q, w, o);
      else xw_vectors<1>(buf, m, rows, q, w, o);
    }
  }
  delete[] buf;
}

void wx_avxvnni(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) {
  uint8_t* buf = new uint8_t[size_t(w.kp * PB)];
  for (int64_t p = p_lo; p < p_hi; p += PB) {
    const int64_t np = min64(PB, p_hi - p);
    pack_pixels(X, p, np, w, buf);
    if (np > 16) wx_channels<3>(buf, p, np, w, o);
    else if (np > 8) wx_channels<2>(buf, p, np, w, o);
    else wx_channels<1>(buf, p, np, w, o);
  }
  delete[] buf;
}

}  // namespace minidl::qkern
