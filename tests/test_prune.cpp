// Tests for compress/prune.h (unstructured magnitude pruning with masks as
// parametrizations) and compress/gradual.h (Zhu & Gupta's schedule).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "compress/gradual.h"
#include "datasets/loader.h"
#include "nn/trainer.h"
#include "compress/prune.h"
#include "minidl.h"
#include "test_util.h"

using namespace minidl;
namespace cp = minidl::compress;
using cp::Amount;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

std::shared_ptr<nn::Linear> linear_with(const std::vector<float>& w, int64_t out, int64_t in) {
  auto l = nn::make<nn::Linear>(in, out);
  l->weight().copy_(Tensor::from_vector(w, {out, in}));
  return l;
}

std::vector<float> vals(const Tensor& t) { return t.to_vector<float>(); }
uint32_t bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// A small seed CNN (16×16 inputs keep the tests fast) and a fixed batch.
std::shared_ptr<nn::Sequential> small_cnn(uint64_t seed, bool bn = false) {
  Generator g(seed);
  nn::SeedCNNOptions o;
  o.image_size = 16;
  o.batchnorm = bn;
  return nn::seed_cnn(o, g);
}
struct Batch {
  Tensor x, y;
};
Batch batch(uint64_t seed, int64_t n = 8) {
  Generator g(seed);
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(int64_t(g.randint(10)));
  return {Tensor::normal({n, 1, 16, 16}, 0, 1, g), Tensor::from_vector(labels, {n})};
}
void train_step(nn::Module& net, nn::Optimizer& opt, const Batch& b) {
  opt.zero_grad();
  cross_entropy(net.forward(b.x), b.y).backward();
  opt.step();
}

int64_t masked(const Tensor& mask) {
  int64_t z = 0;
  for (float v : vals(mask)) z += v == 0.f;
  return z;
}

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("minidl_test_prune_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST_CASE("Amount: fractions in [0, 1], counts in [0, remaining], errors name the argument and range") {
  CHECK(contains(error_of([] { Amount::fraction(1.5); }), "amount must be a fraction in [0, 1], got 1.5"));
  CHECK(contains(error_of([] { Amount::fraction(-0.01); }), "[0, 1]"));
  CHECK(contains(error_of([] { Amount::fraction(std::nan("")); }), "[0, 1]"));
  CHECK(contains(error_of([] { Amount::count(-1); }), "amount must be a count >= 0, got -1"));

  auto l = linear_with({1, 2, 3, 4, 5, 6}, 2, 3);
  const std::string e = error_of([&] { cp::l1_unstructured(*l, "weight", Amount::count(7)); });
  CHECK(contains(e, "l1_unstructured(Linear.weight)"));
  CHECK(contains(e, "amount = 7 must be a count in [0, 6]"));
  cp::l1_unstructured(*l, "weight", Amount::count(4));
  CHECK(contains(error_of([&] { cp::l1_unstructured(*l, "weight", Amount::count(3)); }), "[0, 2]"));
  CHECK(contains(error_of([&] { cp::l1_unstructured(*l, "nope", Amount::count(1)); }), "no float32 parameter \"nope\""));

  // Fractions round half to even, like Python's round() in torch.nn.utils.prune.
  CHECK(Amount::fraction(0.25).resolve(10, "x") == 2);  // 2.5 -> 2
  CHECK(Amount::fraction(0.75).resolve(10, "x") == 8);  // 7.5 -> 8
  CHECK(Amount::fraction(0.0).resolve(10, "x") == 0);
  CHECK(Amount::fraction(1.0).resolve(10, "x") == 10);
}

TEST_CASE("l1_unstructured prunes the smallest magnitudes, with PyTorch's names, and masks forward and gradient") {
  auto l = linear_with({0.5f, -0.1f, 0.3f, -0.7f, 0.2f, -0.05f, 0.9f, 0.4f}, 2, 4);
  const Tensor before = l->weight();
  const std::vector<float> w0 = vals(before);
  nn::SGD sgd(l->parameters(), {});
  cp::l1_unstructured(*l, "weight", Amount::count(3));

  CHECK(cp::is_pruned(*l, "weight"));
  CHECK(!l->has_parameter("weight"));
  CHECK(l->has_parameter("weight_orig"));
  CHECK(l->parameter("weight_orig").same(before));  // the optimizer's tensor keeps training
  CHECK(sgd.params()[0].same(before));
  const std::vector<float> want_mask = {1, 0, 1, 1, 0, 0, 1, 1};  // 0.05, 0.1, 0.2 pruned
  CHECK(vals(cp::mask_of(*l, "weight")) == want_mask);
  std::vector<std::string> keys;
  for (auto& [n, t] : l->state_dict()) keys.push_back(n);
  CHECK(keys == std::vector<std::string>{"weight_orig", "bias", "weight_mask"});
  // weight_orig is zeroed at pruned entries, untouched elsewhere.
  const auto wo = vals(l->parameter("weight_orig"));
  for (size_t i = 0; i < wo.size(); ++i) CHECK(wo[i] == (want_mask[i] ? w0[i] : 0.f));
  CHECK(cp::num_masked(*l, "weight") == 3);
  CHECK(cp::sparsity(*l, "weight") == doctest::Approx(3.0 / 8));

  // The layer computes with weight_orig ⊙ mask.
  Generator g(1);
  Tensor x = Tensor::normal({5, 4}, 0, 1, g);
  std::vector<float> wm(8);
  for (size_t i = 0; i < 8; ++i) wm[i] = w0[i] * want_mask[i];
  const auto y = vals(l->forward(x));
  const auto ref = vals(linear(x, Tensor::from_vector(wm, {2, 4}), l->bias()));
  REQUIRE(y.size() == ref.size());
  for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == ref[i]);

  // Pruned entries get exactly zero gradient; the others do not.
  l->forward(x).sum().backward();
  const auto gr = vals(l->parameter("weight_orig").grad());
  for (size_t i = 0; i < 8; ++i) {
    if (want_mask[i] == 0.f) CHECK(gr[i] == 0.f);  // grad ⊙ 0: ±0
    else CHECK(gr[i] != 0.f);
  }
}

TEST_CASE("ties are pruned in index order, then in target order") {
  auto l = linear_with({1, -1, 1, -1, 1, -1}, 2, 3);
  cp::l1_unstructured(*l, "weight", Amount::count(3));
  CHECK(vals(cp::mask_of(*l, "weight")) == std::vector<float>{0, 0, 0, 1, 1, 1});

  auto a = linear_with({0.5f, 0.5f, 0.5f, 0.5f}, 2, 2), b = linear_with({-0.5f, 0.5f, 0.5f, -0.5f}, 2, 2);
  cp::global_unstructured({{b, "weight"}, {a, "weight"}}, Amount::count(5));
  CHECK(vals(cp::mask_of(*b, "weight")) == std::vector<float>{0, 0, 0, 0});
  CHECK(vals(cp::mask_of(*a, "weight")) == std::vector<float>{0, 1, 1, 1});
}

TEST_CASE("global ranking picks the smallest magnitudes across layers") {
  // Hand-made: every weight of `small` is below every weight of `big`.
  auto big = linear_with({-3, 2, 5, -4}, 2, 2), small = linear_with({0.3f, -0.1f, 0.2f, 0.4f, -0.05f, 0.6f}, 2, 3);
  cp::global_unstructured({{big, "weight"}, {small, "weight"}}, Amount::fraction(0.7));  // 7 of 10
  CHECK(vals(cp::mask_of(*big, "weight")) == std::vector<float>{1, 0, 1, 1});            // |2| is the 7th smallest
  CHECK(vals(cp::mask_of(*small, "weight")) == std::vector<float>{0, 0, 0, 0, 0, 0});

  // On the seed CNN: exactly round(0.9·N) masked, and every pruned magnitude
  // is <= every kept one, whichever layer each is in.
  auto net = small_cnn(3);
  auto targets = cp::prunable_weights(*net);
  REQUIRE(targets.size() == 4);
  std::vector<std::vector<float>> before;
  int64_t total = 0;
  for (auto& [m, p] : targets) {
    before.push_back(vals(m->parameter(p)));
    total += m->parameter(p).numel();
  }
  cp::global_unstructured(targets, Amount::fraction(0.9));
  float max_pruned = 0, min_kept = std::numeric_limits<float>::infinity();
  int64_t n_masked = 0;
  std::vector<double> layer_sparsity;
  for (size_t t = 0; t < targets.size(); ++t) {
    const auto mk = vals(cp::mask_of(*targets[t].first, "weight"));
    for (size_t i = 0; i < mk.size(); ++i) {
      if (mk[i] == 0.f) max_pruned = std::max(max_pruned, std::fabs(before[t][i]));
      else min_kept = std::min(min_kept, std::fabs(before[t][i]));
    }
    n_masked += masked(cp::mask_of(*targets[t].first, "weight"));
    layer_sparsity.push_back(cp::sparsity(*targets[t].first, "weight"));
  }
  CHECK(n_masked == int64_t(std::nearbyint(0.9 * double(total))));
  CHECK(max_pruned <= min_kept);
  CHECK(cp::sparsity(targets) == doctest::Approx(0.9).epsilon(1e-4));
  // Global ranking is not per-layer: conv1 (fan-in 9, large weights) keeps far more than fc1.
  CHECK(layer_sparsity[0] < 0.5);
  CHECK(layer_sparsity[2] > 0.9);

  CHECK(contains(error_of([&] { cp::global_unstructured({targets[0], targets[0]}, Amount::fraction(0.1)); }),
            "listed twice"));
  CHECK(contains(error_of([] { cp::global_unstructured({}, Amount::fraction(0.1)); }), "no parameters"));
}

TEST_CASE("pruning again composes: only unpruned entries are ranked, and the amount applies to them") {
  Generator g(7);
  auto l = nn::make<nn::Linear>(50, 20, true, g);
  cp::l1_unstructured(*l, "weight", Amount::fraction(0.5));
  const auto m1 = vals(cp::mask_of(*l, "weight"));
  const auto w1 = vals(l->parameter("weight_orig"));
  CHECK(masked(cp::mask_of(*l, "weight")) == 500);

  cp::l1_unstructured(*l, "weight", Amount::fraction(0.5));  // half of the remaining 500
  const auto m2 = vals(cp::mask_of(*l, "weight"));
  CHECK(masked(cp::mask_of(*l, "weight")) == 750);
  CHECK(l->parametrizations("weight").size() == 1);  // one mask, combined
  float max_new = 0, min_kept = 1e9f;
  for (size_t i = 0; i < m1.size(); ++i) {
    CHECK(m2[i] <= m1[i]);  // a pruned weight never comes back
    if (m1[i] == 1.f && m2[i] == 0.f) max_new = std::max(max_new, std::fabs(w1[i]));
    if (m2[i] == 1.f) min_kept = std::min(min_kept, std::fabs(w1[i]));
  }
  CHECK(max_new <= min_kept);

  cp::l1_unstructured(*l, "weight", Amount::count(100));
  CHECK(masked(cp::mask_of(*l, "weight")) == 850);
  CHECK(contains(error_of([&] { cp::l1_unstructured(*l, "weight", Amount::count(151)); }), "[0, 150]"));

  // Global pruning composes with per-layer masks the same way.
  auto l2 = nn::make<nn::Linear>(10, 15, true, g);
  cp::global_unstructured({{l, "weight"}, {l2, "weight"}}, Amount::count(10));
  CHECK(masked(cp::mask_of(*l, "weight")) + masked(cp::mask_of(*l2, "weight")) == 860);

  // prune_to_sparsity tops up to a total, never un-prunes.
  cp::prune_to_sparsity({{l, "weight"}}, 0.9, false);
  CHECK(masked(cp::mask_of(*l, "weight")) == 900);
  cp::prune_to_sparsity({{l, "weight"}}, 0.5, false);
  CHECK(masked(cp::mask_of(*l, "weight")) == 900);
}

TEST_CASE("masked weights stay exactly zero through SGD with momentum, Nesterov and weight decay") {
  struct Cfg {
    const char* name;
    nn::SGDOptions o;
  };
  const Cfg cfgs[] = {
      {"momentum", {0.05f, 0.9f, 0.f, 0.f, false}},
      {"nesterov", {0.05f, 0.9f, 0.f, 0.f, true}},
      {"momentum+wd", {0.05f, 0.9f, 0.f, 5e-4f, false}},
      {"nesterov+wd", {0.05f, 0.9f, 0.f, 5e-4f, true}},
      {"dampening+wd", {0.05f, 0.9f, 0.1f, 5e-4f, false}},
      {"plain+wd", {0.05f, 0.f, 0.f, 5e-4f, false}},
  };
  for (const Cfg& cfg : cfgs)
    for (bool clear_momentum : {true, false}) {
      // The drift demonstration needs only one config with and one without momentum.
      const std::string cname = cfg.name;
      if (!clear_momentum && cname != "nesterov+wd" && cname != "plain+wd") continue;
      CAPTURE(cfg.name);
      CAPTURE(clear_momentum);
      auto net = small_cnn(11, true);
      nn::SGD sgd(net->parameters(), cfg.o);  // built before pruning, as in a real run
      const Batch b = batch(5, 4);
      for (int s = 0; s < 3; ++s) train_step(*net, sgd, b);  // momentum buffers are full
      auto targets = cp::prunable_weights(*net);
      cp::global_unstructured(targets, Amount::fraction(0.8));
      if (clear_momentum) cp::zero_pruned_optimizer_state(*net, sgd);
      std::vector<std::vector<float>> masks, kept_before;
      for (auto& [m, p] : targets) {
        masks.push_back(vals(cp::mask_of(*m, p)));
        kept_before.push_back(vals(cp::original_of(*m, p)));
      }
      bool drifted = false, trained = false;
      int64_t eff_nonzero = 0, orig_nonzero_bits = 0;  // at pruned entries, over all steps
      for (int s = 0; s < 12; ++s) {
        train_step(*net, sgd, b);
        NoGradGuard ng;
        for (size_t t = 0; t < targets.size(); ++t) {
          const auto eff = vals(targets[t].first->param("weight"));
          const auto orig = vals(cp::original_of(*targets[t].first, "weight"));
          for (size_t i = 0; i < eff.size(); ++i) {
            if (masks[t][i] == 0.f) {
              eff_nonzero += eff[i] != 0.f;        // the computed weight
              orig_nonzero_bits += bits(orig[i]) != 0u;  // weight_orig itself, +0.0
            } else {
              trained |= orig[i] != kept_before[t][i];
            }
          }
        }
      }
      drifted = orig_nonzero_bits > 0;
      CHECK(eff_nonzero == 0);
      if (clear_momentum) CHECK(orig_nonzero_bits == 0);
      CHECK(trained);
      // Without clearing the momentum, the old buffer moves weight_orig at
      // pruned entries (harmless: masked); with momentum 0 there is nothing to clear.
      if (!clear_momentum) CHECK(drifted == (cfg.o.momentum != 0.f));
      // Baking gives +0.0 exactly where the mask was 0, either way.
      cp::remove_all(*net);
      int64_t baked_nonzero_bits = 0;
      for (size_t t = 0; t < targets.size(); ++t) {
        CHECK(!cp::is_pruned(*targets[t].first, "weight"));
        const auto w = vals(targets[t].first->parameter("weight"));
        for (size_t i = 0; i < w.size(); ++i) baked_nonzero_bits += masks[t][i] == 0.f && bits(w[i]) != 0u;
      }
      CHECK(baked_nonzero_bits == 0);
    }
}

TEST_CASE("remove makes the mask permanent, keeping the tensor the optimizer holds") {
  auto net = small_cnn(21);
  nn::SGD sgd(net->parameters(), {0.1f, 0.9f});
  auto targets = cp::prunable_weights(*net);
  cp::global_unstructured(targets, Amount::fraction(0.6));
  const Batch b = batch(2);
  for (int s = 0; s < 3; ++s) train_step(*net, sgd, b);
  Tensor y0, eff;
  {
    NoGradGuard ng;
    net->eval();
    y0 = net->forward(b.x);
    eff = net->get_submodule("fc1")->param("weight").clone();
  }
  auto fc1 = net->get_submodule("fc1");
  const Tensor orig = fc1->parameter("weight_orig");
  cp::remove(*fc1, "weight");
  CHECK(fc1->has_parameter("weight"));
  CHECK(!fc1->has_parameter("weight_orig"));
  CHECK(!fc1->has_buffer("weight_mask"));
  CHECK(!cp::is_pruned(*fc1, "weight"));
  CHECK(fc1->parameter("weight").same(orig));
  const auto baked = vals(fc1->parameter("weight")), e = vals(eff);
  int64_t wrong = 0;
  for (size_t i = 0; i < e.size(); ++i) wrong += bits(baked[i]) != (e[i] == 0.f ? 0u : bits(e[i]));
  CHECK(wrong == 0);
  cp::remove_all(*net);
  for (auto& [n, t] : net->state_dict()) CHECK(!contains(n, "_mask"));
  NoGradGuard ng;
  const auto y1 = vals(net->forward(b.x)), y0v = vals(y0);
  for (size_t i = 0; i < y0v.size(); ++i) CHECK(y1[i] == y0v[i]);
  CHECK(contains(error_of([&] { cp::remove(*fc1, "weight"); }), "is not pruned"));
}

TEST_CASE("masks are saved with the checkpoint and restored") {
  auto net = small_cnn(31, true);
  cp::global_unstructured(cp::prunable_weights(*net), Amount::fraction(0.7));
  const std::string path = tmp_path("pruned.safetensors");
  nn::save(*net, path);
  std::set<std::string> keys;
  for (auto& [n, t] : nn::load_safetensors(path)) keys.insert(n);
  CHECK(keys.count("conv1.weight_orig"));
  CHECK(keys.count("conv1.weight_mask"));
  CHECK(keys.count("fc2.weight_mask"));
  CHECK(!keys.count("conv1.weight"));

  // A fresh model has "conv1.weight": a plain load names the mismatch...
  auto fresh = small_cnn(99, true);
  const std::string e = error_of([&] { nn::load(*fresh, path); });
  CHECK(contains(e, "missing keys: conv1.weight"));
  CHECK(contains(e, "unexpected keys: conv1.weight_orig"));
  // ...load_pruned installs the masks first.
  auto fresh2 = small_cnn(99, true);
  cp::load_pruned(*fresh2, path);
  const auto a = net->state_dict(), b = fresh2->state_dict();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].first == b[i].first);
    REQUIRE(a[i].second.nbytes() == b[i].second.nbytes());
    CHECK(std::memcmp(a[i].second.raw_data(), b[i].second.raw_data(), a[i].second.nbytes()) == 0);
  }
  for (auto& [m, p] : cp::prunable_weights(*fresh2)) CHECK(cp::is_pruned(*m, p));
  net->eval();
  fresh2->eval();
  NoGradGuard ng;
  const Batch bt = batch(4);
  CHECK(vals(net->forward(bt.x)) == vals(fresh2->forward(bt.x)));

  // Loading into a model that is already pruned works too (masks overwritten).
  auto pruned_other = small_cnn(5, true);
  cp::global_unstructured(cp::prunable_weights(*pruned_other), Amount::fraction(0.2));
  cp::load_pruned(*pruned_other, path);
  CHECK(vals(cp::mask_of(*pruned_other->get_submodule("fc1"), "weight")) ==
        vals(cp::mask_of(*net->get_submodule("fc1"), "weight")));

  // A mask that is not 0/1 is refused, naming it.
  auto bad = nn::load_safetensors(path);
  for (auto& [n, t] : bad)
    if (n == "fc1.weight_mask") t.data<float>()[3] = 0.5f;
  nn::save_safetensors(bad, path);
  const std::string e2 = error_of([&] { cp::load_pruned(*small_cnn(1, true), path); });
  CHECK(contains(e2, path));
  CHECK(contains(e2, "fc1.weight_mask\" holds 0.5 at flat index 3"));
  std::filesystem::remove(path);
}

TEST_CASE("gradual pruning: the schedule's values at known steps") {
  auto l = nn::make<nn::Linear>(40, 25);
  cp::GradualSchedule s;
  s.initial_sparsity = 0.0;
  s.final_sparsity = 0.9;
  s.begin_step = 100;
  s.num_prunes = 10;
  s.frequency = 50;
  cp::GradualPruner pr({{l, "weight"}}, s);
  CHECK(pr.target_sparsity(0) == 0.0);
  CHECK(pr.target_sparsity(99) == 0.0);
  CHECK(pr.target_sparsity(100) == doctest::Approx(0.0));
  CHECK(pr.target_sparsity(150) == doctest::Approx(0.9 - 0.9 * 0.729));  // (1 − 1/10)³
  CHECK(pr.target_sparsity(350) == doctest::Approx(0.9 - 0.9 * 0.125));  // halfway: (1/2)³
  CHECK(pr.target_sparsity(600) == doctest::Approx(0.9));
  CHECK(pr.target_sparsity(10000) == 0.9);
  s.initial_sparsity = 0.2;
  cp::GradualPruner pr2({{l, "weight"}}, s);
  CHECK(pr2.target_sparsity(100) == doctest::Approx(0.2));
  CHECK(pr2.target_sparsity(350) == doctest::Approx(0.9 + (0.2 - 0.9) * 0.125));
  // Non-decreasing, and flat between the end and forever.
  bool monotone = true;
  for (int64_t t = 100; t < 700; ++t) monotone &= pr2.target_sparsity(t + 1) >= pr2.target_sparsity(t);
  CHECK(monotone);

  auto bad = [&](cp::GradualSchedule b) { return error_of([&] { cp::GradualPruner({{l, "weight"}}, b); }); };
  cp::GradualSchedule b = s;
  b.initial_sparsity = 0.95;
  CHECK(contains(bad(b), "initial_sparsity must be in [0, final_sparsity] = [0, 0.9], got 0.95"));
  b = s;
  b.final_sparsity = 1.5;
  CHECK(contains(bad(b), "final_sparsity must be in [0, 1], got 1.5"));
  b = s;
  b.num_prunes = 0;
  CHECK(contains(bad(b), "num_prunes must be >= 1"));
  b = s;
  b.frequency = 0;
  CHECK(contains(bad(b), "frequency must be >= 1"));
  CHECK(contains(error_of([&] { cp::GradualPruner({}, s); }), "no parameters"));
}

TEST_CASE("gradual pruning prunes at t0 + kΔt, to round(s_t·N), globally or per layer") {
  cp::GradualSchedule s;
  s.initial_sparsity = 0.1;
  s.final_sparsity = 0.8;
  s.begin_step = 10;
  s.num_prunes = 5;
  s.frequency = 4;
  for (bool global : {true, false}) {
    CAPTURE(global);
    Generator g(3);
    auto a = nn::make<nn::Linear>(30, 20, true, g), b = nn::make<nn::Linear>(20, 7, true, g);
    cp::GradualPruner pr({{a, "weight"}, {b, "weight"}}, s, global);
    std::vector<int64_t> pruned_at;
    for (int64_t step = 0; step <= 60; ++step) {
      if (pr.on_step(step)) {
        pruned_at.push_back(step);
        const double want = pr.target_sparsity(step);
        const int64_t ma = cp::num_masked(*a, "weight"), mb = cp::num_masked(*b, "weight");
        if (global) {
          CHECK(ma + mb == int64_t(std::nearbyint(want * 740)));
        } else {
          CHECK(ma == int64_t(std::nearbyint(want * 600)));
          CHECK(mb == int64_t(std::nearbyint(want * 140)));
        }
      }
    }
    CHECK(pruned_at == std::vector<int64_t>{10, 14, 18, 22, 26, 30});
    CHECK(pr.prunes_done() == 6);
    CHECK(cp::sparsity({{a, "weight"}, {b, "weight"}}) == doctest::Approx(0.8).epsilon(1e-3));
  }
  // Skipped steps: the next call catches up to the latest point passed.
  auto l = nn::make<nn::Linear>(10, 10);
  cp::GradualPruner pr({{l, "weight"}}, s);
  CHECK(!pr.on_step(3));
  CHECK(pr.on_step(21));  // k = 2 (step 18)
  CHECK(cp::num_masked(*l, "weight") == int64_t(std::nearbyint(pr.target_sparsity(18) * 100)));
  CHECK(!pr.on_step(21));
  CHECK(!pr.on_step(20));
  CHECK(pr.on_step(22));
  pr.on_batch_end(1000);
  CHECK(cp::num_masked(*l, "weight") == 80);
  CHECK(!pr.on_step(2000));
}

TEST_CASE("gradual pruning during training keeps pruned weights exactly zero") {
  auto net = small_cnn(41);
  nn::SGD sgd(net->parameters(), {0.05f, 0.9f, 0.f, 5e-4f, true});
  cp::GradualSchedule s{0.0, 0.9, 2, 4, 3};
  cp::GradualPruner pr(cp::prunable_weights(*net), s, true, &sgd);
  const Batch b = batch(8);
  for (int64_t step = 1; step <= 20; ++step) {
    train_step(*net, sgd, b);
    pr.on_batch_end(step);
    NoGradGuard ng;
    int64_t bad = 0;
    for (auto& [m, p] : pr.targets()) {
      if (!cp::is_pruned(*m, p)) continue;
      const auto mk = vals(cp::mask_of(*m, p)), o = vals(cp::original_of(*m, p)), e = vals(m->param(p));
      for (size_t i = 0; i < mk.size(); ++i) bad += mk[i] == 0.f && (bits(o[i]) != 0u || e[i] != 0.f);
    }
    REQUIRE(bad == 0);
  }
  CHECK(pr.prunes_done() == 5);
  CHECK(cp::sparsity(pr.targets()) == doctest::Approx(0.9).epsilon(1e-3));
}

TEST_CASE("GradualPruner is an nn::fit callback") {
  auto net = small_cnn(51);
  Generator g(9);
  std::vector<int64_t> labels;
  for (int i = 0; i < 64; ++i) labels.push_back(int64_t(g.randint(10)));
  auto data = std::make_shared<datasets::TensorDataset>(Tensor::normal({64, 1, 16, 16}, 0, 1, g), labels, 10);
  datasets::DataLoader loader(data, {16});  // 4 steps per epoch
  nn::SGD sgd(net->parameters(), {0.05f, 0.9f, 0.f, 5e-4f, false});
  cp::GradualPruner pr(cp::prunable_weights(*net), {0.0, 0.75, 2, 3, 2}, true, &sgd);  // prunes at 2, 4, 6, 8
  nn::FitOptions fo;
  fo.epochs = 3;
  fo.callbacks = {&pr};
  nn::fit(*net, sgd, loader, fo);
  CHECK(pr.prunes_done() == 4);
  CHECK(cp::sparsity(pr.targets()) == doctest::Approx(0.75).epsilon(1e-3));
  int64_t bad = 0;
  for (auto& [m, p] : pr.targets()) {
    const auto mk = vals(cp::mask_of(*m, p)), o = vals(cp::original_of(*m, p));
    for (size_t i = 0; i < mk.size(); ++i) bad += mk[i] == 0.f && bits(o[i]) != 0u;
  }
  CHECK(bad == 0);
}
