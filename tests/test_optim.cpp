// Tests for nn/optim.h and nn/lr_scheduler.h: SGD against updates worked out
// by hand (torch.optim.SGD's rule), skipped parameters, option checks,
// StepLR / CosineAnnealingLR closed forms, and a small regression problem
// whose loss really goes down.
//
// All hand-worked cases use a two-element parameter p = [1, -2] with the fixed
// gradient g = [0.5, 0.25] set before every step, and lr = 0.5.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

Tensor param(std::vector<float> v) {
  Tensor p = Tensor::from_vector(v);
  p.requires_grad_(true);
  return p;
}

// Runs `steps` SGD steps with gradient g and returns p after each step.
std::vector<std::vector<float>> run(const nn::SGDOptions& o, int steps, std::vector<float> p0 = {1.f, -2.f},
                                    std::vector<float> g = {0.5f, 0.25f}) {
  Tensor p = param(p0);
  nn::SGD opt({p}, o);
  std::vector<std::vector<float>> out;
  for (int s = 0; s < steps; ++s) {
    p.set_grad(Tensor::from_vector(g));
    opt.step();
    out.push_back(p.to_vector<float>());
  }
  return out;
}

void check_steps(const std::vector<std::vector<float>>& got, const std::vector<std::vector<double>>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t s = 0; s < want.size(); ++s)
    for (size_t i = 0; i < want[s].size(); ++i) {
      CAPTURE(s);
      CAPTURE(i);
      CHECK(got[s][i] == doctest::Approx(want[s][i]).epsilon(1e-6));
    }
}

nn::SGDOptions opts(float lr, float momentum = 0, float dampening = 0, float wd = 0, bool nesterov = false) {
  nn::SGDOptions o;
  o.lr = lr;
  o.momentum = momentum;
  o.dampening = dampening;
  o.weight_decay = wd;
  o.nesterov = nesterov;
  return o;
}

}  // namespace

TEST_CASE("SGD plain: p -= lr·g") {
  // step 1: 1 - 0.5·0.5 = 0.75        -2 - 0.5·0.25 = -2.125
  // step 2: 0.75 - 0.25 = 0.5          -2.125 - 0.125 = -2.25
  // step 3: 0.5 - 0.25 = 0.25          -2.25 - 0.125 = -2.375
  check_steps(run(opts(0.5f), 3), {{0.75, -2.125}, {0.5, -2.25}, {0.25, -2.375}});
}

TEST_CASE("SGD weight decay: g' = g + λ·p") {
  // λ = 0.1
  // step 1: p=1:      d = 0.5 + 0.1     = 0.6      p = 1 - 0.5·0.6 = 0.7
  //         p=-2:     d = 0.25 - 0.2    = 0.05     p = -2 - 0.025 = -2.025
  // step 2: p=0.7:    d = 0.5 + 0.07    = 0.57     p = 0.7 - 0.285 = 0.415
  //         p=-2.025: d = 0.25 - 0.2025 = 0.0475   p = -2.025 - 0.02375 = -2.04875
  // step 3: p=0.415:  d = 0.5 + 0.0415  = 0.5415   p = 0.415 - 0.27075 = 0.14425
  //         p=-2.04875: d = 0.25 - 0.204875 = 0.045125   p = -2.04875 - 0.0225625 = -2.0713125
  check_steps(run(opts(0.5f, 0, 0, 0.1f), 3), {{0.7, -2.025}, {0.415, -2.04875}, {0.14425, -2.0713125}});
}

TEST_CASE("SGD momentum: the first step sets the buffer to the gradient") {
  // μ = 0.9
  // step 1: b = g = [0.5, 0.25]                              p = [1 - 0.25, -2 - 0.125] = [0.75, -2.125]
  // step 2: b = 0.9·0.5 + 0.5 = 0.95;  0.9·0.25 + 0.25 = 0.475    p = [0.75 - 0.475, -2.125 - 0.2375] = [0.275, -2.3625]
  // step 3: b = 0.9·0.95 + 0.5 = 1.355; 0.9·0.475 + 0.25 = 0.6775 p = [0.275 - 0.6775, -2.3625 - 0.33875] = [-0.4025, -2.70125]
  check_steps(run(opts(0.5f, 0.9f), 3), {{0.75, -2.125}, {0.275, -2.3625}, {-0.4025, -2.70125}});
  // the buffer itself
  Tensor p = param({1.f, -2.f});
  nn::SGD opt({p}, opts(0.5f, 0.9f));
  CHECK_FALSE(opt.momentum_buffer(0).defined());
  for (int s = 0; s < 3; ++s) {
    p.set_grad(Tensor::from_vector(std::vector<float>{0.5f, 0.25f}));
    opt.step();
  }
  auto b = opt.momentum_buffer(0).to_vector<float>();
  CHECK(b[0] == doctest::Approx(1.355).epsilon(1e-6));
  CHECK(b[1] == doctest::Approx(0.6775).epsilon(1e-6));
}

TEST_CASE("SGD dampening: b = μ·b + (1 − τ)·g after the first step; the first step is undamped") {
  // μ = 0.9, τ = 0.5
  // step 1: b = g = [0.5, 0.25] (not (1−τ)·g)                 p = [0.75, -2.125]
  // step 2: b = 0.9·0.5 + 0.5·0.5 = 0.7;  0.9·0.25 + 0.5·0.25 = 0.35   p = [0.75 - 0.35, -2.125 - 0.175] = [0.4, -2.3]
  // step 3: b = 0.9·0.7 + 0.25 = 0.88;    0.9·0.35 + 0.125 = 0.44      p = [0.4 - 0.44, -2.3 - 0.22] = [-0.04, -2.52]
  check_steps(run(opts(0.5f, 0.9f, 0.5f), 3), {{0.75, -2.125}, {0.4, -2.3}, {-0.04, -2.52}});
}

TEST_CASE("SGD nesterov: step with g + μ·b") {
  // μ = 0.9
  // step 1: b = 0.5,   update 0.5 + 0.45 = 0.95       p = 1 - 0.475 = 0.525
  //         b = 0.25,  update 0.25 + 0.225 = 0.475    p = -2 - 0.2375 = -2.2375
  // step 2: b = 0.95,  update 0.5 + 0.855 = 1.355     p = 0.525 - 0.6775 = -0.1525
  //         b = 0.475, update 0.25 + 0.4275 = 0.6775  p = -2.2375 - 0.33875 = -2.57625
  // step 3: b = 1.355, update 0.5 + 1.2195 = 1.7195   p = -0.1525 - 0.85975 = -1.01225
  //         b = 0.6775, update 0.25 + 0.60975 = 0.85975  p = -2.57625 - 0.429875 = -3.006125
  check_steps(run(opts(0.5f, 0.9f, 0, 0, true), 3),
              {{0.525, -2.2375}, {-0.1525, -2.57625}, {-1.01225, -3.006125}});
}

TEST_CASE("SGD momentum with weight decay: the decayed gradient enters the buffer") {
  // μ = 0.9, λ = 0.1, p = [1], g = [0.5]
  // step 1: d = 0.5 + 0.1 = 0.6;          b = 0.6;                 p = 1 - 0.3 = 0.7
  // step 2: d = 0.5 + 0.07 = 0.57;        b = 0.54 + 0.57 = 1.11;  p = 0.7 - 0.555 = 0.145
  // step 3: d = 0.5 + 0.0145 = 0.5145;    b = 0.999 + 0.5145 = 1.5135; p = 0.145 - 0.75675 = -0.61175
  check_steps(run(opts(0.5f, 0.9f, 0, 0.1f), 3, {1.f}, {0.5f}), {{0.7}, {0.145}, {-0.61175}});
}

TEST_CASE("SGD skips parameters without a gradient") {
  for (float mu : {0.f, 0.9f}) {
    CAPTURE(mu);
    Tensor a = param({1.f, 2.f}), b = param({3.f, 4.f});
    nn::SGD opt({a, b}, opts(0.5f, mu));
    b.set_grad(Tensor::from_vector(std::vector<float>{1.f, 1.f}));
    opt.step();
    CHECK(a.to_vector<float>() == std::vector<float>{1.f, 2.f});
    CHECK(b.to_vector<float>() == std::vector<float>{2.5f, 3.5f});
    if (mu > 0) {
      CHECK_FALSE(opt.momentum_buffer(0).defined());
      CHECK(opt.momentum_buffer(1).defined());
    }
    // zero_grad drops every gradient: the next step changes nothing
    opt.zero_grad();
    CHECK_FALSE(b.grad().defined());
    opt.step();
    CHECK(b.to_vector<float>() == std::vector<float>{2.5f, 3.5f});
  }
}

TEST_CASE("SGD option checks") {
  Tensor p = param({1.f});
  CHECK(contains(error_of([&] { nn::SGD({p}, opts(-0.1f)); }), "learning rate"));
  CHECK_THROWS_AS(nn::SGD({p}, opts(std::nanf(""))), minidl::Error);
  CHECK_THROWS_AS(nn::SGD({p}, opts(INFINITY)), minidl::Error);
  CHECK(contains(error_of([&] { nn::SGD({p}, opts(0.1f, 0, 0, 0, true)); }), "nesterov"));      // no momentum
  CHECK(contains(error_of([&] { nn::SGD({p}, opts(0.1f, 0.9f, 0.1f, 0, true)); }), "nesterov"));  // with dampening
  CHECK_THROWS_AS(nn::SGD({p}, opts(0.1f, -0.5f)), minidl::Error);
  CHECK_THROWS_AS(nn::SGD({p}, opts(0.1f, 0.9f, 1.5f)), minidl::Error);
  CHECK_THROWS_AS(nn::SGD({p}, opts(0.1f, 0, 0, -1e-4f)), minidl::Error);
  CHECK_THROWS_AS(nn::SGD({Tensor::zeros({2}, DType::Int64)}, opts(0.1f)), minidl::Error);
  CHECK_THROWS_AS(nn::SGD({Tensor()}, opts(0.1f)), minidl::Error);
  CHECK_NOTHROW(nn::SGD({p}, opts(0.f)));
  CHECK_NOTHROW(nn::SGD({p}, opts(0.1f, 0.9f, 0, 0, true)));
  nn::SGD ok({p}, opts(0.1f));
  CHECK_THROWS_AS(ok.set_lr(-1.f), minidl::Error);
  CHECK(ok.lr() == doctest::Approx(0.1f));
  ok.set_lr(0.25f);
  CHECK(ok.lr() == 0.25f);
  // set_lr takes effect on the next step
  p.set_grad(Tensor::from_vector(std::vector<float>{1.f}));
  ok.step();
  CHECK(p.to_vector<float>()[0] == 0.75f);
}

TEST_CASE("StepLR: lr_e = lr_0·γ^⌊e/step⌋, set on the optimizer") {
  Tensor p = param({1.f});
  nn::SGD opt({p}, opts(0.8f));
  nn::StepLR sched(opt, 3, 0.5f);
  CHECK(sched.epoch() == 0);
  CHECK(opt.lr() == 0.8f);
  //            e:   1    2    3    4    5    6     7     8     9
  const float want[] = {0.8f, 0.8f, 0.4f, 0.4f, 0.4f, 0.2f, 0.2f, 0.2f, 0.1f};
  for (int e = 1; e <= 9; ++e) {
    sched.step();
    CAPTURE(e);
    CHECK(sched.epoch() == e);
    CHECK(opt.lr() == doctest::Approx(want[e - 1]).epsilon(1e-6));
    CHECK(sched.lr_at(e) == doctest::Approx(want[e - 1]).epsilon(1e-6));
  }
  CHECK_THROWS_AS(nn::StepLR(opt, 0), minidl::Error);
  CHECK_THROWS_AS(nn::StepLR(opt, 2, 0.f), minidl::Error);
}

TEST_CASE("CosineAnnealingLR: η_min + (lr_0 − η_min)(1 + cos(πe/T))/2, set on the optimizer") {
  Tensor p = param({1.f});
  nn::SGD opt({p}, opts(0.1f));
  nn::CosineAnnealingLR sched(opt, 10, 0.001f);
  CHECK(sched.lr_at(0) == doctest::Approx(0.1).epsilon(1e-6));
  for (int e = 1; e <= 10; ++e) {
    sched.step();
    const double want = 0.001 + (0.1 - 0.001) * (1 + std::cos(M_PI * e / 10)) / 2;
    CAPTURE(e);
    CHECK(opt.lr() == doctest::Approx(want).epsilon(1e-5));
  }
  // known points: half-way is the mean of the two ends, the end is η_min
  CHECK(sched.lr_at(5) == doctest::Approx((0.1 + 0.001) / 2).epsilon(1e-5));
  CHECK(sched.lr_at(10) == doctest::Approx(0.001).epsilon(1e-4));
  CHECK(opt.lr() == doctest::Approx(0.001).epsilon(1e-4));
  // e = T/3: cos(π/3) = 1/2 → η_min + 3/4 of the range
  nn::SGD opt2({p}, opts(1.f));
  nn::CosineAnnealingLR s2(opt2, 3);
  s2.step();
  CHECK(opt2.lr() == doctest::Approx(0.75).epsilon(1e-6));
  s2.step();  // cos(2π/3) = -1/2
  CHECK(opt2.lr() == doctest::Approx(0.25).epsilon(1e-6));
  s2.step();
  CHECK(std::fabs(opt2.lr()) < 1e-7f);
  CHECK_THROWS_AS(nn::CosineAnnealingLR(opt, 0), minidl::Error);
  CHECK_THROWS_AS(nn::CosineAnnealingLR(opt, 5, -0.1f), minidl::Error);
}

TEST_CASE("SGD minimises a linear regression loss") {
  // y = X·w* + b* + small noise, w* = [2, -3, 0.5], b* = 1; model Linear(3, 1).
  Generator g(5);
  const int64_t n = 256;
  Tensor X = Tensor::normal({n, 3}, 0.f, 1.f, g);
  const std::vector<float> w_true = {2.f, -3.f, 0.5f};
  std::vector<float> yv(static_cast<size_t>(n));
  auto xv = X.to_vector<float>();
  for (int64_t i = 0; i < n; ++i)
    yv[size_t(i)] = 1.f + 0.01f * float(g.normal()) +
                    w_true[0] * xv[size_t(3 * i)] + w_true[1] * xv[size_t(3 * i + 1)] + w_true[2] * xv[size_t(3 * i + 2)];
  Tensor Y = Tensor::from_vector(yv, {n, 1});
  for (bool momentum : {false, true}) {
    CAPTURE(momentum);
    Generator gi(1);
    nn::Linear model(3, 1, true, gi);
    nn::SGD opt(model.parameters(), momentum ? opts(0.05f, 0.9f) : opts(0.1f));
    float first = 0, last = 0;
    for (int it = 0; it < 150; ++it) {
      opt.zero_grad();
      Tensor loss = mse_loss(model.forward(X), Y);
      if (it == 0) first = loss.item();
      last = loss.item();
      loss.backward();
      opt.step();
    }
    CHECK(first > 1.f);
    CHECK(last < 1e-3f * first);
    auto w = model.parameter("weight").to_vector<float>();
    for (int i = 0; i < 3; ++i) CHECK(w[size_t(i)] == doctest::Approx(w_true[size_t(i)]).epsilon(0.02));
    CHECK(model.parameter("bias").to_vector<float>()[0] == doctest::Approx(1.f).epsilon(0.02));
  }
}
