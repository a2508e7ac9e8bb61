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

  Tensor& weight() { return parameter(has_parameter("weight") ? "weight" : "weight_orig"); }
  Tensor bias() const { return param("bias"); }

  // Public so that structured pruning can shrink the layer in place.
  int64_t in_features, out_features;
};

}  // namespace minidl::nn
