// minidl/nn/fused.h — a layer and the ReLU after it as one module
// (PyTorch's torch.ao.nn.intrinsic ConvReLU2d, LinearReLU, BNReLU2d).
//
// nn::fuse (nn/fuse.h) makes them; they are rarely built by hand:
//
//   nn::fuse(*net);   // conv1 -> ConvReLU2d, relu1 -> Identity, ...
//
// Each is a subclass of its layer (a ConvReLU2d is a Conv2d), built from an
// existing layer whose tensors it takes over — the same tensor objects, the
// same parameter, buffer and parametrization names — so state_dict keys stay
// "conv1.weight", "conv1.weight_orig", "conv1.weight_mask", ... and passes
// that look for a Conv2d (pruning, structured pruning, BN folding) see one.
// The layer it was built from is left empty. Values are those of layer then
// ReLU, bit for bit: conv2d_relu and batch_norm_relu apply the ReLU as they
// store their output (saving two passes over it, in training too);
// LinearReLU is relu(linear(...)), there for the name and for quantization.
#pragma once

#include <memory>

#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace minidl::nn {

class ConvReLU2d : public Conv2d {
 public:
  explicit ConvReLU2d(Conv2d& conv);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "ConvReLU2d"; }
};

class LinearReLU : public Linear {
 public:
  explicit LinearReLU(Linear& linear);
  Tensor forward(const Tensor& x) override;
  std::string type_name() const override { return "LinearReLU"; }
};

class BNReLU2d : public BatchNorm2d {
 public:
  explicit BNReLU2d(BatchNorm2d& bn);
  Tensor forward(const Tensor& x) override { return run(x, true); }
  std::string type_name() const override { return "BNReLU2d"; }
};

class BNReLU1d : public BatchNorm1d {
 public:
  explicit BNReLU1d(BatchNorm1d& bn);
  Tensor forward(const Tensor& x) override { return run(x, true); }
  std::string type_name() const override { return "BNReLU1d"; }
};

}  // namespace minidl::nn
