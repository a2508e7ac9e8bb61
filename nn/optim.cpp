#include "nn/optim.h"

#include <cmath>

#include "core/parallel.h"

namespace minidl::nn {

Optimizer::Optimizer(std::vector<Tensor> params, float lr) : params_(std::move(params)), lr_(lr) {
  MINIDL_CHECK(std::isfinite(lr) && lr >= 0.f, "optimizer: learning rate must be a finite number >= 0, got ", lr);
  for (size_t i = 0; i < params_.size(); ++i)
    MINIDL_CHECK(params_[i].defined() && params_[i].dtype() == DType::Float32, "optimizer: parameter ", i,
                 " is not a defined float32 tensor");
}

void Optimizer::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

void Optimizer::mask_state(const Tensor&, const Tensor&) {}

// Zero t wherever mask is 0 (shapes checked by the caller).
static void zero_where_masked(Tensor& t, const Tensor& mask) {
  float* v = t.data<float>();
  const float* k = mask.data<float>();
  for (int64_t j = 0, n = t.numel(); j < n; ++j)
    if (k[j] == 0.f) v[j] = 0.f;
}

void Optimizer::set_lr(float lr) {
  MINIDL_CHECK(std::isfinite(lr) && lr >= 0.f, "optimizer: learning rate must be a finite number >= 0, got ", lr);
  lr_ = lr;
}

void Optimizer::set_momentum(double) {
  MINIDL_CHECK(false, "optimizer: this optimizer has no momentum to set");
}

void detail::zero_masked(Tensor& t, const Tensor& mask) {
  if (!t.defined()) return;
  MINIDL_CHECK(mask.defined() && mask.dtype() == DType::Float32 && mask.shape() == t.shape(),
               "optimizer: mask_state's mask must be float32 of the parameter's shape ", to_string(t.shape()));
  zero_where_masked(t, mask);
}

void SGD::set_momentum(double momentum) {
  MINIDL_CHECK(std::isfinite(momentum) && momentum >= 0, "SGD: momentum must be >= 0, got ", momentum);
  MINIDL_CHECK(!opt_.nesterov || momentum > 0, "SGD: nesterov momentum requires a momentum > 0");
  opt_.momentum = float(momentum);  // torch.optim.SGD's buf.mul_(momentum) rounds it to float too
}

SGD::SGD(std::vector<Tensor> params, const SGDOptions& o) : Optimizer(std::move(params), o.lr), opt_(o) {
  MINIDL_CHECK(o.momentum >= 0.f, "SGD: momentum must be >= 0, got ", o.momentum);
  MINIDL_CHECK(o.weight_decay >= 0.f, "SGD: weight_decay must be >= 0, got ", o.weight_decay);
  MINIDL_CHECK(o.dampening >= 0.f && o.dampening <= 1.f, "SGD: dampening must be in [0, 1], got ", o.dampening);
  MINIDL_CHECK(!o.nesterov || (o.momentum > 0.f && o.dampening == 0.f),
               "SGD: nesterov momentum requires a momentum > 0 and zero dampening");
  buf_.resize(params_.size());
}

void SGD::mask_state(const Tensor& param, const Tensor& mask) {
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].same(param) || !buf_[i].defined()) continue;
    MINIDL_CHECK(mask.defined() && mask.dtype() == DType::Float32 && mask.shape() == param.shape(),
                 "SGD::mask_state: the mask must be float32 of the parameter's shape ", to_string(param.shape()));
    zero_where_masked(buf_[i], mask);
  }
}

void SGD::step() {
  const float lr = lr_, mu = opt_.momentum, wd = opt_.weight_decay, damp = opt_.dampening;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    float* w = p.data<float>();
    const float* g = grad.data<float>();
    const int64_t n = p.numel();
    if (mu == 0.f) {
#pragma omp parallel for simd num_threads(threads_for(n))
      for (int64_t j = 0; j < n; ++j) w[j] -= lr * (g[j] + wd * w[j]);
      continue;
    }
    const bool first = !buf_[i].defined();
    if (first) buf_[i] = Tensor::empty(p.shape());
    float* b = buf_[i].data<float>();
    const bool nesterov = opt_.nesterov;
#pragma omp parallel for simd num_threads(threads_for(n))
    for (int64_t j = 0; j < n; ++j) {
      const float d = g[j] + wd * w[j];
      b[j] = first ? d : mu * b[j] + (1.f - damp) * d;
      w[j] -= lr * (nesterov ? d + mu * b[j] : b[j]);
    }
  }
}

}  // namespace minidl::nn
