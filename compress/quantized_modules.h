// minidl/compress/quantized_modules.h — the modules of a converted (int8) model.
//
//   Quantize → QuantizedConv2d[+ReLU] → … → QuantizedAvgPool2d → QuantizedFlatten
//            → QuantizedLinear[+ReLU] → … → Dequantize
//
// Between Quantize and Dequantize tensors are uint8 NCHW / [N, K] codes and every step is
// integer arithmetic (core/qops.h, core/qgemm.h): conv and linear accumulate
// Σ (x − z_x)·w in int32 with the int32 bias, requantize with a Q31 fixed-point multiplier
// M = s_x·s_w[c]/s_y (ReLU is the clamp's lower end, z_y); average pooling sums codes and
// divides with rounding, keeping (scale, zero point); flatten is a view. No per-element
// float arithmetic happens between the two ends (Jacob et al. 2018, §2).
//
// Buffers (saved by state_dict, so a quantized model checkpoints like any other; structure —
// shapes, stride, padding, ReLU, quant_max — goes in the description below):
//   weight I8 [Cout, ...], bias I32 [Cout] (scale s_x·s_w[c]), weight_scale F32 [Cout or 1],
//   weight_zero_point I8 [Cout or 1] (all 0: symmetric), input_scale F32 [1],
//   input_zero_point I32 [1], scale F32 [1] and zero_point I32 [1] of the output.
// The packed weights and multipliers are derived from them by refresh(), which
// convert() and load_quantized() call (and forward() on first use).
#pragma once

#include <memory>
#include <string>

#include "compress/qscheme.h"
#include "core/qgemm.h"
#include "nn/module.h"
#include "nn/sequential.h"

namespace minidl::compress {

// F32 → U8 codes with one (scale, zero_point).
class Quantize : public nn::Module {
 public:
  Quantize(float scale, int32_t zero_point);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Quantize"; }
  std::string extra_repr() const override;
  float scale() const;
  int32_t zero_point() const;
  int32_t quant_max = 255;  // the largest code (127: QConfig::clamp_to_range with reduce_range)
};

// U8 codes → F32 with the (scale, zero_point) of the incoming tensor.
class Dequantize : public nn::Module {
 public:
  Dequantize(float scale, int32_t zero_point);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Dequantize"; }
  std::string extra_repr() const override;
};

// Shared by QuantizedConv2d and QuantizedLinear: the int8 weight, int32 bias and scales.
class QuantizedWeighted : public nn::Module {
 public:
  void refresh();  // repack weights and recompute multipliers from the buffers
  std::string extra_repr() const override;
  bool relu;
  float input_scale() const;
  int32_t input_zero_point() const;
  float output_scale() const;
  int32_t output_zero_point() const;
  std::vector<float> weight_scale() const;
  bool has_bias_fraction() const;
  // The largest output code: 255 (uint8, PyTorch's clamp even with reduce_range), or the
  // activation range's top, 127, with QConfig::clamp_to_range — then every activation is
  // 7-bit and, on AVX2 CPUs without VNNI, every layer runs the vpmaddubsw kernels
  // (core/qgemm_avx2_u7.cpp). Set it, then refresh().
  int32_t quant_max = 255;

 protected:
  // w: float weight [Cout, ...]; ws: its per-channel (or one) scale.
  // bias_fraction: also a "bias_frac" buffer, I32 [Cout], the Q31 fraction of the bias the
  // int32 rounding drops (QConfig::bias_fraction, Requant::bias_frac).
  QuantizedWeighted(const Tensor& w, const Tensor& bias, const QParams& wq, float s_in, int32_t z_in, float s_out,
                    int32_t z_out, bool relu, bool bias_fraction);
  QuantizedWeighted(const Shape& weight_shape, bool per_channel, bool relu, bool bias_fraction);  // zeros, for loading
  void ensure_packed();
  PackedWeights packed_;
  Requant rq_;
  bool packed_ok_ = false;
};

class QuantizedConv2d : public QuantizedWeighted {
 public:
  QuantizedConv2d(const Tensor& w, const Tensor& bias, const QParams& wq, float s_in, int32_t z_in, float s_out,
                  int32_t z_out, bool relu, int stride, int padding, bool bias_fraction = false);
  QuantizedConv2d(const Shape& weight_shape, bool per_channel, bool relu, int stride, int padding,
                  bool bias_fraction = false);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return relu ? "QuantizedConvReLU2d" : "QuantizedConv2d"; }
  std::string extra_repr() const override;
  int stride, padding;
  // An average pooling fused after the convolution (pool_kernel 0: none), set by
  // fuse_conv_pool() together with the QuantizedAvgPool2d that follows (which then
  // passes codes through): forward() returns the pooled codes, bit for bit those of
  // the two modules in sequence, without writing the convolution's output out
  // (core/qops.h, quantized_conv2d_avg_pool2d).
  int pool_kernel = 0, pool_stride = 0;
  // Channels-last tensors ([N, H, W, C]) in or out, set by fuse_conv_pool() between two
  // QuantizedConv2d in a row when the int8 path computes convolutions channels-last
  // (qconv_prefers_channels_last(): AVX-512 VNNI), so no transposes run between them.
  bool input_channels_last = false, output_channels_last = false;
};

class QuantizedLinear : public QuantizedWeighted {
 public:
  QuantizedLinear(const Tensor& w, const Tensor& bias, const QParams& wq, float s_in, int32_t z_in, float s_out,
                  int32_t z_out, bool relu, bool bias_fraction = false);
  QuantizedLinear(const Shape& weight_shape, bool per_channel, bool relu, bool bias_fraction = false);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return relu ? "QuantizedLinearReLU" : "QuantizedLinear"; }
};

// Average pooling on codes (no padding); the output keeps the input's (scale, zero point).
class QuantizedAvgPool2d : public nn::Module {
 public:
  QuantizedAvgPool2d(int kernel_size, int stride, int32_t zero_point);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantizedAvgPool2d"; }
  std::string extra_repr() const override;
  int kernel_size, stride;
  bool fused = false;  // done by the QuantizedConv2d before it (fuse_conv_pool): forward passes x through
};

// Flatten of codes: a view, nothing to compute.
class QuantizedFlatten : public nn::Module {
 public:
  explicit QuantizedFlatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantizedFlatten"; }
  std::string extra_repr() const override;
  int64_t start_dim, end_dim;
};

// Fuses each QuantizedConv2d directly followed by a QuantizedAvgPool2d of the same
// zero point (the pool keeps the conv's (scale, zero point), so always in a converted
// model) in a Sequential of quantized modules, and — when the path in use computes
// convolutions channels-last — lets each QuantizedConv2d directly followed by another
// hand it a channels-last tensor (its output_channels_last, the next one's
// input_channels_last; a different CPU or path gets the same codes, with transposes).
// Idempotent; convert() and load_quantized() call it. The structure, state_dict and
// descriptions do not change.
void fuse_conv_pool(nn::Sequential& q);

// The one-line description of a quantized module ("QuantizedConv2d 1 32 3 3 s1 p0 relu pc"),
// recorded in checkpoints so that load_quantized() can rebuild the model; and back.
std::string describe_quantized(const nn::Module& m);
nn::ModulePtr quantized_from_description(const std::string& d);

}  // namespace minidl::compress
