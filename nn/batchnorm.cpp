#include "nn/batchnorm.h"

#include "core/ops.h"

namespace minidl::nn {

BatchNorm::BatchNorm(int64_t n, float eps_, float momentum_, bool affine_, bool track, int input_dim)
    : num_features(n), eps(eps_), momentum(momentum_), affine(affine_), track_running_stats(track),
      input_dim_(input_dim) {
  MINIDL_CHECK(n >= 1, "BatchNorm: num_features must be >= 1, got ", n);
  MINIDL_CHECK(eps_ > 0.f, "BatchNorm: eps must be > 0, got ", eps_);
  MINIDL_CHECK(momentum_ >= 0.f && momentum_ <= 1.f, "BatchNorm: momentum must be in [0, 1], got ", momentum_);
  if (affine) {
    register_parameter("weight", Tensor::ones({n}));
    register_parameter("bias", Tensor::zeros({n}));
  }
  if (track) {
    register_buffer("running_mean", Tensor::zeros({n}));
    register_buffer("running_var", Tensor::ones({n}));
    register_buffer("num_batches_tracked", Tensor::zeros({}, DType::Int64));
  }
}

Tensor BatchNorm::run(const Tensor& x, bool relu) {
  MINIDL_CHECK(x.defined() && x.dim() == input_dim_ && x.size(1) == num_features, label(), ": expected input ",
               input_dim_ == 2 ? "[N, " : "[N, ", num_features, input_dim_ == 2 ? "]" : ", H, W]", ", got ",
               x.defined() ? to_string(x.shape()) : std::string("undefined"));
  Tensor rm, rv;
  if (track_running_stats) {
    rm = buffer("running_mean");
    rv = buffer("running_var");
  }
  Tensor y = (relu ? batch_norm_relu : batch_norm)(x, param("weight"), param("bias"), rm, rv, is_training(),
                                                    momentum, eps);
  // Counted only once batch_norm has succeeded: a rejected batch is not tracked.
  if (track_running_stats && is_training()) buffer("num_batches_tracked").data<int64_t>()[0] += 1;
  return y;
}

std::string BatchNorm::extra_repr() const {
  return std::to_string(num_features) + ", eps=" + std::to_string(eps) + ", momentum=" + std::to_string(momentum) +
         ", affine=" + (affine ? "True" : "False") +
         ", track_running_stats=" + (track_running_stats ? "True" : "False");
}

}  // namespace minidl::nn
