// Tests for stacked parametrizations (nn/module.h): a pruning mask and a
// second parametrization with its own buffer on one weight; removing the
// first keeps the second, with values, gradients and state_dict keys checked
// at every step; removal by index and identity, baked or not; train/eval
// following the owner; key stems; the optimizer hook (Optimizer::mask_state).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;
namespace cp = minidl::compress;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

// w ↦ w · s[o] per output row, s a buffer "scale" of shape [out, 1]; tag
// "channel_scale", so its key is "<param>_channel_scale.scale" (the dotted
// form, as a fake quantizer's scale). Records the mode it last ran in.
struct ChannelScale : nn::Parametrization {
  explicit ChannelScale(std::vector<float> s) {
    const int64_t n = int64_t(s.size());
    register_buffer("scale", Tensor::from_vector(std::move(s), {n, 1}));
  }
  Tensor forward(const Tensor& w) override {
    ran_training = is_training();
    return mul(w, buffer("scale"));
  }
  std::string type_name() const override { return "ChannelScale"; }
  std::string tag() const override { return "channel_scale"; }
  bool ran_training = true;
};

std::vector<std::string> keys_of(const nn::StateDict& sd) {
  std::vector<std::string> k;
  for (const auto& [n, t] : sd) k.push_back(n);
  return k;
}

std::vector<float> vals(const Tensor& t) { return t.detach().to_vector<float>(); }

// A 2x3 Linear with known weights and bias.
std::shared_ptr<nn::Linear> layer() {
  auto l = nn::make<nn::Linear>(3, 2);
  l->parameter("weight").copy_(Tensor::from_vector(std::vector<float>{0.5f, -0.2f, 0.3f, -0.7f, 0.1f, 0.9f}, {2, 3}));
  l->parameter("bias").copy_(Tensor::from_vector(std::vector<float>{0.1f, -0.1f}, {2}));
  return l;
}

const std::vector<float> kW = {0.5f, -0.2f, 0.3f, -0.7f, 0.1f, 0.9f};
const std::vector<float> kMask = {1, 0, 1, 0, 1, 1};
const std::vector<float> kScale = {2.f, -0.5f};
const std::vector<float> kX = {1.f, 2.f, -1.f, 0.5f, -1.5f, 3.f};  // [2, 3]

// y = x·Wᵀ + b and d Σy / d W[o, i] = Σ_n x[n, i] for the effective W.
std::vector<float> expect_y(const std::vector<float>& w) {
  std::vector<float> y(4);
  const float b[2] = {0.1f, -0.1f};
  for (int n = 0; n < 2; ++n)
    for (int o = 0; o < 2; ++o) {
      float acc = b[o];
      for (int i = 0; i < 3; ++i) acc += kX[size_t(n * 3 + i)] * w[size_t(o * 3 + i)];
      y[size_t(n * 2 + o)] = acc;
    }
  return y;
}

// Effective weight and d Σy / d weight_orig for a chain with (optional) mask then scale.
std::vector<float> effective(const std::vector<float>& orig, bool mask, bool scale) {
  std::vector<float> w = orig;
  for (size_t j = 0; j < 6; ++j) {
    if (mask) w[j] *= kMask[j];
    if (scale) w[j] *= kScale[j / 3];
  }
  return w;
}
std::vector<float> expect_grad(bool mask, bool scale) {
  std::vector<float> g(6);
  for (size_t j = 0; j < 6; ++j) {
    const size_t i = j % 3;
    g[j] = (kX[i] + kX[3 + i]) * (mask ? kMask[j] : 1.f) * (scale ? kScale[j / 3] : 1.f);
  }
  return g;
}

// Forward and backward once; checks the output against the effective weight
// and the gradient of the trained tensor against the chain rule.
void check_values_and_grads(nn::Linear& l, const std::vector<float>& orig, bool mask, bool scale) {
  Tensor x = Tensor::from_vector(kX, {2, 3});
  Tensor& w = l.original_weight();
  w.zero_grad();
  Tensor y = l.forward(x);
  const auto want = expect_y(effective(orig, mask, scale));
  const auto got = vals(y);
  for (size_t i = 0; i < 4; ++i) CHECK(got[i] == doctest::Approx(want[i]).epsilon(1e-6));
  CHECK(vals(l.weight()) == effective(orig, mask, scale));
  y.sum().backward();
  REQUIRE(w.grad().defined());
  const auto g = vals(w.grad()), eg = expect_grad(mask, scale);
  for (size_t j = 0; j < 6; ++j) {
    CAPTURE(j);
    CHECK(g[j] == doctest::Approx(eg[j]).epsilon(1e-6));
  }
}

}  // namespace

TEST_CASE("two stacked parametrizations: remove the first (the mask), keep the second") {
  for (bool bake : {true, false}) {
    CAPTURE(bake);
    auto l = layer();
    Tensor w0 = l->parameter("weight");  // the tensor object an optimizer would hold
    check_values_and_grads(*l, kW, false, false);
    CHECK(keys_of(l->state_dict()) == std::vector<std::string>{"weight", "bias"});

    // 1. a pruning mask (set explicitly, to know it).
    Tensor m = cp::install_mask(*l, "weight");
    m.copy_(Tensor::from_vector(kMask, {2, 3}));
    check_values_and_grads(*l, kW, true, false);
    CHECK(keys_of(l->state_dict()) == std::vector<std::string>{"weight_orig", "bias", "weight_mask"});

    // 2. the scale, applied after the mask.
    auto scale = std::make_shared<ChannelScale>(kScale);
    l->register_parametrization("weight", scale);
    CHECK(l->parametrizations("weight").size() == 2);
    CHECK(scale->label() == "ChannelScale weight_channel_scale");
    check_values_and_grads(*l, kW, true, true);
    CHECK(keys_of(l->state_dict()) ==
          std::vector<std::string>{"weight_orig", "bias", "weight_mask", "weight_channel_scale.scale"});
    CHECK(keys_of(l->named_buffers(false)) == std::vector<std::string>{"weight_mask", "weight_channel_scale.scale"});
    CHECK(keys_of(l->named_parameters()) == std::vector<std::string>{"weight_orig", "bias"});
    CHECK(l->original_weight().same(w0));

    // 3. remove the mask: the scale stays, in place, with its key.
    auto mask = cp::pruning_mask(*l, "weight");
    REQUIRE(mask);
    l->remove_parametrization("weight", *mask, bake);
    CHECK(l->parametrizations("weight").size() == 1);
    CHECK(l->parametrizations("weight")[0] == scale);
    CHECK_FALSE(cp::is_pruned(*l, "weight"));
    CHECK(l->original_weight().same(w0));
    const std::vector<float> orig = bake ? effective(kW, true, false) : kW;
    CHECK(vals(w0) == orig);
    // baked: the same values as before the removal; else the mask's effect is gone.
    check_values_and_grads(*l, orig, false, true);
    CHECK(keys_of(l->state_dict()) == std::vector<std::string>{"weight_orig", "bias", "weight_channel_scale.scale"});

    // 4. remove the scale (by index): back to a plain "weight", the same tensor.
    l->remove_parametrization("weight", 0, bake);
    CHECK_FALSE(l->is_parametrized("weight"));
    CHECK(l->parameter("weight").same(w0));
    const std::vector<float> last = bake ? effective(orig, false, true) : orig;
    CHECK(vals(w0) == last);
    check_values_and_grads(*l, last, false, false);
    CHECK(keys_of(l->state_dict()) == std::vector<std::string>{"weight", "bias"});
    // a removed parametrization can be registered again
    l->register_parametrization("weight", scale);
    CHECK(l->is_parametrized("weight"));
  }
}

TEST_CASE("stacked parametrizations: state_dict round trip, mode, errors") {
  auto a = layer();
  cp::install_mask(*a, "weight").copy_(Tensor::from_vector(kMask, {2, 3}));
  auto sa = std::make_shared<ChannelScale>(kScale);
  a->register_parametrization("weight", sa);

  // A second layer with the same chain (other values) loads the first's state strictly.
  auto b = nn::make<nn::Linear>(3, 2);
  cp::install_mask(*b, "weight");
  auto sb = std::make_shared<ChannelScale>(std::vector<float>{1.f, 1.f});
  b->register_parametrization("weight", sb);
  b->load_state_dict(a->state_dict());
  CHECK(vals(cp::mask_of(*b, "weight")) == kMask);
  CHECK(vals(sb->buffer("scale")) == kScale);
  CHECK(vals(b->weight()) == vals(a->weight()));

  // train()/eval() of the owner reach its parametrizations (also through a parent).
  auto net = nn::Sequential::named({{"fc", b}});
  net->eval();
  CHECK_FALSE(sb->is_training());
  CHECK_FALSE(cp::pruning_mask(*b, "weight")->is_training());
  b->weight();
  CHECK_FALSE(sb->ran_training);
  net->train();
  CHECK(sb->is_training());
  b->weight();
  CHECK(sb->ran_training);
  // a parametrization registered on an eval-mode module starts in eval mode
  net->eval();
  auto sc = std::make_shared<ChannelScale>(kScale);
  auto c = nn::make<nn::Linear>(3, 2);
  c->eval();
  c->register_parametrization("weight", sc);
  CHECK_FALSE(sc->is_training());

  // errors
  CHECK(contains(error_of([&] { b->register_parametrization("weight", sb); }), "already registered"));
  CHECK(contains(error_of([&] { b->register_parametrization("weight", std::make_shared<ChannelScale>(kScale)); }),
                 "\"weight_channel_scale\""));
  CHECK(contains(error_of([&] { b->remove_parametrization("weight", *sa); }), "not one of its parametrizations"));
  CHECK(contains(error_of([&] { b->remove_parametrization("weight", 2); }), "the chain has 2"));
  CHECK(contains(error_of([&] { b->remove_parametrization("bias", 0); }), "not parametrized"));
  CHECK(contains(error_of([&] { b->register_buffer("weight_mask", Tensor::zeros({1})); }), "already registered"));
  // a shape mismatch between mask and weight is named, not broadcast
  cp::pruning_mask(*b, "weight")->mask() = Tensor::ones({2, 2});
  CHECK(contains(error_of([&] { b->weight(); }), "PruningMask weight_mask: mask shape [2, 2]"));
}

TEST_CASE("a mask added after another parametrization: pruning ranks weight_orig, remove() keeps the other") {
  auto l = layer();
  auto scale = std::make_shared<ChannelScale>(kScale);
  l->register_parametrization("weight", scale);
  cp::l1_unstructured(*l, "weight", cp::Amount::count(2));  // |w|: 0.1 and 0.2 are the smallest
  CHECK(l->parametrizations("weight").size() == 2);
  CHECK(l->parametrizations("weight")[0] == scale);
  CHECK(vals(cp::mask_of(*l, "weight")) == std::vector<float>{1, 0, 1, 1, 0, 1});
  CHECK(keys_of(l->state_dict()) ==
        std::vector<std::string>{"weight_orig", "bias", "weight_channel_scale.scale", "weight_mask"});
  cp::remove(*l, "weight");
  CHECK(l->parametrizations("weight").size() == 1);
  CHECK(l->parametrizations("weight")[0] == scale);
  CHECK(vals(l->parameter("weight_orig")) == std::vector<float>{0.5f, 0.f, 0.3f, -0.7f, 0.f, 0.9f});
}

TEST_CASE("Optimizer::mask_state zeroes SGD's momentum where the mask is 0; zero_pruned_optimizer_state uses it") {
  auto l = layer();
  nn::SGD sgd(l->parameters(), {.lr = 0.1f, .momentum = 0.9f});
  Tensor x = Tensor::from_vector(kX, {2, 3});
  l->forward(x).sum().backward();
  sgd.step();
  REQUIRE(sgd.momentum_buffer(0).defined());
  const auto before = vals(sgd.momentum_buffer(0)), bias_before = vals(sgd.momentum_buffer(1));
  cp::install_mask(*l, "weight").copy_(Tensor::from_vector(kMask, {2, 3}));
  nn::Optimizer& opt = sgd;  // through the interface only
  cp::zero_pruned_optimizer_state(*l, opt);
  const auto after = vals(sgd.momentum_buffer(0));
  for (size_t j = 0; j < 6; ++j) CHECK(after[j] == (kMask[j] == 0.f ? 0.f : before[j]));
  CHECK(vals(sgd.momentum_buffer(1)) == bias_before);  // the bias is not pruned: untouched
  CHECK(contains(error_of([&] { opt.mask_state(l->parameter("weight_orig"), Tensor::ones({3})); }), "mask"));
  // A stateless optimizer (the base class's default) accepts the call and does nothing.
  struct Plain : nn::Optimizer {
    using nn::Optimizer::Optimizer;
    void step() override {}
  } plain(l->parameters(), 0.1f);
  cp::zero_pruned_optimizer_state(*l, plain);
}
