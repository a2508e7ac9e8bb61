// The Winograd convolution (core/winograd.h, issue 19) against the im2col path
// and the double-precision reference of the gradient checks
// (tests/gradcheck_reference.h): forward and dx, per tile size, on shapes that
// exercise padding, ragged edges (outputs not a multiple of the tile), channel
// counts that are not a multiple of 8, and batches smaller than the thread
// count. The finite-difference checks of the same paths are rows of
// tests/gradcheck_table_conv.h (part of tests/gradcheck_table.h), run with
// each algorithm forced (tests/CMakeLists.txt).
//
// Error measure: max |out − ref| / max |ref| over the whole output (forward)
// or input gradient (dx), ref in double. MINIDL_WINOGRAD_VERBOSE=1 prints the
// table (bench/README.md, "Winograd (issue 19)", quotes it).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/conv_util.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/winograd.h"
#include "gradcheck_reference.h"

using minidl::Generator;
using minidl::NoGradGuard;
using minidl::Shape;
using minidl::Tensor;
using namespace minidl::test;
namespace wino = minidl::wino;

namespace {

// Restores the environment's algorithm when a test ends.
struct AlgoGuard {
  explicit AlgoGuard(int a) { wino::set_algo(a); }
  ~AlgoGuard() { wino::set_algo(-1); }
};

// dx of L = Σ y·R for y = conv(x, w) (p padding, stride 1), from the definition:
// dx[n, ci, ih, iw] = Σ_{co, kh, kw} R[n, co, ih − kh + p, iw − kw + p] · w[co, ci, kh, kw].
Ref ref_conv_dx(const Ref& R, const Ref& w, const Shape& xs, int64_t p) {
  const int64_t N = xs[0], C = xs[1], H = xs[2], W = xs[3], CO = w.shape[0], OH = R.shape[2], OW = R.shape[3];
  Ref dx{xs, std::vector<double>(size_t(N * C * H * W), 0.0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double r = R.v[size_t(((n * CO + co) * OH + oh) * OW + ow)];
          for (int64_t ci = 0; ci < C; ++ci)
            for (int64_t kh = 0; kh < 3; ++kh)
              for (int64_t kw = 0; kw < 3; ++kw) {
                const int64_t ih = oh + kh - p, iw = ow + kw - p;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                dx.v[size_t(((n * C + ci) * H + ih) * W + iw)] += r * w.v[size_t(((co * C + ci) * 3 + kh) * 3 + kw)];
              }
        }
  return dx;
}

// dW of the same L: dW[co, ci, kh, kw] = Σ_{n, oh, ow} R[n, co, oh, ow] · x[n, ci, oh + kh − p, ow + kw − p].
Ref ref_conv_dw(const Ref& R, const Ref& x, int64_t CO, int64_t p) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3], OH = R.shape[2], OW = R.shape[3];
  Ref dw{{CO, C, 3, 3}, std::vector<double>(size_t(CO * C * 9), 0.0)};
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t ci = 0; ci < C; ++ci)
        for (int64_t kh = 0; kh < 3; ++kh)
          for (int64_t kw = 0; kw < 3; ++kw) {
            double acc = 0;
            for (int64_t oh = 0; oh < OH; ++oh)
              for (int64_t ow = 0; ow < OW; ++ow) {
                const int64_t ih = oh + kh - p, iw = ow + kw - p;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += R.v[size_t(((n * CO + co) * OH + oh) * OW + ow)] * x.v[size_t(((n * C + ci) * H + ih) * W + iw)];
              }
            dw.v[size_t(((co * C + ci) * 3 + kh) * 3 + kw)] += acc;
          }
  return dw;
}

double rel_err(const Tensor& t, const Ref& r) {
  const float* p = t.data<float>();
  double e = 0, m = 0;
  for (size_t i = 0; i < r.v.size(); ++i) {
    e = std::max(e, std::abs(double(p[i]) - r.v[i]));
    m = std::max(m, std::abs(r.v[i]));
  }
  return e / std::max(m, 1e-30);
}

struct Shape4 {
  int64_t N, C, H, W, Cout, pad;
  const char* name;
};
const std::vector<Shape4> kShapes = {
    {2, 32, 26, 26, 64, 0, "seed conv2 (24x24 out = 6 tiles of 4)"},
    {2, 1, 28, 28, 32, 0, "seed conv1 (26x26 out: ragged for F4)"},
    {3, 8, 9, 9, 8, 0, "7x7 out (ragged for F2 and F4)"},
    {2, 5, 7, 7, 3, 1, "p1, C and Cout not multiples of 8"},
    {1, 12, 6, 5, 9, 2, "p2 (dx with no padding), 8x7 out"},
    {1, 16, 3, 4, 16, 0, "1x2 out (one ragged tile)"},
    {1, 40, 17, 23, 24, 1, "batch 1 (split over threads), 17x23"},
};

struct Errors {
  double fwd, dx, dw, db;
};
// Forward, dx and dW of one shape through the path `algo` (wino::Algo), with
// or without the fused ReLU.
Errors measure(const Shape4& s, int algo, bool relu, uint64_t seed) {
  AlgoGuard guard(algo);
  Generator g(seed);
  Tensor x = Tensor::uniform({s.N, s.C, s.H, s.W}, 0.f, 1.f, g).requires_grad_();
  Tensor w = Tensor::normal({s.Cout, s.C, 3, 3}, 0.f, 0.5f, g).requires_grad_();
  Tensor b = Tensor::normal({s.Cout}, 0.f, 0.5f, g).requires_grad_();
  Tensor y = relu ? minidl::conv2d_relu(x, w, b, 1, int(s.pad)) : minidl::conv2d(x, w, b, 1, int(s.pad));
  Tensor R = Tensor::normal(y.shape(), 0.f, 1.f, g);
  y.backward(R);
  const Ref xr = to_ref(x.detach()), wr = to_ref(w.detach());
  Ref yr = ref_conv2d(xr, wr, nullptr, 1, s.pad);
  const Ref br = to_ref(b.detach());
  Ref Rr = to_ref(R);
  const int64_t P = yr.shape[2] * yr.shape[3];
  for (size_t i = 0; i < yr.v.size(); ++i) {
    yr.v[i] += br.v[(i / size_t(P)) % size_t(s.Cout)];
    if (relu && !(yr.v[i] > 0)) yr.v[i] = 0, Rr.v[i] = 0;  // the ReLU's mask, from the exact pre-activation
  }
  // With the ReLU, an output within rounding of 0 may be masked differently by
  // the float32 path; the draws keep |pre-activation| away from it (checked).
  Ref dbr{{s.Cout}, std::vector<double>(size_t(s.Cout), 0.0)};
  for (size_t i = 0; i < Rr.v.size(); ++i) dbr.v[(i / size_t(P)) % size_t(s.Cout)] += Rr.v[i];
  return {rel_err(y.detach(), yr), rel_err(x.grad(), ref_conv_dx(Rr, wr, x.shape(), s.pad)),
          rel_err(w.grad(), ref_conv_dw(Rr, xr, s.Cout, s.pad)), rel_err(b.grad(), dbr)};
}

}  // namespace

TEST_CASE("winograd: forward, dx and dW against the double reference and im2col, per tile size") {
  const bool verbose = std::getenv("MINIDL_WINOGRAD_VERBOSE") != nullptr;
  // Tolerances on max |err| / max |ref|: measured worst over this table
  // (forward, dx, dW; AVX2 and portable kernels) 6.5e-7 im2col (OpenBLAS's
  // summation order), 3.8e-7 F(2x2), 4.7e-6 F(4x4): margins 3x, 10x, 4x. A
  // wrong index, coefficient or edge gives errors of order 1e-2 and more.
  const struct {
    int algo;
    const char* name;
    double tol;
  } algos[] = {{wino::kIm2col, "im2col", 2e-6}, {wino::kWinograd2, "F(2x2,3x3)", 4e-6},
               {wino::kWinograd4, "F(4x4,3x3)", 2e-5}};
  if (verbose) std::printf("%-42s %-11s %10s %10s %10s\n", "shape", "path", "fwd err", "dx err", "dW err");
  for (const Shape4& s : kShapes)
    for (const auto& a : algos) {
      const Errors e = measure(s, a.algo, false, 7);
      if (verbose) std::printf("%-42s %-11s %10.2e %10.2e %10.2e\n", s.name, a.name, e.fwd, e.dx, e.dw);
      CHECK_MESSAGE(e.fwd <= a.tol, s.name, " ", a.name, ": forward error ", e.fwd);
      CHECK_MESSAGE(e.dx <= a.tol, s.name, " ", a.name, ": dx error ", e.dx);
      CHECK_MESSAGE(e.dw <= a.tol, s.name, " ", a.name, ": dW error ", e.dw);
      CHECK_MESSAGE(e.db <= 1e-6, s.name, " ", a.name, ": db error ", e.db);
    }
}

TEST_CASE("winograd: conv2d_relu's forward, dx and dW (the mask from ym)") {
  for (const Shape4& s : {kShapes[0], kShapes[3]})
    for (int algo : {int(wino::kWinograd2), int(wino::kWinograd4)}) {
      const Errors e = measure(s, algo, true, 11);
      CHECK_MESSAGE(e.fwd <= 2e-5, s.name, " algo ", algo, ": forward error ", e.fwd);
      CHECK_MESSAGE(e.dx <= 2e-5, s.name, " algo ", algo, ": dx error ", e.dx);
      CHECK_MESSAGE(e.dw <= 2e-5, s.name, " algo ", algo, ": dW error ", e.dw);
      CHECK_MESSAGE(e.db <= 1e-6, s.name, " algo ", algo, ": db error ", e.db);
    }
}

TEST_CASE("winograd: the same bits for any thread count, and run to run") {
  AlgoGuard guard(wino::kWinograd4);
  Generator g(3);
  Tensor x = Tensor::uniform({5, 16, 13, 11}, 0.f, 1.f, g);
  Tensor w = Tensor::normal({24, 16, 3, 3}, 0.f, 0.5f, g), b = Tensor::normal({24}, 0.f, 0.5f, g);
  NoGradGuard ng;
  const int saved = minidl::get_num_threads();
  std::vector<float> first;
  for (int t : {1, 2, 3, 2}) {
    minidl::set_num_threads(t);
    const std::vector<float> y = minidl::conv2d(x, w, b, 1, 1).to_vector();
    if (first.empty()) first = y;
    CHECK_MESSAGE(std::memcmp(first.data(), y.data(), y.size() * sizeof(float)) == 0, "threads ", t);
  }
  minidl::set_num_threads(saved);
}

TEST_CASE("winograd: the cached weight transform follows the weights") {
  AlgoGuard guard(wino::kWinograd4);
  Generator g(5);
  Tensor x = Tensor::uniform({2, 8, 10, 10}, 0.f, 1.f, g);
  Tensor w = Tensor::normal({8, 8, 3, 3}, 0.f, 0.5f, g);
  NoGradGuard ng;
  const Tensor y1 = minidl::conv2d(x, w, Tensor(), 1, 0);
  CHECK(rel_err(minidl::conv2d(x, w, Tensor(), 1, 0), ref_conv2d(to_ref(x), to_ref(w), nullptr, 1, 0)) < 2e-5);
  w.data<float>()[123] += 1.f;  // in place, same address: the cache must notice
  const Tensor y2 = minidl::conv2d(x, w, Tensor(), 1, 0);
  CHECK(rel_err(y2, ref_conv2d(to_ref(x), to_ref(w), nullptr, 1, 0)) < 2e-5);
  CHECK(std::memcmp(y1.data<float>(), y2.data<float>(), y1.nbytes()) != 0);
}

TEST_CASE("winograd: the choice of path") {
  using minidl::conv::Geom;
  const Geom conv2{64, 32, 26, 26, 64, 3, 3, 24, 24, 1, 0}, conv1{64, 1, 28, 28, 32, 3, 3, 26, 26, 1, 0};
  const Geom strided{64, 32, 26, 26, 64, 3, 3, 12, 12, 2, 0}, k5{64, 32, 26, 26, 64, 5, 5, 22, 22, 1, 0};
  const Geom p3{4, 32, 8, 8, 32, 3, 3, 12, 12, 1, 3}, small{4, 32, 3, 3, 32, 3, 3, 1, 1, 1, 0};
  {
    AlgoGuard guard(wino::kAuto);
    CHECK(wino::choose_tile(conv2, false) == 4);
    CHECK(wino::choose_tile(conv2, true) == 4);
    CHECK(wino::choose_tile(conv1, false) == 0);  // one input channel: K = 1 products do not pay
    CHECK(wino::choose_tile(strided, false) == 0);
    CHECK(wino::choose_tile(k5, false) == 0);
    CHECK(wino::choose_tile(p3, false) == 4);
    CHECK(wino::choose_tile(p3, true) == 0);  // dx needs padding 2 − p >= 0
    CHECK(wino::choose_tile(small, false) == 2);
  }
  {
    AlgoGuard guard(wino::kIm2col);
    CHECK(wino::choose_tile(conv2, false) == 0);
  }
  {
    AlgoGuard guard(wino::kWinograd2);
    CHECK(wino::choose_tile(conv1, false) == 2);
    CHECK(wino::choose_tile(strided, false) == 0);
  }
}
