// minidl/nn/adam.h — Adam (Kingma & Ba 2015, "Adam: A Method for Stochastic
// Optimization", Algorithm 1) with exactly torch.optim.Adam's update
// (PyTorch 1.13, the single-tensor path). Per parameter, at step t = 1, 2, ...:
//
//   g  = ∇p + λ·p                       (L2 weight decay λ, folded into the gradient)
//   m  = β₁·m + (1 − β₁)·g              (first moment; m₀ = 0)
//   v  = β₂·v + (1 − β₂)·g²             (second moment; v₀ = 0)
//   v̂  = max(v̂, v) if amsgrad else v    (Reddi et al. 2018, "On the Convergence of Adam and Beyond")
//   p  = p − (lr / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
//
// Note where ε sits: PyTorch adds it to the bias-corrected √v̂, not to √v̂
// before correction as the paper's "efficient version" (Section 2) does; the
// two differ while 1 − β₂ᵗ is small, i.e. in the first few hundred steps.
// The bias corrections and the step size are computed in double (as PyTorch
// computes them in Python floats), the elementwise update in float in
// PyTorch's order. Each parameter counts its own steps; parameters whose .grad
// is undefined are skipped (their step count does not advance), as in PyTorch.
//
// With λ > 0 this is Adam with L2 regularisation, which is *not* weight decay
// for Adam (the decay gets divided by √v̂); nn::AdamW (adamw.h) decouples it.
#pragma once

#include <vector>

#include "nn/optim.h"

namespace minidl::nn {

// β₁, β₂ and ε are doubles, as PyTorch's are Python floats: 1 − β₂ computed
// from the float 0.999f is 1.287e-5 off (relative) from 1 − 0.999, which
// shows up in v at exactly that size.
struct AdamOptions {
  float lr = 1e-3f;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  float weight_decay = 0.f;
  bool amsgrad = false;
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Tensor> params, const AdamOptions& options);
  void step() override;
  const AdamOptions& options() const { return opt_; }
  // OneCycleLR cycles β₁ as PyTorch does ("betas" in the param group).
  bool has_momentum() const override { return true; }
  double momentum() const override { return opt_.beta1; }
  void set_momentum(double beta1) override;
  // Zeroes m, v (and v̂) of `param` wherever `mask` is 0, so a pruned entry
  // starts from a clean state if it is ever revived (prune.h).
  void mask_state(const Tensor& param, const Tensor& mask) override;

  // The state of parameter i (undefined tensors / 0 before its first step).
  const Tensor& exp_avg(size_t i) const { return m_.at(i); }
  const Tensor& exp_avg_sq(size_t i) const { return v_.at(i); }
  const Tensor& max_exp_avg_sq(size_t i) const { return vmax_.at(i); }
  int64_t state_step(size_t i) const { return steps_.at(i); }

 protected:
  // AdamW: `decoupled` moves λ out of the gradient into p ← p − lr·λ·p.
  Adam(std::vector<Tensor> params, const AdamOptions& options, bool decoupled, const char* name);

 private:
  AdamOptions opt_;
  bool decoupled_ = false;
  std::vector<Tensor> m_, v_, vmax_;
  std::vector<int64_t> steps_;
};

}  // namespace minidl::nn
