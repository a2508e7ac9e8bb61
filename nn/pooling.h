// minidl/nn/pooling.h — MaxPool2d and AvgPool2d (floor mode; the average
// counts zero padding, as PyTorch's default). stride 0 means stride = kernel.
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace minidl::nn {

class Pool2d : public Module {
 public:
  std::string extra_repr() const override {
    return "kernel_size=" + std::to_string(kernel_size) + ", stride=" + std::to_string(stride) +
           ", padding=" + std::to_string(padding);
  }
  int kernel_size, stride, padding;

 protected:
  Pool2d(const char* what, int k, int s, int p) : kernel_size(k), stride(s == 0 ? k : s), padding(p) {
    MINIDL_CHECK(k >= 1, what, ": kernel_size must be >= 1, got ", k);
    MINIDL_CHECK(s >= 0, what, ": stride must be >= 1 (or 0 for stride = kernel_size), got ", s);
    MINIDL_CHECK(p >= 0 && 2 * p <= k, what, ": padding must be in [0, kernel_size/2] = [0, ", k / 2, "], got ", p);
  }
};

class MaxPool2d : public Pool2d {
 public:
  explicit MaxPool2d(int kernel_size, int stride = 0, int padding = 0)
      : Pool2d("MaxPool2d", kernel_size, stride, padding) {}
  Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel_size, stride, padding); }
  std::string type_name() const override { return "MaxPool2d"; }
};

class AvgPool2d : public Pool2d {
 public:
  explicit AvgPool2d(int kernel_size, int stride = 0, int padding = 0)
      : Pool2d("AvgPool2d", kernel_size, stride, padding) {}
  Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel_size, stride, padding); }
  std::string type_name() const override { return "AvgPool2d"; }
};

}  // namespace minidl::nn
