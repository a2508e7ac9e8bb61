// Batch normalisation (Ioffe & Szegedy, 2015) and inverted dropout.
//
// For each channel c, over the M = N·H·W values x_i of that channel:
//   μ = Σx/M,  σ² = Σ(x−μ)²/M,  x̂ = (x−μ)/√(σ²+ε),  y = γ·x̂ + β
// Training uses the batch μ, σ² and updates the running estimates with the
// unbiased variance σ²·M/(M−1), as PyTorch does; eval uses the running ones.
// Backward in training (the batch statistics depend on x):
//   dx = (1/M)·(1/√(σ²+ε))·(M·dx̂ − Σdx̂ − x̂·Σ(dx̂·x̂)),  dx̂ = dy·γ
//   dγ = Σ dy·x̂,  dβ = Σ dy
// In eval the statistics are constants and dx = dy·γ/√(σ²+ε).
#include <cmath>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"

namespace minidl {

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "batch_norm: expected a float32 input");
  MINIDL_CHECK(x.dim() == 2 || x.dim() == 4, "batch_norm: expected input [N, C] or [N, C, H, W], got ",
               to_string(x.shape()));
  MINIDL_CHECK(eps > 0.f, "batch_norm: eps must be > 0, got ", eps);
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1, M = N * HW;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    if (t->defined())
      MINIDL_CHECK(t->dim() == 1 && t->size(0) == C, "batch_norm: per-channel tensors must be [", C, "] for input ",
                   to_string(x.shape()), ", got ", to_string(t->shape()));
  MINIDL_CHECK(running_mean.defined() == running_var.defined(), "batch_norm: give both running statistics or neither");
  const bool use_batch = training || !running_mean.defined();
  MINIDL_CHECK(!use_batch || M > 1, "batch_norm: expected more than 1 value per channel when training, got input ",
               to_string(x.shape()));

  Tensor mean_t = Tensor::empty({C}), invstd_t = Tensor::empty({C});
  float* mu = mean_t.data<float>();
  float* is = invstd_t.data<float>();
  const float* px = x.data<float>();
  if (use_batch) {
#pragma omp parallel for num_threads(threads_for(x.numel())) schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) s += px[(n * C + c) * HW + i];
      const double m = s / double(M);
      double v = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) {
          const double d = px[(n * C + c) * HW + i] - m;
          v += d * d;
        }
      v /= double(M);
      mu[c] = float(m);
      is[c] = float(1.0 / std::sqrt(v + double(eps)));
      if (training && running_mean.defined()) {
        float* rm = running_mean.data<float>();
        float* rv = running_var.data<float>();
        rm[c] = (1.f - momentum) * rm[c] + momentum * float(m);
        rv[c] = (1.f - momentum) * rv[c] + momentum * float(v * double(M) / double(M - 1));
      }
    }
  } else {
    const float* rm = running_mean.data<float>();
    const float* rv = running_var.data<float>();
    for (int64_t c = 0; c < C; ++c) {
      mu[c] = rm[c];
      is[c] = 1.f / std::sqrt(rv[c] + eps);
    }
  }

  Tensor y = Tensor::empty(x.shape());
  float* py = y.data<float>();
  const float* pw = weight.defined() ? weight.data<float>() : nullptr;
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
#pragma omp parallel for collapse(2) num_threads(threads_for(x.numel())) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float scale = (pw ? pw[c] : 1.f) * is[c];
      const float shift = (pb ? pb[c] : 0.f) - mu[c] * scale;
      const float* src = px + (n * C + c) * HW;
      float* dst = py + (n * C + c) * HW;
      for (int64_t i = 0; i < HW; ++i) dst[i] = src[i] * scale + shift;
    }

  return record(y, "batch_norm", {x, weight, bias},
                // weight may be undefined (affine = false); detach() needs a defined tensor
                [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean_t, invstd_t, use_batch, N, C,
                 HW, M, rw = weight.requires_grad(), rb = bias.requires_grad()](const Tensor& gy) {
                  const float* px = x.data<float>();
                  const float* pg = gy.data<float>();
                  const float* mu = mean_t.data<float>();
                  const float* is = invstd_t.data<float>();
                  const float* pw = w.defined() ? w.data<float>() : nullptr;
                  Tensor gx = Tensor::empty(x.shape());
                  Tensor gw = rw ? Tensor::empty({C}) : Tensor();
                  Tensor gb = rb ? Tensor::empty({C}) : Tensor();
                  float* pgx = gx.data<float>();
#pragma omp parallel for num_threads(threads_for(x.numel())) schedule(static)
                  for (int64_t c = 0; c < C; ++c) {
                    double sg = 0, sgx = 0;  // Σdy, Σdy·x̂
                    for (int64_t n = 0; n < N; ++n)
                      for (int64_t i = 0; i < HW; ++i) {
                        const int64_t o = (n * C + c) * HW + i;
                        sg += pg[o];
                        sgx += double(pg[o]) * (px[o] - mu[c]) * is[c];
                      }
                    if (rw) gw.data<float>()[c] = float(sgx);
                    if (rb) gb.data<float>()[c] = float(sg);
                    const float gamma = pw ? pw[c] : 1.f;
                    if (use_batch) {
                      // dx = γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M)
                      const float a = float(sg / double(M)), b = float(sgx / double(M));
                      for (int64_t n = 0; n < N; ++n)
                        for (int64_t i = 0; i < HW; ++i) {
                          const int64_t o = (n * C + c) * HW + i;
                          const float xh = (px[o] - mu[c]) * is[c];
                          pgx[o] = gamma * is[c] * (pg[o] - a - xh * b);
                        }
                    } else {
                      for (int64_t n = 0; n < N; ++n)
                        for (int64_t i = 0; i < HW; ++i) {
                          const int64_t o = (n * C + c) * HW + i;
                          pgx[o] = pg[o] * gamma * is[c];
                        }
                    }
                  }
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

Tensor dropout(const Tensor& x, float p, bool training, Generator& gen) {
  MINIDL_CHECK(p >= 0.f && p < 1.f, "dropout: probability must be in [0, 1), got ", p);
  if (!training || p == 0.f) return x;
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "dropout: expected a float32 input");
  Tensor mask = Tensor::empty(x.shape());  // 0 or 1/(1-p)
  float* pm = mask.data<float>();
  const float keep = 1.f / (1.f - p);
  for (int64_t i = 0, n = x.numel(); i < n; ++i) pm[i] = gen.uniform01() < p ? 0.f : keep;
  Tensor y;
  {
    NoGradGuard ng;  // the product is recorded below as one "dropout" node
    y = mul(x, mask);
  }
  return record(y, "dropout", {x}, [mask](const Tensor& g) { return std::vector<Tensor>{mul(g, mask)}; });
}

}  // namespace minidl
