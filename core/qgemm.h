// minidl/core/qgemm.h — int8 GEMM: uint8 activations × int8 weights → int32 or
// requantized uint8, the arithmetic of Jacob et al. 2018 ("Quantization and
// Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference",
// the gemmlowp/TFLite scheme, also PyTorch's fbgemm/onednn and ONNX QLinear*).
//
// ---- The scheme (what the numbers mean)
//   real = scale · (q − zero_point)
// Activations: uint8 a, one (s_a, z_a) per tensor. Weights: int8 w, symmetric
// (z_w = 0, values in [−127, 127]), one s_w[n] per output channel n. Bias:
// int32 b[n] in units of s_a·s_w[n] (optionally with the fraction that rounding
// the real bias to int32 dropped, Requant::bias_frac, which only moves the
// rounding point of the requantization). Then for one output y[m][n]:
//   real_y = s_a·s_w[n] · (b[n] + Σ_k (a[m][k] − z_a)·w[n][k])
// and because z_w = 0 the zero-point algebra is one term (gemmlowp's
// doc/low-precision.md has the general four-term form):
//   Σ_k (a − z_a)·w = Σ_k a·w − z_a·Σ_k w[n][k]
// The kernels run Σ a·w on the raw bytes and subtract z_a·colsum[n], with
// colsum[n] = Σ_k w[n][k] computed once by pack_weights — one multiply-add per
// output, never a pass over the data.
//
// Accumulators are int32. |Σ (a − z_a)·w| ≤ 255·127·K, which fits for
// K ≤ 65536 (checked). With the bias added the int32 sum is taken modulo 2^32
// (two's complement wrap, as every int32 GEMM does); every ISA path gives the
// same bits because integer addition is associative.
//
// ---- Requantization to the next layer's uint8 (fixed point, no float)
//   q_y = clamp(z_y + round(acc · M), qmin, qmax),   M = s_a·s_w[n] / s_y
// M is a real number; quantize_multiplier() writes it as
//   M ≈ m0 · 2^(−31 − shift),   m0 an int32 in [2^30, 2^31) (Q31: m0 / 2^31 ∈ [0.5, 1))
// and requantize() applies it with ONE rounding, in 64-bit integers:
//   s = 31 + shift                          (total right shift, 1 ≤ s ≤ 62)
//   r = (int64(acc) · m0 + 2^(s−1)) >> s    (arithmetic shift: floor)
//   q = clamp(r + z_y, qmin, qmax)          (computed in int64, cannot overflow)
// i.e. round half up (ties toward +∞) of the exact product acc·m0/2^s. Why this
// and not gemmlowp's SaturatingRoundingDoublingHighMul followed by
// RoundingDivideByPOT: that is two roundings (the high-mul rounds to 31 bits,
// the shift rounds again), which can land one step off the correctly rounded
// value; here the int64 product is exact and is rounded once. Ties need
// acc·m0 to be an odd multiple of 2^(s−1) — essentially only for multipliers
// that are short binary fractions — and cost one add + shift in SIMD, where a
// sign-dependent tie rule would cost a compare and a blend. (PyTorch's fbgemm
// multiplies by a float M and rounds half to even; its float M has 24 bits
// against m0's 31, so outputs may differ from PyTorch's by one step in rare
// cases — the quantization parity tolerance covers that.)
// ReLU is folded into the clamp: qmin = z_y (the code of real 0), qmax = 255.
// M may be ≥ 1 (shift < 0) up to 2^30; tiny M (s > 62) keeps s = 62 with a
// denormal m0 = round(M·2^62), possibly 0 (then every output is z_y).
//
// ---- Weights and layouts (who owns what)
// pack_weights() copies an int8 weight matrix W[N][K] (row-major; a conv
// weight [Cout, C, KH, KW] is W[Cout][C·KH·KW]) into the layouts the kernels
// read — done once, at `convert` time — and owns that memory. The caller keeps
// nothing alive. Activations A[M][K] (row stride lda) and outputs C[M][N]
// (row stride ldc) are the caller's; the kernels do not keep pointers.
//
// ---- Paths (ISA) and threads
// The fast kernels (core/qgemm_*.cpp, each compiled with its own target flags)
// are chosen at run time by CPUID: avx512vnni (512-bit vpdpbusd), avxvnni
// (256-bit vpdpbusd), avx2, generic (portable C++). The avx2 path picks one of
// two kernels per call from the data: vpmaddubsw when every activation byte is
// below 128 (7-bit activations, e.g. a reduce_range model: exact, since
// 2·127·128 fits in int16) and vpmaddwd on operands widened to int16 otherwise
// (vpmaddubsw would saturate: 2·255·127 > 32,767); see all_below_128.
// MINIDL_ISA=<name> in the environment, or set_qgemm_isa(), forces a path; a
// path the CPU lacks is an Error.
// Every path is bit-identical to the reference loops below (tests/test_qgemm.cpp).
// A GEMM splits its rows over minidl's threads (core/parallel.h); integer
// results do not depend on the split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace minidl {

// ---- requantization
struct QuantMultiplier {
  int32_t m0 = 0;  // Q31 mantissa
  int shift = 0;   // M ≈ m0 · 2^(−31 − shift); 31 + shift ∈ [1, 62]
  double value() const;  // the multiplier this represents
};

// M must be finite and in (0, 2^30); an Error names the value otherwise.
QuantMultiplier quantize_multiplier(double M);

// The rounding offset added to acc·m0 before the shift: 2^(s−1) (round half
// up), plus the bias fraction's share round(f·m0) when the bias carries one
// (Requant::bias_frac: f = frac_q31 / 2^31 of an accumulator unit, |f| ≤ 1/2).
// Then (acc·m0 + offset) >> s = round((acc + f)·m0 / 2^s): the bias enters the
// rounding with 31 more bits than its int32 part, still integers only.
inline int64_t requant_offset(QuantMultiplier m, int32_t frac_q31 = 0) {
  return (int64_t(1) << (30 + m.shift)) + ((int64_t(frac_q31) * m.m0 + (int64_t(1) << 30)) >> 31);
}

// The one rounding rule, see the header comment. qmin ≤ qmax.
inline int32_t requantize(int32_t acc, QuantMultiplier m, int32_t zero_point, int32_t qmin, int32_t qmax,
                          int32_t frac_q31 = 0) {
  const int s = 31 + m.shift;
  const int64_t r = (int64_t(acc) * m.m0 + requant_offset(m, frac_q31)) >> s;
  const int64_t q = r + zero_point;
  return int32_t(q < qmin ? qmin : q > qmax ? qmax : q);
}

// The epilogue of a requantizing GEMM: per output channel n,
//   C[m][n] = requantize(b[n] + Σ_k (A[m][k] − z_a)·W[n][k], mult[n], zero_point, qmin, qmax)
struct Requant {
  std::vector<int32_t> bias;                // [N] or empty (no bias)
  // [N] or empty: the fraction f[n] the int32 bias rounded away, in Q31
  // (f·2^31, |f| ≤ 1/2 so |value| ≤ 2^30), applied in the rounding offset (see
  // requant_offset). Empty is the scheme of Jacob et al., ONNX QLinearConv and
  // TFLite (bias rounded to int32); with it the result is round((acc + b_real /
  // (s_a·s_w))·M), what PyTorch's fbgemm/onednn compute with their float bias.
  std::vector<int32_t> bias_frac;
  std::vector<QuantMultiplier> multiplier;  // [N] (per channel) or [1] (per tensor)
  int32_t zero_point = 0;                   // of the output
  int32_t qmin = 0, qmax = 255;             // ReLU: qmin = zero_point
};

// ---- weights, packed once
struct PackedWeights {
  int64_t n = 0, k = 0;            // W is [n][k]
  std::vector<int64_t> shape;      // the weight's own shape ([n, k] or [Cout, C, KH, KW])
  std::vector<int32_t> col_sums;   // Σ_k W[n][k], for the activation zero point
  // The kernels' layouts (private to core/qgemm*.cpp; K padded with zeros):
  int64_t kp = 0;                  // K rounded up to a multiple of 4
  std::vector<int8_t> rows;        // [n16][kp], n16 = n rounded up to 16 (zero rows)
  std::vector<int8_t> panels;      // [ceil(n/16)][kp/4][16][4]   (VNNI: 4 K values per int32 lane)
  std::vector<int16_t> panels16;   // [ceil(n/8)][kp/2][8][2]      (AVX2: 2 K values per int32 lane)
  std::vector<int16_t> tiles16;    // [n16/4][kp/2][4][2]          (AVX2 conv: 4 channels interleaved)
  // 4-D shapes (conv weights [Cout, C, KH, KW]), for channels-last images: panels with K in
  // (kh, kw, c) order, each kernel row's KW·C values padded with zeros to a multiple of 4
  // (so a K group never straddles two kernel rows), kp_hwc = KH · round_up(KW·C, 4)
  int64_t kp_hwc = 0;
  std::vector<int8_t> panels_hwc;      // [ceil(n/16)][kp_hwc/4][16][4]
  std::vector<int16_t> panels16_hwc;   // [ceil(n/8)][kp_hwc/2][8][2]  (AVX2, widened)
};

// W: int8, row-major [n][k], 1 ≤ n, 1 ≤ k ≤ 65536. `shape` (optional) is
// recorded as the weight's shape; its product must be n·k.
PackedWeights pack_weights(const int8_t* w, int64_t n, int64_t k, std::vector<int64_t> shape = {});

// ---- GEMMs. A: uint8 [M][K] with row stride lda ≥ K, zero point a_zp ∈ [0, 255].
// C[m][n] = bias[n] + Σ_k (A[m][k] − a_zp)·W[n][k]   (bias may be null)
void qgemm_u8s8s32(int64_t M, const uint8_t* A, int64_t lda, int32_t a_zp, const PackedWeights& W,
                   const int32_t* bias, int32_t* C, int64_t ldc);
// C[m][n] = requantize(...) as uint8, see Requant.
void qgemm_u8s8u8(int64_t M, const uint8_t* A, int64_t lda, int32_t a_zp, const PackedWeights& W,
                  const Requant& rq, uint8_t* C, int64_t ldc);

// The transposed product a convolution wants (output channels as rows, so the
// result is NCHW): C[n][p] = epilogue(Σ_k W[n][k]·(X[k][p] − x_zp)), X uint8
// [K][P] with row stride ldx. Used by quantized_conv2d (core/qops.h).
void qgemm_wx_u8(int64_t P, const uint8_t* X, int64_t ldx, int32_t x_zp, const PackedWeights& W,
                 const Requant& rq, uint8_t* C, int64_t ldc);
void qgemm_wx_s32(int64_t P, const uint8_t* X, int64_t ldx, int32_t x_zp, const PackedWeights& W,
                  const int32_t* bias, int32_t* C, int64_t ldc);

// The convolution of one image as an implicit GEMM: the product above with X
// the im2col matrix of x [C][H][W] (uint8, zero point x_zp, which also fills
// the padding), never written out: the x86 paths transpose the image to NHWC
// (unless it is so already, see below) and read each output pixel's im2col row
// in place (channels-last direct convolution, the hwc kernels of
// core/qgemm_avx512vnni.cpp, qgemm_dp4_256.inc, qgemm_avx2.cpp); the generic
// path reads it in its packing step. w packed with shape [Cout, C, KH, KW];
// out is [Cout][OH·OW] (NCHW), OH = (H + 2·padding − KH)/stride + 1.
void qconv_image_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, int stride, int padding, int32_t x_zp,
                    const PackedWeights& w, const Requant& rq, uint8_t* out);
// The same with either side channels-last: x [H][W][C] if in_cl, out [OH·OW][Cout] if
// out_cl. The x86 paths compute convolutions channels-last natively (direct
// convolution on NHWC codes, the hwc kernels); the portable one transposes around
// its planar kernel, and each transposes where a side is planar. Same bits every way.
void qconv_image_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, int stride, int padding, int32_t x_zp,
                    const PackedWeights& w, const Requant& rq, uint8_t* out, bool in_cl, bool out_cl);
// True when the path in use runs convolutions channels-last (every x86 path: avx512vnni,
// avxvnni, avx2).
bool qconv_prefers_channels_last();
void qconv_image_s32(const uint8_t* x, int64_t C, int64_t H, int64_t W, int stride, int padding, int32_t x_zp,
                     const PackedWeights& w, const int32_t* bias, int32_t* out);

// ---- the reference loops: the definition every fast path is tested against
// (plain int64 loops over the unpacked W [n][k], row stride ldw).
void qgemm_reference_s32(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda, int32_t a_zp,
                         const int8_t* W, int64_t ldw, const int32_t* bias, int32_t* C, int64_t ldc);
void qgemm_reference_u8(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda, int32_t a_zp,
                        const int8_t* W, int64_t ldw, const Requant& rq, uint8_t* C, int64_t ldc);

// ---- paths
enum class QIsa { Generic, Avx2, AvxVnni, Avx512Vnni };
const char* qisa_name(QIsa isa);            // "generic", "avx2", "avxvnni", "avx512vnni"
QIsa parse_qisa(const std::string& name);   // Error listing the allowed names
bool qisa_supported(QIsa isa);              // by this CPU (CPUID + OS register state)
QIsa qgemm_best_isa();                      // the fastest supported path
// The path in use: MINIDL_ISA if set (read on first use), else the best one.
QIsa qgemm_isa();
// Force a path (Error if unsupported). Process-wide; not for use while GEMMs run.
void set_qgemm_isa(QIsa isa);

// True when every byte of the rows × cols block at p (row stride ld) is < 128:
// the test the avx2 path makes on each call's activations (for a padded
// convolution, also on its zero point) before using vpmaddubsw.
bool all_below_128(const uint8_t* p, int64_t rows, int64_t cols, int64_t ld);

// Checks shared by the entry points (an Error naming the argument otherwise).
void check_requant(const Requant& rq, int64_t n, const char* who);

}  // namespace minidl
