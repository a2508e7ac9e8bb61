// Tests for nn/module.h: PyTorch naming of parameters, buffers and state_dict
// keys (and their order); parameter counts; state_dict round trips, shared
// storage and load errors.
//
// The live comparison with PyTorch's own state_dict (keys, shapes, values
// loaded strictly into torch) is tests/torch_checkpoint_interop.py.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "minidl.h"
#include "module_util.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::test;

// ---------------------------------------------------------------- naming

TEST_CASE("seed CNN without BatchNorm: PyTorch parameter names, shapes and state_dict keys") {
  auto net = cnn(false, 1);
  // PyTorch: Net(bn=False).state_dict() — nn.Identity has no state, so only
  // the conv and linear layers contribute "<child>.weight" / "<child>.bias".
  const std::vector<std::pair<std::string, Shape>> expect = {
      {"conv1.weight", {32, 1, 3, 3}}, {"conv1.bias", {32}},  {"conv2.weight", {64, 32, 3, 3}},
      {"conv2.bias", {64}},            {"fc1.weight", {100, 2304}}, {"fc1.bias", {100}},
      {"fc2.weight", {10, 100}},       {"fc2.bias", {10}}};
  auto params = net->named_parameters();
  REQUIRE(params.size() == expect.size());
  for (size_t i = 0; i < expect.size(); ++i) {
    CHECK(params[i].first == expect[i].first);
    CHECK(params[i].second.shape() == expect[i].second);
    CHECK(params[i].second.dtype() == DType::Float32);
    CHECK(params[i].second.requires_grad());
  }
  CHECK(net->named_buffers().empty());
  auto sd = net->state_dict();
  REQUIRE(sd.size() == expect.size());
  for (size_t i = 0; i < expect.size(); ++i) {
    CHECK(sd[i].first == expect[i].first);
    CHECK(sd[i].second.shape() == expect[i].second);
  }
  // parameters() is named_parameters() without names, same tensors.
  auto plain = net->parameters();
  REQUIRE(plain.size() == params.size());
  for (size_t i = 0; i < plain.size(); ++i) CHECK(plain[i].same(params[i].second));
}

TEST_CASE("seed CNN with BatchNorm: PyTorch names for BN parameters and buffers") {
  auto net = cnn(true, 1);
  // PyTorch's BatchNorm2d registers weight, bias (parameters) and
  // running_mean, running_var, num_batches_tracked (buffers; the last is int64, shape []).
  const std::vector<std::string> params = {"conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                                           "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                                           "fc1.weight",   "fc1.bias",   "fc2.weight", "fc2.bias"};
  const std::vector<std::string> buffers = {"bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                                            "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"};
  CHECK(keys_of(net->named_parameters()) == params);
  CHECK(keys_of(net->named_buffers()) == buffers);
  // state_dict: per module its parameters then its buffers, modules in order
  // (PyTorch's rule; its reference Net registers conv1, conv2, bn1, bn2, ... so
  // torch lists the same keys in a different order — the set is what matters).
  const std::vector<std::string> sd = {
      "conv1.weight", "conv1.bias", "bn1.weight",   "bn1.bias",   "bn1.running_mean", "bn1.running_var",
      "bn1.num_batches_tracked",    "conv2.weight", "conv2.bias", "bn2.weight",       "bn2.bias",
      "bn2.running_mean",           "bn2.running_var", "bn2.num_batches_tracked",     "fc1.weight",
      "fc1.bias",                   "fc2.weight",   "fc2.bias"};
  auto state = net->state_dict();
  CHECK(keys_of(state) == sd);
  for (const auto& [n, t] : state) {
    if (contains(n, "num_batches_tracked")) {
      CHECK(t.dtype() == DType::Int64);
      CHECK(t.shape() == Shape{});
      CHECK(t.data<int64_t>()[0] == 0);
    } else if (contains(n, "bn1.")) {
      CHECK(t.shape() == Shape{32});
    } else if (contains(n, "bn2.")) {
      CHECK(t.shape() == Shape{64});
    }
  }
  // PyTorch's BN initial values: weight 1, bias 0, running_mean 0, running_var 1.
  auto bn1 = net->get_submodule("bn1");
  for (float v : bn1->parameter("weight").to_vector<float>()) CHECK(v == 1.f);
  for (float v : bn1->parameter("bias").to_vector<float>()) CHECK(v == 0.f);
  for (float v : bn1->buffer("running_mean").to_vector<float>()) CHECK(v == 0.f);
  for (float v : bn1->buffer("running_var").to_vector<float>()) CHECK(v == 1.f);
  CHECK_FALSE(bn1->buffer("running_mean").requires_grad());
  // Non-recursive access sees only the module's own tensors.
  CHECK(net->named_parameters(false).empty());
  CHECK(keys_of(bn1->named_parameters(false)) == std::vector<std::string>{"weight", "bias"});
}

// A module with its own parameter and buffer as well as a child, as PyTorch
// allows: state_dict lists a module's own parameters, then its own buffers,
// then each child's entries.
struct Block : nn::Module {
  std::shared_ptr<nn::Linear> lin;
  Block() {
    register_parameter("scale", Tensor::ones({2}));
    lin = register_module("lin", nn::make<nn::Linear>(2, 2));
    register_buffer("count", Tensor::zeros({}, DType::Int64));
    register_parameter("shift", Tensor::zeros({2}));
  }
  Tensor forward(const Tensor& x) override { return add(mul(lin->forward(x), param("scale")), param("shift")); }
  std::string type_name() const override { return "Block"; }
};

TEST_CASE("state_dict order: own parameters, own buffers, then children (PyTorch's rule)") {
  auto net = nn::Sequential::named({{"block", std::make_shared<Block>()}});
  CHECK(keys_of(net->state_dict()) == std::vector<std::string>{"block.scale", "block.shift", "block.count",
                                                               "block.lin.weight", "block.lin.bias"});
  CHECK(keys_of(net->named_parameters()) ==
        std::vector<std::string>{"block.scale", "block.shift", "block.lin.weight", "block.lin.bias"});
  CHECK(keys_of(net->named_buffers()) == std::vector<std::string>{"block.count"});
  auto b = net->get_submodule("block");
  CHECK(keys_of(b->named_parameters(false)) == std::vector<std::string>{"scale", "shift"});
  CHECK(contains(error_of([&] { b->register_buffer("scale", Tensor::zeros({1})); }), "already registered"));
  CHECK(contains(error_of([&] { b->register_parameter("count", Tensor::zeros({1})); }), "already registered"));
  CHECK_FALSE(b->buffer("count").requires_grad());
  b->remove_buffer("count");
  CHECK(net->named_buffers().empty());
  CHECK(error_of([&] { b->remove_buffer("count"); }) != "<no error>");
}

TEST_CASE("parameter counts") {
  auto count = [](const nn::Module& m) {
    int64_t n = 0;
    for (const auto& t : m.parameters()) n += t.numel();
    return n;
  };
  const int64_t conv1 = 32 * 1 * 3 * 3 + 32, conv2 = 64 * 32 * 3 * 3 + 64;
  const int64_t fc1 = 2304 * 100 + 100, fc2 = 100 * 10 + 10;
  CHECK(count(*cnn(false, 0)) == conv1 + conv2 + fc1 + fc2);
  CHECK(conv1 + conv2 + fc1 + fc2 == 250326);
  // BN adds γ and β per channel: 2·(32 + 64).
  CHECK(count(*cnn(true, 0)) == conv1 + conv2 + fc1 + fc2 + 2 * (32 + 64));
  int64_t buf = 0;
  for (const auto& [n, t] : cnn(true, 0)->named_buffers()) buf += t.numel();
  CHECK(buf == 2 * (32 + 64) + 2);  // running_mean, running_var per channel + 2 scalar counters
  // CIFAR-sized variant: 3 input channels, 32×32 → pooled 7×7.
  nn::SeedCNNOptions o;
  o.in_channels = 3;
  o.image_size = 32;
  auto c = nn::seed_cnn(o);
  CHECK(count(*c) == (32 * 3 * 9 + 32) + conv2 + (64 * 7 * 7 * 100 + 100) + fc2);
}

// ---------------------------------------------------------------- state_dict

TEST_CASE("state_dict round trip into a differently seeded model gives identical outputs") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    auto a = cnn(bn, 1), b = cnn(bn, 2);
    if (bn) {  // move the running statistics away from their initial values
      a->train();
      a->forward(images(8, 10));
      a->forward(images(8, 11));
      CHECK(a->get_submodule("bn1")->buffer("num_batches_tracked").data<int64_t>()[0] == 2);
    }
    a->eval();
    b->eval();
    Tensor x = images(4, 3);
    Tensor ya = a->forward(x), yb = b->forward(x);
    REQUIRE(max_abs_diff(ya, yb) > 1e-3f);  // different seeds really differ
    b->load_state_dict(a->state_dict());
    CHECK(same_state(snapshot(*a), snapshot(*b)));
    Tensor yb2 = b->forward(x);
    CHECK(bit_equal(ya, yb2));
    // load copies values: changing a afterwards does not change b.
    a->named_parameters()[0].second.data<float>()[0] += 1.f;
    CHECK(bit_equal(b->forward(x), yb2));
    // the loaded parameters still train (requires_grad kept, same tensors).
    for (const auto& [n, t] : b->named_parameters()) CHECK(t.requires_grad());
  }
}

TEST_CASE("state_dict shares storage with the model and carries no autograd") {
  auto net = cnn(false, 1);
  auto sd = net->state_dict();
  CHECK_FALSE(sd[0].second.requires_grad());
  float before = net->named_parameters()[0].second.data<float>()[0];
  sd[0].second.data<float>()[0] = before + 5.f;
  CHECK(net->named_parameters()[0].second.data<float>()[0] == before + 5.f);
}

TEST_CASE("load_state_dict errors name the tensor and leave the model unchanged") {
  auto net = cnn(true, 1);
  const auto orig = snapshot(*net);
  auto good = snapshot(*cnn(true, 2));  // valid values that differ from net's

  SUBCASE("missing key") {
    auto s = good;
    s.erase(s.begin() + 3);  // bn1.bias
    std::string e = error_of([&] { net->load_state_dict(s); });
    CHECK(contains(e, "missing keys: bn1.bias"));
    CHECK_FALSE(contains(e, "unexpected"));
    CHECK(same_state(snapshot(*net), orig));
    // non-strict: loads what is there, leaves the missing one alone.
    net->load_state_dict(s, false);
    CHECK(bit_equal(net->get_submodule("conv1")->parameter("weight"), good[0].second));
    CHECK(bit_equal(net->get_submodule("bn1")->parameter("bias"), orig[3].second));
  }
  SUBCASE("unexpected key") {
    auto s = good;
    s.emplace_back("fc3.weight", Tensor::zeros({2, 2}));
    std::string e = error_of([&] { net->load_state_dict(s); });
    CHECK(contains(e, "unexpected keys: fc3.weight"));
    CHECK_FALSE(contains(e, "missing"));
    CHECK(same_state(snapshot(*net), orig));
    net->load_state_dict(s, false);  // non-strict ignores it
    CHECK(same_state(snapshot(*net), good));
  }
  SUBCASE("missing and unexpected together") {
    auto s = good;
    s.back().first = "fc2.b";  // renamed
    std::string e = error_of([&] { net->load_state_dict(s); });
    CHECK(contains(e, "missing keys: fc2.bias"));
    CHECK(contains(e, "unexpected keys: fc2.b"));
  }
  SUBCASE("shape mismatch names the tensor and both shapes") {
    auto s = good;
    for (auto& [n, t] : s)
      if (n == "fc2.weight") t = Tensor::zeros({5, 100});
    std::string e = error_of([&] { net->load_state_dict(s); });
    CHECK(contains(e, "fc2.weight"));
    CHECK(contains(e, "[5, 100]"));
    CHECK(contains(e, "[10, 100]"));
    // fc2.weight comes late: everything before it was valid, yet nothing was copied.
    CHECK(same_state(snapshot(*net), orig));
    // non-strict does not excuse a shape mismatch
    CHECK(contains(error_of([&] { net->load_state_dict(s, false); }), "fc2.weight"));
    CHECK(same_state(snapshot(*net), orig));
  }
  SUBCASE("dtype mismatch") {
    auto s = good;
    for (auto& [n, t] : s)
      if (n == "bn2.num_batches_tracked") t = Tensor::zeros({}, DType::Float32);
    std::string e = error_of([&] { net->load_state_dict(s); });
    CHECK(contains(e, "bn2.num_batches_tracked"));
    CHECK(contains(e, "F32"));
    CHECK(contains(e, "I64"));
    CHECK(same_state(snapshot(*net), orig));
  }
  SUBCASE("duplicate key") {
    auto s = good;
    s.push_back(s[0]);
    CHECK(contains(error_of([&] { net->load_state_dict(s); }), "conv1.weight"));
    CHECK(same_state(snapshot(*net), orig));
  }
  SUBCASE("a BN state does not load into a model without BN") {
    auto plain = cnn(false, 3);
    auto before = snapshot(*plain);
    std::string e = error_of([&] { plain->load_state_dict(good); });
    CHECK(contains(e, "unexpected keys: bn1.weight, bn1.bias, bn1.running_mean"));
    CHECK(same_state(snapshot(*plain), before));
  }
}
