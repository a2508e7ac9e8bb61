// tests/gradcheck_table_conv.h — rows of the gradient-check table
// (tests/gradcheck_table.h, which calls the parts in order): linear algebra
// (matmul, linear), convolution, pooling, batch norm, the fused op + ReLU rows
// (conv2d_relu, batch_norm_relu) and the Winograd path of 3x3 stride-1
// convolutions (issue 19; ctest reruns the table with each algorithm forced).
#pragma once

#include "gradcheck_table_common.h"

namespace minidl::test {

// Appends the rows to T, drawing their inputs from g.
inline void add_conv_rows(Generator& g, std::vector<Case>& T) {
  auto add = row_adder(T);

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
}

}  // namespace minidl::test
