// tests/gradcheck_reference.h — the double-precision reference implementations
// that tests/test_gradcheck.cpp checks every op against: each written from the
// op's definition with naive loops (direct 7-loop convolution, direct pooling,
// two-pass batch norm, ...), sharing no code with core/.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace minidl::test {

// A dense double tensor.
struct Ref {
  Shape shape;
  std::vector<double> v;
};

inline int64_t count(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}
inline Shape unravel(int64_t flat, const Shape& s) {
  Shape idx(s.size());
  for (size_t i = s.size(); i-- > 0;) {
    idx[i] = flat % s[i];
    flat /= s[i];
  }
  return idx;
}
inline int64_t ravel(const Shape& idx, const Shape& s) {
  int64_t f = 0;
  for (size_t i = 0; i < s.size(); ++i) f = f * s[i] + idx[i];
  return f;
}
std::string str(const Shape& s) { return minidl::to_string(s); }

inline Ref to_ref(const Tensor& t) {
  Ref r{t.shape(), {}};
  const float* p = t.data<float>();
  r.v.assign(p, p + t.numel());
  return r;
}
Ref make(const Shape& s, double fill = 0) { return Ref{s, std::vector<double>(size_t(count(s)), fill)}; }

// ------------------------------------------------------------------ references
// Broadcasting written from the rule: align at the trailing end, stretch 1s.
template <class F>
Ref ref_binary(const Ref& a, const Ref& b, F f) {
  const size_t r = std::max(a.shape.size(), b.shape.size());
  Shape pa(r, 1), pb(r, 1), out(r);
  std::copy(a.shape.begin(), a.shape.end(), pa.begin() + long(r - a.shape.size()));
  std::copy(b.shape.begin(), b.shape.end(), pb.begin() + long(r - b.shape.size()));
  for (size_t i = 0; i < r; ++i) out[i] = std::max(pa[i], pb[i]);
  Ref y = make(out);
  for (int64_t o = 0; o < count(out); ++o) {
    Shape idx = unravel(o, out), ia(r), ib(r);
    for (size_t i = 0; i < r; ++i) {
      ia[i] = pa[i] == 1 ? 0 : idx[i];
      ib[i] = pb[i] == 1 ? 0 : idx[i];
    }
    y.v[size_t(o)] = f(a.v[size_t(ravel(ia, pa))], b.v[size_t(ravel(ib, pb))]);
  }
  return y;
}
template <class F>
Ref ref_unary(const Ref& a, F f) {
  Ref y = a;
  for (double& x : y.v) x = f(x);
  return y;
}
// Sum (scale = 1) or mean (scale = 1/count) over `dims` (empty = all).
inline Ref ref_reduce(const Ref& x, std::vector<int64_t> dims, bool keepdim, bool mean) {
  const int64_t r = int64_t(x.shape.size());
  std::vector<bool> red(size_t(r), dims.empty());
  for (int64_t d : dims) red[size_t(d < 0 ? d + r : d)] = true;
  Shape ks = x.shape;
  int64_t n = 1;
  for (size_t i = 0; i < ks.size(); ++i)
    if (red[i]) n *= ks[i], ks[i] = 1;
  Ref y = make(ks);
  for (int64_t f = 0; f < count(x.shape); ++f) {
    Shape idx = unravel(f, x.shape);
    for (size_t i = 0; i < idx.size(); ++i)
      if (red[i]) idx[i] = 0;
    y.v[size_t(ravel(idx, ks))] += x.v[size_t(f)];
  }
  if (mean)
    for (double& v : y.v) v /= double(n);
  if (!keepdim) {
    Shape s;
    for (size_t i = 0; i < ks.size(); ++i)
      if (!red[i]) s.push_back(ks[i]);
    y.shape = s;
  }
  return y;
}
inline Ref ref_sum_to(const Ref& x, const Shape& s) {
  Ref y = make(s);
  const size_t lead = x.shape.size() - s.size();
  for (int64_t f = 0; f < count(x.shape); ++f) {
    Shape idx = unravel(f, x.shape), t(s.size());
    for (size_t i = 0; i < s.size(); ++i) t[i] = s[i] == 1 ? 0 : idx[i + lead];
    y.v[size_t(ravel(t, s))] += x.v[size_t(f)];
  }
  return y;
}
inline Ref ref_permute(const Ref& x, std::vector<int64_t> p) {
  const int64_t r = int64_t(x.shape.size());
  for (auto& d : p) d = d < 0 ? d + r : d;
  Shape os(static_cast<size_t>(r));
  for (size_t i = 0; i < size_t(r); ++i) os[i] = x.shape[size_t(p[i])];
  Ref y = make(os);
  for (int64_t o = 0; o < count(os); ++o) {
    Shape oi = unravel(o, os), xi(static_cast<size_t>(r));
    for (size_t i = 0; i < size_t(r); ++i) xi[size_t(p[i])] = oi[i];
    y.v[size_t(o)] = x.v[size_t(ravel(xi, x.shape))];
  }
  return y;
}
inline Ref ref_transpose(const Ref& x, int64_t d0, int64_t d1) {
  const int64_t r = int64_t(x.shape.size());
  std::vector<int64_t> p(static_cast<size_t>(r));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[size_t(d0 < 0 ? d0 + r : d0)], p[size_t(d1 < 0 ? d1 + r : d1)]);
  return ref_permute(x, p);
}
Ref ref_reshape(const Ref& x, const Shape& s) { return Ref{s, x.v}; }
inline Ref ref_index_select0(const Ref& x, const std::vector<int64_t>& index) {
  Shape os = x.shape;
  os[0] = int64_t(index.size());
  const int64_t w = count(x.shape) / x.shape[0];
  Ref y = make(os);
  for (size_t i = 0; i < index.size(); ++i)
    for (int64_t j = 0; j < w; ++j) y.v[i * size_t(w) + size_t(j)] = x.v[size_t(index[i] * w + j)];
  return y;
}
inline Ref ref_take(const Ref& x, const std::vector<int64_t>& index, const Shape& shape) {
  Ref y = make(shape);
  for (size_t i = 0; i < index.size(); ++i) y.v[i] = index[i] < 0 ? 0.0 : x.v[size_t(index[i])];
  return y;
}
inline Ref ref_matmul(const Ref& a, const Ref& b) {
  const int64_t m = a.shape[0], k = a.shape[1], n = b.shape[1];
  Ref y = make({m, n});
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t t = 0; t < k; ++t) y.v[size_t(i * n + j)] += a.v[size_t(i * k + t)] * b.v[size_t(t * n + j)];
  return y;
}
inline Ref ref_linear(const Ref& x, const Ref& w, const Ref* b) {
  const int64_t N = x.shape[0], in = x.shape[1], out = w.shape[0];
  Ref y = make({N, out});
  for (int64_t i = 0; i < N; ++i)
    for (int64_t o = 0; o < out; ++o) {
      double s = b ? b->v[size_t(o)] : 0.0;
      for (int64_t k = 0; k < in; ++k) s += x.v[size_t(i * in + k)] * w.v[size_t(o * in + k)];
      y.v[size_t(i * out + o)] = s;
    }
  return y;
}
// The definition: y[n,co,oh,ow] = b[co] + Σ_{ci,kh,kw} x[n,ci,oh·s+kh−p, ow·s+kw−p]·w[co,ci,kh,kw].
inline Ref ref_conv2d(const Ref& x, const Ref& w, const Ref* b, int64_t s, int64_t p) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t CO = w.shape[0], KH = w.shape[2], KW = w.shape[3];
  const int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
  Ref y = make({N, CO, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? b->v[size_t(co)] : 0.0;
          for (int64_t ci = 0; ci < C; ++ci)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * s + kh - p, iw = ow * s + kw - p;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += x.v[size_t(((n * C + ci) * H + ih) * W + iw)] * w.v[size_t(((co * C + ci) * KH + kh) * KW + kw)];
              }
          y.v[size_t(((n * CO + co) * OH + oh) * OW + ow)] = acc;
        }
  return y;
}
inline Ref ref_pool(const Ref& x, int64_t k, int64_t s, int64_t p, bool max) {
  if (s <= 0) s = k;
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  Ref y = make({N, C, OH, OW});
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double acc = max ? -INFINITY : 0.0;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const int64_t ih = oh * s - p + i, iw = ow * s - p + j;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;  // max: −inf pad; avg: zero pad
            const double v = x.v[size_t((nc * H + ih) * W + iw)];
            acc = max ? std::max(acc, v) : acc + v;
          }
        y.v[size_t((nc * OH + oh) * OW + ow)] = max ? acc : acc / double(k * k);
      }
  return y;
}
// Two passes per channel: the mean, then the biased variance of the deviations.
inline Ref ref_batch_norm(const Ref& x, const Ref* w, const Ref* b, const Ref* rm, const Ref* rv, bool training, double eps) {
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape.size() == 4 ? x.shape[2] * x.shape[3] : 1;
  Ref y = make(x.shape);
  for (int64_t c = 0; c < C; ++c) {
    double mu, var;
    if (training || !rm) {
      mu = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) mu += x.v[size_t((n * C + c) * HW + i)];
      mu /= double(N * HW);
      var = 0;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < HW; ++i) var += std::pow(x.v[size_t((n * C + c) * HW + i)] - mu, 2);
      var /= double(N * HW);
    } else {
      mu = rm->v[size_t(c)];
      var = rv->v[size_t(c)];
    }
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t o = size_t((n * C + c) * HW + i);
        const double xh = (x.v[o] - mu) / std::sqrt(var + eps);
        y.v[o] = (w ? w->v[size_t(c)] : 1.0) * xh + (b ? b->v[size_t(c)] : 0.0);
      }
  }
  return y;
}
inline Ref ref_softmax(const Ref& x, int64_t dim, bool log) {
  const int64_t r = int64_t(x.shape.size());
  if (dim < 0) dim += r;
  Ref y = make(x.shape);
  for (int64_t f = 0; f < count(x.shape); ++f) {
    Shape idx = unravel(f, x.shape);
    double z = 0;  // Σ_k exp(x_k) along dim (inputs here are small enough not to overflow)
    for (int64_t k = 0; k < x.shape[size_t(dim)]; ++k) {
      idx[size_t(dim)] = k;
      z += std::exp(x.v[size_t(ravel(idx, x.shape))]);
    }
    y.v[size_t(f)] = log ? x.v[size_t(f)] - std::log(z) : std::exp(x.v[size_t(f)]) / z;
  }
  return y;
}
inline Ref ref_cross_entropy(const Ref& z, const std::vector<int64_t>& t) {
  const int64_t N = z.shape[0], C = z.shape[1];
  double L = 0;
  for (int64_t i = 0; i < N; ++i) {
    double m = -INFINITY, s = 0;
    for (int64_t k = 0; k < C; ++k) m = std::max(m, z.v[size_t(i * C + k)]);
    for (int64_t k = 0; k < C; ++k) s += std::exp(z.v[size_t(i * C + k)] - m);
    L += m + std::log(s) - z.v[size_t(i * C + t[size_t(i)])];
  }
  return Ref{{}, {L / double(N)}};
}
inline Ref ref_mse(const Ref& a, const Ref& b) {
  double s = 0;
  for (size_t i = 0; i < a.v.size(); ++i) s += (a.v[i] - b.v[i]) * (a.v[i] - b.v[i]);
  return Ref{{}, {s / double(a.v.size())}};
}

// KL(p ‖ q) summed over everything, divided by dim 0 (batchmean); x = log q.
inline Ref ref_kl_div(const Ref& x, const Ref& t, bool log_target) {
  double L = 0;
  for (size_t i = 0; i < x.v.size(); ++i) {
    const double p = log_target ? std::exp(t.v[i]) : t.v[i];
    const double logp = log_target ? t.v[i] : std::log(t.v[i]);
    if (p > 0) L += p * (logp - x.v[i]);
  }
  return Ref{{}, {L / double(x.shape[0])}};
}

}  // namespace minidl::test
