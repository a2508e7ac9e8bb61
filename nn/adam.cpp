#include "nn/adam.h"

#include <algorithm>
#include <cmath>

#include "core/parallel.h"

namespace minidl::nn {

namespace {

void check_options(const AdamOptions& o, const char* name) {
  MINIDL_CHECK(std::isfinite(o.eps) && o.eps >= 0, name, ": eps must be a finite number >= 0, got ", o.eps);
  MINIDL_CHECK(o.beta1 >= 0 && o.beta1 < 1, name, ": beta1 must be in [0, 1), got ", o.beta1);
  MINIDL_CHECK(o.beta2 >= 0 && o.beta2 < 1, name, ": beta2 must be in [0, 1), got ", o.beta2);
  MINIDL_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.f, name,
               ": weight_decay must be a finite number >= 0, got ", o.weight_decay);
}

// The scalars of one step, computed in double as PyTorch computes them in
// Python floats, then rounded to float where the tensor kernels take them.
struct StepScalars {
  float b1, omb1, b2, omb2, eps, wd, decay, neg_step, bc2_sqrt;
};

StepScalars scalars(const AdamOptions& o, double lr, int64_t t) {
  const double b1 = o.beta1, b2 = o.beta2;
  const double bc1 = 1.0 - std::pow(b1, double(t)), bc2 = 1.0 - std::pow(b2, double(t));
  return {float(b1), float(1.0 - b1), float(b2), float(1.0 - b2), float(o.eps), o.weight_decay,
          float(1.0 - lr * double(o.weight_decay)), float(-(lr / bc1)), float(std::sqrt(bc2))};
}

}  // namespace

Adam::Adam(std::vector<Tensor> params, const AdamOptions& o) : Adam(std::move(params), o, false, "Adam") {}

Adam::Adam(std::vector<Tensor> params, const AdamOptions& o, bool decoupled, const char* name)
    : Optimizer(std::move(params), o.lr), opt_(o), decoupled_(decoupled) {
  check_options(o, name);
  m_.resize(params_.size());
  v_.resize(params_.size());
  vmax_.resize(params_.size());
  steps_.assign(params_.size(), 0);
}

void Adam::set_momentum(double beta1) {
  MINIDL_CHECK(beta1 >= 0 && beta1 < 1, "Adam: beta1 must be in [0, 1), got ", beta1);
  opt_.beta1 = beta1;
}

void Adam::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    if (!m_[i].defined()) {
      m_[i] = Tensor::zeros(p.shape());
      v_[i] = Tensor::zeros(p.shape());
      if (opt_.amsgrad) vmax_[i] = Tensor::zeros(p.shape());
    }
    const StepScalars s = scalars(opt_, double(lr_), ++steps_[i]);
    float* w = p.data<float>();
    const float* g = grad.data<float>();
    float* m = m_[i].data<float>();
    float* v = v_[i].data<float>();
    float* vmax = opt_.amsgrad ? vmax_[i].data<float>() : nullptr;
    const bool l2 = !decoupled_ && s.wd != 0.f, decay = decoupled_ && s.wd != 0.f;
    const int64_t n = p.numel();
#pragma omp parallel for simd num_threads(threads_for(n))
    for (int64_t j = 0; j < n; ++j) {
      const float gj = l2 ? g[j] + s.wd * w[j] : g[j];       // grad.add(param, alpha=λ)
      if (decay) w[j] = w[j] * s.decay;                        // param.mul_(1 − lr·λ)
      m[j] = m[j] * s.b1 + s.omb1 * gj;                        // exp_avg.mul_(β₁).add_(g, alpha=1 − β₁)
      v[j] = v[j] * s.b2 + s.omb2 * gj * gj;                   // exp_avg_sq.mul_(β₂).addcmul_(g, g, value=1 − β₂)
      float vh = v[j];
      if (vmax) vh = vmax[j] = std::max(vmax[j], vh);          // torch.maximum(max_exp_avg_sq, exp_avg_sq)
      const float denom = std::sqrt(vh) / s.bc2_sqrt + s.eps;  // (√v̂ / √(1 − β₂ᵗ)).add_(ε)
      w[j] = w[j] + s.neg_step * m[j] / denom;                 // param.addcdiv_(m, denom, value=−step_size)
    }
  }
}

void Adam::mask_state(const Tensor& param, const Tensor& mask) {
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].same(param))
      for (Tensor* t : {&m_[i], &v_[i], &vmax_[i]}) detail::zero_masked(*t, mask);
}

}  // namespace minidl::nn
