// One table-driven check of every differentiable op in core/ops.h, in the
// style of ggml's test-backend-ops.
//
// Each row of the table names an op, a case, its float32 inputs (and which of
// them take a gradient), the op under test, and a reference implementation
// written here from the definition, in double precision, with naive loops
// (direct 7-loop convolution, direct pooling, two-pass batch norm, ...). A row
// is checked three ways:
//
//  (a) forward: the float32 output against the double reference,
//        |y − ref| ≤ 1e-4 · (1 + |ref|).
//      Every case is small (≤ ~30 terms per output), so float32 rounding is
//      ~1e-6 relative; 1e-4 leaves a wide margin and still catches any wrong
//      index, scale or sign.
//
//  (b) gradient vs. central finite differences of the float32 op:
//        L(inputs) = Σ_i out_i · R_i   (R fixed, N(0,1); the sum in double),
//        numeric   = (L(x + h·e_j) − L(x − h·e_j)) / (x₊ − x₋),
//      where x₊ and x₋ are the perturbed values as actually stored in float
//      (so the step is exact even when x ± h is not representable). The
//      analytic gradient is out.backward(R), i.e. exactly dL/dx.
//      Error budget for h = 1e-2:
//        truncation ≈ h²/6 · |f'''| ≈ 1.7e-5 · |f'''|  (|f'''| ≲ 300 for the
//          steepest input here, pow(x, −1.5) at x = 0.5, still ≪ tolerance);
//        rounding   ≈ ε₃₂ · Σ|out·R| / h ≈ 6e-8 · S / 1e-2 = 6e-6 · S, with
//          S = Σ|out_i R_i| over the outputs that depend on x_j (S ≲ 50 here).
//      Both are ≲ 1e-3, so the check is
//        |analytic − numeric| ≤ 5e-3 + 1e-2 · max(|analytic|, |numeric|).
//      A smaller h (1e-3) would make the rounding term 10× larger; a larger h
//      would cross the kinks we keep the inputs away from (see below).
//
//  (c) gradient vs. central finite differences of the *double reference*
//      (h = 1e-6: truncation ~1e-13·|f'''|, rounding ~1e-16·S/1e-6 ~1e-10·S),
//      which is the exact derivative of an independent implementation to ~1e-9.
//      The analytic gradient is float32 (sums of ≲ 50 terms of size ≲ 10), so
//        |analytic − numeric_ref| ≤ 1e-4 · (1 + |numeric_ref|).
//      (b) proves the backward matches the op as implemented; (c) pins both to
//      the definition at a tolerance 100× tighter than (b), so a 1% error in a
//      gradient cannot hide behind the finite-difference noise of (b).
//
// Measured margins (MINIDL_GRADCHECK_VERBOSE=1 prints them per op): the worst
// error as a fraction of its tolerance is ~0.003 for (a), ~0.04 for (b) (pow
// and div, the steepest functions) and ~0.008 for (c) (conv2d).
//
// Kinks are kept out of reach of ±h by construction: relu inputs have
// |x| ≥ 0.2; max-pool inputs are a random permutation of values spaced 0.05
// apart (> 2h, so no perturbation changes any window's arg-max and there are
// no ties); log / sqrt / pow / div denominators are ≥ 0.5 in magnitude.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/random.h"
#include "core/tensor.h"
#include "gradcheck_reference.h"

using minidl::Generator;
using minidl::NoGradGuard;
using minidl::Shape;
using minidl::Tensor;

using namespace minidl::test;

namespace {

// ------------------------------------------------------------------ tolerances
constexpr double kH = 1e-2;       // (b) finite-difference step on float32 inputs
constexpr double kAtol = 5e-3;    // (b) absolute part
constexpr double kRtol = 1e-2;    // (b) relative part
constexpr double kHRef = 1e-6;    // (c) finite-difference step on the double reference
constexpr double kRefTol = 1e-4;  // (c) |a − n| ≤ kRefTol·(1 + |n|)
constexpr double kFwdTol = 1e-4;  // (a) |y − ref| ≤ kFwdTol·(1 + |ref|)
constexpr int kMaxReportsPerCase = 6;

// ------------------------------------------------------------------ inputs
// All inputs come from one seeded generator, so the table is the same every run.
Tensor randn(const Shape& s, Generator& g, float scale = 1.f) { return Tensor::normal(s, 0.f, scale, g); }
Tensor uniform(const Shape& s, float lo, float hi, Generator& g) { return Tensor::uniform(s, lo, hi, g); }
// |x| in [0.2, 1.5] with a random sign: never within h of 0 (relu's kink, division by ~0).
Tensor away_from_zero(const Shape& s, Generator& g, float lo = 0.2f) {
  Tensor t = uniform(s, lo, 1.5f, g);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (g.uniform01() < 0.5f) p[i] = -p[i];
  return t;
}
// A random permutation of {(k − n/2)·0.05}: distinct values ≥ 0.05 > 2h apart,
// so max pooling has no ties and no ±h step changes an arg-max.
Tensor distinct(const Shape& s, Generator& g) {
  const int64_t n = count(s);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i - n / 2) * 0.05f;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[size_t(i)], v[size_t(g.randint(uint64_t(i + 1)))]);
  return Tensor::from_vector(v, s);
}
std::vector<int64_t> dropout_mask_draws(int64_t n, uint64_t seed, float p, std::vector<double>& mask) {
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
};

std::vector<Case> build_table() {
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
  for (auto [d0, d1] : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {1, -1}, {0, 1}, {2, 2}})
    add(
        "transpose", "[2,3,4] (" + std::to_string(d0) + ", " + std::to_string(d1) + ")", {randn({2, 3, 4}, g)}, {true},
        [d0, d1](const auto& x) { return minidl::transpose(x[0], d0, d1); },
        [d0, d1](const auto& r) { return ref_transpose(r[0], d0, d1); });
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
  add(
      "mse_loss", "[3,4] both take grad", {randn({3, 4}, g), randn({3, 4}, g)}, {true, true},
      [](const auto& x) { return minidl::mse_loss(x[0], x[1]); }, [](const auto& r) { return ref_mse(r[0], r[1]); });
  add(
      "mse_loss", "[5] target constant", {randn({5}, g), randn({5}, g)}, {true, false},
      [](const auto& x) { return minidl::mse_loss(x[0], x[1]); }, [](const auto& r) { return ref_mse(r[0], r[1]); });
  return T;
}

// ------------------------------------------------------------------ the checker
struct Worst {  // the largest error seen per op, relative to its tolerance
  double fwd = 0, fd = 0, ref = 0;
};

std::string where(const Case& c, size_t input, int64_t elem) {
  std::ostringstream os;
  os << "op " << c.op << ", case '" << c.name << "', input " << input << " " << str(c.in[input].shape()) << ", element "
     << elem << " " << str(unravel(elem, c.in[input].shape()));
  return os.str();
}

double dot(const Tensor& y, const std::vector<double>& R) {
  const float* p = y.data<float>();
  double s = 0;
  for (size_t i = 0; i < R.size(); ++i) s += double(p[i]) * R[i];
  return s;
}
double dot(const Ref& y, const std::vector<double>& R) {
  double s = 0;
  for (size_t i = 0; i < R.size(); ++i) s += y.v[i] * R[i];
  return s;
}

void run_case(const Case& c, size_t case_index, Worst& worst) {
  int reports = 0;
  auto report = [&](const std::string& msg) {
    if (reports++ < kMaxReportsPerCase) FAIL_CHECK(msg);
  };
  std::vector<Tensor> in;  // private copies: the finite differences poke at them
  std::vector<Ref> rin;
  for (const Tensor& t : c.in) {
    in.push_back(t.clone());
    rin.push_back(to_ref(t));
  }

  // (a) forward against the reference
  Tensor y;
  {
    NoGradGuard ng;
    y = c.f(in);
  }
  const Ref r = c.ref(rin);
  if (y.shape() != r.shape) {
    report("op " + c.op + ", case '" + c.name + "': output shape " + str(y.shape()) + ", reference " + str(r.shape));
    return;
  }
  {
    const float* py = y.data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) {
      const double e = std::abs(double(py[i]) - r.v[size_t(i)]), tol = kFwdTol * (1 + std::abs(r.v[size_t(i)]));
      worst.fwd = std::max(worst.fwd, e / tol);
      if (!(e <= tol)) {
        std::ostringstream os;
        os << "op " << c.op << ", case '" << c.name << "': forward output element " << i << " "
           << str(unravel(i, r.shape)) << " = " << py[i] << ", reference " << r.v[size_t(i)];
        report(os.str());
      }
    }
  }

  // R: a fixed random weighting of the outputs, L = Σ out·R.
  Generator gr(1000 + case_index);
  const Tensor Rt = Tensor::normal(y.shape(), 0.f, 1.f, gr);
  const std::vector<double> R(Rt.data<float>(), Rt.data<float>() + Rt.numel());

  // analytic: backward(R) seeds dL/dout = R, so leaf grads are dL/dx.
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < in.size(); ++i) {
    leaves.push_back(in[i].clone());
    if (c.diff[i]) leaves.back().requires_grad_();
  }
  {
    Tensor out = c.f(leaves);
    REQUIRE_MESSAGE(out.requires_grad(), "op " << c.op << ", case '" << c.name << "': output has no autograd history");
    out.backward(Rt);
  }

  NoGradGuard ng;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!c.diff[i]) {
      CHECK_MESSAGE(!leaves[i].grad().defined(),
                    "op " << c.op << ", case '" << c.name << "': constant input " << i << " received a gradient");
      continue;
    }
    const Tensor& ga = leaves[i].grad();
    if (!ga.defined() || ga.shape() != in[i].shape()) {
      report("op " + c.op + ", case '" + c.name + "': input " + std::to_string(i) + " has no gradient of shape " +
             str(in[i].shape()));
      continue;
    }
    const float* pa = ga.data<float>();
    float* px = in[i].data<float>();
    for (int64_t j = 0; j < in[i].numel(); ++j) {
      const double a = pa[j];
      // (b) central difference of the float32 op
      const float x0 = px[j];
      px[j] = float(double(x0) + kH);
      const double xp = px[j], Lp = dot(c.f(in), R);
      px[j] = float(double(x0) - kH);
      const double xm = px[j], Lm = dot(c.f(in), R);
      px[j] = x0;
      const double num = (Lp - Lm) / (xp - xm);
      const double tol = kAtol + kRtol * std::max(std::abs(a), std::abs(num));
      worst.fd = std::max(worst.fd, std::abs(a - num) / tol);
      if (!(std::abs(a - num) <= tol)) {
        std::ostringstream os;
        os << where(c, i, j) << ": analytic " << a << ", numeric (float32, h=" << kH << ") " << num << ", |diff| "
           << std::abs(a - num) << " > tol " << tol;
        report(os.str());
      }
      // (c) central difference of the double reference
      double& rx = rin[i].v[size_t(j)];
      const double r0 = rx;
      rx = r0 + kHRef;
      const double Rp = dot(c.ref(rin), R);
      rx = r0 - kHRef;
      const double Rm = dot(c.ref(rin), R);
      rx = r0;
      const double numr = (Rp - Rm) / (2 * kHRef);
      const double tolr = kRefTol * (1 + std::abs(numr));
      worst.ref = std::max(worst.ref, std::abs(a - numr) / tolr);
      if (!(std::abs(a - numr) <= tolr)) {
        std::ostringstream os;
        os << where(c, i, j) << ": analytic " << a << ", numeric (double reference, h=" << kHRef << ") " << numr
           << ", |diff| " << std::abs(a - numr) << " > tol " << tolr;
        report(os.str());
      }
    }
  }
}

}  // namespace

TEST_CASE("gradcheck: every differentiable op against a double reference and finite differences") {
  const std::vector<Case> table = build_table();

  // Every op of core/ops.h with a gradient has at least one row.
  const std::set<std::string> required = {
      "add",           "sub",     "mul",         "div",           "add_scalar", "mul_scalar", "neg",
      "exp",           "log",     "relu",        "sigmoid",       "tanh",       "pow",        "sqrt",
      "sum",           "mean",    "sum_to",      "reshape",       "flatten",    "transpose",  "permute",
      "index_select0", "matmul",  "linear",      "conv2d",        "max_pool2d", "avg_pool2d", "batch_norm",
      "dropout",       "softmax", "log_softmax", "cross_entropy", "mse_loss",   "conv2d_relu", "batch_norm_relu"};
  std::map<std::string, int> rows;
  for (const Case& c : table) ++rows[c.op];
  for (const std::string& op : required) CHECK_MESSAGE(rows[op] > 0, "no gradcheck row for op " << op);

  std::map<std::string, Worst> worst;
  for (size_t k = 0; k < table.size(); ++k) {
    INFO("op " << table[k].op << ", case '" << table[k].name << "'");
    run_case(table[k], k, worst[table[k].op]);
  }
  // With MINIDL_GRADCHECK_VERBOSE set, print each op's worst error as a fraction of
  // its tolerance: the margins the tolerances above were chosen with.
  if (std::getenv("MINIDL_GRADCHECK_VERBOSE")) {
    std::printf("%-14s %5s %10s %10s %10s   (worst |err|/tol: forward, float FD, double-ref FD)\n", "op", "rows",
                "forward", "fd", "ref");
    for (const auto& [op, w] : worst)
      std::printf("%-14s %5d %10.3g %10.3g %10.3g\n", op.c_str(), rows[op], w.fwd, w.fd, w.ref);
    std::printf("%zu cases\n", table.size());
  }
}

TEST_CASE("gradcheck: batch_norm training updates the running statistics with the unbiased variance") {
  Generator g(5);
  for (const Shape& shape : std::vector<Shape>{{4, 3, 2, 2}, {5, 3}}) {
    for (float momentum : {0.1f, 0.3f}) {
      CAPTURE(str(shape));
      CAPTURE(momentum);
      const Tensor x = Tensor::normal(shape, 1.f, 2.f, g);
      const Tensor rm0 = Tensor::normal({3}, 0.f, 1.f, g), rv0 = Tensor::uniform({3}, 0.5f, 2.f, g);
      Tensor rm = rm0.clone(), rv = rv0.clone();
      minidl::batch_norm(x, Tensor(), Tensor(), rm, rv, true, momentum, 1e-5f);
      const Ref xr = to_ref(x);
      const int64_t N = shape[0], C = 3, HW = shape.size() == 4 ? shape[2] * shape[3] : 1, M = N * HW;
      for (int64_t c = 0; c < C; ++c) {
        double mu = 0, ss = 0;
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < HW; ++i) mu += xr.v[size_t((n * C + c) * HW + i)];
        mu /= double(M);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t i = 0; i < HW; ++i) ss += std::pow(xr.v[size_t((n * C + c) * HW + i)] - mu, 2);
        const double unbiased = ss / double(M - 1);
        const double m = momentum;
        const double want_m = (1 - m) * rm0.data<float>()[c] + m * mu;
        const double want_v = (1 - m) * rv0.data<float>()[c] + m * unbiased;
        CHECK(rm.data<float>()[c] == doctest::Approx(want_m).epsilon(1e-5));
        CHECK(rv.data<float>()[c] == doctest::Approx(want_v).epsilon(1e-5));
        // the biased variance would be visibly different (factor M/(M−1))
        CHECK(std::abs(rv.data<float>()[c] - ((1 - m) * rv0.data<float>()[c] + m * ss / double(M))) > 1e-4);
      }
      // eval reads the running statistics and leaves them alone
      Tensor rm1 = rm.clone(), rv1 = rv.clone();
      minidl::batch_norm(x, Tensor(), Tensor(), rm1, rv1, false, momentum, 1e-5f);
      CHECK(rm1.to_vector<float>() == rm.to_vector<float>());
      CHECK(rv1.to_vector<float>() == rv.to_vector<float>());
    }
  }
}

TEST_CASE("gradcheck: dropout's gradient is its mask") {
  Generator g(9);
  const Tensor x0 = away_from_zero({50, 40}, g);  // nonzero, so mask = y / x is recoverable
  for (float p : {0.2f, 0.5f}) {
    CAPTURE(p);
    Tensor x = x0.clone().requires_grad_();
    Generator dg(123);
    Tensor y = minidl::dropout(x, p, true, dg);
    y.backward(Tensor::ones(y.shape()));
    const float* px = x0.data<float>();
    const float* py = y.data<float>();
    const float* pg = x.grad().data<float>();
    const float keep = 1.f / (1.f - p);
    std::vector<double> mask;
    const auto dropped = dropout_mask_draws(x.numel(), 123, p, mask);
    int64_t zeros = 0, bad = 0;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float m = py[i] / px[i];
      const bool is_zero = py[i] == 0.f;
      zeros += is_zero;
      if (!(is_zero ? pg[i] == 0.f : (pg[i] == keep && std::abs(m - keep) <= 1e-6f * keep))) ++bad;
      if (std::abs(double(pg[i]) - mask[size_t(i)]) > 1e-6) ++bad;
    }
    CHECK(bad == 0);
    CHECK(zeros == int64_t(dropped.size()));
    // 2000 Bernoulli(p) draws: standard error ≤ 0.012, so 0.05 is > 4 sigma.
    CHECK(std::abs(double(zeros) / double(x.numel()) - p) < 0.05);
    // same seed, same mask
    Generator dg2(123);
    NoGradGuard ng;
    CHECK(minidl::dropout(x0, p, true, dg2).to_vector<float>() == y.to_vector<float>());
  }
  Generator dg(1);
  CHECK(minidl::dropout(x0, 0.5f, false, dg).same(x0));  // eval: the input itself
  CHECK(minidl::dropout(x0, 0.f, true, dg).same(x0));    // p = 0: the input itself
}

TEST_CASE("gradcheck: max_pool2d sends a tied window's gradient to its first maximum (as PyTorch)") {
  // Ties are excluded from the table (the derivative is undefined there); this
  // pins the documented choice instead: the first arg-max in row-major order.
  Tensor x = Tensor::from_vector(std::vector<float>{1, 1, 0, 2,  //
                                                    1, 1, 2, 2},
                                 {1, 1, 2, 4})
                 .requires_grad_();
  Tensor y = minidl::max_pool2d(x, 2);
  CHECK(y.to_vector<float>() == std::vector<float>{1, 2});
  y.backward(Tensor::from_vector(std::vector<float>{3, 5}, {1, 1, 1, 2}));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{3, 0, 0, 5, 0, 0, 0, 0});
}
