// minidl/core/qgemm_kernels.h — the interface between core/qgemm.cpp (checks,
// packing, threads, dispatch) and the per-ISA kernel files
// core/qgemm_{generic,avx2,avx2_u7,avxvnni,avx512vnni}.cpp.
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
  const int16_t* panels16;  // [ceil(n/8)][kp/2][8][2]
  const int16_t* tiles16;   // [n16/4][kp/2][4][2]
  const int8_t* panels_hwc; // [ceil(n/16)][kp_hwc/4][16][4], K in (kh, kw, c) order, each kernel
  int64_t kp_hwc;           // row padded to 4 (conv weights only, else null / 0; see PackedWeights)
  const int16_t* panels16_hwc;  // [ceil(n/8)][kp_hwc/2][8][2], the same K order widened (AVX2)
};

// Where results go and the epilogue, per output channel c ∈ [0, n):
//   v = bias[c] + Σ a·w          (bias already holds b[c] − z_a·colsum[c])
//   c32: store v; c8: store clamp(((v·m0[c] + rnd[c]) >> rs[c]), lo, hi) + zp
// with rnd[c] = requant_offset() of core/qgemm.h (2^(rs[c]−1) + the bias fraction's share)
// with lo = qmin − zp, hi = qmax − zp (the clamp before adding zp is the same
// clamp, and keeps every step in range).
struct Out {
  int32_t* c32;          // either this ...
  uint8_t* c8;           // ... or this
  int64_t ldc;
  const int32_t* bias;   // [n], readable up to n rounded up to 64
  const int32_t* m0;     // [n]  (c8 only; same padding)
  const int32_t* rs;     // [n]  total right shift 31 + shift, 1..62
  const int64_t* rnd;    // [n]  rounding offset (c8 only; same padding)
  const int64_t* rnd_even, *rnd_odd;  // [n/2] rnd[2i], rnd[2i + 1]: 16 channels' offsets in two loads
  int32_t lo, hi, zp;
  int32_t rs_min;        // min over channels of rs: ≥ 32 (every M < 1/2) allows the 32-bit epilogue
  int32_t rs_max;        // max over channels of rs (AVX-512: ≤ 52 lets the 32-bit epilogue fold zp into rnd)
};

// The wx operand X [k][p]: a plain matrix, or — conv = true — the im2col
// matrix of one image read in place (implicit GEMM): X[k][p] =
// x[c][oy·s + kh − pad][ox·s + kw − pad] (zp outside the image) with
// k = (c·KH + kh)·KW + kw, p = oy·OW + ox; koff/kh/kw are per-k tables
// (c·H·W + kh·W + kw, kh, kw) so the kernels never divide by k.
struct XSrc {
  const uint8_t* p;
  int64_t ld;  // plain: row stride
  bool conv;
  int64_t H, W, OW, stride, pad;
  uint8_t zp;
  const int32_t* koff;
  const int32_t* kh;
  const int32_t* kw;
};

// The "hwc" operand: one NHWC (channels-last) image x [H][W][C]; output pixel
// p = oy·OW + ox has the im2col row A[p][k] = x[oy·s + kh − pad][ox·s + kw − pad][c]
// (zp outside the image), k = kh·round_up(KW·C, 4) + kw·C + c (the pad K values,
// against zero weights, are whatever follows the kernel row in memory, or 0).
struct HwcSrc {
  const uint8_t* x;
  int64_t C, H, W, OW, KH, KW, stride, pad;
  uint8_t zp;
};

// The n ≤ 64 bytes X[k][p .. p+n): a pointer into the operand when they lie
// contiguous in memory, else gathered into tmp. (oy, ox): pixel p's output
// position (conv only). Static: each kernel file gets its own copy, compiled
// with its own flags (see the ODR note above).
static inline const uint8_t* x_row(const XSrc& x, int64_t k, int64_t p, int64_t oy, int64_t ox, int64_t n,
                                   uint8_t* tmp) {
  if (!x.conv) return x.p + k * x.ld + p;
  if (x.stride == 1 && x.pad == 0) {  // runs of whole output rows, contiguous in the image
    const uint8_t* base = x.p + x.koff[k];
    if (ox + n <= x.OW) return base + oy * x.W + ox;
    for (int64_t t = 0; t < n; ++oy, ox = 0)
      for (const uint8_t* src = base + oy * x.W; ox < x.OW && t < n; ++ox) tmp[t++] = src[ox];
    return tmp;
  }
  const int64_t plane = x.koff[k] - x.kh[k] * x.W - x.kw[k];
  for (int64_t t = 0; t < n; ++t) {
    const int64_t iy = oy * x.stride + x.kh[k] - x.pad, ix = ox * x.stride + x.kw[k] - x.pad;
    tmp[t] = iy < 0 || iy >= x.H || ix < 0 || ix >= x.W ? x.zp : x.p[plane + iy * x.W + ix];
    if (++ox == x.OW) ox = 0, ++oy;
  }
  return tmp;
}

// "xw" (linear): C[m][c] for m ∈ [m_lo, m_hi), all c; A uint8 rows of k bytes (lda).
// "wx" (conv):   C[c][p] for p ∈ [p_lo, p_hi), all c; X uint8 [k][p] (see XSrc).
// The caller splits [0, M) / [0, P) between threads; a kernel never reads
// outside the rows/columns it was given (no over-read past k either).
using XwFn = void (*)(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o);
using WxFn = void (*)(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o);
// "hwc" (conv, channels last): C[p][c] for p ∈ [p_lo, p_hi), all c (o.ldc = n:
// NHWC out); core/qgemm.cpp transposes in and out where a side is planar.
using HwcFn = void (*)(int64_t p_lo, int64_t p_hi, const HwcSrc& X, const W& w, const Out& o);

void xw_generic(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_generic(int64_t, int64_t, const XSrc&, const W&, const Out&);
void xw_avx2(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avx2(int64_t, int64_t, const XSrc&, const W&, const Out&);
void hwc_avx2(int64_t, int64_t, const HwcSrc&, const W&, const Out&);
void xw_avx2_u7(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);  // activations < 128 only
void wx_avx2_u7(int64_t, int64_t, const XSrc&, const W&, const Out&);
void hwc_avx2_u7(int64_t, int64_t, const HwcSrc&, const W&, const Out&);
void xw_avxvnni(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avxvnni(int64_t, int64_t, const XSrc&, const W&, const Out&);
void hwc_avxvnni(int64_t, int64_t, const HwcSrc&, const W&, const Out&);
void xw_avx512vnni(int64_t, int64_t, const uint8_t*, int64_t, const W&, const Out&);
void wx_avx512vnni(int64_t, int64_t, const XSrc&, const W&, const Out&);
void hwc_avx512vnni(int64_t, int64_t, const HwcSrc&, const W&, const Out&);
// d[j][i] = s[i][j] for a rows × cols byte matrix (row strides lds, ldd).
void transpose_u8_avx512(const uint8_t* s, int64_t rows, int64_t cols, int64_t lds, uint8_t* d, int64_t ldd);
void transpose_s32_avx512(const int32_t* s, int64_t rows, int64_t cols, int64_t lds, int32_t* d, int64_t ldd);
// Average pooling of a channels-last image into [OH·OW][C] codes (power-of-two window
// area; the AVX2 one for windows up to 8×8, core/qops_avx2.cpp).
void pool_cl_avx512(const uint8_t* y, int64_t W, int64_t C, int32_t zp, int k, int s, int log2_2d, int64_t OH,
                    int64_t OW, uint8_t* out);
void pool_cl_avx2(const uint8_t* y, int64_t W, int64_t C, int32_t zp, int k, int s, int log2_2d, int64_t OH,
                  int64_t OW, uint8_t* out);

// Tests only: run this pair instead of the ISA's kernels (null: back to dispatch).
// hwc: the convolutions' channels-last kernel (null: they run wx, planar).
void set_kernels_for_testing(XwFn xw, WxFn wx, HwcFn hwc = nullptr);

// What a thread's share of rows (xw) or pixels (wx, hwc) is rounded to, so
// threads meet at tile boundaries (kernels handle any range; this is speed):
// rows: MR = 4, 8 or 16; pixels: the 256-bit paths' 16-, 24- and 48-pixel
// blocks, AVX-512's 64-pixel wx blocks and 16-pixel hwc blocks.
constexpr int64_t kRowAlign = 16;
constexpr int64_t kPixelAlign = 48;
constexpr int64_t kPixelAlign512 = 64;
constexpr int64_t kHwcAlign = 16;

}  // namespace minidl::qkern
