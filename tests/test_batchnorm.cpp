// Tests for nn/batchnorm.h (BatchNorm1d, BatchNorm2d) against the formulas of
// Ioffe & Szegedy (2015) as PyTorch implements them: training normalises with
// the batch mean and the biased variance over (N, H, W); the running
// estimates are updated with momentum and the *unbiased* variance; eval uses
// the running estimates; num_batches_tracked counts training batches.
// Expected values are computed here in double precision from the raw input.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "minidl.h"

using namespace minidl;

namespace {

struct Stats {
  std::vector<double> mean, var_biased, var_unbiased;
};

// Per-channel statistics of x [N, C] or [N, C, H, W] over every axis but 1.
Stats channel_stats(const Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1, M = N * HW;
  auto v = x.to_vector<float>();
  Stats s;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) sum += v[size_t((n * C + c) * HW + i)];
    const double m = sum / double(M);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < HW; ++i) {
        const double d = v[size_t((n * C + c) * HW + i)] - m;
        sq += d * d;
      }
    s.mean.push_back(m);
    s.var_biased.push_back(sq / double(M));
    s.var_unbiased.push_back(M > 1 ? sq / double(M - 1) : NAN);
  }
  return s;
}

// Input whose channel c has mean ≈ 2c − 1 and standard deviation ≈ c + 0.5.
Tensor batch(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  Tensor x = Tensor::normal(shape, 0.f, 1.f, g);
  const int64_t N = shape[0], C = shape[1], HW = shape.size() == 4 ? shape[2] * shape[3] : 1;
  float* p = x.data<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        float& v = p[(n * C + c) * HW + i];
        v = v * (float(c) + 0.5f) + (2.f * float(c) - 1.f);
      }
  return x;
}

int64_t tracked(nn::Module& bn) { return bn.buffer("num_batches_tracked").data<int64_t>()[0]; }

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// y = γ·(x − μ)/sqrt(σ² + ε) + β per channel.
std::vector<double> normalise(const Tensor& x, const std::vector<double>& mu, const std::vector<double>& var,
                              const std::vector<double>& gamma, const std::vector<double>& beta, double eps) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  auto v = x.to_vector<float>();
  std::vector<double> y(v.size());
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        const size_t o = size_t((n * C + c) * HW + i);
        y[o] = gamma[size_t(c)] * (v[o] - mu[size_t(c)]) / std::sqrt(var[size_t(c)] + eps) + beta[size_t(c)];
      }
  return y;
}

double max_diff(const Tensor& got, const std::vector<double>& want) {
  auto g = got.to_vector<float>();
  REQUIRE(g.size() == want.size());
  double m = 0;
  for (size_t i = 0; i < g.size(); ++i) m = std::max(m, std::fabs(g[i] - want[i]));
  return m;
}

std::vector<double> as_double(const Tensor& t) {
  auto v = t.to_vector<float>();
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("training normalises each channel to mean 0 and biased variance 1") {
  for (Shape shape : {Shape{16, 3, 5, 4}, Shape{40, 3}}) {
    CAPTURE(to_string(shape));
    std::shared_ptr<nn::BatchNorm> bn;
    if (shape.size() == 4) bn = nn::make<nn::BatchNorm2d>(3);
    else bn = nn::make<nn::BatchNorm1d>(3);
    Tensor x = batch(shape, 1);
    Stats in = channel_stats(x);
    for (int c = 0; c < 3; ++c) CHECK(std::fabs(in.mean[size_t(c)] - (2 * c - 1)) > 1e-3);  // input really is off
    Tensor y = bn->forward(x);
    CHECK(y.shape() == shape);
    Stats out = channel_stats(y);
    for (size_t c = 0; c < 3; ++c) {
      CAPTURE(c);
      CHECK(std::fabs(out.mean[c]) < 1e-5);
      // biased variance of the output is σ²/(σ² + ε), i.e. 1 up to ε
      CHECK(out.var_biased[c] == doctest::Approx(in.var_biased[c] / (in.var_biased[c] + 1e-5)).epsilon(1e-4));
      CHECK(std::fabs(out.var_biased[c] - 1) < 1e-3);
    }
    // and elementwise equals the formula with the batch mean and biased variance
    CHECK(max_diff(y, normalise(x, in.mean, in.var_biased, {1, 1, 1}, {0, 0, 0}, 1e-5)) < 1e-5);

    // γ, β scale and shift the normalised values
    float* w = bn->parameter("weight").data<float>();
    float* b = bn->parameter("bias").data<float>();
    const std::vector<double> gamma = {2.0, -0.5, 1.5}, beta = {0.25, 3.0, -1.0};
    for (size_t c = 0; c < 3; ++c) {
      w[c] = float(gamma[c]);
      b[c] = float(beta[c]);
    }
    Tensor y2 = bn->forward(x);
    Stats out2 = channel_stats(y2);
    for (size_t c = 0; c < 3; ++c) {
      CHECK(out2.mean[c] == doctest::Approx(beta[c]).epsilon(1e-5));
      CHECK(std::sqrt(out2.var_biased[c]) == doctest::Approx(std::fabs(gamma[c])).epsilon(1e-3));
    }
    CHECK(max_diff(y2, normalise(x, in.mean, in.var_biased, gamma, beta, 1e-5)) < 2e-5);
  }
}

TEST_CASE("running statistics: momentum update with the unbiased variance") {
  // Small batches (M = 8 values per channel for 2d, 5 for 1d) so the unbiased
  // factor M/(M−1) is far from 1 and the biased variance would fail the check.
  for (Shape shape : {Shape{2, 3, 2, 2}, Shape{5, 3}}) {
    CAPTURE(to_string(shape));
    std::shared_ptr<nn::BatchNorm> bn;
    if (shape.size() == 4) bn = nn::make<nn::BatchNorm2d>(3);
    else bn = nn::make<nn::BatchNorm1d>(3);
    CHECK(bn->momentum == doctest::Approx(0.1f));
    std::vector<double> rm(3, 0.0), rv(3, 1.0);
    const int k = 6;
    for (int step = 1; step <= k; ++step) {
      Tensor x = batch(shape, uint64_t(100 + step));
      Stats s = channel_stats(x);
      bn->forward(x);
      for (size_t c = 0; c < 3; ++c) {
        rm[c] = 0.9 * rm[c] + 0.1 * s.mean[c];
        rv[c] = 0.9 * rv[c] + 0.1 * s.var_unbiased[c];
      }
      CHECK(tracked(*bn) == step);
    }
    auto got_m = bn->buffer("running_mean").to_vector<float>();
    auto got_v = bn->buffer("running_var").to_vector<float>();
    for (size_t c = 0; c < 3; ++c) {
      CAPTURE(c);
      CHECK(got_m[c] == doctest::Approx(rm[c]).epsilon(1e-5));
      CHECK(got_v[c] == doctest::Approx(rv[c]).epsilon(1e-5));
    }
  }
}

TEST_CASE("running statistics: closed form for one batch seen k times") {
  // From rm₀ = 0, rv₀ = 1 and a fixed batch with mean m and unbiased variance s²:
  //   rm_k = m·(1 − (1−μ)^k),   rv_k = (1−μ)^k + s²·(1 − (1−μ)^k)
  const float mu = 0.25f;
  nn::BatchNorm2d bn(3, 1e-5f, mu);
  Tensor x = batch({3, 3, 3, 3}, 7);  // M = 27
  Stats s = channel_stats(x);
  const int k = 4;
  for (int i = 0; i < k; ++i) bn.forward(x);
  const double decay = std::pow(1.0 - mu, k);
  auto got_m = bn.buffer("running_mean").to_vector<float>();
  auto got_v = bn.buffer("running_var").to_vector<float>();
  for (size_t c = 0; c < 3; ++c) {
    CHECK(got_m[c] == doctest::Approx(s.mean[c] * (1 - decay)).epsilon(1e-5));
    CHECK(got_v[c] == doctest::Approx(decay + s.var_unbiased[c] * (1 - decay)).epsilon(1e-5));
    // the biased variance gives a visibly different value (27/26 factor)
    CHECK(std::fabs(got_v[c] - (decay + s.var_biased[c] * (1 - decay))) > 1e-3);
  }
  CHECK(tracked(bn) == k);

  // momentum 1: the running statistics are the last batch's; momentum 0: never move
  nn::BatchNorm1d one(3, 1e-5f, 1.f), zero(3, 1e-5f, 0.f);
  Tensor x1 = batch({6, 3}, 8);
  Stats s1 = channel_stats(x1);
  one.forward(batch({6, 3}, 9));
  one.forward(x1);
  zero.forward(x1);
  for (size_t c = 0; c < 3; ++c) {
    CHECK(one.buffer("running_mean").to_vector<float>()[c] == doctest::Approx(s1.mean[c]).epsilon(1e-5));
    CHECK(one.buffer("running_var").to_vector<float>()[c] == doctest::Approx(s1.var_unbiased[c]).epsilon(1e-5));
    CHECK(zero.buffer("running_mean").to_vector<float>()[c] == 0.f);
    CHECK(zero.buffer("running_var").to_vector<float>()[c] == 1.f);
  }
  CHECK(tracked(zero) == 1);
}

TEST_CASE("eval uses the running statistics and changes nothing") {
  nn::BatchNorm2d bn(3);
  for (int i = 0; i < 3; ++i) bn.forward(batch({4, 3, 3, 3}, uint64_t(20 + i)));
  float* w = bn.parameter("weight").data<float>();
  float* b = bn.parameter("bias").data<float>();
  const std::vector<double> gamma = {1.5, 0.5, -1.0}, beta = {0.0, 1.0, 2.0};
  for (size_t c = 0; c < 3; ++c) {
    w[c] = float(gamma[c]);
    b[c] = float(beta[c]);
  }
  const Tensor rm = bn.buffer("running_mean").clone(), rv = bn.buffer("running_var").clone();
  Tensor x = batch({4, 3, 3, 3}, 30);
  bn.eval();
  Tensor ye = bn.forward(x);
  CHECK(max_diff(ye, normalise(x, as_double(rm), as_double(rv), gamma, beta, 1e-5)) < 1e-5);
  // nothing moved in eval
  CHECK(bit_equal(bn.buffer("running_mean"), rm));
  CHECK(bit_equal(bn.buffer("running_var"), rv));
  CHECK(tracked(bn) == 3);
  // eval is deterministic and independent of the rest of the batch
  Tensor first = x.narrow(0, 1).clone();
  CHECK(bit_equal(bn.forward(first), ye.detach().narrow(0, 1).clone()));
  // train mode on the same batch uses the batch statistics instead: a different output
  bn.train();
  Tensor yt = bn.forward(x);
  Stats s = channel_stats(x);
  CHECK(max_diff(yt, normalise(x, s.mean, s.var_biased, gamma, beta, 1e-5)) < 2e-5);
  auto a = ye.to_vector<float>(), t = yt.to_vector<float>();
  double diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, double(std::fabs(a[i] - t[i])));
  CHECK(diff > 0.1);
  CHECK(tracked(bn) == 4);
}

TEST_CASE("affine = false: no parameters, plain normalisation") {
  nn::BatchNorm2d bn(3, 1e-5f, 0.1f, false);
  CHECK(bn.named_parameters().empty());
  CHECK(bn.parameters().empty());
  CHECK(bn.named_buffers().size() == 3);
  CHECK_FALSE(bn.param("weight").defined());
  Tensor x = batch({4, 3, 2, 2}, 40);
  Stats s = channel_stats(x);
  CHECK(max_diff(bn.forward(x), normalise(x, s.mean, s.var_biased, {1, 1, 1}, {0, 0, 0}, 1e-5)) < 1e-5);
  CHECK(tracked(bn) == 1);
  // gradients still flow to the input
  Tensor xi = x.clone();
  xi.requires_grad_(true);
  mul(bn.forward(xi), xi).sum().backward();
  CHECK(xi.grad().defined());
  CHECK(bn.repr().find("affine=False") != std::string::npos);
}

TEST_CASE("track_running_stats = false: no buffers, batch statistics in train and eval") {
  nn::BatchNorm1d bn(3, 1e-5f, 0.1f, true, false);
  CHECK(bn.named_buffers().empty());
  CHECK(bn.state_dict().size() == 2);  // weight, bias
  Tensor x = batch({7, 3}, 50);
  Stats s = channel_stats(x);
  Tensor yt = bn.forward(x);
  bn.eval();
  Tensor ye = bn.forward(x);
  CHECK(bit_equal(yt, ye));
  CHECK(max_diff(ye, normalise(x, s.mean, s.var_biased, {1, 1, 1}, {0, 0, 0}, 1e-5)) < 1e-5);
  // with batch statistics even eval needs more than one value per channel
  CHECK_THROWS_AS(bn.forward(Tensor::ones({1, 3})), minidl::Error);
}

TEST_CASE("training with one value per channel throws and changes nothing") {
  nn::BatchNorm1d bn1(3);
  nn::BatchNorm2d bn2(3);
  bn1.forward(batch({4, 3}, 60));
  const Tensor rm = bn1.buffer("running_mean").clone(), rv = bn1.buffer("running_var").clone();
  std::string e;
  try {
    bn1.forward(Tensor::ones({1, 3}));
  } catch (const minidl::Error& err) {
    e = err.what();
  }
  CHECK(e.find("more than 1 value per channel") != std::string::npos);
  CHECK(e.find("[1, 3]") != std::string::npos);
  CHECK_THROWS_AS(bn2.forward(Tensor::ones({1, 3, 1, 1})), minidl::Error);
  // a failed forward neither counts a batch nor moves the statistics
  CHECK(tracked(bn1) == 1);
  CHECK(tracked(bn2) == 0);
  CHECK(bit_equal(bn1.buffer("running_mean"), rm));
  CHECK(bit_equal(bn1.buffer("running_var"), rv));
  // one sample with several pixels is fine for BatchNorm2d (M = H·W > 1)
  CHECK_NOTHROW(bn2.forward(batch({1, 3, 2, 2}, 61)));
  CHECK(tracked(bn2) == 1);
  // in eval a single sample uses the running statistics
  bn1.eval();
  Tensor y = bn1.forward(Tensor::ones({1, 3}));
  CHECK(max_diff(y, normalise(Tensor::ones({1, 3}), as_double(rm), as_double(rv), {1, 1, 1}, {0, 0, 0}, 1e-5)) < 1e-6);
}
