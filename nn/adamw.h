// minidl/nn/adamw.h — AdamW (Loshchilov & Hutter 2019, "Decoupled Weight
// Decay Regularization", Algorithm 2) with exactly torch.optim.AdamW's update
// (PyTorch 1.13). The decay is applied to the parameter before, and
// independently of, the Adam step — it is not added to the gradient, so it is
// not rescaled by 1/√v̂:
//
//   p  = p − lr·λ·p                     (as p·(1 − lr·λ), PyTorch's form)
//   m  = β₁·m + (1 − β₁)·∇p
//   v  = β₂·v + (1 − β₂)·∇p²
//   v̂  = max(v̂, v) if amsgrad else v
//   p  = p − (lr / (1 − β₁ᵗ)) · m / (√v̂ / √(1 − β₂ᵗ) + ε)
//
// Note the decay is multiplied by the *current* lr (so a schedule shrinks it
// too), as in PyTorch, while the paper's Algorithm 2 scales it by the
// schedule multiplier η_t only. Default λ = 0.01 as in PyTorch.
#pragma once

#include "nn/adam.h"

namespace minidl::nn {

struct AdamWOptions {
  float lr = 1e-3f;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  float weight_decay = 1e-2f;
  bool amsgrad = false;
};

class AdamW : public Adam {
 public:
  AdamW(std::vector<Tensor> params, const AdamWOptions& options);
};

}  // namespace minidl::nn
