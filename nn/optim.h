// minidl/nn/optim.h — optimizers: SGD with momentum, dampening, Nesterov and
// weight decay, with exactly torch.optim.SGD's update (PyTorch 1.13):
//
//   g  = ∇p + λ·p                                   (weight decay λ)
//   b  = g                          on the first step,
//   b  = μ·b + (1 − τ)·g            afterwards       (momentum μ, dampening τ)
//   g  = g + μ·b  if nesterov, else g = b            (only when μ ≠ 0)
//   p  = p − lr·g
//
// Parameters whose .grad is undefined are skipped, as in PyTorch.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace minidl::nn {

namespace detail {
// Zeroes `state` (if defined) wherever `mask` is 0; the mask must be float32 of state's shape.
void zero_masked(Tensor& state, const Tensor& mask);
}  // namespace detail

class Optimizer {
 public:
  explicit Optimizer(std::vector<Tensor> params, float lr);
  virtual ~Optimizer() = default;
  virtual void step() = 0;
  void zero_grad();  // drops every gradient (set_to_none)
  float lr() const { return lr_; }
  void set_lr(float lr);
  const std::vector<Tensor>& params() const { return params_; }
  // The momentum a schedule may cycle (OneCycleLR): SGD's momentum, Adam's β₁.
  virtual bool has_momentum() const { return false; }
  virtual double momentum() const { return 0; }
  virtual void set_momentum(double momentum);
  // Zero this optimizer's per-parameter state of `param` (the same tensor
  // object as one of params(); others are ignored) wherever `mask` (float32,
  // param's shape) is 0, so that a pruned entry at 0 stays exactly 0 under
  // the next steps. compress/prune's zero_pruned_optimizer_state and the
  // gradual pruner call it after pruning. Stateless optimizers: nothing to do.
  virtual void mask_state(const Tensor& param, const Tensor& mask);

 protected:
  std::vector<Tensor> params_;
  float lr_;
};

struct SGDOptions {
  float lr = 0.01f;
  float momentum = 0.f;
  float dampening = 0.f;
  float weight_decay = 0.f;
  bool nesterov = false;
};

class SGD : public Optimizer {
 public:
  SGD(std::vector<Tensor> params, const SGDOptions& options);
  void step() override;
  void mask_state(const Tensor& param, const Tensor& mask) override;  // the momentum buffer
  const SGDOptions& options() const { return opt_; }
  bool has_momentum() const override { return true; }
  double momentum() const override { return opt_.momentum; }
  void set_momentum(double momentum) override;
  // The momentum buffer of parameter i (undefined before its first step).
  const Tensor& momentum_buffer(size_t i) const { return buf_.at(i); }

 private:
  SGDOptions opt_;
  std::vector<Tensor> buf_;
};

}  // namespace minidl::nn
