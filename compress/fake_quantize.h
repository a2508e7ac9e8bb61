// minidl/compress/fake_quantize.h — FakeQuantize: quantization simulated in float for
// quantization-aware training (Jacob et al. 2018 §3; Krishnamoorthi 2018 §3.2).
//
// forward(x): if observing, the observer records x (detached) and (scale, zero_point) are
// recomputed from it; then y = fake_quantize(x, scale, zero_point) (core/ops.h), whose
// gradient is the straight-through estimator (1 inside the clamping range, 0 outside).
// The training forward therefore sees exactly the rounding and clamping the int8 model
// will apply, and convert() reads the same (scale, zero_point).
//
// Two roles:
//   - activations: a module after each conv/linear(+ReLU) block. It observes only in
//     training mode (PyTorch's observes whenever enabled), so evaluating a test set during
//     training cannot move the ranges.
//   - weights: WeightFakeQuantize, a parametrization registered on "weight" after any
//     pruning mask (the layer computes fq(w ⊙ mask)). Its per-channel observer is reset on
//     every call, so the range is that of the current weight. Pruned zeros stay zero:
//     the scheme is symmetric (zero_point 0) and fake_quantize(0) = (0 + 0 − 0)·s = 0.
#pragma once

#include <memory>

#include "compress/observer.h"
#include "nn/module.h"

namespace minidl::compress {

class FakeQuantize : public nn::Module {
 public:
  explicit FakeQuantize(std::shared_ptr<Observer> observer, bool observe_in_eval = false);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "FakeQuantize"; }
  std::string extra_repr() const override;
  QParams qparams() const;  // the (scale, zero_point) fake_quantize uses now
  Observer& observer() { return *observer_; }

  bool observer_enabled = true;    // false: ranges frozen (QATFreeze)
  bool fake_quant_enabled = true;  // false: identity
  bool reset_each_call = false;    // weights: the range of the current tensor only

 private:
  std::shared_ptr<Observer> observer_;
  bool observe_in_eval_;
  bool have_qparams_ = false;
};

// The weight role, a parametrization (nn/module.h): forward(w) = fq(w). The FakeQuantize
// observes in every mode (observe_in_eval) and is re-ranged on every call, so it holds no
// state worth saving: it is a member, not a registered child (no state_dict keys). A
// per-channel symmetric quantizer commutes with a per-channel scale (its range scales with
// it), so BatchNorm folding (nn/fuse.h) may scale the original.
class WeightFakeQuantize : public nn::Parametrization {
 public:
  explicit WeightFakeQuantize(std::shared_ptr<FakeQuantize> fq) : fq_(std::move(fq)) {}
  Tensor forward(const Tensor& w) override { return fq_->forward(w); }
  std::string type_name() const override { return "WeightFakeQuantize"; }
  bool commutes_with_channel_scale() const override { return is_per_channel(fq_->observer().qscheme); }
  FakeQuantize& fake_quant() const { return *fq_; }

 private:
  std::shared_ptr<FakeQuantize> fq_;
};

}  // namespace minidl::compress
