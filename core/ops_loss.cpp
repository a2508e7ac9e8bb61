// Softmax, log-softmax and the losses.
//
// log_softmax(x)_j = x_j − m − log Σ_k exp(x_k − m), m = max_k x_k (subtracting
// the max keeps exp from overflowing). cross_entropy fuses it with the
// negative log-likelihood:
//   L = (1/N) Σ_i [ log Σ_k exp(z_ik) − z_i,t_i ],   dL/dz_ik = (softmax(z_i)_k − [k = t_i]) / N
// which is both cheaper and more accurate than composing the two ops.
#include <cmath>

#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

namespace {

struct DimSplit {
  int64_t outer, n, inner;
};

DimSplit split_dim(const Tensor& x, int64_t& dim, const char* op) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, op, ": expected a float32 tensor");
  const int64_t r = x.dim();
  MINIDL_CHECK(r >= 1 && dim >= -r && dim < r, op, ": dimension ", dim, " out of range for shape ",
               to_string(x.shape()));
  if (dim < 0) dim += r;
  DimSplit s{1, x.shape()[size_t(dim)], 1};
  for (int64_t i = 0; i < dim; ++i) s.outer *= x.shape()[size_t(i)];
  for (int64_t i = dim + 1; i < r; ++i) s.inner *= x.shape()[size_t(i)];
  return s;
}

// out = log_softmax (log = true) or softmax of x along the split dimension.
void softmax_kernel(const float* x, float* out, const DimSplit& s, bool log) {
#pragma omp parallel for num_threads(threads_for(s.outer * s.n * s.inner)) schedule(static)
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const float* px = x + o * s.n * s.inner + i;
      float* po = out + o * s.n * s.inner + i;
      float m = px[0];
      for (int64_t k = 1; k < s.n; ++k) m = std::max(m, px[k * s.inner]);
      double z = 0;
      for (int64_t k = 0; k < s.n; ++k) z += std::exp(double(px[k * s.inner] - m));
      const float lz = float(std::log(z));
      for (int64_t k = 0; k < s.n; ++k) {
        const float v = px[k * s.inner] - m - lz;
        po[k * s.inner] = log ? v : std::exp(v);
      }
    }
}

// The backward of softmax and log_softmax along each row (k over s.n, stride
// s.inner): first a sum over the row, acc = Σ_k term(g_k, y_k), then
// dx_k = grad(g_k, y_k, acc).
template <class Term, class Grad>
Tensor rowwise_backward(const Tensor& y, const Tensor& g, const DimSplit& s, Term term, Grad grad) {
  Tensor gx = Tensor::empty(y.shape());
  const float* py = y.data<float>();
  const float* pg = g.data<float>();
  float* px = gx.data<float>();
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      const int64_t b = o * s.n * s.inner + i;
      double acc = 0;
      for (int64_t k = 0; k < s.n; ++k) acc += term(pg[b + k * s.inner], py[b + k * s.inner]);
      for (int64_t k = 0; k < s.n; ++k) px[b + k * s.inner] = grad(pg[b + k * s.inner], py[b + k * s.inner], float(acc));
    }
  return gx;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  const DimSplit s = split_dim(x, dim, "softmax");
  Tensor y = Tensor::empty(x.shape());
  softmax_kernel(x.data<float>(), y.data<float>(), s, false);
  // dx_j = y_j · (g_j − Σ_k g_k y_k)
  return record(y, "softmax", {x}, [y = y.detach(), s](const Tensor& g) {
    return std::vector<Tensor>{rowwise_backward(
        y, g, s, [](float gk, float yk) { return double(gk) * yk; },
        [](float gk, float yk, float dot) { return yk * (gk - dot); })};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  const DimSplit s = split_dim(x, dim, "log_softmax");
  Tensor y = Tensor::empty(x.shape());
  softmax_kernel(x.data<float>(), y.data<float>(), s, true);
  // dx_j = g_j − softmax_j · Σ_k g_k   (softmax_j = exp(y_j))
  return record(y, "log_softmax", {x}, [y = y.detach(), s](const Tensor& g) {
    return std::vector<Tensor>{rowwise_backward(
        y, g, s, [](float gk, float) { return double(gk); },
        [](float gk, float yk, float sum) { return gk - std::exp(yk) * sum; })};
  });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets) {
  MINIDL_CHECK(logits.defined() && logits.dtype() == DType::Float32 && logits.dim() == 2,
               "cross_entropy: expected float32 logits [N, C], got ",
               logits.defined() ? to_string(logits.shape()) : std::string("undefined"));
  MINIDL_CHECK(targets.defined() && targets.dtype() == DType::Int64 && targets.dim() == 1,
               "cross_entropy: expected int64 targets [N]");
  const int64_t N = logits.size(0), C = logits.size(1);
  MINIDL_CHECK(targets.size(0) == N, "cross_entropy: logits ", to_string(logits.shape()), " and targets ",
               to_string(targets.shape()), " disagree on the batch size");
  MINIDL_CHECK(N > 0, "cross_entropy: empty batch");
  const int64_t* pt = targets.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    MINIDL_CHECK(pt[i] >= 0 && pt[i] < C, "cross_entropy: target ", pt[i], " at index ", i, " is out of range [0, ",
                 C, ")");
  Tensor logp = Tensor::empty({N, C});
  softmax_kernel(logits.data<float>(), logp.data<float>(), DimSplit{N, C, 1}, true);
  const float* pl = logp.data<float>();
  double loss = 0;
  for (int64_t i = 0; i < N; ++i) loss -= pl[i * C + pt[i]];
  Tensor out = Tensor::scalar(float(loss / double(N)));
  return record(out, "cross_entropy", {logits}, [logp, targets, N, C](const Tensor& g) {
    const float scale = g.item() / float(N);
    Tensor gz = Tensor::empty({N, C});
    const float* pl = logp.data<float>();
    const int64_t* pt = targets.data<int64_t>();
    float* pz = gz.data<float>();
    for (int64_t i = 0; i < N; ++i)
      for (int64_t k = 0; k < C; ++k)
        pz[i * C + k] = (std::exp(pl[i * C + k]) - (k == pt[i] ? 1.f : 0.f)) * scale;
    return std::vector<Tensor>{gz};
  });
}

Tensor mse_loss(const Tensor& input, const Tensor& target) {
  MINIDL_CHECK(input.defined() && target.defined() && input.dtype() == DType::Float32 &&
                   target.dtype() == DType::Float32,
               "mse_loss: expected float32 tensors");
  MINIDL_CHECK(input.shape() == target.shape(), "mse_loss: input ", to_string(input.shape()), " and target ",
               to_string(target.shape()), " must have the same shape");
  const int64_t n = input.numel();
  MINIDL_CHECK(n > 0, "mse_loss: empty input");
  const float* a = input.data<float>();
  const float* b = target.data<float>();
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += double(a[i] - b[i]) * (a[i] - b[i]);
  Tensor out = Tensor::scalar(float(s / double(n)));
  // dL/da = 2(a − b)/n, dL/db = −dL/da
  return record(out, "mse_loss", {input, target}, [a = input.detach(), b = target.detach(), n](const Tensor& g) {
    Tensor ga = Tensor::empty(a.shape());
    const float* pa = a.data<float>();
    const float* pb = b.data<float>();
    float* pg = ga.data<float>();
    const float k = 2.f * g.item() / float(n);
    for (int64_t i = 0; i < n; ++i) pg[i] = k * (pa[i] - pb[i]);
    return std::vector<Tensor>{ga, neg(ga)};
  });
}

// KL(p ‖ q) per example, averaged over dim 0 (reduction='batchmean'):
//   L = (1/N) Σ_j ℓ_j,  ℓ_j = p_j (log p_j − x_j)  (x = log q; ℓ_j = 0 where p_j = 0)
//   dL/dx_j = −p_j / N
//   dL/dp_j = (log p_j + 1 − x_j) / N  for p_j > 0, and 0 at p_j = 0 (PyTorch's choice)
// With log_target the target is t = log p: ℓ_j = e^{t_j} (t_j − x_j),
//   dL/dx_j = −e^{t_j} / N,  dL/dt_j = e^{t_j} (t_j − x_j + 1) / N.
// Sums run in double: the soft term of distillation multiplies KL by T², so a
// float accumulation's rounding would be amplified 64-fold at T = 8.
Tensor kl_div(const Tensor& log_input, const Tensor& target, bool log_target) {
  MINIDL_CHECK(log_input.defined() && target.defined() && log_input.dtype() == DType::Float32 &&
                   target.dtype() == DType::Float32,
               "kl_div: expected float32 log_input and target");
  MINIDL_CHECK(log_input.shape() == target.shape(), "kl_div: log_input ", to_string(log_input.shape()),
               " and target ", to_string(target.shape()), " must have the same shape");
  MINIDL_CHECK(log_input.dim() >= 1 && log_input.numel() > 0, "kl_div: expected a non-empty [N, ...] input, got ",
               to_string(log_input.shape()));
  const int64_t n = log_input.numel(), N = log_input.size(0);
  const float* px = log_input.data<float>();
  const float* pt = target.data<float>();
  double L = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (log_target) {
      L += std::exp(double(pt[i])) * (double(pt[i]) - double(px[i]));
    } else {
      MINIDL_CHECK(pt[i] >= 0.f, "kl_div: target must hold probabilities (>= 0), got ", pt[i], " at flat index ", i,
                   " (pass log_target = true for log-probabilities)");
      if (pt[i] > 0.f) L += double(pt[i]) * (std::log(double(pt[i])) - double(px[i]));
    }
  }
  Tensor out = Tensor::scalar(float(L / double(N)));
  return record(out, "kl_div", {log_input, target},
                [x = log_input.detach(), t = target.detach(), n, N, log_target](const Tensor& g) {
                  const double k = double(g.item()) / double(N);
                  Tensor gx = Tensor::empty(x.shape()), gt = Tensor::empty(t.shape());
                  const float* px = x.data<float>();
                  const float* pt = t.data<float>();
                  float* dx = gx.data<float>();
                  float* dt = gt.data<float>();
                  for (int64_t i = 0; i < n; ++i) {
                    const double ti = pt[i], xi = px[i];
                    if (log_target) {
                      const double p = std::exp(ti);
                      dx[i] = float(-p * k);
                      dt[i] = float(p * (ti - xi + 1) * k);
                    } else {
                      dx[i] = float(-ti * k);
                      dt[i] = ti > 0 ? float((std::log(ti) + 1 - xi) * k) : 0.f;
                    }
                  }
                  return std::vector<Tensor>{gx, gt};
                });
}

}  // namespace minidl
