// tests/gradcheck_table.h — the rows of tests/test_gradcheck.cpp: every
// differentiable op of core/ops.h with its cases, float32 inputs, and a
// double-precision reference (tests/gradcheck_reference.h). How each row is
// checked, with the tolerances and why, is at the top of test_gradcheck.cpp;
// what this file guarantees the checker is the kink rule there: inputs are
// drawn so that no ±h step (h = 1e-2) crosses a kink of the op.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/random.h"
#include "core/tensor.h"
#include "gradcheck_reference.h"

namespace minidl::test {

// ------------------------------------------------------------------ inputs
// All inputs come from one seeded generator, so the table is the same every run.
inline Tensor randn(const Shape& s, Generator& g, float scale = 1.f) { return Tensor::normal(s, 0.f, scale, g); }
inline Tensor uniform(const Shape& s, float lo, float hi, Generator& g) { return Tensor::uniform(s, lo, hi, g); }
// |x| in [0.2, 1.5] with a random sign: never within h of 0 (relu's kink, division by ~0).
inline Tensor away_from_zero(const Shape& s, Generator& g, float lo = 0.2f) {
  Tensor t = uniform(s, lo, 1.5f, g);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (g.uniform01() < 0.5f) p[i] = -p[i];
  return t;
}
// A random permutation of {(k − n/2)·0.05}: distinct values ≥ 0.05 > 2h apart,
// so max pooling has no ties and no ±h step changes an arg-max.
inline Tensor distinct(const Shape& s, Generator& g) {
  const int64_t n = count(s);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i - n / 2) * 0.05f;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[size_t(i)], v[size_t(g.randint(uint64_t(i + 1)))]);
  return Tensor::from_vector(v, s);
}
inline std::vector<int64_t> dropout_mask_draws(int64_t n, uint64_t seed, float p, std::vector<double>& mask) {
  // The documented draw rule of dropout(): one uniform01() per element, in order;
  // the element is dropped when the draw is < p, else scaled by 1/(1 − p).
  Generator g(seed);
  mask.assign(size_t(n), 0.0);
  std::vector<int64_t> dropped;
  for (int64_t i = 0; i < n; ++i) {
    if (g.uniform01() < p)
      dropped.push_back(i);
    else
      mask[size_t(i)] = 1.0 / (1.0 - double(p));
  }
  return dropped;
}

// ------------------------------------------------------------------ the table
using Fwd = std::function<Tensor(const std::vector<Tensor>&)>;
using RefFn = std::function<Ref(const std::vector<Ref>&)>;

struct Case {
  std::string op, name;
  std::vector<Tensor> in;  // float32 inputs
  std::vector<bool> diff;  // inputs that take a gradient (the rest are constants)
  Fwd f;
  RefFn ref;
  // Straight-through ops (fake_quantize): the forward is a staircase whose true derivative
  // is 0 almost everywhere, and the backward is by definition the derivative of a surrogate.
  // For such rows (a) checks the forward against `ref`, (b) — finite differences of the
  // staircase — is skipped, and (c) checks the gradient against finite differences of
  // this double-precision surrogate instead.
  RefFn ste_ref = nullptr;
};

inline std::vector<Case> build_table() {
  Generator g(20240601);
  std::vector<Case> T;
  auto add = [&](std::string op, std::string name, std::vector<Tensor> in, std::vector<bool> diff, Fwd f, RefFn ref) {
    T.push_back(Case{std::move(op), std::move(name), std::move(in), std::move(diff), f, ref});
  };

  // ---- binary elementwise with broadcasting
  struct Pair {
    Shape a, b;
    const char* name;
  };
  const std::vector<Pair> pairs = {
      {{2, 3}, {2, 3}, "same shape"},
      {{2, 3}, {}, "tensor op 0-d scalar"},
      {{}, {2, 3}, "0-d scalar op tensor"},
      {{2, 3}, {1}, "tensor op [1]"},
      {{2, 3, 4}, {4}, "leading dims [2,3,4] op [4]"},
      {{3}, {2, 2, 3}, "leading dims [3] op [2,2,3]"},
      {{2, 3, 4}, {3, 1}, "[2,3,4] op [3,1]"},
      {{2, 1, 4}, {3, 1}, "both stretch [2,1,4] op [3,1]"},
      {{2, 3, 2, 2}, {1, 3, 1, 1}, "NCHW op [1,C,1,1]"},
      {{1, 3, 1, 1}, {2, 3, 2, 2}, "[1,C,1,1] op NCHW"},
      {{4, 1}, {1, 5}, "outer [4,1] op [1,5]"},
  };
  for (const Pair& p : pairs) {
    add(
        "add", p.name, {randn(p.a, g), randn(p.b, g)}, {true, true},
        [](const auto& x) { return minidl::add(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a + b; }); });
    add(
        "sub", p.name, {randn(p.a, g), randn(p.b, g)}, {true, true},
        [](const auto& x) { return minidl::sub(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a - b; }); });
    add(
        "mul", p.name, {randn(p.a, g), randn(p.b, g)}, {true, true},
        [](const auto& x) { return minidl::mul(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a * b; }); });
    add(
        "div", p.name, {randn(p.a, g), away_from_zero(p.b, g, 0.5f)}, {true, true},
        [](const auto& x) { return minidl::div(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a / b; }); });
  }
  add(
      "mul", "same tensor twice (x*x)", {randn({3, 4}, g)}, {true},
      [](const auto& x) { return minidl::mul(x[0], x[0]); },
      [](const auto& r) { return ref_binary(r[0], r[0], [](double a, double b) { return a * b; }); });
  add(
      "mul", "only rhs takes grad", {randn({2, 3}, g), randn({3}, g)}, {false, true},
      [](const auto& x) { return minidl::mul(x[0], x[1]); },
      [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a * b; }); });

  // ---- scalar and unary
  add(
      "add_scalar", "x + 2.5", {randn({2, 3, 2}, g)}, {true}, [](const auto& x) { return minidl::add(x[0], 2.5f); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return a + 2.5; }); });
  add(
      "mul_scalar", "x * -1.5", {randn({2, 3, 2}, g)}, {true}, [](const auto& x) { return minidl::mul(x[0], -1.5f); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return a * -1.5; }); });
  add(
      "mul_scalar", "operators (3 - x) / 4", {randn({5}, g)}, {true}, [](const auto& x) { return (3.f - x[0]) / 4.f; },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return (3 - a) / 4; }); });
  add(
      "neg", "[3,4]", {randn({3, 4}, g)}, {true}, [](const auto& x) { return minidl::neg(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return -a; }); });
  add(
      "exp", "x in [-2,2]", {uniform({3, 4}, -2.f, 2.f, g)}, {true}, [](const auto& x) { return minidl::exp(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::exp(a); }); });
  add(
      "log", "x in [0.5,2]", {uniform({3, 4}, 0.5f, 2.f, g)}, {true}, [](const auto& x) { return minidl::log(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::log(a); }); });
  add(
      "relu", "|x| >= 0.2", {away_from_zero({4, 5}, g)}, {true}, [](const auto& x) { return minidl::relu(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return a > 0 ? a : 0.0; }); });
  add(
      "sigmoid", "x ~ N(0,4)", {randn({3, 4}, g, 2.f)}, {true}, [](const auto& x) { return minidl::sigmoid(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return 1 / (1 + std::exp(-a)); }); });
  add(
      "tanh", "x ~ N(0,1)", {randn({3, 4}, g)}, {true}, [](const auto& x) { return minidl::tanh(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::tanh(a); }); });
  for (float p : {2.f, 3.f, 0.5f, -1.5f, 1.7f}) {
    add(
        "pow", "x^" + std::to_string(p).substr(0, 4) + ", x in [0.5,2]", {uniform({3, 4}, 0.5f, 2.f, g)}, {true},
        [p](const auto& x) { return minidl::pow(x[0], p); },
        [p](const auto& r) { return ref_unary(r[0], [p](double a) { return std::pow(a, double(p)); }); });
  }
  for (float p : {2.f, 3.f})
    add(
        "pow", "integer exponent " + std::to_string(int(p)) + ", signed x", {randn({3, 4}, g)}, {true},
        [p](const auto& x) { return minidl::pow(x[0], p); },
        [p](const auto& r) { return ref_unary(r[0], [p](double a) { return std::pow(a, double(p)); }); });
  add(
      "sqrt", "x in [0.5,2]", {uniform({3, 4}, 0.5f, 2.f, g)}, {true}, [](const auto& x) { return minidl::sqrt(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::sqrt(a); }); });

  // ---- reductions
  const std::vector<std::vector<int64_t>> dim_sets = {{},     {0},      {1},    {2},       {-1},
                                                      {0, 2}, {-3, -1}, {1, 2}, {0, 1, 2}, {-2}};
  for (const auto& dims : dim_sets)
    for (bool keep : {false, true}) {
      std::string dn = "dims ";
      for (int64_t d : dims) dn += std::to_string(d) + " ";
      if (dims.empty()) dn = "all dims ";
      dn += keep ? "keepdim" : "no keepdim";
      add(
          "sum", dn, {randn({2, 3, 4}, g)}, {true},
          [dims, keep](const auto& x) { return minidl::sum(x[0], dims, keep); },
          [dims, keep](const auto& r) { return ref_reduce(r[0], dims, keep, false); });
      add(
          "mean", dn, {randn({2, 3, 4}, g)}, {true},
          [dims, keep](const auto& x) { return minidl::mean(x[0], dims, keep); },
          [dims, keep](const auto& r) { return ref_reduce(r[0], dims, keep, true); });
    }
  add(
      "sum", "0-d input", {randn({}, g)}, {true}, [](const auto& x) { return minidl::sum(x[0], {}); },
      [](const auto& r) { return ref_reduce(r[0], {}, false, false); });
  add(
      "sum", "Tensor::sum() of [7]", {randn({7}, g)}, {true}, [](const auto& x) { return x[0].sum(); },
      [](const auto& r) { return ref_reduce(r[0], {}, false, false); });
  add(
      "mean", "Tensor::mean() of [2,5]", {randn({2, 5}, g)}, {true}, [](const auto& x) { return x[0].mean(); },
      [](const auto& r) { return ref_reduce(r[0], {}, false, true); });
  for (const Shape& to :
       std::vector<Shape>{{3, 4}, {4}, {1, 4}, {3, 1}, {2, 1, 4}, {2, 3, 1}, {1, 1, 1}, {}, {2, 3, 4}})
    add(
        "sum_to", "[2,3,4] -> " + str(to), {randn({2, 3, 4}, g)}, {true},
        [to](const auto& x) { return minidl::sum_to(x[0], to); }, [to](const auto& r) { return ref_sum_to(r[0], to); });

  // ---- shape
  for (const Shape& s : std::vector<Shape>{{6, 4}, {-1, 2}, {24}, {4, -1, 3}, {1, 24, 1}}) {
    Shape real = s;
    for (auto& d : real)
      if (d == -1) d = 24 / -count(s);
    add(
        "reshape", str(s), {randn({2, 3, 4}, g)}, {true}, [s](const auto& x) { return minidl::reshape(x[0], s); },
        [real](const auto& r) { return ref_reshape(r[0], real); });
  }
  add(
      "reshape", "Tensor::view", {randn({2, 6}, g)}, {true},
      [](const auto& x) {
        return x[0].view({3, 4});
      },
      [](const auto& r) {
        return ref_reshape(r[0], {3, 4});
      });
  struct Fl {
    int64_t a, b;
    Shape out;
  };
  for (const Fl& fl :
       std::vector<Fl>{{0, -1, {48}}, {1, -1, {2, 24}}, {0, 1, {6, 4, 2}}, {-2, -1, {2, 3, 8}}, {1, 2, {2, 12, 2}}})
    add(
        "flatten", "flatten(" + std::to_string(fl.a) + ", " + std::to_string(fl.b) + ")", {randn({2, 3, 4, 2}, g)},
        {true}, [fl](const auto& x) { return minidl::flatten(x[0], fl.a, fl.b); },
        [fl](const auto& r) { return ref_reshape(r[0], fl.out); });
  for (const auto& dims : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {1, -1}, {0, 1}, {2, 2}}) {
    const int64_t d0 = dims.first, d1 = dims.second;  // (clang 14 cannot capture structured bindings)
    add(
        "transpose", "[2,3,4] (" + std::to_string(d0) + ", " + std::to_string(d1) + ")", {randn({2, 3, 4}, g)}, {true},
        [d0, d1](const auto& x) { return minidl::transpose(x[0], d0, d1); },
        [d0, d1](const auto& r) { return ref_transpose(r[0], d0, d1); });
  }
  add(
      "transpose", "Tensor::t() of [3,5]", {randn({3, 5}, g)}, {true}, [](const auto& x) { return x[0].t(); },
      [](const auto& r) { return ref_transpose(r[0], 0, 1); });
  for (const std::vector<int64_t>& p : std::vector<std::vector<int64_t>>{{2, 0, 1}, {1, 0, 2}, {-1, 0, 1}, {0, 1, 2}}) {
    std::string pn;
    for (int64_t d : p) pn += std::to_string(d) + " ";
    add(
        "permute", "[2,3,4] {" + pn + "}", {randn({2, 3, 4}, g)}, {true},
        [p](const auto& x) { return minidl::permute(x[0], p); }, [p](const auto& r) { return ref_permute(r[0], p); });
  }
  add(
      "permute", "NCHW -> NHWC", {randn({2, 3, 2, 4}, g)}, {true},
      [](const auto& x) {
        return minidl::permute(x[0], {0, 2, 3, 1});
      },
      [](const auto& r) {
        return ref_permute(r[0], {0, 2, 3, 1});
      });
  {
    const std::vector<int64_t> idx = {2, 0, 2, 3, 2};  // repeats accumulate; row 1 is never picked (zero grad)
    add(
        "index_select0", "[4,3] rows {2,0,2,3,2}", {randn({4, 3}, g)}, {true},
        [idx](const auto& x) { return minidl::index_select0(x[0], idx); },
        [idx](const auto& r) { return ref_index_select0(r[0], idx); });
    add(
        "index_select0", "[3,2,2] rows {1}", {randn({3, 2, 2}, g)}, {true},
        [](const auto& x) { return minidl::index_select0(x[0], {1}); },
        [](const auto& r) { return ref_index_select0(r[0], {1}); });
  }
  {
    // A 4-centroid codebook gathered into a [2,3] weight: centroid 1 is used three times
    // (its gradient is the sum of three), centroid 3 never (zero), −1 is a pruned weight.
    const std::vector<int64_t> idx = {1, 0, -1, 1, 2, 1};
    const Tensor index = Tensor::from_vector(idx, {2, 3});
    add(
        "take", "codebook [4] -> [2,3], -1 pruned", {randn({4}, g)}, {true},
        [index](const auto& x) { return minidl::take(x[0], index); },
        [idx](const auto& r) { return ref_take(r[0], idx, {2, 3}); });
    const std::vector<int64_t> idx2 = {5, 0, 5, 2};
    add(
        "take", "[2,3] -> [4]", {randn({2, 3}, g)}, {true},
        [idx2](const auto& x) { return minidl::take(x[0], Tensor::from_vector(idx2, {4})); },
        [idx2](const auto& r) { return ref_take(r[0], idx2, {4}); });
  }

  // ---- linear algebra
  struct MM {
    Shape a, b;
    std::vector<bool> diff;
    const char* name;
  };
  for (const MM& m : std::vector<MM>{{{3, 4}, {4, 5}, {true, true}, "[3,4]x[4,5]"},
                                     {{1, 4}, {4, 1}, {true, true}, "row x column"},
                                     {{5, 1}, {1, 3}, {true, true}, "outer product (k = 1)"},
                                     {{3, 4}, {4, 2}, {false, true}, "only rhs takes grad"},
                                     {{3, 4}, {4, 2}, {true, false}, "only lhs takes grad"}})
    add(
        "matmul", m.name, {randn(m.a, g), randn(m.b, g)}, m.diff,
        [](const auto& x) { return minidl::matmul(x[0], x[1]); }, [](const auto& r) { return ref_matmul(r[0], r[1]); });
  add(
      "linear", "[4,5] W[3,5] with bias", {randn({4, 5}, g), randn({3, 5}, g), randn({3}, g)}, {true, true, true},
      [](const auto& x) { return minidl::linear(x[0], x[1], x[2]); },
      [](const auto& r) { return ref_linear(r[0], r[1], &r[2]); });
  add(
      "linear", "[4,5] W[3,5] without bias", {randn({4, 5}, g), randn({3, 5}, g)}, {true, true},
      [](const auto& x) { return minidl::linear(x[0], x[1], Tensor()); },
      [](const auto& r) { return ref_linear(r[0], r[1], nullptr); });
  add(
      "linear", "N = 1", {randn({1, 6}, g), randn({2, 6}, g), randn({2}, g)}, {true, true, true},
      [](const auto& x) { return minidl::linear(x[0], x[1], x[2]); },
      [](const auto& r) { return ref_linear(r[0], r[1], &r[2]); });
  add(
      "linear", "input is a constant", {randn({3, 4}, g), randn({2, 4}, g), randn({2}, g)}, {false, true, true},
      [](const auto& x) { return minidl::linear(x[0], x[1], x[2]); },
      [](const auto& r) { return ref_linear(r[0], r[1], &r[2]); });

  // ---- convolution
  struct Conv {
    Shape x, w;
    int s, p;
    bool bias;
    std::vector<bool> diff;
    const char* name;
  };
  const std::vector<Conv> convs = {
      {{1, 1, 5, 5}, {2, 1, 3, 3}, 1, 0, true, {}, "Cin=1 3x3 s1 p0 bias"},
      {{2, 3, 6, 5}, {4, 3, 3, 2}, 1, 1, true, {}, "N=2 Cin=3 3x2 kernel s1 p1 bias"},
      {{2, 2, 7, 7}, {3, 2, 3, 3}, 2, 1, false, {}, "N=2 Cin=2 3x3 s2 p1 no bias"},
      {{1, 2, 5, 6}, {2, 2, 2, 3}, 2, 2, true, {}, "2x3 kernel s2 p2 bias"},
      {{3, 1, 4, 4}, {1, 1, 1, 1}, 1, 0, false, {}, "N=3 1x1 kernel"},
      {{2, 2, 4, 3}, {3, 2, 4, 3}, 1, 0, true, {}, "kernel = whole input"},
      {{1, 2, 6, 6}, {2, 2, 3, 3}, 2, 0, true, {}, "s2 floor drops last row/col"},
      {{2, 1, 5, 4}, {2, 1, 1, 3}, 1, 2, true, {}, "1x3 kernel p2 (padding-only outputs)"},
      {{2, 3, 5, 5}, {2, 3, 3, 3}, 1, 1, true, {false, true, true}, "input constant (first layer)"},
  };
  for (const Conv& c : convs) {
    const int s = c.s, p = c.p;
    std::vector<Tensor> in = {randn(c.x, g), randn(c.w, g, 0.5f)};
    if (c.bias) in.push_back(randn({c.w[0]}, g));
    std::vector<bool> diff = c.diff.empty() ? std::vector<bool>(in.size(), true) : c.diff;
    add(
        "conv2d", c.name, in, diff,
        [s, p](const auto& x) { return minidl::conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), s, p); },
        [s, p](const auto& r) { return ref_conv2d(r[0], r[1], r.size() > 2 ? &r[2] : nullptr, s, p); });
  }

  // ---- pooling
  struct Pool {
    Shape x;
    int k, s, p;
    const char* name;
  };
  const std::vector<Pool> pools = {
      {{2, 2, 4, 4}, 2, 2, 0, "k2 s2 p0"},
      {{1, 2, 5, 5}, 3, 1, 1, "k3 s1 p1 overlapping"},
      {{2, 1, 6, 6}, 3, 2, 1, "k3 s2 p1 overlapping"},
      {{1, 3, 4, 5}, 2, 1, 0, "k2 s1 p0 overlapping"},
      {{1, 1, 7, 7}, 3, 0, 0, "k3 default stride, floor drops a row"},
      {{2, 1, 4, 4}, 2, 2, 1, "k2 s2 p1"},
      {{1, 1, 3, 3}, 3, 1, 0, "global (k = H = W)"},
  };
  for (const Pool& pl : pools) {
    const int k = pl.k, s = pl.s, p = pl.p;
    add(
        "max_pool2d", pl.name, {distinct(pl.x, g)}, {true},
        [k, s, p](const auto& x) { return minidl::max_pool2d(x[0], k, s, p); },
        [k, s, p](const auto& r) { return ref_pool(r[0], k, s, p, true); });
    add(
        "avg_pool2d", pl.name, {randn(pl.x, g)}, {true},
        [k, s, p](const auto& x) { return minidl::avg_pool2d(x[0], k, s, p); },
        [k, s, p](const auto& r) { return ref_pool(r[0], k, s, p, false); });
  }

  // ---- batch norm. The running stats are constants of the case; training
  // updates them, so each forward gets fresh copies (every finite-difference
  // evaluation must see the same function).
  struct BN {
    Shape x;
    bool training, affine, running;
    const char* name;
  };
  const std::vector<BN> bns = {
      {{6, 3}, true, true, true, "2-D training affine"},
      {{6, 3}, true, false, true, "2-D training no affine"},
      {{2, 3, 3, 2}, true, true, true, "4-D training affine"},
      {{3, 2, 2, 2}, true, false, true, "4-D training no affine"},
      {{6, 3}, false, true, true, "2-D eval affine"},
      {{2, 3, 3, 2}, false, true, true, "4-D eval affine"},
      {{2, 3, 3, 2}, false, false, true, "4-D eval no affine"},
      {{4, 2, 2, 2}, true, true, false, "4-D training, no running stats"},
      {{5, 2}, false, true, false, "2-D eval, no running stats (batch stats)"},
  };
  for (const BN& b : bns) {
    const int64_t C = b.x[1];
    const float eps = 1e-5f, momentum = 0.1f;
    Tensor rm = b.running ? randn({C}, g, 0.5f) : Tensor();
    Tensor rv = b.running ? uniform({C}, 0.5f, 2.f, g) : Tensor();
    std::vector<Tensor> in = {randn(b.x, g)};
    if (b.affine) {
      in.push_back(uniform({C}, 0.5f, 1.5f, g));
      in.push_back(randn({C}, g));
    }
    const bool training = b.training, affine = b.affine;
    add(
        "batch_norm", b.name, in, std::vector<bool>(in.size(), true),
        [rm, rv, training, affine, momentum, eps](const auto& x) {
          return minidl::batch_norm(x[0], affine ? x[1] : Tensor(), affine ? x[2] : Tensor(),
                                    rm.defined() ? rm.clone() : Tensor(), rv.defined() ? rv.clone() : Tensor(),
                                    training, momentum, eps);
        },
        [rm, rv, training, affine, eps](const auto& r) {
          Ref rmr = rm.defined() ? to_ref(rm) : Ref{}, rvr = rv.defined() ? to_ref(rv) : Ref{};
          return ref_batch_norm(r[0], affine ? &r[1] : nullptr, affine ? &r[2] : nullptr, rm.defined() ? &rmr : nullptr,
                                rv.defined() ? &rvr : nullptr, training, double(eps));
        });
  }

  // ---- fused op + ReLU (conv2d_relu, batch_norm_relu): relu(op(...)), with
  // the ReLU's kink kept out of reach like relu's own inputs: the inputs are
  // redrawn (from the same generator, so still deterministic) until every
  // pre-activation is at least 0.1 from 0. A ±h step moves a pre-activation
  // by at most h·(|w| or |x| or γ/σ) ≲ 0.04 in these cases.
  auto away_from_kink = [&](auto draw, auto preact) {
    for (int tries = 0;; ++tries) {
      std::vector<Tensor> in = draw();
      std::vector<Ref> r;
      for (const Tensor& t : in) r.push_back(to_ref(t));
      const Ref y = preact(r);
      if (std::all_of(y.v.begin(), y.v.end(), [](double v) { return std::abs(v) >= 0.1; })) return in;
      REQUIRE_MESSAGE(tries < 10000, "no kink-free inputs found");
    }
  };
  const std::vector<Conv> fused_convs = {
      {{1, 2, 5, 5}, {3, 2, 3, 3}, 1, 1, true, {}, "p1 (dW from a padded copy of x)"},
      {{1, 2, 3, 18}, {2, 2, 3, 3}, 1, 0, true, {}, "OW = 16 (dx added by the product's store)"},
      {{2, 1, 4, 4}, {10, 1, 2, 2}, 1, 0, true, {}, "K < Cout (dW by sgemm on im2col)"},
  };
  for (const Conv& c : fused_convs) {
    const int s = c.s, p = c.p;
    auto ref = [s, p](const auto& r) { return ref_conv2d(r[0], r[1], &r[2], s, p); };
    std::vector<Tensor> in = away_from_kink([&] { return std::vector<Tensor>{randn(c.x, g), randn(c.w, g, 0.5f), randn({c.w[0]}, g)}; }, ref);
    add(
        "conv2d", c.name, in, {true, true, true}, [s, p](const auto& x) { return minidl::conv2d(x[0], x[1], x[2], s, p); },
        ref);
    add(
        "conv2d_relu", c.name, in, {true, true, true},
        [s, p](const auto& x) { return minidl::conv2d_relu(x[0], x[1], x[2], s, p); },
        [ref](const auto& r) { return ref_unary(ref(r), [](double v) { return v > 0 ? v : 0; }); });
  }
  // ---- the Winograd path of 3x3 stride-1 convolutions (core/winograd.h, issue 19):
  // ragged edges (7x7 and 26x26 outputs are not multiples of the 2x2 or 4x4
  // tiles), padding 1 and 2 (dx then runs with padding 1 and 0), with and
  // without the fused ReLU (rows with a bias and few outputs). The first row has 8 channels, so the default rule
  // takes Winograd; ctest runs the whole table again with MINIDL_CONV_ALGO
  // forced to im2col, winograd2 and winograd4 (tests/CMakeLists.txt).
  const std::vector<Conv> winograd_convs = {
      {{1, 8, 6, 6}, {8, 8, 3, 3}, 1, 1, true, {}, "Winograd by default: 8 channels, 6x6 out, p1"},
      {{1, 2, 9, 9}, {3, 2, 3, 3}, 1, 0, true, {}, "7x7 out (ragged tiles)"},
      {{1, 1, 28, 28}, {2, 1, 3, 3}, 1, 0, true, {}, "26x26 out (ragged for 4x4 tiles)"},
      {{2, 3, 7, 7}, {4, 3, 3, 3}, 1, 1, false, {}, "N=2 7x7 out p1 no bias"},
      {{1, 2, 6, 5}, {3, 2, 3, 3}, 1, 2, true, {}, "p2 (dx without padding)"},
  };
  for (const Conv& c : winograd_convs) {
    const int s = c.s, p = c.p;
    auto ref = [s, p](const auto& r) { return ref_conv2d(r[0], r[1], r.size() > 2 ? &r[2] : nullptr, s, p); };
    auto draw = [&] {
      std::vector<Tensor> in = {randn(c.x, g), randn(c.w, g, 0.5f)};
      if (c.bias) in.push_back(randn({c.w[0]}, g));
      return in;
    };
    std::vector<Tensor> in = draw();
    std::vector<bool> diff(in.size(), true);
    add(
        "conv2d", c.name, in, diff,
        [s, p](const auto& x) { return minidl::conv2d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), s, p); }, ref);
    // The fused ReLU where a kink-free draw exists (not for 2 x 26 x 26 outputs).
    if (!c.bias || c.x[2] * c.x[3] * c.w[0] > 400) continue;
    in = away_from_kink(draw, ref);
    add(
        "conv2d_relu", c.name, in, diff, [s, p](const auto& x) { return minidl::conv2d_relu(x[0], x[1], x[2], s, p); },
        [ref](const auto& r) { return ref_unary(ref(r), [](double v) { return v > 0 ? v : 0; }); });
  }
  for (const BN& b : {BN{{6, 3}, true, true, true, "2-D training"}, BN{{2, 3, 3, 2}, true, true, true, "4-D training"},
                      BN{{2, 3, 3, 2}, false, true, true, "4-D eval"}}) {
    const int64_t C = b.x[1];
    Tensor rm = randn({C}, g, 0.5f), rv = uniform({C}, 0.5f, 2.f, g);
    const bool training = b.training;
    auto ref = [rm, rv, training](const auto& r) {
      const Ref rmr = to_ref(rm), rvr = to_ref(rv);
      return ref_batch_norm(r[0], &r[1], &r[2], &rmr, &rvr, training, 1e-5);
    };
    std::vector<Tensor> in = away_from_kink(
        [&] { return std::vector<Tensor>{randn(b.x, g), uniform({C}, 0.5f, 1.5f, g), randn({C}, g)}; }, ref);
    add(
        "batch_norm_relu", b.name, in, {true, true, true},
        [rm, rv, training](const auto& x) {
          return minidl::batch_norm_relu(x[0], x[1], x[2], rm.clone(), rv.clone(), training, 0.1f, 1e-5f);
        },
        [ref](const auto& r) { return ref_unary(ref(r), [](double v) { return v > 0 ? v : 0; }); });
  }

  // ---- dropout: a fixed generator seed per forward gives the same mask every time.
  for (float p : {0.3f, 0.5f}) {
    const uint64_t seed = 77;
    add(
        "dropout", "training p=" + std::to_string(p).substr(0, 3), {randn({4, 5}, g)}, {true},
        [p, seed](const auto& x) {
          Generator dg(seed);
          return minidl::dropout(x[0], p, true, dg);
        },
        [p, seed](const auto& r) {
          std::vector<double> mask;
          dropout_mask_draws(int64_t(r[0].v.size()), seed, p, mask);
          Ref y = r[0];
          for (size_t i = 0; i < y.v.size(); ++i) y.v[i] *= mask[i];
          return y;
        });
  }
  add(
      "dropout", "eval is identity", {randn({3, 4}, g)}, {true},
      [](const auto& x) {
        Generator dg(1);
        return minidl::add(minidl::dropout(x[0], 0.5f, false, dg), 0.f);  // add: the identity has no node of its own
      },
      [](const auto& r) { return r[0]; });

  // ---- softmax family and losses
  struct SM {
    Shape x;
    int64_t dim;
  };
  for (const SM& s : std::vector<SM>{
           {{3, 5}, 1}, {{3, 5}, 0}, {{3, 5}, -1}, {{2, 3, 4}, 1}, {{2, 3, 4}, -1}, {{2, 3, 4}, 0}, {{6}, 0}}) {
    const int64_t d = s.dim;
    const std::string nm = str(s.x) + " dim " + std::to_string(d);
    add(
        "softmax", nm, {randn(s.x, g, 1.5f)}, {true}, [d](const auto& x) { return minidl::softmax(x[0], d); },
        [d](const auto& r) { return ref_softmax(r[0], d, false); });
    add(
        "log_softmax", nm, {randn(s.x, g, 1.5f)}, {true}, [d](const auto& x) { return minidl::log_softmax(x[0], d); },
        [d](const auto& r) { return ref_softmax(r[0], d, true); });
  }
  struct CE {
    int64_t N, C;
    float shift;
    const char* name;
  };
  for (const CE& c :
       std::vector<CE>{{4, 5, 0.f, "[4,5]"}, {1, 3, 0.f, "N=1"}, {3, 4, 40.f, "logits shifted by +40 (stability)"}}) {
    std::vector<int64_t> t(size_t(c.N));
    for (auto& v : t) v = int64_t(g.randint(uint64_t(c.C)));
    const Tensor targets = Tensor::from_vector(t, {c.N});
    add(
        "cross_entropy", c.name, {minidl::add(randn({c.N, c.C}, g, 2.f), c.shift)}, {true},
        [targets](const auto& x) { return minidl::cross_entropy(x[0], targets); },
        [t](const auto& r) { return ref_cross_entropy(r[0], t); });
  }
  // kl_div: probabilities as targets kept ≥ 0.05 so that no ±h step reaches
  // log's pole at 0; one case with a zero target and the target constant
  // (0·log 0 = 0, no gradient through it) — distillation's use.
  {
    auto probs = [&](const Shape& s) {  // rows of softmax(N(0, 1)), floored at 0.05, renormalised
      Tensor p = minidl::softmax(randn(s, g), -1);
      float* v = p.data<float>();
      const int64_t C = s.back();
      for (int64_t r = 0; r < p.numel() / C; ++r) {
        double z = 0;
        for (int64_t k = 0; k < C; ++k) z += (v[r * C + k] = std::max(v[r * C + k], 0.05f) + 0.05f);
        for (int64_t k = 0; k < C; ++k) v[r * C + k] = float(v[r * C + k] / z);
      }
      return p;
    };
    add(
        "kl_div", "[4,5] both take grad", {minidl::log_softmax(randn({4, 5}, g), 1), probs({4, 5})}, {true, true},
        [](const auto& x) { return minidl::kl_div(x[0], x[1]); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], false); });
    add(
        "kl_div", "[2,3,4] (batchmean divides by dim 0 only)", {randn({2, 3, 4}, g), probs({2, 3, 4})}, {true, true},
        [](const auto& x) { return minidl::kl_div(x[0], x[1]); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], false); });
    Tensor with_zero = probs({3, 4});
    with_zero.data<float>()[5] = 0.f;
    add(
        "kl_div", "target constant, one zero target", {minidl::log_softmax(randn({3, 4}, g), 1), with_zero},
        {true, false}, [](const auto& x) { return minidl::kl_div(x[0], x[1]); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], false); });
    add(
        "kl_div", "log_target", {minidl::log_softmax(randn({3, 5}, g), 1), minidl::log_softmax(randn({3, 5}, g), 1)},
        {true, true}, [](const auto& x) { return minidl::kl_div(x[0], x[1], true); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], true); });
  }
  add(
      "mse_loss", "[3,4] both take grad", {randn({3, 4}, g), randn({3, 4}, g)}, {true, true},
      [](const auto& x) { return minidl::mse_loss(x[0], x[1]); }, [](const auto& r) { return ref_mse(r[0], r[1]); });
  add(
      "mse_loss", "[5] target constant", {randn({5}, g), randn({5}, g)}, {true, false},
      [](const auto& x) { return minidl::mse_loss(x[0], x[1]); }, [](const auto& r) { return ref_mse(r[0], r[1]); });

  // ---- fake_quantize (straight-through estimator). Inputs are drawn so that no x/scale is
  // within 0.05 of a rounding midpoint (float and double round alike) and some codes
  // saturate on both sides (the STE's zero gradient there is checked too).
  struct FQ {
    Shape x;
    std::vector<float> scale;
    std::vector<int32_t> zp;
    int32_t qmin, qmax;
    int axis;
    const char* name;
  };
  const std::vector<FQ> fqs = {
      {{4, 6}, {0.05f}, {3}, 0, 15, -1, "per tensor, uint4-like range, zp 3"},
      {{3, 2, 2}, {0.1f, 0.04f, 0.2f}, {0, 0, 0}, -7, 7, 0, "per channel axis 0, symmetric"},
      {{2, 3, 2}, {0.1f, 0.05f, 0.08f}, {1, 0, -2}, -8, 7, 1, "per channel axis 1, zero points"},
  };
  for (const FQ& q : fqs) {
    Tensor x = randn(q.x, g);
    float* px = x.data<float>();
    int64_t inner = 1, C = q.axis < 0 ? 1 : q.x[size_t(q.axis)];
    for (size_t d = size_t(q.axis + 1); q.axis >= 0 && d < q.x.size(); ++d) inner *= q.x[d];
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float s = q.scale[size_t((i / inner) % C)];
      const float t = px[i] / s, frac = t - std::floor(t);
      if (std::abs(frac - 0.5f) < 0.05f) px[i] = (std::floor(t) + 0.3f) * s;
    }
    const auto sc = q.scale;
    const auto zp = q.zp;
    const int32_t lo = q.qmin, hi = q.qmax;
    const int axis = q.axis;
    auto ref = [sc, zp, lo, hi, axis, inner, C](const std::vector<Ref>& r, bool ste) {
      Ref y = r[0];
      for (size_t i = 0; i < y.v.size(); ++i) {
        const size_t c = size_t((int64_t(i) / inner) % C);
        const double s = sc[c], z = zp[c], a = y.v[i];
        y.v[i] = ste ? std::clamp(a, s * (lo - z - 0.5), s * (hi - z + 0.5))  // the codes that round into range
                     : (std::clamp(std::nearbyint(a / s) + z, double(lo), double(hi)) - z) * s;
      }
      (void)axis;
      return y;
    };
    T.push_back(Case{"fake_quantize", q.name, {x}, {true},
                     [sc, zp, lo, hi, axis](const auto& in) { return minidl::fake_quantize(in[0], sc, zp, lo, hi, axis); },
                     [ref](const auto& r) { return ref(r, false); }, [ref](const auto& r) { return ref(r, true); }});
  }
  return T;
}

}  // namespace minidl::test
