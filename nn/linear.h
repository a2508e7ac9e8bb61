// minidl/nn/linear.h — fully connected layer: y = x·Wᵀ + b, W [out, in].
#pragma once

#include "core/random.h"
#include "nn/module.h"

namespace minidl::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Linear"; }
  std::string extra_repr() const override;

  // The tensors the layer computes with (PyTorch's layer.weight / .bias): the
  // parametrized value when parametrized (weight_orig ⊙ mask when pruned).
  Tensor weight() const { return param("weight"); }
  Tensor bias() const { return param("bias"); }
  // The trained tensor behind weight(): "weight", or "weight_orig" when parametrized.
  Tensor& original_weight() { return parameter(is_parametrized("weight") ? "weight_orig" : "weight"); }

  // Public so that structured pruning can shrink the layer in place.
  int64_t in_features, out_features;

 protected:
  // The sizes without tensors, for a fused module that takes another layer's (nn/fused.h).
  struct Empty {};
  Linear(Empty, int64_t in_features, int64_t out_features) : in_features(in_features), out_features(out_features) {}
};

}  // namespace minidl::nn
