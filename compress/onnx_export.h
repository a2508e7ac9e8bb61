// minidl/compress/onnx_export.h — int8 models (compress::convert, load_quantized) as ONNX.
//
//   auto q = compress::load_quantized("seed_cnn_int8.safetensors");
//   compress::export_onnx(*q, "seed_cnn_int8.onnx", {1, 1, 28, 28});
//
// nn::export_onnx (nn/onnx_export.h) with an exporter for the modules of
// compress/quantized_modules.h; float layers are exported as nn::export_onnx does. Standard
// ai.onnx operators only (opset 13); uint8 activations; the int8 weights, int32 biases and
// scales as initializers:
//
//   Quantize             QuantizeLinear(x, s, z)                       float → uint8
//   QuantizedConv2d      QLinearConv(x, s_x, z_x, W, s_w[Cout], 128[Cout], s_y, z_y, b int32)
//   QuantizedLinear      Reshape [N, K] → [N, K, 1, 1], QLinearConv with W [out, K, 1, 1],
//                        Flatten → [N, out]
//   fused ReLU           nothing when z_y = 0 (QLinearConv saturates at 0 = z_y, which is the
//                        ReLU of a calibrated model: its observer saw no negatives); else
//                        Clip(y, z_y) on the codes
//   QuantizedAvgPool2d   DequantizeLinear(q, 1, z) → AveragePool → QuantizeLinear(·, 1, z)
//   QuantizedFlatten     Flatten (axis 1) of the codes
//   Dequantize           DequantizeLinear(q, s, z)                     uint8 → float
// Per-channel weight scales stay per channel (s_w is 1-D, axis 0); per-tensor ones are scalars.
//
// Why these and not others.
//   - Weights are stored as uint8 codes w + 128 with zero point 128: the same real values
//     s_w·(w_u − 128) and the same integer accumulator. With int8 weights, ONNX Runtime's CPU
//     kernels on AVX2 without VNNI (e.g. AMD Zen 3) multiply uint8 × int8 with vpmaddubsw,
//     which saturates the int16 sum of two products (255·127·2 > 32767) — the "saturation
//     issue" of its quantization docs, which advise 7-bit weights (reduce_range) or U8U8. Measured
//     here: int8 weights gave logits up to 28 steps off and 1.3–3.2% of the predicted classes
//     changed; uint8 weights take its u8u8 kernels, which widen to int16 first, and agree.
//   - QLinearMatMul has no bias input: adding minidl's int32 bias after requantizing would
//     round twice, so a linear layer is a 1×1 QLinearConv, whose int32 accumulator
//     b + Σ (x − z_x)·w is exactly minidl's.
//   - Average pooling has no QLinear operator in the standard domain. Pooling the codes in
//     float with scale 1 gives minidl's integer zp + rdiv_half_even(Σ (q − zp), k²) bit for
//     bit: q − zp is exact, the window sum of integers ≤ 255·k² and its division by k² are
//     exact for power-of-two windows (the seed CNN's 4×4) and correctly rounded otherwise, and
//     QuantizeLinear rounds half to even. DQ(s) → AveragePool → Q(s) with the real scale
//     would round the ties (1 window in 16 for 4×4) either way.
//
// What differs from minidl, and by how much (tests/parity/onnx_export_parity.py measures it):
//   - requantization: minidl rounds acc·M once in fixed point (Q31 multiplier M, ties up,
//     core/qgemm.h); QLinearConv multiplies in float (M = s_x·s_w/s_y in float32, 24 bits)
//     and rounds half to even, so a code can differ by one step when acc·M is within ~1e-5
//     of a half-integer;
//   - QuantizeLinear divides x / s where minidl (as PyTorch) multiplies x · (1/s): the two
//     can round to neighbouring codes when x/s is within an ulp of a half-integer.
// Measured (ONNX Runtime 1.30, bench/README.md "ONNX export"): on the trained seed CNNs, 7 and
// 2 of 100,000 logits one step off (10,000 test images), none more, identical classes.
#pragma once

#include <string>

#include "nn/onnx_export.h"

namespace minidl::compress {

// The exporter of the int8 modules, for nn::OnnxExportOptions::exporters.
nn::OnnxLayerExporter quantized_onnx_exporter();

// nn::export_onnx with quantized_onnx_exporter() first in options.exporters: float and int8
// models alike.
void export_onnx(nn::Module& model, const std::string& path, const Shape& example_input_shape,
                 nn::OnnxExportOptions options = {});
std::string to_onnx(nn::Module& model, const Shape& example_input_shape, nn::OnnxExportOptions options = {});

}  // namespace minidl::compress
