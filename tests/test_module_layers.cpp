// Tests for the layers: input error messages, constructor checks, default
// initialisation (Linear, Conv2d) and Dropout.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "minidl.h"
#include "module_util.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::test;

// ---------------------------------------------------------------- layer errors

TEST_CASE("layer input errors name the layer and both shapes") {
  auto net = cnn(true, 1);
  // 24×24 images give 64·5·5 = 1600 features where fc1 expects 2304.
  CHECK(error_of([&] { net->forward(images(64, 1, 24)); }) == "Linear fc1: expected input [*, 2304], got [64, 1600]");
  CHECK(error_of([&] { net->forward(Tensor::zeros({2, 3, 28, 28})); }) ==
        "Conv2d conv1: expected input [N, 1, H, W], got [2, 3, 28, 28]");
  CHECK(error_of([&] { net->forward(Tensor::zeros({28, 28})); }) ==
        "Conv2d conv1: expected input [N, 1, H, W], got [28, 28]");
  // A BN layer handed the wrong number of channels: swap conv2 for one with 16 outputs.
  net->replace_module("conv2", nn::make<nn::Conv2d>(32, 16, 3));
  CHECK(error_of([&] { net->forward(images(2, 1)); }) == "BatchNorm2d bn2: expected input [N, 64, H, W], got [2, 16, 24, 24]");
  nn::BatchNorm1d bn1d(4);
  CHECK(error_of([&] { bn1d.forward(Tensor::zeros({2, 3})); }) == "BatchNorm1d: expected input [N, 4], got [2, 3]");
  CHECK(error_of([&] { bn1d.forward(Tensor::zeros({2, 4, 1, 1})); }) != "<no error>");
  nn::Linear lin(3, 2);
  CHECK(error_of([&] { lin.forward(Tensor::zeros({3})); }) == "Linear: expected input [*, 3], got [3]");
  CHECK(error_of([&] { lin.forward(Tensor()); }) == "Linear: expected input [*, 3], got undefined");
}

TEST_CASE("bad constructor arguments throw minidl::Error") {
  CHECK_THROWS_AS(nn::Conv2d(1, 4, 0), minidl::Error);                  // kernel 0
  CHECK_THROWS_AS(nn::Conv2d(1, 4, 3, 1, -1), minidl::Error);           // negative padding
  CHECK_THROWS_AS(nn::Conv2d(1, 4, 3, 0), minidl::Error);               // stride 0
  CHECK_THROWS_AS(nn::Conv2d(1, 4, 3, -2), minidl::Error);              // negative stride
  CHECK_THROWS_AS(nn::Conv2d(0, 4, 3), minidl::Error);                  // zero channels
  CHECK_THROWS_AS(nn::Conv2d(1, 0, 3), minidl::Error);
  CHECK_THROWS_AS(nn::Linear(0, 4), minidl::Error);                     // zero features
  CHECK_THROWS_AS(nn::Linear(4, 0), minidl::Error);
  CHECK_THROWS_AS(nn::Linear(-3, 4), minidl::Error);
  CHECK_THROWS_AS(nn::Dropout(1.f), minidl::Error);                     // p = 1
  CHECK_THROWS_AS(nn::Dropout(-0.1f), minidl::Error);
  CHECK_THROWS_AS(nn::Dropout(std::nanf("")), minidl::Error);
  CHECK_THROWS_AS(nn::BatchNorm2d(0), minidl::Error);
  CHECK_THROWS_AS(nn::BatchNorm1d(4, 0.f), minidl::Error);              // eps 0
  CHECK_THROWS_AS(nn::BatchNorm1d(4, 1e-5f, 1.5f), minidl::Error);      // momentum > 1
  CHECK_THROWS_AS(nn::MaxPool2d(0), minidl::Error);
  CHECK_THROWS_AS(nn::AvgPool2d(2, 2, 2), minidl::Error);               // padding > kernel/2
  CHECK(contains(error_of([] { nn::Conv2d(1, 4, 3, 1, -1); }), "padding"));
  CHECK(contains(error_of([] { nn::Conv2d(1, 4, 0); }), "kernel_size"));
  CHECK(contains(error_of([] { nn::Conv2d(1, 4, 3, 0); }), "stride"));
  CHECK(contains(error_of([] { nn::Dropout(1.f); }), "p must be in [0, 1)"));
  nn::SeedCNNOptions o;
  o.image_size = 6;
  CHECK_THROWS_AS(nn::seed_cnn(o), minidl::Error);
  // valid edge cases construct
  CHECK_NOTHROW(nn::Conv2d(1, 1, 1));
  CHECK_NOTHROW(nn::Dropout(0.f));
  CHECK(nn::MaxPool2d(3).stride == 3);  // stride 0 (the default) means stride = kernel
}

// ---------------------------------------------------------------- init

TEST_CASE("default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for Linear and Conv2d weights and biases") {
  auto net = cnn(false, 123);
  int checked_var = 0;
  for (const auto& named : net->named_modules()) {
    const std::string& path = named.first;  // (clang 14: no structured bindings in CAPTURE's lambda)
    const auto& m = named.second;
    if (m->type_name() != "Linear" && m->type_name() != "Conv2d") continue;
    const Tensor& w = m->parameter("weight");
    const int64_t fan_in = w.numel() / w.size(0);
    const double bound = 1.0 / std::sqrt(double(fan_in));
    for (const char* which : {"weight", "bias"}) {
      CAPTURE(path);
      CAPTURE(which);
      auto v = m->parameter(which).to_vector<float>();
      double mx = 0, sum = 0, sq = 0;
      for (float f : v) {
        mx = std::max(mx, std::fabs(double(f)));
        sum += f;
        sq += double(f) * f;
      }
      CHECK(mx <= bound * (1 + 1e-6));
      CHECK(mx > bound * 0.5);  // not a narrower range (all |v| < b/2 has probability 2^-n, n >= 10)
      const double n = double(v.size());
      if (n >= 1000) {  // statistics only where the sample is large enough
        // U(-b, b): variance b²/3; the sample variance has relative sd ≈ sqrt(0.8/n).
        const double mean = sum / n, var = sq / n - mean * mean;
        CHECK(std::fabs(mean) < 5 * bound / std::sqrt(3 * n));
        CHECK(std::fabs(var / (bound * bound / 3) - 1) < 5 * std::sqrt(0.8 / n));
        CHECK(mx > bound * (1 - 20.0 / n));  // the range is really used up to the bound
        ++checked_var;
      }
    }
  }
  CHECK(checked_var == 3);  // conv2.weight, fc1.weight, fc2.weight
  // seeded: same seed, same weights; another seed, other weights
  CHECK(same_state(snapshot(*cnn(false, 5)), snapshot(*cnn(false, 5))));
  CHECK_FALSE(same_state(snapshot(*cnn(false, 5)), snapshot(*cnn(false, 6))));
}

// ---------------------------------------------------------------- dropout

TEST_CASE("Dropout: inverted dropout in training, identity in eval") {
  Generator g(42);
  nn::Dropout d(0.25f, &g);
  const int64_t n = 20000;
  Tensor x = Tensor::full({n}, 3.f);
  Tensor y = d.forward(x);
  int64_t zeros = 0;
  for (float v : y.to_vector<float>()) {
    if (v == 0.f) ++zeros;
    else CHECK(v == doctest::Approx(3.f / 0.75f).epsilon(1e-6));
  }
  // Binomial(n, 0.25): sd = sqrt(n·0.25·0.75) ≈ 61
  CHECK(std::abs(double(zeros) - 0.25 * n) < 5 * std::sqrt(n * 0.25 * 0.75));
  // different masks on successive calls
  CHECK_FALSE(bit_equal(d.forward(x), y));
  d.eval();
  CHECK(bit_equal(d.forward(x), x));
  // train/eval through a parent
  auto s = nn::Sequential::named({{"drop", nn::make<nn::Dropout>(0.5f, &g)}});
  s->eval();
  CHECK(bit_equal(s->forward(x), x));
  s->train();
  CHECK_FALSE(bit_equal(s->forward(x), x));
  // p = 0 in training is the identity
  nn::Dropout none(0.f, &g);
  CHECK(bit_equal(none.forward(x), x));
  // seeded generator: same seed, same mask
  Generator g1(9), g2(9);
  nn::Dropout d1(0.5f, &g1), d2(0.5f, &g2);
  CHECK(bit_equal(d1.forward(x), d2.forward(x)));
}
