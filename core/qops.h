// minidl/core/qops.h — the integer tensor ops quantized modules run on.
//
// Tensors at these boundaries are NCHW (images) or [N, K] (features), uint8
// activations with one (scale, zero_point) per tensor; the arithmetic and the
// rounding are those of core/qgemm.h (read its header first). No op here uses
// per-element float arithmetic except quantize/dequantize, the two ends of an
// integer-only network.
//
//   PackedWeights w1 = pack_weights(w_int8.data<int8_t>(), 32, 9, {32, 1, 3, 3});
//   Tensor q = quantize_per_tensor(x, s_x, z_x);                     // F32 -> U8
//   Tensor y = quantized_conv2d(q, z_x, w1, rq1, /*stride*/ 1, /*padding*/ 0);
//   Tensor p = quantized_avg_pool2d(y, rq1.zero_point, 4, 4);       // same (scale, zp)
//   Tensor z = quantized_linear(p.flatten(1), rq1.zero_point, wfc, rqfc);
//   Tensor logits = dequantize(z, s_z, rqfc.zero_point);             // U8 -> F32
#pragma once

#include <vector>

#include "core/qgemm.h"
#include "core/tensor.h"

namespace minidl {

// q = clamp(zero_point + nearbyint(x · (1/scale)), 0, qmax), as PyTorch's
// quantize_per_tensor for quint8 (qmax 255): the reciprocal is taken in float,
// the product is rounded half to even (the default FP rounding mode). NaN is an
// Error naming the element. scale > 0, zero_point ∈ [0, qmax], qmax ≤ 255
// (127: 7-bit codes, see compress QConfig::clamp_to_range).
Tensor quantize_per_tensor(const Tensor& x, float scale, int32_t zero_point, int32_t qmax = 255);
// real = scale · (q − zero_point), float.
Tensor dequantize(const Tensor& q, float scale, int32_t zero_point);
// Int32 accumulators (from the _s32 ops) → float: real = scale[c] · acc, c the
// index along dim 1 ([N, C] or [N, C, H, W]); scale has C entries or one.
Tensor dequantize_accumulator(const Tensor& acc, const std::vector<float>& scale);

// x: UInt8 [N, C, H, W] with zero point x_zp; w packed from [Cout, C, KH, KW]
// (pack_weights with that shape). Returns UInt8 [N, Cout, Ho, Wo],
// Ho = (H + 2p − KH)/stride + 1. The window reads the input's zero point where
// it falls in the padding (real 0, the same as fp32 zero padding), not 0.
// Implicit GEMM (qconv_image_u8): the im2col matrix is never written out.
// layout: either side channels-last, an [N, H, W, C] tensor (what a chain of
// convolutions hands on when the path in use computes them so, see
// qconv_prefers_channels_last(): no transposes between them). Same codes every way.
struct ConvLayout {
  bool input_channels_last = false, output_channels_last = false;
};
Tensor quantized_conv2d(const Tensor& x, int32_t x_zp, const PackedWeights& w, const Requant& rq, int stride = 1,
                        int padding = 0, ConvLayout layout = {});
// Same, int32 accumulators bias[n] + Σ (x − x_zp)·w (bias: [Cout] or empty).
Tensor quantized_conv2d_s32(const Tensor& x, int32_t x_zp, const PackedWeights& w,
                            const std::vector<int32_t>& bias, int stride = 1, int padding = 0);

// x: UInt8 [N, K]; w packed from [out, K]. Returns UInt8 [N, out].
Tensor quantized_linear(const Tensor& x, int32_t x_zp, const PackedWeights& w, const Requant& rq);
// Int32 [N, out] = bias + Σ (x − x_zp)·w, for a last layer dequantized from int32.
Tensor quantized_linear_s32(const Tensor& x, int32_t x_zp, const PackedWeights& w,
                            const std::vector<int32_t>& bias);

// Average pooling on codes, no padding, output keeps the input's (scale, zp):
//   out = clamp(zp + rdiv(Σ_window (q − zp), kernel²), 0, 255)
// rdiv = integer division rounded half to even — exactly what PyTorch's
// quantized avg_pool2d gives when scale_out = scale_in (it multiplies by the
// float 1/kernel², exact for power-of-two windows such as the seed's 4×4,
// and rounds half to even). The window sum and the division are integer.
Tensor quantized_avg_pool2d(const Tensor& x, int32_t zero_point, int kernel, int stride);

// quantized_avg_pool2d(quantized_conv2d(x, …), rq.zero_point, pool_kernel, pool_stride), bit
// for bit, one image at a time: the convolution's codes are pooled while they are in cache
// and never written out (the seed CNN's conv2: 36.9 KB per image → 2.3 KB).
// The pooled output is NCHW; the input may be channels-last.
Tensor quantized_conv2d_avg_pool2d(const Tensor& x, int32_t x_zp, const PackedWeights& w, const Requant& rq,
                                   int stride, int padding, int pool_kernel, int pool_stride,
                                   bool input_channels_last = false);

}  // namespace minidl
