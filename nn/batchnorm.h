// minidl/nn/batchnorm.h — BatchNorm1d ([N, C] input) and BatchNorm2d ([N, C, H, W]).
//
// Parameters weight (γ, ones) and bias (β, zeros); buffers running_mean
// (zeros), running_var (ones) and num_batches_tracked (int64), named and
// updated exactly as PyTorch's, so checkpoints move between the two.
// The math is in core/ops_norm.cpp.
#pragma once

#include "nn/module.h"

namespace minidl::nn {

class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& x) override { return run(x, false); }
  std::string extra_repr() const override;

  int64_t num_features;
  float eps, momentum;
  bool affine, track_running_stats;

 protected:
  BatchNorm(int64_t num_features, float eps, float momentum, bool affine, bool track_running_stats, int input_dim);
  // like's settings without tensors, for a fused module that takes another layer's (nn/fused.h).
  struct Empty {};
  BatchNorm(Empty, const BatchNorm& like)
      : num_features(like.num_features), eps(like.eps), momentum(like.momentum), affine(like.affine),
        track_running_stats(like.track_running_stats), input_dim_(like.input_dim_) {}
  // batch_norm, or with relu batch_norm_relu (the ReLU in the same passes).
  Tensor run(const Tensor& x, bool relu);
  int input_dim_;  // 2 or 4
};

class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats, 2) {}
  std::string type_name() const override { return "BatchNorm1d"; }

 protected:
  BatchNorm1d(Empty e, const BatchNorm1d& like) : BatchNorm(e, like) {}
};

class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats, 4) {}
  std::string type_name() const override { return "BatchNorm2d"; }

 protected:
  BatchNorm2d(Empty e, const BatchNorm2d& like) : BatchNorm(e, like) {}
};

}  // namespace minidl::nn
