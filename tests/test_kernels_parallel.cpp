// The multi-threaded paths of the performance kernels, at sizes large enough
// to take them (tests/test_gradcheck.cpp's cases are small and run on one
// thread): conv2d with whole samples per thread, with a sample's output rows
// split between threads (batch smaller than the thread count), with per-thread
// dW/db partial sums; the threaded sgemm split; tiled average pooling.
// Each is checked against a direct double-precision reference and across
// thread counts; a given thread count must reproduce its own bits.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/blas.h"
#include "core/cpu_features.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"

using minidl::Generator;
using minidl::Tensor;

namespace {

struct Grads {
  std::vector<float> y, gx, gw, gb;
};

// fused: conv2d_relu; relu_after: relu(conv2d(...)) as two ops.
Grads conv_step(const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& gy, int s, int p,
                bool fused = false, bool relu_after = false) {
  Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
  Tensor y = fused ? minidl::conv2d_relu(x, w, b, s, p) : minidl::conv2d(x, w, b, s, p);
  if (relu_after) y = minidl::relu(y);
  y.backward(gy);
  return {y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(), b.grad().to_vector<float>()};
}

// Direct convolution and its gradients in double: the definition, 7 loops.
Grads conv_reference(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& gy, int s, int p) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), CO = w.size(0), KH = w.size(2),
                KW = w.size(3), OH = gy.size(2), OW = gy.size(3);
  const float *px = x.data<float>(), *pw = w.data<float>(), *pb = b.data<float>(), *pg = gy.data<float>();
  std::vector<double> y(static_cast<size_t>(N * CO * OH * OW)), gx(static_cast<size_t>(x.numel())),
      gw(static_cast<size_t>(w.numel())), gb(static_cast<size_t>(CO));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t o = ((n * CO + co) * OH + oh) * OW + ow;
          double acc = pb[co];
          gb[size_t(co)] += pg[o];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * s + kh - p, iw = ow * s + kw - p;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t xi = ((n * C + c) * H + ih) * W + iw, wi = ((co * C + c) * KH + kh) * KW + kw;
                acc += double(pw[wi]) * px[xi];
                gx[size_t(xi)] += double(pw[wi]) * pg[o];
                gw[size_t(wi)] += double(px[xi]) * pg[o];
              }
          y[size_t(o)] = acc;
        }
  auto f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
  return {f(y), f(gx), f(gw), f(gb)};
}

// max |a − b| / max(1, max |b|)
double rel(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, m = 1;
  for (size_t i = 0; i < a.size(); ++i) {
    d = std::max(d, std::fabs(double(a[i]) - b[i]));
    m = std::max(m, std::fabs(double(b[i])));
  }
  return d / m;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("conv2d: threaded paths match the direct reference and reproduce their bits") {
  struct Case {
    int64_t N, C, H, W, CO, K;
    int s, p;
    const char* name;
  };
  // Each is > 2 MFLOP, so it runs on several threads.
  const Case cases[] = {
      {5, 16, 20, 19, 12, 3, 1, 1, "5 samples over 2 and 3 threads (uneven split), s1 p1"},
      {1, 32, 20, 20, 16, 3, 1, 0, "batch 1: a sample's rows split between threads"},
      {2, 32, 21, 21, 16, 3, 2, 1, "batch 2 < 3 threads, s2 p1"},
      {3, 1, 40, 40, 32, 5, 1, 2, "Cin = 1 (like the seed CNN's conv1), 5x5 p2"},
      {4, 12, 20, 26, 24, 3, 1, 0, "Cin % 8 != 0, OW = 24: dx added by the store, one product per (kh, kw)"},
      {3, 32, 26, 26, 64, 3, 1, 0, "the seed CNN's conv2"},
  };
  const int saved = minidl::get_num_threads();
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Generator g(7);
    Tensor x = Tensor::normal({c.N, c.C, c.H, c.W}, 0.f, 1.f, g);
    Tensor w = Tensor::normal({c.CO, c.C, c.K, c.K}, 0.f, 0.2f, g);
    Tensor b = Tensor::normal({c.CO}, 0.f, 1.f, g);
    const int64_t OH = (c.H + 2 * c.p - c.K) / c.s + 1, OW = (c.W + 2 * c.p - c.K) / c.s + 1;
    Tensor gy = Tensor::normal({c.N, c.CO, OH, OW}, 0.f, 1.f, g);
    const Grads ref = conv_reference(x, w, b, gy, c.s, c.p);
    for (int t : {1, 2, 3}) {
      CAPTURE(t);
      minidl::set_num_threads(t);
      const Grads a = conv_step(x, w, b, gy, c.s, c.p), again = conv_step(x, w, b, gy, c.s, c.p);
      CHECK(rel(a.y, ref.y) < 1e-5);
      CHECK(rel(a.gx, ref.gx) < 1e-5);
      CHECK(rel(a.gw, ref.gw) < 1e-5);
      CHECK(rel(a.gb, ref.gb) < 1e-5);
      CHECK(same_bits(a.y, again.y));
      CHECK(same_bits(a.gx, again.gx));
      CHECK(same_bits(a.gw, again.gw));
      CHECK(same_bits(a.gb, again.gb));
    }
  }
  minidl::set_num_threads(saved);
}

TEST_CASE("conv2d_relu gives relu(conv2d(...))'s values and gradients, bit for bit") {
  struct Case {
    int64_t N, C, H, W, CO, K;
    int p;
  };
  // The seed CNN's conv1 (K < Cout: dW by sgemm) and conv2 (dx by the store),
  // and a padded one (dW from a padded copy).
  const Case cases[] = {{4, 1, 28, 28, 32, 3, 0}, {3, 32, 26, 26, 64, 3, 0}, {3, 12, 15, 15, 16, 3, 1}};
  const int saved = minidl::get_num_threads();
  for (const Case& c : cases) {
    CAPTURE(c.C);
    Generator g(11);
    Tensor x = Tensor::normal({c.N, c.C, c.H, c.W}, 0.f, 1.f, g);
    Tensor w = Tensor::normal({c.CO, c.C, c.K, c.K}, 0.f, 0.2f, g);
    Tensor b = Tensor::normal({c.CO}, 0.f, 0.5f, g);
    const int64_t OH = c.H + 2 * c.p - c.K + 1, OW = c.W + 2 * c.p - c.K + 1;
    Tensor gy = Tensor::normal({c.N, c.CO, OH, OW}, 0.f, 1.f, g);
    for (int t : {1, 2}) {
      CAPTURE(t);
      minidl::set_num_threads(t);
      const Grads fused = conv_step(x, w, b, gy, 1, c.p, true), two = conv_step(x, w, b, gy, 1, c.p, false, true);
      int64_t zeros = 0;
      for (float v : fused.y) zeros += v == 0.f;
      CHECK(zeros > 0);  // the ReLU did clamp something
      CHECK(zeros < int64_t(fused.y.size()));
      CHECK(same_bits(fused.y, two.y));
      CHECK(same_bits(fused.gx, two.gx));
      CHECK(same_bits(fused.gw, two.gw));
      CHECK(same_bits(fused.gb, two.gb));
    }
  }
  minidl::set_num_threads(saved);
}

TEST_CASE("batch_norm_relu gives relu(batch_norm(...))'s values, gradients and running stats, bit for bit") {
  Generator g(5);
  Tensor x0 = Tensor::normal({8, 16, 12, 12}, 0.5f, 2.f, g), gy = Tensor::normal({8, 16, 12, 12}, 0.f, 1.f, g);
  Tensor w0 = Tensor::uniform({16}, 0.5f, 1.5f, g), b0 = Tensor::normal({16}, 0.f, 0.5f, g);
  for (bool training : {true, false}) {
    CAPTURE(training);
    std::vector<std::vector<float>> out[2];
    for (int fused = 0; fused < 2; ++fused) {
      Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_(), b = b0.clone().requires_grad_();
      Tensor rm = Tensor::zeros({16}), rv = Tensor::ones({16});
      Tensor y = fused ? minidl::batch_norm_relu(x, w, b, rm, rv, training, 0.1f, 1e-5f)
                       : minidl::relu(minidl::batch_norm(x, w, b, rm, rv, training, 0.1f, 1e-5f));
      y.backward(gy);
      for (const Tensor& t : {y, x.grad(), w.grad(), b.grad(), rm, rv}) out[fused].push_back(t.to_vector<float>());
    }
    for (size_t i = 0; i < out[0].size(); ++i) CHECK(same_bits(out[0][i], out[1][i]));
  }
}

TEST_CASE("sgemm: the threaded row/column split equals one call, for every transpose") {
  Generator g(3);
  const int saved = minidl::get_num_threads();
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const auto& mnk : {std::array<int64_t, 3>{37, 301, 129}, std::array<int64_t, 3>{290, 33, 150}}) {
        const int64_t M = mnk[0], N = mnk[1], K = mnk[2];  // (clang 14: no structured bindings in CAPTURE's lambda)
        CAPTURE(ta);
        CAPTURE(tb);
        CAPTURE(M);
        Tensor A = Tensor::normal(ta ? minidl::Shape{K, M} : minidl::Shape{M, K}, 0.f, 1.f, g);
        Tensor B = Tensor::normal(tb ? minidl::Shape{N, K} : minidl::Shape{K, N}, 0.f, 1.f, g);
        Tensor C0 = Tensor::normal({M, N}, 0.f, 1.f, g);
        std::vector<float> want = C0.to_vector<float>();
        minidl::sgemm_serial(ta, tb, M, N, K, 0.5f, A.data<float>(), ta ? M : K, B.data<float>(), tb ? K : N, 2.f,
                             want.data(), N);
        for (int t : {2, 3}) {
          minidl::set_num_threads(t);
          std::vector<float> got = C0.to_vector<float>();
          minidl::sgemm(ta, tb, M, N, K, 0.5f, A.data<float>(), ta ? M : K, B.data<float>(), tb ? K : N, 2.f,
                        got.data(), N);
          CHECK(rel(got, want) < 1e-6);
        }
      }
  minidl::set_num_threads(saved);
}

TEST_CASE("avg_pool2d with stride = kernel (tiled path) matches the general path") {
  Generator g(5);
  // 26 = 6·4 + 2: the last two rows and columns are outside every window (floor mode).
  Tensor x = Tensor::normal({3, 5, 26, 26}, 0.f, 1.f, g).requires_grad_();
  Tensor y = minidl::avg_pool2d(x, 4);
  Tensor gy = Tensor::normal(y.shape(), 0.f, 1.f, g);
  y.backward(gy);
  const float* px = x.data<float>();
  const float* pg = gy.data<float>();
  const float* pgx = x.grad().data<float>();
  const float* py = y.data<float>();
  double worst = 0;
  for (int64_t pl = 0; pl < 15; ++pl)
    for (int64_t ih = 0; ih < 26; ++ih)
      for (int64_t iw = 0; iw < 26; ++iw) {
        const int64_t oh = ih / 4, ow = iw / 4;
        const double want = (oh < 6 && ow < 6) ? pg[(pl * 6 + oh) * 6 + ow] / 16.0 : 0.0;
        worst = std::max(worst, std::fabs(pgx[(pl * 26 + ih) * 26 + iw] - want));
      }
  for (int64_t pl = 0; pl < 15; ++pl)
    for (int64_t oh = 0; oh < 6; ++oh)
      for (int64_t ow = 0; ow < 6; ++ow) {
        double s = 0;
        for (int i = 0; i < 4; ++i)
          for (int j = 0; j < 4; ++j) s += px[(pl * 26 + oh * 4 + i) * 26 + ow * 4 + j];
        worst = std::max(worst, std::fabs(py[(pl * 6 + oh) * 6 + ow] - s / 16.0));
      }
  CHECK(worst < 1e-6);
}

// minidl's OpenBLAS kernel selection (core/blas.cpp). ctest runs this suite a
// second time with OPENBLAS_CORETYPE=Haswell MINIDL_OPENBLAS_CORETYPE=keep
// and MINIDL_EXPECT_BLAS_CORE=Haswell: "keep" must leave OpenBLAS's choice.
TEST_CASE("OpenBLAS runs its AVX-512 kernels on AVX-512 CPUs unless told to keep its choice") {
  const std::string core = minidl::blas_core_name();
  if (const char* expect = std::getenv("MINIDL_EXPECT_BLAS_CORE")) {
    CHECK(core == expect);
    return;
  }
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  INFO("OpenBLAS core: ", core);
  if (avx512 && !std::getenv("MINIDL_OPENBLAS_CORETYPE"))
    CHECK((core == "SkylakeX" || core == "Cooperlake" || core == "SapphireRapids"));
  else
    CHECK(!core.empty());
}

// The fp32 kernels' run-time ISA choice (core/cpu_features.h). ctest runs this
// suite (and the gradient checks) again with MINIDL_FP32_ISA=portable, so on
// AVX-512 CPUs both the AVX-512 tile and the OpenBLAS fallback are tested
// against the direct references above.
TEST_CASE("fp32 kernels take AVX-512 exactly when the CPU has it, unless MINIDL_FP32_ISA=portable") {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  CHECK(minidl::cpu_features().avx512 == avx512);
  CHECK(minidl::cpu_features().avx2_fma == (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
  const char* env = std::getenv("MINIDL_FP32_ISA");
  const bool portable = env && std::string(env) == "portable";
  INFO("fp32 ISA: ", minidl::fp32_isa());
#ifdef __x86_64__
  CHECK(minidl::fp32_isa() == (avx512 && !portable ? "avx512" : "portable"));
#endif
  CHECK(minidl::use_avx512_fp32() == (minidl::fp32_isa() == "avx512"));
}
