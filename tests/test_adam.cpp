// Tests for nn/adam.h, nn/adamw.h, nn/one_cycle_lr.h and LinearLR: steps worked
// out by hand, amsgrad's running maximum, masked state, option errors, the
// schedules' shape and per-step stepping inside nn::fit. (Exact agreement with
// torch.optim is tests/parity/torch_optim_parity.py.)
//
// With a constant gradient g, Adam's bias-corrected moments are m̂ = g and
// v̂ = g² at every step, so with ε = 0 each step moves every entry by exactly
// lr·sign(g) — the hand-worked cases use that.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

Tensor param(std::vector<float> v) {
  Tensor p = Tensor::from_vector(v);
  p.requires_grad_(true);
  return p;
}

void step_with(nn::Optimizer& opt, Tensor& p, std::vector<float> g) {
  p.set_grad(Tensor::from_vector(g));
  opt.step();
}

}  // namespace

TEST_CASE("Adam with a constant gradient moves lr·sign(g) per step; state and step counts") {
  Tensor p = param({1.f, -2.f});
  nn::Adam opt({p}, {.lr = 0.1f, .eps = 0});
  for (int s = 1; s <= 3; ++s) {
    step_with(opt, p, {0.5f, -0.25f});
    CHECK(p.to_vector<float>()[0] == doctest::Approx(1.0 - 0.1 * s).epsilon(1e-6));
    CHECK(p.to_vector<float>()[1] == doctest::Approx(-2.0 + 0.1 * s).epsilon(1e-6));
  }
  CHECK(opt.state_step(0) == 3);
  // m = (1 − 0.9³)·g, v = (1 − 0.999³)·g²
  CHECK(opt.exp_avg(0).to_vector<float>()[0] == doctest::Approx((1 - 0.729) * 0.5).epsilon(1e-6));
  CHECK(opt.exp_avg_sq(0).to_vector<float>()[1] == doctest::Approx((1 - std::pow(0.999, 3)) * 0.0625).epsilon(1e-5));
  CHECK_FALSE(opt.max_exp_avg_sq(0).defined());  // only with amsgrad
}

TEST_CASE("Adam's weight decay is L2 in the gradient; AdamW's is decoupled, p·(1 − lr·λ) first") {
  // Adam, λ = 0.1: g' = g + λp = [0.5 + 0.1, 0.25 − 0.2] = [0.6, 0.05]: still lr·sign(g') on the first step.
  Tensor a = param({1.f, -2.f});
  nn::Adam adam({a}, {.lr = 0.1f, .eps = 0, .weight_decay = 0.1f});
  step_with(adam, a, {0.5f, 0.25f});
  CHECK(a.to_vector<float>()[0] == doctest::Approx(0.9).epsilon(1e-6));
  CHECK(a.to_vector<float>()[1] == doctest::Approx(-2.1).epsilon(1e-6));
  CHECK(adam.exp_avg(0).to_vector<float>()[0] == doctest::Approx(0.1 * 0.6).epsilon(1e-6));  // m holds g'
  // AdamW, λ = 0.1: step 1: 1·0.99 − 0.1 = 0.89, −2·0.99 − 0.1 = −2.08
  //                 step 2: 0.89·0.99 − 0.1 = 0.7811, −2.08·0.99 − 0.1 = −2.1592
  Tensor w = param({1.f, -2.f});
  nn::AdamW adamw({w}, {.lr = 0.1f, .eps = 0, .weight_decay = 0.1f});
  step_with(adamw, w, {0.5f, 0.25f});
  CHECK(w.to_vector<float>()[0] == doctest::Approx(0.89).epsilon(1e-6));
  CHECK(w.to_vector<float>()[1] == doctest::Approx(-2.08).epsilon(1e-6));
  CHECK(adamw.exp_avg(0).to_vector<float>()[0] == doctest::Approx(0.1 * 0.5).epsilon(1e-6));  // m holds g
  step_with(adamw, w, {0.5f, 0.25f});
  CHECK(w.to_vector<float>()[0] == doctest::Approx(0.7811).epsilon(1e-6));
  CHECK(w.to_vector<float>()[1] == doctest::Approx(-2.1592).epsilon(1e-6));
  CHECK(nn::AdamWOptions{}.weight_decay == 1e-2f);  // PyTorch's default
}

TEST_CASE("amsgrad keeps the running maximum of v and steps with it") {
  Tensor p = param({0.f}), q = param({0.f});
  nn::Adam ams({p}, {.lr = 0.1f, .amsgrad = true}), plain({q}, {.lr = 0.1f});
  for (float g : {1.f, 1e-3f, 1e-3f}) {
    step_with(ams, p, {g});
    step_with(plain, q, {g});
  }
  const float v = ams.exp_avg_sq(0).to_vector<float>()[0], vmax = ams.max_exp_avg_sq(0).to_vector<float>()[0];
  CHECK(vmax == doctest::Approx(1e-3).epsilon(1e-5));  // v after step 1 = (1 − β₂)·1², the largest
  CHECK(v < vmax);                                     // v has decayed since
  // the larger denominator makes amsgrad's later steps smaller
  CHECK(std::abs(p.to_vector<float>()[0]) < std::abs(q.to_vector<float>()[0]));
}

TEST_CASE("Adam skips parameters without a gradient (their step count stays)") {
  Tensor p = param({1.f}), q = param({1.f});
  nn::Adam opt({p, q}, {.lr = 0.1f});
  step_with(opt, p, {1.f});  // q has no gradient
  CHECK(opt.state_step(0) == 1);
  CHECK(opt.state_step(1) == 0);
  CHECK(q.to_vector<float>()[0] == 1.f);
  CHECK_FALSE(opt.exp_avg(1).defined());
}

TEST_CASE("mask_state zeroes the optimizer state at masked entries (Adam, AdamW, SGD)") {
  const Tensor mask = Tensor::from_vector(std::vector<float>{1.f, 0.f, 1.f});
  Tensor p = param({1.f, 2.f, 3.f}), other = param({1.f, 2.f, 3.f});
  nn::Adam adam({p, other}, {.amsgrad = true});
  step_with(adam, p, {1.f, 1.f, 1.f});
  other.set_grad(Tensor::from_vector(std::vector<float>{1.f, 1.f, 1.f}));
  adam.step();
  adam.mask_state(p, mask);
  for (const Tensor* t : {&adam.exp_avg(0), &adam.exp_avg_sq(0), &adam.max_exp_avg_sq(0)}) {
    const auto v = t->to_vector<float>();
    CHECK(v[0] != 0.f);
    CHECK(v[1] == 0.f);
    CHECK(v[2] != 0.f);
  }
  CHECK(adam.exp_avg(1).to_vector<float>()[1] != 0.f);  // other parameters untouched
  nn::Optimizer& base = adam;                          // through the base class hook
  base.mask_state(other, Tensor::zeros({3}));
  CHECK(adam.exp_avg(1).to_vector<float>() == std::vector<float>{0.f, 0.f, 0.f});
  CHECK(contains(error_of([&] { adam.mask_state(p, Tensor::zeros({2})); }), "mask"));

  Tensor s = param({1.f, 2.f, 3.f});
  nn::SGD sgd({s}, nn::SGDOptions{.lr = 0.1f, .momentum = 0.9f});
  step_with(sgd, s, {1.f, 1.f, 1.f});
  sgd.mask_state(s, mask);
  CHECK(sgd.momentum_buffer(0).to_vector<float>() == std::vector<float>{1.f, 0.f, 1.f});
}

TEST_CASE("Adam / AdamW option errors name the option and its range") {
  Tensor p = param({1.f});
  CHECK(contains(error_of([&] { nn::Adam({p}, {.beta1 = 1.0}); }), "beta1 must be in [0, 1)"));
  CHECK(contains(error_of([&] { nn::Adam({p}, {.beta2 = -0.1}); }), "beta2 must be in [0, 1)"));
  CHECK(contains(error_of([&] { nn::Adam({p}, {.eps = -1e-8}); }), "eps must be"));
  CHECK(contains(error_of([&] { nn::AdamW({p}, {.weight_decay = -1.f}); }), "AdamW: weight_decay"));
  CHECK(contains(error_of([&] { nn::Adam({p}, {.lr = -1.f}); }), "learning rate"));
  nn::Adam ok({p}, {});
  CHECK(contains(error_of([&] { ok.set_momentum(1.5); }), "beta1"));
}

TEST_CASE("OneCycleLR: lr_init → max_lr at pct·T − 1 → lr_init/final_div at T − 1; momentum inverse") {
  Tensor p = param({1.f});
  nn::SGD sgd({p}, nn::SGDOptions{.lr = 1.f, .momentum = 0.5f});
  nn::OneCycleLR s(sgd, {.max_lr = 0.4, .total_steps = 10});  // pct 0.3: the peak at step 2
  CHECK(sgd.lr() == doctest::Approx(0.4 / 25));                 // set at construction, as PyTorch
  CHECK(sgd.momentum() == doctest::Approx(0.95));
  CHECK(s.lr_at(1) == doctest::Approx(0.016 + (0.4 - 0.016) * 0.5));  // half way up: cos(π/2)
  s.step();
  s.step();
  CHECK(sgd.lr() == doctest::Approx(0.4));
  CHECK(sgd.momentum() == doctest::Approx(0.85));
  for (int t = 2; t < 9; ++t) {
    CHECK(s.lr_at(t + 1) < s.lr_at(t));  // annealing down after the peak
    s.step();
  }
  CHECK(sgd.lr() == doctest::Approx(0.4 / 25 / 1e4));
  CHECK(sgd.momentum() == doctest::Approx(0.95));
  s.step();  // step T: allowed, as in PyTorch
  CHECK(contains(error_of([&] { s.step(); }), "tried to step 12 times; total_steps is 10"));
  CHECK(contains(error_of([&] { nn::OneCycleLR(sgd, {.max_lr = 0.1, .total_steps = 0}); }), "total_steps"));
  CHECK(contains(error_of([&] { nn::OneCycleLR(sgd, {.max_lr = 0.1, .total_steps = 5, .pct_start = 1.5}); }),
                 "pct_start"));
  // Adam's β₁ is the momentum it cycles
  nn::Adam adam({p}, {});
  nn::OneCycleLR sa(adam, {.max_lr = 0.01, .total_steps = 4});
  CHECK(adam.options().beta1 == doctest::Approx(0.95));
}

TEST_CASE("LinearLR warm-up: s·lr₀ → f·lr₀ over T steps, then constant") {
  Tensor p = param({1.f});
  nn::SGD sgd({p}, nn::SGDOptions{.lr = 0.2f});
  nn::LinearLR w(sgd, 0.25f, 1.f, 4, /*per_batch=*/true);
  CHECK(sgd.lr() == doctest::Approx(0.05));
  const double want[] = {0.0875, 0.125, 0.1625, 0.2, 0.2, 0.2};
  for (double v : want) {
    w.step();
    CHECK(sgd.lr() == doctest::Approx(v));
  }
  CHECK(w.per_batch());
  CHECK(contains(error_of([&] { nn::LinearLR(sgd, 0.f, 1.f, 4); }), "start_factor must be in (0, 1]"));
  CHECK(contains(error_of([&] { nn::LinearLR(sgd, 0.5f, 1.f, 0); }), "total_iters"));
}

TEST_CASE("fit steps a per-batch scheduler after every optimizer step, an epoch scheduler once per epoch") {
  Generator g(3);
  const int64_t n = 40;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) y.push_back(i % 2);
  auto data = std::make_shared<datasets::TensorDataset>(Tensor::normal({n, 4}, 0.f, 1.f, g), y, 2);
  datasets::DataLoader loader(data, {.batch_size = 8});  // 5 batches per epoch
  Generator gi(1);
  nn::Linear model(4, 2, true, gi);
  nn::AdamW opt(model.parameters(), {.lr = 0.01f});
  nn::OneCycleLR sched(opt, {.max_lr = 0.01, .total_steps = 15});
  nn::FitOptions fo;
  fo.epochs = 3;
  fo.scheduler = &sched;
  const nn::History h = nn::fit(model, opt, loader, fo);
  CHECK(sched.epoch() == 15);  // 3 epochs × 5 batches
  CHECK(h.epochs[1].lr == doctest::Approx(sched.lr_at(5)));  // epoch 2 starts after 5 steps
  nn::SGD sgd(model.parameters(), nn::SGDOptions{.lr = 0.1f});
  nn::StepLR step(sgd, 1, 0.5f);
  fo.scheduler = &step;
  nn::fit(model, sgd, loader, fo);
  CHECK(step.epoch() == 3);
}
