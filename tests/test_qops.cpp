// The integer tensor ops (core/qops.h): quantize/dequantize rounding as
// PyTorch's, quantized_conv2d against a direct 7-loop definition (zero-point
// padding, strides, every ISA path), quantized_linear, the int32 variants,
// integer average pooling with half-to-even division, and bad input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/qops.h"
#include "core/random.h"
#include "qgemm_paths.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

// Codes uniform in [0, max] (127: 7-bit activations, the avx2 path's vpmaddubsw kernels).
Tensor random_u8(const Shape& s, std::mt19937& g, int max = 255) {
  Tensor t = Tensor::empty(s, DType::UInt8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(g() % unsigned(max + 1));
  return t;
}

std::vector<int8_t> random_w(int64_t n, std::mt19937& g) {
  std::vector<int8_t> w(static_cast<size_t>(n));
  for (auto& v : w) v = int8_t(int(g() % 255) - 127);
  return w;
}

Requant random_rq(int64_t n, std::mt19937& g, bool relu) {
  Requant rq;
  rq.zero_point = int32_t(g() % 256);
  if (relu) rq.qmin = rq.zero_point;
  for (int64_t i = 0; i < n; ++i) {
    rq.multiplier.push_back(quantize_multiplier(std::ldexp(1.0 + (g() % 1000) / 1000.0, -int(8 + g() % 6))));
    rq.bias.push_back(int32_t(g() % 20001) - 10000);
  }
  if (g() % 2)  // half the layers carry a bias fraction (Requant::bias_frac)
    for (int64_t i = 0; i < n; ++i) rq.bias_frac.push_back(int32_t(g() % ((1u << 31) + 1)) - (1 << 30));
  return rq;
}

// The definition: out = requantize(b + Σ (x − zp)·w), the padding reading zp.
std::vector<int32_t> conv_acc_reference(const Tensor& x, int32_t zp, const std::vector<int8_t>& w,
                                        const Shape& ws, const std::vector<int32_t>& bias, int s, int p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), CO = ws[0], KH = ws[2], KW = ws[3];
  const int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
  const uint8_t* px = x.data<uint8_t>();
  std::vector<int32_t> y;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          int64_t acc = bias.empty() ? 0 : bias[size_t(co)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t iy = oy * s + i - p, ix = ox * s + j - p;
                const int32_t v = iy < 0 || iy >= H || ix < 0 || ix >= W ? zp : px[((n * C + c) * H + iy) * W + ix];
                acc += int64_t(v - zp) * w[size_t(((co * C + c) * KH + i) * KW + j)];
              }
          y.push_back(int32_t(acc));
        }
  return y;
}

}  // namespace

TEST_CASE("quantize_per_tensor: half to even on x·(1/scale), clamped; dequantize inverts on the grid") {
  Tensor x = Tensor::from_vector(std::vector<float>{0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.f, -300.f, INFINITY, -INFINITY, 0.f});
  const std::vector<uint8_t> q = quantize_per_tensor(x, 1.f, 10).to_vector<uint8_t>();
  CHECK(q == std::vector<uint8_t>{10, 12, 12, 10, 8, 255, 0, 255, 0, 10});
  Tensor grid = Tensor::from_vector(std::vector<float>{-0.3f, 0.f, 0.1f, 2.4f});
  const Tensor back = dequantize(quantize_per_tensor(grid, 0.1f, 3), 0.1f, 3);
  for (int i = 0; i < 4; ++i) CHECK(back.to_vector<float>()[size_t(i)] == doctest::Approx(grid.to_vector<float>()[size_t(i)]).epsilon(1e-6));
  Tensor bad = Tensor::from_vector(std::vector<float>{1.f, NAN});
  CHECK(contains(error_of([&] { quantize_per_tensor(bad, 1.f, 0); }), "element 1 of [2] is NaN"));
  CHECK(contains(error_of([&] { quantize_per_tensor(grid, 0.f, 0); }), "scale must be finite and > 0"));
  CHECK(contains(error_of([&] { quantize_per_tensor(grid, 1.f, 256); }), "zero point 256"));
  // qmax: 7-bit codes (compress QConfig::clamp_to_range) clamp at 127
  CHECK(quantize_per_tensor(x, 1.f, 10, 127).to_vector<uint8_t>() == std::vector<uint8_t>{10, 12, 12, 10, 8, 127, 0, 127, 0, 10});
  CHECK(contains(error_of([&] { quantize_per_tensor(grid, 1.f, 130, 127); }), "qmax 127 must be in [zero point 130, 255]"));
}

TEST_CASE("quantize_per_tensor: every path equals the scalar rule on large ragged tensors, threads, NaN anywhere") {
  test::IsaGuard guard;
  std::mt19937 g(11);
  // 300,007 elements: two threads (threads_for), a tail after the 32-wide steps
  std::vector<float> x(300007);
  for (size_t i = 0; i < x.size(); ++i)  // ties (k + 0.5)·scale, ordinary values, ±inf, huge
    x[i] = i % 97 == 0 ? (i % 2 ? INFINITY : -INFINITY) : i % 5 == 0 ? (float(int(g() % 600) - 300) + 0.5f) * 0.25f
         : i % 89 == 0 ? 1e30f * (i % 2 ? 1.f : -1.f) : std::ldexp(float(int(g() % 20001) - 10000), -6);
  const Tensor t = Tensor::from_vector(x);
  for (const test::Path& path : test::paths()) {
    path.use();
    CAPTURE(path.name);
    for (auto [scale, zp, qmax] : {std::tuple{0.25f, 10, 255}, std::tuple{0.1f, 128, 255}, std::tuple{0.5f, 0, 127}}) {
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const std::vector<uint8_t> q = quantize_per_tensor(t, scale, zp, qmax).to_vector<uint8_t>();
        size_t bad = 0;
        for (size_t i = 0; i < x.size(); ++i) {
          const double r = std::nearbyint(double(x[i] * (1.0f / scale))) + zp;
          bad += q[i] != uint8_t(std::clamp(r, 0.0, double(qmax)));
        }
        CHECK(bad == 0);
      }
    }
    std::vector<float> y(x.begin(), x.begin() + 1000);
    y[777] = NAN;  // inside the vector steps
    CHECK(contains(error_of([&] { quantize_per_tensor(Tensor::from_vector(y), 1.f, 0); }), "element 777 of [1000] is NaN"));
  }
  set_num_threads(2);
}

TEST_CASE("quantized_conv2d: equals the direct definition on every path (stride, zero-point padding, ReLU)") {
  test::IsaGuard guard;
  std::mt19937 g(5);
  struct C { int64_t N, C, H, W, CO, K; int s, p; };
  for (const C& c : {C{2, 1, 28, 28, 32, 3, 1, 0}, C{3, 32, 10, 9, 64, 3, 1, 0}, C{2, 3, 7, 8, 5, 3, 2, 1},
                     C{1, 4, 5, 5, 17, 1, 1, 2}, C{4, 2, 6, 6, 3, 5, 1, 2},
                     // the avx512vnni path's channels-last kernel: a 3-channel kernel row (9 bytes,
                     // read in place with 3 more against zero weights, gathered where that would pass
                     // the image's end), stride 2; rows wider than its 16-pixel blocks, with padding
                     // (border blocks gathered, inner ones read in place); 100 channels (4 + 3 panels)
                     // on an 18-pixel row (a 16-pixel block, then two 1-row tiles)
                     C{2, 3, 11, 13, 20, 3, 2, 0}, C{1, 8, 6, 40, 16, 3, 1, 1}, C{1, 4, 9, 20, 100, 3, 1, 0}})
    for (const test::Path& path : test::paths())
      // 8-bit data; 7-bit data with a 7-bit zero point; 7-bit data whose zero point (the padding) is not
      for (int data : {0, 1, 2}) {
      if (data == 0 && path.a_max < 255) continue;
      if (data == 2 && (path.a_max < 255 || c.p == 0)) continue;
      path.use();
      CAPTURE(path.name); CAPTURE(c.C); CAPTURE(c.H); CAPTURE(c.s); CAPTURE(c.p); CAPTURE(data);
      const Tensor x = random_u8({c.N, c.C, c.H, c.W}, g, data == 0 ? 255 : 127);
      const int32_t zp = data == 0 ? int32_t(g() % 256) : data == 1 ? int32_t(g() % 128) : int32_t(128 + g() % 128);
      const Shape ws = {c.CO, c.C, c.K, c.K};
      const std::vector<int8_t> w = random_w(c.CO * c.C * c.K * c.K, g);
      const PackedWeights pw = pack_weights(w.data(), c.CO, c.C * c.K * c.K, ws);
      const Requant rq = random_rq(c.CO, g, g() % 2 == 0);
      const std::vector<int32_t> acc = conv_acc_reference(x, zp, w, ws, rq.bias, c.s, c.p);
      const int64_t per = int64_t(acc.size()) / (c.N * c.CO);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const Tensor y = quantized_conv2d(x, zp, pw, rq, c.s, c.p);
        const Tensor y32 = quantized_conv2d_s32(x, zp, pw, rq.bias, c.s, c.p);
        CHECK(y.shape() == Shape{c.N, c.CO, (c.H + 2 * c.p - c.K) / c.s + 1, (c.W + 2 * c.p - c.K) / c.s + 1});
        REQUIRE(y32.to_vector<int32_t>() == acc);
        const uint8_t* py = y.data<uint8_t>();
        for (size_t i = 0; i < acc.size(); ++i) {
          const size_t co = size_t(int64_t(i) / per % c.CO);
          REQUIRE(py[i] == requantize(acc[i], rq.multiplier[co], rq.zero_point, rq.qmin, rq.qmax,
                                      rq.bias_frac.empty() ? 0 : rq.bias_frac[co]));
        }
      }
    }
  set_num_threads(2);
}

TEST_CASE("quantized_conv2d_avg_pool2d: bit-identical to the convolution then the pooling, every path") {
  test::IsaGuard guard;
  std::mt19937 g(12);
  struct F { int64_t N, C, H, W, CO; int s, p, pk, ps; };
  for (const F& f : {F{3, 32, 26, 26, 64, 1, 0, 4, 4}, F{1, 1, 28, 28, 32, 1, 0, 4, 4}, F{2, 3, 11, 12, 20, 1, 1, 3, 2},
                     F{2, 4, 9, 9, 17, 2, 0, 2, 2}, F{1, 2, 8, 8, 5, 1, 0, 6, 6}, F{1, 2, 12, 12, 24, 1, 1, 8, 4},
                     F{1, 2, 10, 10, 80, 1, 0, 2, 2}, F{1, 1, 18, 18, 20, 1, 0, 16, 1}})
    for (const test::Path& path : test::paths()) {
      if (path.a_max < 255) continue;
      path.use();
      CAPTURE(path.name); CAPTURE(f.C); CAPTURE(f.H); CAPTURE(f.pk);
      const Tensor x = random_u8({f.N, f.C, f.H, f.W}, g);
      const int32_t zp = int32_t(g() % 256);
      const std::vector<int8_t> w = random_w(f.CO * f.C * 9, g);
      const PackedWeights pw = pack_weights(w.data(), f.CO, f.C * 9, {f.CO, f.C, 3, 3});
      const Requant rq = random_rq(f.CO, g, g() % 2 == 0);
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        const Tensor want = quantized_avg_pool2d(quantized_conv2d(x, zp, pw, rq, f.s, f.p), rq.zero_point, f.pk, f.ps);
        const Tensor got = quantized_conv2d_avg_pool2d(x, zp, pw, rq, f.s, f.p, f.pk, f.ps);
        CHECK(got.shape() == want.shape());
        REQUIRE(got.to_vector<uint8_t>() == want.to_vector<uint8_t>());
      }
    }
  set_num_threads(2);
  const std::vector<int8_t> w = random_w(4 * 2 * 9, g);
  const PackedWeights pw = pack_weights(w.data(), 4, 18, {4, 2, 3, 3});
  const Requant rq = random_rq(4, g, true);
  CHECK(contains(error_of([&] { quantized_conv2d_avg_pool2d(random_u8({1, 2, 6, 6}, g), 0, pw, rq, 1, 0, 5, 5); }),
                 "pooling the convolution's output"));
  CHECK(contains(error_of([&] { quantized_conv2d_avg_pool2d(random_u8({1, 3, 6, 6}, g), 0, pw, rq, 1, 0, 2, 2); }),
                 "quantized_conv2d_avg_pool2d"));
}

TEST_CASE("quantized_conv2d channels-last in and out: the same codes permuted, every path") {
  test::IsaGuard guard;
  std::mt19937 g(13);
  struct F { int64_t N, C, H, W, CO; int s, p; };
  for (const F& f :
       {F{2, 32, 10, 9, 64, 1, 0}, F{1, 1, 12, 12, 32, 1, 0}, F{2, 3, 7, 8, 20, 2, 1}, F{1, 3, 9, 11, 16, 1, 1}})
    for (const test::Path& path : test::paths()) {
      if (path.a_max < 255) continue;
      path.use();
      CAPTURE(path.name); CAPTURE(f.C);
      const Tensor x = random_u8({f.N, f.C, f.H, f.W}, g), xcl = permute(x, {0, 2, 3, 1});
      const int32_t zp = int32_t(g() % 256);
      const std::vector<int8_t> w = random_w(f.CO * f.C * 9, g);
      const PackedWeights pw = pack_weights(w.data(), f.CO, f.C * 9, {f.CO, f.C, 3, 3});
      const Requant rq = random_rq(f.CO, g, true);
      const Tensor want = quantized_conv2d(x, zp, pw, rq, f.s, f.p);
      const std::vector<uint8_t> planar = want.to_vector<uint8_t>(), cl = permute(want, {0, 2, 3, 1}).to_vector<uint8_t>();
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        CHECK(quantized_conv2d(xcl, zp, pw, rq, f.s, f.p, {true, false}).to_vector<uint8_t>() == planar);
        const Tensor out_cl = quantized_conv2d(x, zp, pw, rq, f.s, f.p, {false, true});
        CHECK(out_cl.shape() == Shape{want.size(0), want.size(2), want.size(3), want.size(1)});
        CHECK(out_cl.to_vector<uint8_t>() == cl);
        CHECK(quantized_conv2d(xcl, zp, pw, rq, f.s, f.p, {true, true}).to_vector<uint8_t>() == cl);
        const Tensor pooled = quantized_avg_pool2d(want, rq.zero_point, 2, 2);
        CHECK(quantized_conv2d_avg_pool2d(xcl, zp, pw, rq, f.s, f.p, 2, 2, true).to_vector<uint8_t>() ==
              pooled.to_vector<uint8_t>());
      }
    }
  set_num_threads(2);
  const std::vector<int8_t> w = random_w(4 * 2 * 9, g);
  const PackedWeights pw = pack_weights(w.data(), 4, 18, {4, 2, 3, 3});
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({1, 5, 5, 3}, g), 0, pw, random_rq(4, g, true), 1, 0, {true, false}); }),
                 "[1, 5, 5, 3] (channels-last) has 3 channels"));
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({5, 5, 2}, g), 0, pw, random_rq(4, g, true), 1, 0, {true, false}); }),
                 "[N, H, W, C] (channels-last)"));
}

TEST_CASE("quantized conv2d tracks the float convolution (dequantized, within the rounding steps)") {
  std::mt19937 g(6);
  Generator gen(7);
  const Tensor xf = Tensor::uniform({2, 3, 8, 8}, 0.f, 1.f, gen), wf = Tensor::normal({4, 3, 3, 3}, 0.f, 0.3f, gen);
  const float sx = 1.f / 255, sy = 0.05f;  // output range ±6.4 holds every value (no clamping)
  const int32_t zx = 0, zy = 128;
  std::vector<int8_t> w(size_t(wf.numel()));
  std::vector<float> sw(4);
  for (int co = 0; co < 4; ++co) {
    float mx = 0;
    for (int i = 0; i < 27; ++i) mx = std::max(mx, std::abs(wf.data<float>()[co * 27 + i]));
    sw[size_t(co)] = mx / 127;
    for (int i = 0; i < 27; ++i) w[size_t(co * 27 + i)] = int8_t(std::nearbyint(wf.data<float>()[co * 27 + i] / sw[size_t(co)]));
  }
  Requant rq;
  rq.zero_point = zy;
  for (int co = 0; co < 4; ++co) rq.multiplier.push_back(quantize_multiplier(double(sx) * sw[size_t(co)] / sy));
  const Tensor y = dequantize(quantized_conv2d(quantize_per_tensor(xf, sx, zx), zx, pack_weights(w.data(), 4, 27, {4, 3, 3, 3}), rq, 1, 1), sy, zy);
  const Tensor ref = conv2d(xf, wf, Tensor::zeros({4}), 1, 1);
  double worst = 0;
  for (int64_t i = 0; i < y.numel(); ++i) worst = std::max(worst, double(std::abs(y.data<float>()[i] - ref.data<float>()[i])));
  CHECK(worst < 3 * sy);  // input, weight and output rounding together stay within a few output steps
  CHECK(worst > 0);
}

TEST_CASE("quantized_linear and quantized_linear_s32 equal the reference GEMM") {
  std::mt19937 g(8);
  const Tensor x = random_u8({37, 230}, g);
  const std::vector<int8_t> w = random_w(100 * 230, g);
  const PackedWeights pw = pack_weights(w.data(), 100, 230);
  const Requant rq = random_rq(100, g, true);
  std::vector<uint8_t> want(37 * 100);
  std::vector<int32_t> want32(37 * 100);
  qgemm_reference_u8(37, 100, 230, x.data<uint8_t>(), 230, 9, w.data(), 230, rq, want.data(), 100);
  qgemm_reference_s32(37, 100, 230, x.data<uint8_t>(), 230, 9, w.data(), 230, rq.bias.data(), want32.data(), 100);
  CHECK(quantized_linear(x, 9, pw, rq).to_vector<uint8_t>() == want);
  CHECK(quantized_linear_s32(x, 9, pw, rq.bias).to_vector<int32_t>() == want32);
  const Tensor f = dequantize_accumulator(quantized_linear_s32(x, 9, pw, rq.bias), {0.5f});
  CHECK(f.data<float>()[5] == 0.5f * float(want32[5]));
  CHECK(contains(error_of([&] { quantized_linear(random_u8({2, 229}, g), 9, pw, rq); }),
                 "input [2, 229] has 229 features, the weights [100, 230] expect 230"));
  CHECK(contains(error_of([&] { quantized_linear(Tensor::zeros({2, 230}), 9, pw, rq); }), "must be U8"));
}

TEST_CASE("quantized_avg_pool2d: integer window sums, division rounded half to even") {
  // one 2x2 window per case: Σ(q − zp) = 2 → 0.5 → 0; 6 → 1.5 → 2; −2 → −0.5 → 0; −6 → −1.5 → −2; 7 → 1.75 → 2
  const int32_t zp = 100;
  auto pool1 = [&](std::vector<uint8_t> v) {
    Tensor t = Tensor::from_vector(v, {1, 1, 2, 2});
    return int(quantized_avg_pool2d(t, zp, 2, 2).to_vector<uint8_t>()[0]) - zp;
  };
  CHECK(pool1({101, 101, 100, 100}) == 0);
  CHECK(pool1({102, 102, 101, 101}) == 2);
  CHECK(pool1({99, 99, 100, 100}) == 0);
  CHECK(pool1({98, 98, 99, 99}) == -2);
  CHECK(pool1({102, 102, 102, 101}) == 2);
  std::mt19937 g(9);
  const Tensor x = random_u8({2, 3, 24, 24}, g);
  const Tensor y = quantized_avg_pool2d(x, 17, 4, 4);
  CHECK(y.shape() == Shape{2, 3, 6, 6});
  const float ref = std::nearbyint([&] {
    float s = 0;
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) s += float(x.data<uint8_t>()[(1 * 24 + 4 + i) * 24 + 8 + j]) - 17.f;
    return s / 16.f;
  }());
  CHECK(int(y.data<uint8_t>()[(1 * 6 + 1) * 6 + 2]) == int(ref) + 17);  // channel 1, window (1, 2)
  CHECK(contains(error_of([&] { quantized_avg_pool2d(x, 17, 25, 1); }), "kernel 25"));
}

TEST_CASE("quantized_avg_pool2d: every element against the definition (4x4 fast path, other windows, ragged widths)") {
  std::mt19937 g(11);
  struct P { int64_t H, W; int k, s; int32_t zp; int fill; };
  for (const P& c : {P{24, 24, 4, 4, 17, 0}, P{9, 27, 4, 4, 255, 0}, P{16, 16, 4, 4, 0, 1}, P{16, 19, 4, 4, 255, 1},
                     P{8, 8, 3, 2, 128, 0}, P{12, 16, 2, 2, 3, 0}, P{13, 17, 5, 3, 200, 0},
                     // the AVX2 kernel's 8-wide steps: OW = 8, 10 (overlapping last step), 9 with ragged columns
                     P{8, 32, 4, 4, 0, 0}, P{12, 40, 4, 4, 90, 0}, P{4, 39, 4, 4, 255, 0}, P{8, 40, 4, 4, 0, 1}}) {
    CAPTURE(c.W); CAPTURE(c.k); CAPTURE(c.zp);
    Tensor x = random_u8({2, 3, c.H, c.W}, g);
    if (c.fill) x.fill_(255.f);
    const Tensor y = quantized_avg_pool2d(x, c.zp, c.k, c.s);
    const int64_t OH = (c.H - c.k) / c.s + 1, OW = (c.W - c.k) / c.s + 1;
    REQUIRE(y.shape() == Shape{2, 3, OH, OW});
    const uint8_t* px = x.data<uint8_t>();
    for (int64_t nc = 0; nc < 6; ++nc)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          int64_t sum = 0;
          for (int i = 0; i < c.k; ++i)
            for (int j = 0; j < c.k; ++j) sum += px[(nc * c.H + oy * c.s + i) * c.W + ox * c.s + j] - c.zp;
          // exact: sum / k² as a double, rounded half to even
          const double q = std::nearbyint(double(sum) / double(c.k * c.k));
          const int want = int(std::clamp(q + c.zp, 0.0, 255.0));
          REQUIRE(int(y.data<uint8_t>()[(nc * OH + oy) * OW + ox]) == want);
        }
  }
}

TEST_CASE("quantized_conv2d: bad input names the problem") {
  std::mt19937 g(10);
  const std::vector<int8_t> w = random_w(4 * 2 * 9, g);
  const PackedWeights pw = pack_weights(w.data(), 4, 18, {4, 2, 3, 3});
  const Requant rq = random_rq(4, g, false);
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({1, 3, 5, 5}, g), 0, pw, rq); }),
                 "input [1, 3, 5, 5] has 3 channels, the weights [4, 2, 3, 3] expect 2"));
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({1, 2, 2, 2}, g), 0, pw, rq); }), "smaller than the kernel"));
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({2, 5, 5}, g), 0, pw, rq); }), "[N, C, H, W]"));
  const PackedWeights flat = pack_weights(w.data(), 4, 18);
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({1, 2, 5, 5}, g), 0, flat, rq); }), "[Cout, C, KH, KW]"));
  Requant short_rq = rq;
  short_rq.bias.resize(3);
  CHECK(contains(error_of([&] { quantized_conv2d(random_u8({1, 2, 5, 5}, g), 0, pw, short_rq); }),
                 "bias has 3 entries, the layer has 4 output channels"));
}
