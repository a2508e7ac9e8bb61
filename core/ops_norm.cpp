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
// batch_norm_relu is relu(batch_norm(...)) in the same passes: the forward
// clamps as it writes y, the backward masks dy by y > 0 as it reads it.
//
// How the passes are laid out (each is memory-bound: the seed CNN's bn2 sees
// 9.4 MB per batch):
//  - per-channel sums run one channel per thread (channels split in
//    contiguous ranges), each in 8 interleaved double lanes combined in a fixed
//    order: the same bits for any thread count, and 8 independent additions
//    per step instead of one chain that waits on every add's latency (the
//    single `double` chain this replaced ran at ~4 cycles per element, ~60% of
//    BatchNorm's time in the seed CNN);
//  - the statistics take one pass, not two: Σ(x − k) and Σ(x − k)² with k
//    the channel's first value, in double. Shifting by a value of the channel
//    keeps the cancellation in Σ(x−k)² − (Σ(x−k))²/M at the size of the
//    variance itself, so double's 1e-16 stays far below float's rounding;
//  - the backward sums Σdy and Σdy·(x − μ) in one pass (μ from the forward),
//    then dx in a second; elementwise passes split the N·C planes.
#include <cmath>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"

namespace minidl {

namespace {

struct Sums {
  double a, b;
};

double combine(const double* l) { return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); }

// Σ (x − k) and Σ (x − k)² over channel c's N planes of HW values (plane n
// at x + n·stride).
Sums moments(const float* x, int64_t N, int64_t stride, int64_t HW, double k) {
  double s1[8] = {}, s2[8] = {};
  for (int64_t n = 0; n < N; ++n) {
    const float* p = x + n * stride;
    int64_t i = 0;
    for (; i + 8 <= HW; i += 8)
      for (int j = 0; j < 8; ++j) {
        const double d = double(p[i + j]) - k;
        s1[j] += d;
        s2[j] += d * d;
      }
    for (; i < HW; ++i) {
      const double d = double(p[i]) - k;
      s1[i % 8] += d;
      s2[i % 8] += d * d;
    }
  }
  return {combine(s1), combine(s2)};
}

// Σ dy and Σ dy·(x − μ) over one channel; with Relu, dy counts only where y > 0.
template <bool Relu>
Sums grad_sums(const float* g, const float* y, const float* x, int64_t N, int64_t stride, int64_t HW, double mu) {
  double s1[8] = {}, s2[8] = {};
  for (int64_t n = 0; n < N; ++n) {
    const float* gp = g + n * stride;
    const float* yp = Relu ? y + n * stride : nullptr;
    const float* xp = x + n * stride;
    int64_t i = 0;
    for (; i + 8 <= HW; i += 8)
      for (int j = 0; j < 8; ++j) {
        const double gv = !Relu || yp[i + j] > 0.f ? double(gp[i + j]) : 0.0;
        s1[j] += gv;
        s2[j] += gv * (double(xp[i + j]) - mu);
      }
    for (; i < HW; ++i) {
      const double gv = !Relu || yp[i] > 0.f ? double(gp[i]) : 0.0;
      s1[i % 8] += gv;
      s2[i % 8] += gv * (double(xp[i]) - mu);
    }
  }
  return {combine(s1), combine(s2)};
}

// One plane of the training dx: c1·(dy − a) − c2·(x − μ), i.e.
// γ·invstd·(dy − Σdy/M − x̂·Σ(dy·x̂)/M).
template <bool Relu>
void dx_plane(float* __restrict dx, const float* __restrict g, const float* __restrict y, const float* __restrict x,
              int64_t HW, float mu, float a, float c1, float c2) {
  for (int64_t i = 0; i < HW; ++i) {
    const float gv = !Relu || y[i] > 0.f ? g[i] : 0.f;
    dx[i] = c1 * (gv - a) - c2 * (x[i] - mu);
  }
}

template <bool Relu>
void scale_plane(float* __restrict dx, const float* __restrict g, const float* __restrict y, int64_t HW, float c1) {
  for (int64_t i = 0; i < HW; ++i) dx[i] = (!Relu || y[i] > 0.f ? g[i] : 0.f) * c1;
}

template <bool Relu>
void normalize_plane(float* __restrict y, const float* __restrict x, int64_t HW, float scale, float shift) {
  for (int64_t i = 0; i < HW; ++i) {
    const float v = x[i] * scale + shift;
    y[i] = Relu ? (v > 0.f ? v : 0.f) : v;
  }
}

Tensor batch_norm_op(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                     Tensor running_var, bool training, float momentum, float eps, bool relu) {
  const char* op = relu ? "batch_norm_relu" : "batch_norm";
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, op, ": expected a float32 input");
  MINIDL_CHECK(x.dim() == 2 || x.dim() == 4, op, ": expected input [N, C] or [N, C, H, W], got ",
               to_string(x.shape()));
  MINIDL_CHECK(eps > 0.f, op, ": eps must be > 0, got ", eps);
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1, M = N * HW;
  for (const Tensor* t : std::initializer_list<const Tensor*>{&weight, &bias, &running_mean, &running_var})
    if (t->defined())
      MINIDL_CHECK(t->dim() == 1 && t->size(0) == C, op, ": per-channel tensors must be [", C, "] for input ",
                   to_string(x.shape()), ", got ", to_string(t->shape()));
  MINIDL_CHECK(running_mean.defined() == running_var.defined(), op, ": give both running statistics or neither");
  const bool use_batch = training || !running_mean.defined();
  MINIDL_CHECK(!use_batch || M > 1, op, ": expected more than 1 value per channel when training, got input ",
               to_string(x.shape()));

  Tensor mean_t = Tensor::empty({C}), invstd_t = Tensor::empty({C});
  float* mu = mean_t.data<float>();
  float* is = invstd_t.data<float>();
  const float* px = x.data<float>();
  const int T = threads_for(x.numel());
  if (use_batch) {
    float* rm = running_mean.defined() ? running_mean.data<float>() : nullptr;
    float* rv = running_var.defined() ? running_var.data<float>() : nullptr;
    parallel_range(C, T, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        const float* xc = px + c * HW;
        const double k = M > 0 ? double(xc[0]) : 0.0;
        const Sums s = moments(xc, N, C * HW, HW, k);
        const double d = s.a / double(M), m = k + d, v = std::max(0.0, s.b / double(M) - d * d);
        mu[c] = float(m);
        is[c] = float(1.0 / std::sqrt(v + double(eps)));
        if (training && rm) {
          rm[c] = (1.f - momentum) * rm[c] + momentum * float(m);
          rv[c] = (1.f - momentum) * rv[c] + momentum * float(v * double(M) / double(M - 1));
        }
      }
    });
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
  parallel_range(N * C, T, [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const int64_t c = pl % C;
      const float scale = (pw ? pw[c] : 1.f) * is[c];
      const float shift = (pb ? pb[c] : 0.f) - mu[c] * scale;
      if (relu) normalize_plane<true>(py + pl * HW, px + pl * HW, HW, scale, shift);
      else normalize_plane<false>(py + pl * HW, px + pl * HW, HW, scale, shift);
    }
  });
  if (!needs_grad({&x, &weight, &bias})) return y;  // inference: no closure to build

  return record(y, op, {x, weight, bias},
                // weight may be undefined (affine = false); detach() needs a defined tensor
                [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), ym = relu ? y.detach() : Tensor(),
                 mean_t, invstd_t, use_batch, N, C, HW, M, rw = weight.requires_grad(),
                 rb = bias.requires_grad()](const Tensor& gy) {
                  const float* px = x.data<float>();
                  const float* pg = gy.data<float>();
                  const float* pym = ym.defined() ? ym.data<float>() : nullptr;
                  const float* mu = mean_t.data<float>();
                  const float* is = invstd_t.data<float>();
                  const float* pw = w.defined() ? w.data<float>() : nullptr;
                  Tensor gx = Tensor::empty(x.shape());
                  Tensor gw = rw ? Tensor::empty({C}) : Tensor();
                  Tensor gb = rb ? Tensor::empty({C}) : Tensor();
                  float* pgx = gx.data<float>();
                  // Per channel: Σdy, Σdy·x̂ (the parameter gradients), and
                  // the two coefficients of the training dx.
                  Tensor coef = Tensor::empty({C, 3});
                  float* cf = coef.data<float>();
                  const int T = threads_for(x.numel());
                  parallel_range(C, T, [&](int64_t c0, int64_t c1) {
                    for (int64_t c = c0; c < c1; ++c) {
                      const Sums s = pym ? grad_sums<true>(pg + c * HW, pym + c * HW, px + c * HW, N, C * HW, HW, mu[c])
                                         : grad_sums<false>(pg + c * HW, nullptr, px + c * HW, N, C * HW, HW, mu[c]);
                      const double sg = s.a, sgx = s.b * double(is[c]);  // Σdy, Σdy·x̂
                      if (rw) gw.data<float>()[c] = float(sgx);
                      if (rb) gb.data<float>()[c] = float(sg);
                      const float gamma = pw ? pw[c] : 1.f;
                      cf[3 * c] = float(sg / double(M));                                   // a = Σdy/M
                      cf[3 * c + 1] = gamma * is[c];                                        // c1 = γ·invstd
                      cf[3 * c + 2] = gamma * is[c] * is[c] * float(sgx / double(M));       // c2 = c1·invstd·Σ(dy·x̂)/M
                    }
                  });
                  parallel_range(N * C, T, [&](int64_t p0, int64_t p1) {
                    for (int64_t pl = p0; pl < p1; ++pl) {
                      const int64_t c = pl % C, o = pl * HW;
                      const float* yp = pym ? pym + o : nullptr;
                      if (use_batch) {
                        if (pym) dx_plane<true>(pgx + o, pg + o, yp, px + o, HW, mu[c], cf[3 * c], cf[3 * c + 1], cf[3 * c + 2]);
                        else dx_plane<false>(pgx + o, pg + o, yp, px + o, HW, mu[c], cf[3 * c], cf[3 * c + 1], cf[3 * c + 2]);
                      } else {
                        if (pym) scale_plane<true>(pgx + o, pg + o, yp, HW, cf[3 * c + 1]);
                        else scale_plane<false>(pgx + o, pg + o, yp, HW, cf[3 * c + 1]);
                      }
                    }
                  });
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps) {
  return batch_norm_op(x, weight, bias, std::move(running_mean), std::move(running_var), training, momentum, eps,
                       false);
}

Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, bool training, float momentum, float eps) {
  return batch_norm_op(x, weight, bias, std::move(running_mean), std::move(running_var), training, momentum, eps,
                       true);
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
