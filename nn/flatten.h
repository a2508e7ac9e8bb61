// minidl/nn/flatten.h — Flatten: [N, C, H, W] -> [N, C·H·W] (dims start_dim..end_dim merged).
#pragma once

#include "core/ops.h"
#include "nn/module.h"

namespace minidl::nn {

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& x) override { return flatten(x, start_dim, end_dim); }
  std::string type_name() const override { return "Flatten"; }
  std::string extra_repr() const override {
    return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
  }
  int64_t start_dim, end_dim;
};

}  // namespace minidl::nn
