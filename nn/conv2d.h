// minidl/nn/conv2d.h — 2-D convolution layer, weight [out, in, k, k], NCHW.
#pragma once

#include "core/random.h"
#include "nn/module.h"

namespace minidl::nn {

class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride = 1, int padding = 0,
         bool bias = true, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "Conv2d"; }
  std::string extra_repr() const override;

  // The tensors the layer computes with (PyTorch's layer.weight / .bias): the
  // parametrized value when parametrized (weight_orig ⊙ mask when pruned).
  Tensor weight() const { return param("weight"); }
  Tensor bias() const { return param("bias"); }
  // The trained tensor behind weight(): "weight", or "weight_orig" when parametrized.
  Tensor& original_weight() { return parameter(is_parametrized("weight") ? "weight_orig" : "weight"); }

  // Public so that structured pruning can shrink the layer in place.
  int64_t in_channels, out_channels;
  int kernel_size, stride, padding;

 protected:
  // The hyper-parameters without tensors, for a fused module that takes another layer's (nn/fused.h).
  struct Empty {};
  Conv2d(Empty, int64_t in_channels, int64_t out_channels, int kernel_size, int stride, int padding)
      : in_channels(in_channels), out_channels(out_channels), kernel_size(kernel_size), stride(stride),
        padding(padding) {}
  void check_input(const Tensor& x) const;
};

}  // namespace minidl::nn
