// minidl/compress/onnx_export.cpp — see onnx_export.h.
#include "compress/onnx_export.h"

#include "compress/quantized_modules.h"
#include "nn/checkpoint.h"

namespace minidl::compress {

using nn::OnnxGraph;
using nn::OnnxLayer;
using nn::onnx::Attribute;

namespace {

float f32_of(nn::Module& m, const char* name) { return m.buffer(name).data<float>()[0]; }
uint8_t u8_of(nn::Module& m, const char* name) {
  const int32_t z = m.buffer(name).data<int32_t>()[0];
  MINIDL_CHECK(z >= 0 && z <= 255, "export_onnx: ", m.label(), ": ", name, " ", z, " is not in [0, 255]");
  return uint8_t(z);
}

// (scale, zero point) initializers of a per-tensor quantized value.
std::pair<std::string, std::string> qparams(OnnxGraph& g, const std::string& stem, float s, uint8_t z) {
  return {g.scalar_f32(stem + "_scale", s), g.scalar_u8(stem + "_zero_point", z)};
}

// The int8 weights w as uint8 codes w + 128 (zero point 128): the same real values and the
// same integer accumulator Σ (x − z_x)·((w + 128) − 128), see the header for why.
Tensor as_uint8(const Tensor& w) {
  Tensor u = Tensor::empty(w.shape(), DType::UInt8);
  const int8_t* pw = w.data<int8_t>();
  uint8_t* pu = u.data<uint8_t>();
  for (int64_t i = 0; i < w.numel(); ++i) pu[i] = uint8_t(int32_t(pw[i]) + 128);
  return u;
}

// QLinearConv of a QuantizedConv2d, or of a QuantizedLinear as a 1×1 convolution (x: [N, K, 1, 1]).
std::string qlinear_conv(OnnxGraph& g, const OnnxLayer& l, QuantizedWeighted& q, const std::string& x, int64_t stride,
                         int64_t pad) {
  MINIDL_CHECK(!q.has_bias_fraction(), "export_onnx: layer '", l.path,
               "' keeps a bias fraction (QConfig::bias_fraction); QLinearConv's bias is int32 only, so the exported "
               "model would compute other numbers. Convert with bias_fraction off to export.");
  const Tensor& w = q.buffer("weight");
  std::vector<int64_t> wdims(w.shape().begin(), w.shape().end());
  while (wdims.size() < 4) wdims.push_back(1);
  const Tensor& ws = q.buffer("weight_scale");
  const bool per_channel = ws.numel() > 1;
  const std::vector<int64_t> sdims = per_channel ? std::vector<int64_t>{ws.numel()} : std::vector<int64_t>{};
  const auto [xs, xz] = qparams(g, l.path + ".input", q.input_scale(), u8_of(q, "input_zero_point"));
  const auto [ys, yz] = qparams(g, l.path + ".output", q.output_scale(), u8_of(q, "zero_point"));
  std::vector<std::string> in = {x, xs, xz, g.initializer(l.path + ".weight", as_uint8(w), wdims),
                                 g.initializer(l.path + ".weight_scale", ws, sdims),
                                 g.initializer(l.path + ".weight_zero_point", Tensor::from_vector(std::vector<uint8_t>(size_t(ws.numel()), 128), {ws.numel()}), sdims),
                                 ys, yz, g.initializer(l.path + ".bias", q.buffer("bias"))};
  std::string y = g.node("QLinearConv", in, l.path,
                         {Attribute::of("kernel_shape", std::vector<int64_t>{wdims[2], wdims[3]}),
                          Attribute::of("strides", std::vector<int64_t>{stride, stride}),
                          Attribute::of("pads", std::vector<int64_t>{pad, pad, pad, pad})});
  const uint8_t z = u8_of(q, "zero_point");
  if (q.quant_max != 255)  // 7-bit codes (QConfig::clamp_to_range): QLinearConv saturates at 255 only
    y = g.node("Clip", {y, g.scalar_u8(l.path + ".clamp_min", q.relu ? z : 0), g.scalar_u8(l.path + ".clamp_max", uint8_t(q.quant_max))},
               l.path + ".clamp");
  else if (q.relu && z > 0)
    y = g.node("Clip", {y, g.scalar_u8(l.path + ".relu_min", z)}, l.path + ".relu");
  return y;
}

std::string linear(OnnxGraph& g, const OnnxLayer& l, QuantizedLinear& q) {
  const int64_t K = q.buffer("weight").size(1);
  const std::string x4 =
      g.node("Reshape", {l.input, g.vector_i64(l.path + ".as_1x1", {0, K, 1, 1})}, l.path + ".as_1x1");
  const std::string y = qlinear_conv(g, l, q, x4, 1, 0);
  return g.node("Flatten", {y}, l.path + ".flatten", {Attribute::of("axis", int64_t(1))});
}

// Codes pooled in float with scale 1: exact, see the header.
std::string avg_pool(OnnxGraph& g, const OnnxLayer& l, QuantizedAvgPool2d& p) {
  const auto [one, z] = qparams(g, l.path + ".codes", 1.f, u8_of(p, "zero_point"));
  const std::string centred = g.node("DequantizeLinear", {l.input, one, z}, l.path + ".centred");
  const int64_t k = p.kernel_size, s = p.stride;
  const std::string avg = g.node("AveragePool", {centred}, l.path,
                                 {Attribute::of("kernel_shape", std::vector<int64_t>{k, k}),
                                  Attribute::of("strides", std::vector<int64_t>{s, s})});
  return g.node("QuantizeLinear", {avg, one, z}, l.path + ".codes");
}

std::string export_quantized(OnnxGraph& g, const OnnxLayer& l) {
  nn::Module& m = l.module;
  if (auto* q = dynamic_cast<Quantize*>(&m)) {
    const auto [s, z] = qparams(g, l.path, q->scale(), u8_of(*q, "zero_point"));
    const std::string codes = g.node("QuantizeLinear", {l.input, s, z}, l.path);
    if (q->quant_max == 255) return codes;  // 7-bit codes: QuantizeLinear saturates at 255 only
    return g.node("Clip", {codes, g.scalar_u8(l.path + ".clamp_min", 0), g.scalar_u8(l.path + ".clamp_max", uint8_t(q->quant_max))},
                  l.path + ".clamp");
  }
  if (auto* c = dynamic_cast<QuantizedConv2d*>(&m)) return qlinear_conv(g, l, *c, l.input, c->stride, c->padding);
  if (auto* f = dynamic_cast<QuantizedLinear*>(&m)) return linear(g, l, *f);
  if (auto* p = dynamic_cast<QuantizedAvgPool2d*>(&m)) return avg_pool(g, l, *p);
  if (auto* f = dynamic_cast<QuantizedFlatten*>(&m)) {
    const int64_t rank = int64_t(l.input_shape.size());
    const int64_t s = f->start_dim < 0 ? f->start_dim + rank : f->start_dim;
    const int64_t e = f->end_dim < 0 ? f->end_dim + rank : f->end_dim;
    MINIDL_CHECK(s == 1 && e == rank - 1, "export_onnx: layer '", l.path,
                 "' (QuantizedFlatten): only start_dim 1 to the last dimension is exported");
    return g.node("Flatten", {l.input}, l.path, {Attribute::of("axis", int64_t(1))});
  }
  if (auto* d = dynamic_cast<Dequantize*>(&m)) {
    const auto [s, z] = qparams(g, l.path, f32_of(*d, "scale"), u8_of(*d, "zero_point"));
    return g.node("DequantizeLinear", {l.input, s, z}, l.path);
  }
  return "";
}

}  // namespace

nn::OnnxLayerExporter quantized_onnx_exporter() { return export_quantized; }

std::string to_onnx(nn::Module& model, const Shape& shape, nn::OnnxExportOptions options) {
  options.exporters.insert(options.exporters.begin(), quantized_onnx_exporter());
  options.unsupported_hint = "int8: Quantize, QuantizedConv2d, QuantizedLinear, QuantizedAvgPool2d, QuantizedFlatten, "
                             "Dequantize";
  return nn::to_onnx(model, shape, options);
}

void export_onnx(nn::Module& model, const std::string& path, const Shape& shape, nn::OnnxExportOptions options) {
  nn::write_file_atomic(path, compress::to_onnx(model, shape, std::move(options)));
}

}  // namespace minidl::compress
