// minidl/core/qgemm_avx512vnni.cpp — the AVX-512 VNNI path (512-bit
// vpdpbusd: 64 u8×s8 MACs per instruction; Cascade Lake+, Ice Lake+, Zen 4/5).
// Compiled with -march=x86-64-v4 -mavx512vnni; called only when CPUID reports
// AVX-512 F/BW/VL/VNNI and the OS saves the zmm state.
//
// Three kernels share one register tile, MR rows × NV vectors of 16 int32:
//   xw   A rows (4 bytes broadcast) × weight panels [K/4][16][4] (one zmm per K group);
//   hwc  the convolution of an NHWC image as xw: A's rows are the output pixels'
//        im2col rows in (kh, kw, c) order, read in place from the image (per
//        kernel row KW·C contiguous bytes; blocks touching padding are gathered),
//        against panels packed in the same K order (PackedWeights::panels_hwc).
//        The direct (implicit-GEMM) convolution oneDNN and FBGEMM run on
//        channels-last uint8 activations;
//   wx   weight rows (broadcast) × 64 pixels packed per K group as 4 vectors in
//        lane-interleaved order (plain X [K][P] only:
//        a convolution goes through hwc, whose per-pixel packing cost is nil).
//
// Blocking: at most 16 accumulators. GCC 12 keeps a larger accumulator array
// in memory and copies each accumulator around every vpdpbusd (measured on Zen 4:
// 6×4 / 8×3 tiles 94–98 GMAC/s per core, 4×4 / 8×2 / 16×1 202–225, clang 221
// for all), and 16 already cover vpdpbusd's latency (4) at one per cycle.
// Per K group an MR×NV tile issues MR·NV vpdpbusd, NV vector loads and MR
// broadcasts: 4×4 → 16 / 4 / 4, so loads stay at half the multiply rate.
// NV follows the layer's width: 64 channels (conv2) are one 4×4 tile row of 4
// panels; fc1's 100 are 4 + 3 panels; 32 (conv1) are 8×2.
// The epilogue uses AVX-512's 64-bit arithmetic shift and min/max directly.
#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

// GCC 12's unmasked AVX-512 intrinsics start from _mm512_undefined_*(), which
// -Wmaybe-uninitialized reports once inlined (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace minidl::qkern {

namespace {

constexpr int MB = 16;                    // xw/hwc: rows gathered per block (a multiple of every MR)
constexpr int WX_MR = 4, PB = 64;  // wx: 4 channels × 64 pixels (4 vectors)

inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
inline __mmask16 first(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
inline __mmask64 first64(int64_t n) { return n >= 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1; }

// requantize() of core/qgemm.h on 16 lanes, then + zp (int32 codes).
// The epilogue's constants for 16 lanes, built once per panel (xw, hwc: 16
// channels) or channel (wx: broadcast): the per-channel m0, shift and
// rounding offsets (rnd_even/rnd_odd: the channels in the even/odd int32
// lanes), and copies of the clamp bounds, zero point and destination — read
// from `o` they would be reloaded after every byte store (a uint8_t store may
// alias them), which made conv1's epilogue (3 K groups per output) cost 5x its products.
struct Req16 {
  __m512i m0, rs, rnd_even, rnd_odd, lo, hi, zp, lo64, hi64;
  __m512i m0_odd, rs_even, rs_odd, rs_less32;  // derived once: m0 and rs of the odd lanes moved to even, rs − 32
  uint8_t* c8;
  int32_t* c32;
  int64_t ldc;
  bool s32;  // the 32-bit epilogue (requant16_s32): rnd_even/odd then hold rnd + zp·2^rs, lo/hi qmin/qmax
  bool clamp_lo, clamp_hi;  // s32: qmin > 0, qmax < 255 (else the packs' saturation is the clamp)
};
inline void req_derive(Req16& q) {
  q.m0_odd = _mm512_srli_epi64(q.m0, 32);
  q.rs_even = _mm512_and_si512(q.rs, _mm512_set1_epi64(0xFFFFFFFFll)), q.rs_odd = _mm512_srli_epi64(q.rs, 32);
  q.rs_less32 = _mm512_sub_epi32(q.rs, _mm512_set1_epi32(32));
  if (q.s32) {  // the zero point folded into the rounding offset: + zp·2^rs
    const __m512i zp64 = _mm512_srli_epi64(q.zp, 32);  // zp in every int64 lane (the zp register holds it per int32)
    q.rnd_even = _mm512_add_epi64(q.rnd_even, _mm512_sllv_epi64(zp64, q.rs_even));
    q.rnd_odd = _mm512_add_epi64(q.rnd_odd, _mm512_sllv_epi64(zp64, q.rs_odd));
    q.lo = _mm512_add_epi32(q.lo, q.zp), q.hi = _mm512_add_epi32(q.hi, q.zp);  // qmin, qmax
  }
}
inline Req16 req_common(const Out& o) {
  Req16 q;  // not value-initialized: zero-filling 10 zmm fields (rep stos) cost more than conv1's products
  q.c8 = o.c8, q.c32 = o.c32, q.ldc = o.ldc, q.s32 = o.rs_min >= 32 && o.rs_max <= 52;
  q.clamp_lo = o.lo + o.zp > 0, q.clamp_hi = o.hi + o.zp < 255;
  q.lo = _mm512_set1_epi32(o.lo), q.hi = _mm512_set1_epi32(o.hi), q.zp = _mm512_set1_epi32(o.zp);
  q.lo64 = _mm512_set1_epi64(o.lo), q.hi64 = _mm512_set1_epi64(o.hi);
  return q;
}
// Channels c … c+15, c a multiple of 16 (the arrays are padded, see Out).
inline Req16 req_columns(const Out& o, int64_t c) {
  Req16 q = req_common(o);
  if (!o.c8) return q;
  q.m0 = _mm512_loadu_si512(o.m0 + c), q.rs = _mm512_loadu_si512(o.rs + c);
  q.rnd_even = _mm512_loadu_si512(o.rnd_even + c / 2), q.rnd_odd = _mm512_loadu_si512(o.rnd_odd + c / 2);
  req_derive(q);
  return q;
}
// Channel c in every lane.
inline Req16 req_row(const Out& o, int64_t c) {
  Req16 q = req_common(o);
  if (!o.c8) return q;
  q.m0 = _mm512_set1_epi32(o.m0[c]), q.rs = _mm512_set1_epi32(o.rs[c]);
  q.rnd_even = q.rnd_odd = _mm512_set1_epi64(o.rnd[c]);
  req_derive(q);
  return q;
}

inline __m512i requant16(__m512i v, const Req16& q) {
  auto half = [&](__m512i prod, __m512i rnd, __m512i s) {
    __m512i x = _mm512_add_epi64(prod, rnd);
    x = _mm512_srav_epi64(x, s);
    return _mm512_min_epi64(_mm512_max_epi64(x, q.lo64), q.hi64);
  };
  const __m512i even = half(_mm512_mul_epi32(v, q.m0), q.rnd_even, q.rs_even);
  const __m512i odd = half(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), q.m0_odd), q.rnd_odd, q.rs_odd);
  const __m512i r = _mm512_mask_blend_epi32(__mmask16(0xAAAA), even, _mm512_slli_epi64(odd, 32));
  return _mm512_add_epi32(r, q.zp);
}

// 32 ≤ s ≤ 52: the high dword of x = v·m0 + rnd + zp·2^s, then a 32-bit shift
// (see requant8_s32 in core/qgemm_x86_256.inc for why this is exact):
// floor(x / 2^s) = floor((v·m0 + rnd) / 2^s) + zp, so the zero point costs no
// instruction (|v·m0| < 2^62, rnd < 2^51 + 2^30 and zp·2^s ≤ 255·2^52 keep
// |x| < 2^63). clamp(r, lo, hi) + zp = clamp(r + zp, qmin, qmax), and when
// [qmin, qmax] = [0, 255] the clamp is the packs' own saturation (packs_epi32
// to int16, then packus_epi16 to [0, 255]): every store of codes goes through
// them. 8 instructions per 16 outputs (12 with the clamps and the zero point
// added apart); the K = 288 products behind them are 72.
inline __m512i requant16_s32(__m512i v, const Req16& q) {
  const __m512i even = _mm512_add_epi64(_mm512_mul_epi32(v, q.m0), q.rnd_even);
  const __m512i odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), q.m0_odd), q.rnd_odd);
  __m512i r = _mm512_mask_blend_epi32(__mmask16(0xAAAA), _mm512_srli_epi64(even, 32), odd);
  r = _mm512_srav_epi32(r, q.rs_less32);
  if (q.clamp_lo) r = _mm512_max_epi32(r, q.lo);
  if (q.clamp_hi) r = _mm512_min_epi32(r, q.hi);
  return r;
}

// v (the bias included: tile() starts the sums at it), requantized: int32
// codes, in [qmin, qmax] once packed (see requant16_s32).
inline __m512i codes16(__m512i v, const Req16& q) {
  return q.s32 ? requant16_s32(v, q) : requant16(v, q);
}

// Four vectors of codes → 64 bytes in order (r0's 16, then r1's, …). The
// saturating packs keep every value (all are in [0, 255]) and interleave the
// 128-bit lanes; one dword permutation puts them back. Not vpmovdb to memory:
// on Zen 4 that store (what GCC makes of cvtepi32_epi8 + a masked store) took
// a fifth of conv1's time by itself.
inline __m512i pack_codes(__m512i r0, __m512i r1, __m512i r2, __m512i r3) {
  const __m512i u = _mm512_packus_epi16(_mm512_packs_epi32(r0, r1), _mm512_packs_epi32(r2, r3));
  return _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), u);
}

inline void store16(int64_t at, __m512i v, const Req16& q, int64_t valid) {
  const __mmask16 k = first(valid);
  if (q.c32) {
    _mm512_mask_storeu_epi32(q.c32 + at, k, v);
    return;
  }
  const __m512i r = codes16(v, q);
  _mm_mask_storeu_epi8(q.c8 + at, k, _mm512_castsi512_si128(pack_codes(r, r, r, r)));
}

// The broadcast operand: MR rows of ldr bytes from r, read in nseg segments of
// k4 K groups, segment s at r + s·rseg (one segment for a matrix; for a
// channels-last image read in place, one per kernel row kh: KW·C bytes each).
struct Rows {
  const uint8_t* r;
  int64_t ldr, k4, nseg, rseg;
};

// out[i][j] = bias + Σ_kk  R[i][4kk .. 4kk+3] · V[j][kk]   (vpdpbusd; the u8 operand is R if u8_is_r)
// R: Rows (4 bytes broadcast per K group); V[j][kk] at V + j·vj + kk·vk (64 bytes).
// bias: 16 channels per vector j at bias + 16j (u8_is_r: R's rows are pixels,
// V's lanes channels), else channel i's in every lane of row i. Starting the
// sums at it saves the epilogue an add per vector (int32 adds wrap, so the
// order does not matter).
// The accumulators are locals, stored to `out` once at the end (GCC 12
// otherwise spills or copies them every step, see core/qgemm_avx2.cpp).
template <int MR, int NV, bool u8_is_r>
inline void tile(const Rows& R, const uint8_t* V, int64_t vj, int64_t vk, const int32_t* bias, __m512i (&out)[MR][NV]) {
  static_assert(MR * NV <= 16, "more accumulators than GCC 12 keeps in registers");
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) acc[i][j] = u8_is_r ? _mm512_loadu_si512(bias + 16 * j) : _mm512_set1_epi32(bias[i]);
  for (int64_t s = 0; s < R.nseg; ++s) {
    const uint8_t* r = R.r + s * R.rseg;
    const uint8_t* vs = V + s * R.k4 * vk;
    for (int64_t kk = 0; kk < R.k4; ++kk) {
      __m512i v[NV];
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) v[j] = _mm512_loadu_si512(vs + j * vj + kk * vk);
#pragma GCC unroll 16
      for (int i = 0; i < MR; ++i) {
        int32_t quad;
        __builtin_memcpy(&quad, r + i * R.ldr + 4 * kk, 4);
        const __m512i b = _mm512_set1_epi32(quad);
#pragma GCC unroll 4
        for (int j = 0; j < NV; ++j)
          acc[i][j] = u8_is_r ? _mm512_dpbusd_epi32(acc[i][j], b, v[j]) : _mm512_dpbusd_epi32(acc[i][j], v[j], b);
      }
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) out[i][j] = acc[i][j];
}

// ---- xw and hwc: `rows` rows of R (buf [MB][kp] with zero rows past `rows`, or an
// image read in place) times every panel, stored at (m + i)·ldc + c.

// panels: [ceil(n/16)][kp/4][16][4] (w.panels with kp = w.kp, or w.panels_hwc with w.kp_hwc).
// q: the epilogue constants of panels p … p+NV−1 (PanelReqs).
template <int MR, int NV>
void rows_times_panels(const Rows& R, int64_t m, int64_t rows, int64_t p, const W& w, const int8_t* panels,
                       int64_t kp, const Out& o, bool ragged_ok, const Req16* q) {
  const uint8_t* V = reinterpret_cast<const uint8_t*>(panels) + p * kp * 16;
  const __mmask64 bytes = first64(w.n - p * 16);  // this group's valid channels (≤ 16·NV)
  // Dense codes: every channel of the group valid and, for 16 or 32 channels,
  // rows (pixels) ldc = 16·NV bytes apart (channels-last with n = 16·NV, conv1's
  // 32): then RPS consecutive rows are one 64-byte run — one pack and one plain
  // store per 64 codes, from accumulators indexed at compile time (the row loop
  // below, with its run-time bound, keeps them in memory): conv1 ~10% faster.
  constexpr int RPS = NV == 1 ? 4 : NV == 2 ? 2 : 1;
  const bool dense = NV != 3 && !o.c32 && w.n - p * 16 >= 16 * NV && (RPS == 1 || o.ldc == 16 * NV);
  auto put = [&](auto& acc, int64_t r, int64_t valid) {
    constexpr int rows_in_tile = int(sizeof(acc) / sizeof(acc[0]));
    if constexpr (rows_in_tile % RPS == 0)
      if (dense && valid == rows_in_tile) {
#pragma GCC unroll 16
        for (int i = 0; i < rows_in_tile; i += RPS) {
          __m512i c[4];
#pragma GCC unroll 4
          for (int u = 0; u < 4; ++u) c[u] = codes16(acc[i + u / NV][u % NV], q[u % NV]);
          _mm512_storeu_si512(q[0].c8 + (m + r + i) * q[0].ldc + p * 16, pack_codes(c[0], c[1], c[2], c[3]));
        }
        return;
      }
    for (int i = 0; i < rows_in_tile && i < valid; ++i) {
      const int64_t at = (m + r + i) * q[0].ldc + p * 16;
      if (q[0].c32) {
        for (int j = 0; j < NV; ++j) store16(at + 16 * j, acc[i][j], q[j], w.n - (p + j) * 16);
        continue;
      }
      __m512i c[4];  // one pixel's (row's) 16·NV channels, stored as one run of bytes
      for (int j = 0; j < 4; ++j) c[j] = j < NV ? codes16(acc[i][j < NV ? j : 0], q[j < NV ? j : 0]) : _mm512_setzero_si512();
      _mm512_mask_storeu_epi8(q[0].c8 + at, bytes, pack_codes(c[0], c[1], c[2], c[3]));
    }
  };
  Rows t = R;
  int64_t r = 0;
  // a ragged last tile of ≥ 3 rows computes zero rows (buf only: in place there are none to read)
  for (; r + MR <= rows || (ragged_ok && r < rows && rows - r > 2); r += MR) {
    __m512i acc[MR][NV];
    t.r = R.r + r * R.ldr;
    tile<MR, NV, true>(t, V, kp * 16, 64, o.bias + p * 16, acc);
    put(acc, r, min64(MR, rows - r));
  }
  // rows left over (batch 1, an image row's end: conv1's 26 = 3·8 + 2): 2-row tiles, then 1
  for (; r + 2 <= rows; r += 2) {
    __m512i acc[2][NV];
    t.r = R.r + r * R.ldr;
    tile<2, NV, true>(t, V, kp * 16, 64, o.bias + p * 16, acc);
    put(acc, r, 2);
  }
  for (; r < rows; ++r) {
    __m512i acc[1][NV];
    t.r = R.r + r * R.ldr;
    tile<1, NV, true>(t, V, kp * 16, 64, o.bias + p * 16, acc);
    put(acc, r, 1);
  }
}

// Every 16-channel panel's epilogue constants, built once per kernel call (an
// image, for the convolutions), not per block of ≤ 16 rows as they were: conv1
// (2 panels of 13 vectors each, 52 blocks per image) ~5% faster, conv2 ~1.5%
// (A/B medians, 1 thread). Up to 8 panels (128 channels) inline.
class PanelReqs {
 public:
  PanelReqs(const Out& o, int64_t n) : heap_((n + 15) / 16 > 8 ? new Req16[size_t((n + 15) / 16)] : nullptr) {
    Req16* q = data();
    for (int64_t p = 0; p < (n + 15) / 16; ++p) q[p] = req_columns(o, p * 16);
  }
  ~PanelReqs() { delete[] heap_; }
  PanelReqs(const PanelReqs&) = delete;
  PanelReqs& operator=(const PanelReqs&) = delete;
  Req16* data() { return heap_ ? heap_ : local_; }

 private:
  Req16* heap_;
  Req16 local_[8];
};

// The panels in groups of 4 (then 3, 2 or 1): 4×4, 4×3, 8×2, 16×1 tiles.
void block_times_panels(const Rows& R, int64_t m, int64_t rows, const W& w, const int8_t* panels, int64_t kp,
                        const Out& o, bool ragged_ok, PanelReqs& reqs) {
  const int64_t np16 = (w.n + 15) / 16;
  const Req16* q = reqs.data();
  for (int64_t p = 0; p < np16;) {
    const int64_t nv = min64(4, np16 - p);
    if (nv == 4) rows_times_panels<4, 4>(R, m, rows, p, w, panels, kp, o, ragged_ok, q + p);
    else if (nv == 3) rows_times_panels<4, 3>(R, m, rows, p, w, panels, kp, o, ragged_ok, q + p);
    else if (nv == 2) rows_times_panels<8, 2>(R, m, rows, p, w, panels, kp, o, ragged_ok, q + p);
    else rows_times_panels<16, 1>(R, m, rows, p, w, panels, kp, o, ragged_ok, q + p);
    p += nv;
  }
}

// A's rows m … m+valid−1 → buf (K padded with zeros, rows past `valid` zero).
void copy_rows(const uint8_t* A, int64_t lda, int64_t m, int64_t valid, const W& w, uint8_t* buf) {
  for (int i = 0; i < MB; ++i) {
    uint8_t* dst = buf + i * w.kp;
    int64_t k = 0;
    if (i < valid) {
      __builtin_memcpy(dst, A + (m + i) * lda, size_t(w.k));
      k = w.k;
    }
    for (; k < w.kp; ++k) dst[k] = 0;
  }
}

// Masked zmm moves were tried for the gathered blocks: clang 14 with ASan +
// UBSan crashes compiling them here ("Cannot emit physreg copy instruction"),
// and the gathered blocks are only the borders now.
#include "core/qgemm_hwc.inc"

// ---- wx: pixels packed per K group as 4 vectors, times weight rows.
//
// The packing interleaves 4 rows of X (K values 4kk … 4kk+3) so each int32
// lane holds one pixel's 4 bytes. Done with whole zmm rows of 64 pixels, the
// 8-bit and 16-bit unpacks work within 128-bit lanes, so vector A holds pixels
// {0–3, 16–19, 32–35, 48–51}, B the next 4 of each lane, then C, D: 8 unpacks
// per 256 bytes (a quarter of what 16-pixel xmm rows cost, which made packing
// as slow as the products). The products don't care about the order, and the
// epilogue's saturating packs (packs_epi32(A, B), packs_epi32(C, D), then
// packus_epi16) interleave lanes the same way, so its 64 codes come out in
// pixel order; int32 output untangles the lanes with four 128-bit shuffles.

// X rows of pixels [p, p + np) → buf, block b (64 pixels) at b·kp·64:
// [kp/4][4 vectors][64 bytes]. K outside, blocks inside: each row of X is read
// as one run of np bytes (strided 64-byte reads, row after row, stalled on memory).
void pack_pixels(const XSrc& X, int64_t p, int64_t np, const W& w, uint8_t* buf) {
  alignas(64) uint8_t tmp[4][64];
  for (int64_t kk = 0; kk < w.kp / 4; ++kk)
    for (int64_t b = 0; b * PB < np; ++b) {
      const int64_t q = p + b * PB, n = min64(PB, np - b * PB);
      const int64_t oy = X.conv ? q / X.OW : 0, ox = X.conv ? q % X.OW : 0;
      __m512i r[4];
      for (int t = 0; t < 4; ++t) {
        const int64_t k = 4 * kk + t;
        r[t] = k < w.k ? _mm512_maskz_loadu_epi8(first64(n), x_row(X, k, q, oy, ox, n, tmp[t])) : _mm512_setzero_si512();
      }
      const __m512i a = _mm512_unpacklo_epi8(r[0], r[1]), c = _mm512_unpackhi_epi8(r[0], r[1]);
      const __m512i e = _mm512_unpacklo_epi8(r[2], r[3]), f = _mm512_unpackhi_epi8(r[2], r[3]);
      uint8_t* dst = buf + b * w.kp * PB + kk * 256;
      _mm512_storeu_si512(dst, _mm512_unpacklo_epi16(a, e));
      _mm512_storeu_si512(dst + 64, _mm512_unpackhi_epi16(a, e));
      _mm512_storeu_si512(dst + 128, _mm512_unpacklo_epi16(c, f));
      _mm512_storeu_si512(dst + 192, _mm512_unpackhi_epi16(c, f));
    }
}

// Channels c … c+3 times the packed pixels [p, p + np), np ≤ 64.
void wx_tile(const uint8_t* buf, int64_t p, int64_t np, int64_t c, const W& w, const Out& o) {
  const __mmask64 bytes = first64(np);
  {
    __m512i acc[WX_MR][4];
    const Rows R{reinterpret_cast<const uint8_t*>(w.rows) + c * w.kp, w.kp, w.kp / 4, 1, 0};
    tile<WX_MR, 4, false>(R, buf, 64, 256, o.bias + c, acc);
    for (int i = 0; i < WX_MR && c + i < w.n; ++i) {
      const Req16 q = req_row(o, c + i);
      const int64_t at = (c + i) * q.ldc + p;
      if (q.c32) {  // lanes back in pixel order: vector v = lane v of A, B, C, D
        const __m512i* v = acc[i];
        const __m512i ab_lo = _mm512_shuffle_i32x4(v[0], v[1], 0x44), ab_hi = _mm512_shuffle_i32x4(v[0], v[1], 0xEE);
        const __m512i cd_lo = _mm512_shuffle_i32x4(v[2], v[3], 0x44), cd_hi = _mm512_shuffle_i32x4(v[2], v[3], 0xEE);
        const __m512i out[4] = {_mm512_shuffle_i32x4(ab_lo, cd_lo, 0x88), _mm512_shuffle_i32x4(ab_lo, cd_lo, 0xDD),
                                _mm512_shuffle_i32x4(ab_hi, cd_hi, 0x88), _mm512_shuffle_i32x4(ab_hi, cd_hi, 0xDD)};
        for (int j = 0; j < 4 && 16 * j < np; ++j) _mm512_mask_storeu_epi32(q.c32 + at + 16 * j, first(np - 16 * j), out[j]);
        continue;
      }
      const __m512i u = _mm512_packus_epi16(_mm512_packs_epi32(codes16(acc[i][0], q), codes16(acc[i][1], q)),
                                            _mm512_packs_epi32(codes16(acc[i][2], q), codes16(acc[i][3], q)));
      _mm512_mask_storeu_epi8(q.c8 + at, bytes, u);
    }
  }
}

}  // namespace

// When K is a multiple of 4 (no K padding to supply: fc1's 2304, conv2's 288)
// A's rows are read where they are, leftover rows in 2- and 1-row tiles (none
// past the last is read); copying each 16-row block first (a memcpy per row)
// took ~10% of the time at conv2's shape. Otherwise blocks are copied to buf,
// K zero-padded.
void xw_avx512vnni(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  PanelReqs reqs(o, w.n);
  if (w.k == w.kp) {
    for (int64_t m = m_lo; m < m_hi; m += MB) {
      const Rows R{A + m * lda, lda, w.kp / 4, 1, 0};
      block_times_panels(R, m, min64(MB, m_hi - m), w, w.panels, w.kp, o, false, reqs);
    }
    return;
  }
  uint8_t* buf = new uint8_t[size_t(MB * w.kp)];
  const Rows R{buf, w.kp, w.kp / 4, 1, 0};
  for (int64_t m = m_lo; m < m_hi; m += MB) {
    const int64_t rows = min64(MB, m_hi - m);
    copy_rows(A, lda, m, rows, w, buf);
    block_times_panels(R, m, rows, w, w.panels, w.kp, o, true, reqs);
  }
  delete[] buf;
}

// Pixels in blocks of ≤ MB that stay in one output row. A block whose window
// lies inside the image is read in place: rows are pixels ldr = stride·C bytes
// apart, one segment per kernel row (W·C bytes apart) of row/4 K groups — its
// KW·C bytes and, when KW·C is not a multiple of 4 (conv1: 3 taps of 1
// channel), the next bytes of the image up to `row`, against zero weights (a
// block whose last read would pass the image's end is gathered instead).
// Otherwise (padding) the block's im2col rows are gathered into buf.
void hwc_avx512vnni(int64_t p_lo, int64_t p_hi, const HwcSrc& X, const W& w, const Out& o) {
  const int64_t row = w.kp_hwc / X.KH;
  PanelReqs reqs(o, w.n);
  uint8_t* buf = new uint8_t[size_t(MB * w.kp_hwc)];
  const Rows B{buf, w.kp_hwc, w.kp_hwc / 4, 1, 0};
  for (HwcCursor at(X, p_lo); at.p < p_hi; at.next()) {
    const uint8_t* first = nullptr;
    if (at.block(X, row, p_hi, MB, &first)) {
      const Rows R{first, X.stride * X.C, row / 4, X.KH, X.W * X.C};
      block_times_panels(R, at.p, at.rows, w, w.panels_hwc, w.kp_hwc, o, false, reqs);
    } else {
      gather_rows(X, at.p, at.rows, MB, w.kp_hwc, buf);
      block_times_panels(B, at.p, at.rows, w, w.panels_hwc, w.kp_hwc, o, true, reqs);
    }
  }
  delete[] buf;
}

// Pixels in chunks of CH blocks of 64 (packed: CH·16·kp bytes, 72 KB at conv2's
// K = 288, in L2), channels 4 at a time over the whole chunk: the 4 weight rows
// stay in L1 while the packed pixels stream past them. (Channels inside, one
// 64-pixel block at a time, the block and all of conv2's weights — 18 + 18 KB —
// overflowed Zen 4's 32 KB L1: 205 GOP/s instead of 250+.)
void wx_avx512vnni(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) {
  constexpr int64_t CH = 16;
  uint8_t* buf = new uint8_t[size_t(CH * w.kp * PB)];
  for (int64_t p0 = p_lo; p0 < p_hi; p0 += CH * PB) {
    const int64_t blocks = min64(CH, (p_hi - p0 + PB - 1) / PB);
    pack_pixels(X, p0, min64(CH * PB, p_hi - p0), w, buf);
    for (int64_t c = 0; c < w.n; c += WX_MR)
      for (int64_t b = 0; b < blocks; ++b)
        wx_tile(buf + b * w.kp * PB, p0 + b * PB, min64(PB, p_hi - p0 - b * PB), c, w, o);
  }
  delete[] buf;
}

}  // namespace minidl::qkern
