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
#include "gradcheck_table.h"

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

// ------------------------------------------------------------------ the rows: tests/gradcheck_table.h
// (build_table(), assembled from the parts tests/gradcheck_table_*.h)
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
      const RefFn& gref = c.ste_ref ? c.ste_ref : c.ref;
      // (b) central difference of the float32 op (not for straight-through rows: see Case)
      if (!c.ste_ref) {
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
      }
      // (c) central difference of the double reference (the STE surrogate for straight-through rows)
      double& rx = rin[i].v[size_t(j)];
      const double r0 = rx;
      rx = r0 + kHRef;
      const double Rp = dot(gref(rin), R);
      rx = r0 - kHRef;
      const double Rm = dot(gref(rin), R);
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
      "dropout",       "softmax", "log_softmax", "cross_entropy", "mse_loss",   "conv2d_relu", "batch_norm_relu",
      "fake_quantize", "kl_div",  "take"};
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
