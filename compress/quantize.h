// minidl/compress/quantize.h — int8 post-training quantization and quantization-aware
// training of a Sequential model, PyTorch's eager-mode workflow:
//
//   auto prepared = compress::prepare(*net, {.activation = "histogram"});   // fold BN, fuse, observe
//   compress::calibrate(*prepared, calib_loader, 16);                       // eval mode, no grad
//   auto q = compress::convert(*prepared);                                  // integer-only model
//   Tensor logits = (*q)(images);                                           // float in, float out
//
// The scheme (uint8 asymmetric activations, int8 symmetric per-channel weights, int32 bias,
// Q31 requantization) is in compress/qscheme.h and core/qgemm.h; the resulting modules are
// in compress/quantized_modules.h.
//
// prepare() first runs the fusion pass (nn/fuse.h, in place: BatchNorm folded, Conv/Linear
// + ReLU fused), then works on a Sequential whose children are Conv2d, Linear, BatchNorm2d (right
// after a Conv2d), ReLU, AvgPool2d, Flatten, Dropout or Identity; anything else is an
// error naming the layer. It wraps the model as
//   quant (QuantStub: input observer) → blocks … → dequant (DeQuantStub)
// where each QuantBlock is one conv/linear with its BatchNorm folded in and a following
// ReLU fused (the ReLU becomes the clamp of the requantization), plus an observer of the
// block's output and one of its weight. Pooling, flatten and dropout pass through: average
// pooling keeps its input's (scale, zero point), as in PyTorch. prepare() shares the
// layers with `model` (in place, like PyTorch's prepare(inplace=True)).
//
// prepare_qat() builds the same shape for training: FakeQuantize after each block and a
// WeightFakeQuantize parametrization on each weight (after a pruning mask, if any);
// BatchNorm stays a BatchNorm (frozen by QATFreeze, folded by convert). With per-channel
// symmetric weights, fake-quantizing the unfolded weight is exactly fake-quantizing the
// folded one: folding scales output channel c by γ_c/σ_c, and a per-channel symmetric
// quantizer is equivariant to a per-channel scale (its range scales with it), so
// q(k·w) = k·q(w) for k ≠ 0.
#pragma once

#include <memory>
#include <string>

#include "compress/fake_quantize.h"
#include "compress/observer.h"
#include "datasets/loader.h"
#include "nn/module.h"
#include "nn/trainer.h"

namespace minidl::compress {

struct QConfig {
  std::string activation = "histogram";  // minmax | moving_average | histogram
  bool per_channel = true;               // weights: one scale per output channel (else per tensor)
  // activations in [0, 127] (fbgemm's AVX2 headroom); on AVX2 CPUs without
  // VNNI the int8 layers then run core/qgemm_avx2_u7.cpp's vpmaddubsw kernels
  bool reduce_range = false;
  // Keep the part of each bias that rounding it to int32 (units s_x·s_w) drops, as a
  // Q31 fraction applied in the requantization's rounding offset (Requant::bias_frac,
  // core/qgemm.h): still integers only, and the arithmetic of PyTorch's fbgemm/onednn,
  // which add a float bias. Off (default): the int32 bias of Jacob et al., TFLite and
  // ONNX QLinearConv, which export_onnx needs. The difference is at most half an
  // accumulator unit per layer, but it flips roundings that compound over layers:
  // ~2% of the seed CNN's outputs with BatchNorm folded (bench/README, "int8 parity").
  bool bias_fraction = false;
  // Clamp every activation code at the top of its quant range instead of 255: with
  // reduce_range the activations are then 7-bit codes in [0, 127] everywhere. PyTorch
  // (and the default here) observe [0, 127] but store codes up to 255, so a value above
  // the calibrated range (an outlier, or anything the histogram observer clips) still
  // gets a code ≥ 128 — and minidl's AVX2 kernels, which check, fall back from
  // vpmaddubsw (core/qgemm_avx2_u7.cpp) to the slower exact widening kernels for that
  // call. Clamped, the outlier saturates at the range's top, as in any quantizer with
  // quant_max 127 (and as QAT's FakeQuantize already does); results differ from
  // PyTorch's on those outliers only. No effect without reduce_range (the top is 255).
  bool clamp_to_range = false;
};

// The model's input: an observer (or FakeQuantize) in front of everything.
class QuantStub : public nn::Module {
 public:
  explicit QuantStub(nn::ModulePtr post_process);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "QuantStub"; }
  bool clamp_to_range = false;  // QConfig::clamp_to_range, used by convert
};

class DeQuantStub : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "DeQuantStub"; }
};

// conv/linear [→ BatchNorm] [→ ReLU] → activation_post_process; see the header comment.
class QuantBlock : public nn::Module {
 public:
  QuantBlock(nn::ModulePtr layer, nn::ModulePtr bn, bool relu, nn::ModulePtr post_process,
             std::shared_ptr<Observer> weight_observer);
  Tensor forward(const Tensor& x) override;
  void train(bool on = true) override;  // keeps a frozen BatchNorm in eval mode
  std::string type_name() const override { return "QuantBlock"; }
  std::string extra_repr() const override { return relu ? "relu" : ""; }

  nn::ModulePtr layer, bn, post_process;
  std::shared_ptr<Observer> weight_observer;  // PTQ; for QAT the weight's FakeQuantize
  bool relu;                 // a ReLU applied by the block
  bool fused_relu = false;   // the layer is a ConvReLU2d / LinearReLU (nn/fuse.h)
  bool freeze_bn = false;
  bool bias_fraction = false;  // QConfig::bias_fraction, used by convert
  bool clamp_to_range = false;  // QConfig::clamp_to_range, used by convert
};

nn::ModulePtr prepare(nn::Module& model, const QConfig& config = {});
nn::ModulePtr prepare_qat(nn::Module& model, const QConfig& config = {.activation = "moving_average"});

// Runs `batches` batches (at least 1; fewer if the loader has fewer) through the prepared
// model in eval mode without a graph. Non-finite activations are an error naming the layer.
// Returns the number of images seen.
int64_t calibrate(nn::Module& prepared, datasets::DataLoader& loader, int64_t batches);

// The integer-only model: Quantize, QuantizedConv2d/Linear, QuantizedAvgPool2d,
// QuantizedFlatten, Dequantize, swapped in for the prepared blocks by replace_module.
nn::ModulePtr convert(nn::Module& prepared);

// QAT: from epoch `freeze_observers_epoch` (1-based, 0 = never) the activation ranges stop
// moving; from `freeze_bn_epoch` BatchNorm uses its running statistics (eval mode) while
// the rest trains, so training sees the folded inference arithmetic.
class QATFreeze : public nn::Callback {
 public:
  QATFreeze(int freeze_observers_epoch, int freeze_bn_epoch)
      : observers_epoch_(freeze_observers_epoch), bn_epoch_(freeze_bn_epoch) {}
  void on_epoch_begin(nn::Module& model, int epoch) override;

 private:
  int observers_epoch_, bn_epoch_;
};

// One line per quantized layer: its scales, zero points and real ranges (for reports).
std::string describe_quantization(nn::Module& quantized);

}  // namespace minidl::compress
