// Tests for nn/module.h and the layers: PyTorch naming of parameters, buffers
// and state_dict keys; parameter counts; state_dict round trips and load
// errors; replace_module / get_submodule; train/eval; repr; layer error
// messages and constructor checks; default initialisation; Dropout;
// parametrizations (pruning masks). Sequential: tests/test_sequential.cpp.
//
// The live comparison with PyTorch's own state_dict (keys, shapes, values
// loaded strictly into torch) is tests/torch_checkpoint_interop.py.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> k;
  for (const auto& [n, t] : v) k.push_back(n);
  return k;
}

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  float m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

// A deep copy of a model's state (state_dict() shares storage with the model).
nn::StateDict snapshot(const nn::Module& m) {
  nn::StateDict out;
  for (const auto& [n, t] : m.state_dict()) out.emplace_back(n, t.clone());
  return out;
}
bool same_state(const nn::StateDict& a, const nn::StateDict& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !bit_equal(a[i].second, b[i].second)) return false;
  return true;
}

std::shared_ptr<nn::Sequential> cnn(bool bn, uint64_t seed) {
  Generator g(seed);
  nn::SeedCNNOptions o;
  o.batchnorm = bn;
  return nn::seed_cnn(o, g);
}

Tensor images(int64_t n, uint64_t seed, int64_t size = 28) {
  Generator g(seed);
  return Tensor::uniform({n, 1, size, size}, 0.f, 1.f, g);
}

// w ↦ w ⊙ mask (the mask held as a member, not a buffer: no state_dict entry)
struct MaskParam : nn::Parametrization {
  Tensor mask;
  explicit MaskParam(Tensor m) : mask(std::move(m)) {}
  Tensor forward(const Tensor& w) override { return mul(w, mask); }
  std::string type_name() const override { return "MaskParam"; }
};
// w ↦ a·w + b (to check the composition order of several parametrizations)
struct AffineParam : nn::Parametrization {
  float a, b;
  AffineParam(float a_, float b_) : a(a_), b(b_) {}
  Tensor forward(const Tensor& w) override { return add(mul(w, a), b); }
  std::string type_name() const override { return "AffineParam"; }
};

}  // namespace

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

// ---------------------------------------------------------------- the tree

TEST_CASE("replace_module by dotted path") {
  auto net = cnn(false, 1);
  Tensor x = images(3, 4);
  CHECK(net->forward(x).shape() == Shape{3, 10});
  Generator g(7);
  auto head = nn::make<nn::Linear>(100, 5, true, g);
  net->replace_module("fc2", head);
  CHECK(net->forward(x).shape() == Shape{3, 5});
  CHECK(net->get_submodule("fc2") == head);
  CHECK(head->name() == "fc2");
  auto sd = net->state_dict();
  CHECK(sd[sd.size() - 2].first == "fc2.weight");
  CHECK(sd[sd.size() - 2].second.shape() == Shape{5, 100});
  CHECK(contains(error_of([&] { net->replace_module("fc9", head); }), "fc9"));
  CHECK(contains(error_of([&] { net->replace_module("fc2", nullptr); }), "null"));

  // Nested Sequential: "a.b"
  auto inner = nn::Sequential::named({{"b", nn::make<nn::Linear>(2, 3)}, {"c", nn::make<nn::ReLU>()}});
  auto outer = nn::Sequential::named({{"a", inner}, {"d", nn::make<nn::Identity>()}});
  CHECK(keys_of(outer->state_dict()) == std::vector<std::string>{"a.b.weight", "a.b.bias"});
  CHECK(outer->forward(Tensor::ones({4, 2})).shape() == Shape{4, 3});
  auto wide = nn::make<nn::Linear>(2, 6, false);
  outer->replace_module("a.b", wide);
  CHECK(outer->forward(Tensor::ones({4, 2})).shape() == Shape{4, 6});
  CHECK(outer->get_submodule("a.b") == wide);
  CHECK(keys_of(outer->state_dict()) == std::vector<std::string>{"a.b.weight"});
  CHECK(contains(error_of([&] { outer->replace_module("a.x", wide); }), "a.x"));
  CHECK(contains(error_of([&] { outer->replace_module("z.b", wide); }), "z"));

  // named_modules: dotted paths, depth first
  std::vector<std::string> paths;
  for (const auto& [p, m] : outer->named_modules()) paths.push_back(p);
  CHECK(paths == std::vector<std::string>{"", "a", "a.b", "a.c", "d"});
}

TEST_CASE("get_submodule errors") {
  auto net = cnn(false, 1);
  CHECK(net->get_submodule("conv2")->type_name() == "Conv2d");
  std::string e = error_of([&] { net->get_submodule("conv3"); });
  CHECK(contains(e, "no submodule \"conv3\""));
  e = error_of([&] { net->get_submodule("fc1.weight"); });  // a parameter, not a module
  CHECK(contains(e, "fc1.weight"));
  CHECK(contains(e, "Linear fc1 has no child \"weight\""));
  CHECK(error_of([&] { net->get_submodule(""); }) != "<no error>");
}

TEST_CASE("registration checks names") {
  nn::Sequential s;
  s.push_back("x", nn::make<nn::ReLU>());
  CHECK(contains(error_of([&] { s.push_back("x", nn::make<nn::ReLU>()); }), "already registered"));
  CHECK(error_of([&] { s.push_back("a.b", nn::make<nn::ReLU>()); }) != "<no error>");
  CHECK(error_of([&] { s.push_back("", nn::make<nn::ReLU>()); }) != "<no error>");
  CHECK(error_of([&] { s.push_back("y", nullptr); }) != "<no error>");
  // unnamed children are "0", "1", ...
  nn::Sequential u{nn::make<nn::Linear>(2, 2), nn::make<nn::ReLU>(), nn::make<nn::Linear>(2, 1)};
  CHECK(keys_of(u.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(u.size() == 3);
  CHECK(u[1]->type_name() == "ReLU");
}

TEST_CASE("train()/eval() propagate to every descendant, and replace_module inherits the mode") {
  auto inner = nn::Sequential::named({{"bn", nn::make<nn::BatchNorm1d>(3)}, {"drop", nn::make<nn::Dropout>(0.5f)}});
  auto net = nn::Sequential::named({{"fc", nn::make<nn::Linear>(3, 3)}, {"inner", inner}});
  auto all = [&](bool mode) {
    for (const auto& [p, m] : net->named_modules())
      if (m->is_training() != mode) return false;
    return true;
  };
  CHECK(all(true));
  net->eval();
  CHECK(all(false));
  auto fresh = nn::make<nn::Dropout>(0.3f);
  CHECK(fresh->is_training());
  net->replace_module("inner.drop", fresh);
  CHECK_FALSE(fresh->is_training());
  net->train();
  CHECK(all(true));
  inner->eval();  // only the subtree
  CHECK(net->is_training());
  CHECK(net->get_submodule("fc")->is_training());
  CHECK_FALSE(net->get_submodule("inner.bn")->is_training());
}

TEST_CASE("repr names every child") {
  auto net = cnn(true, 1);
  std::string r = net->repr();
  CHECK(r.rfind("Sequential(", 0) == 0);
  for (const char* part : {"(conv1): Conv2d(1, 32, kernel_size=3, stride=1)", "(bn1): BatchNorm2d(32",
                           "(relu1): ReLU()", "(conv2): Conv2d(32, 64, kernel_size=3, stride=1)", "(bn2): BatchNorm2d(64",
                           "(pool): AvgPool2d(kernel_size=4, stride=4, padding=0)", "(flatten): Flatten(",
                           "(fc1): Linear(in_features=2304, out_features=100, bias=True)",
                           "(fc2): Linear(in_features=100, out_features=10, bias=True)"}) {
    CAPTURE(part);
    CHECK(contains(r, part));
  }
  // nested children are indented one more level
  auto outer = nn::Sequential::named({{"block", nn::Sequential::named({{"lin", nn::make<nn::Linear>(2, 2, false)}})}});
  CHECK(contains(outer->repr(), "\n  (block): Sequential(\n    (lin): Linear(in_features=2, out_features=2, bias=False)"
                                "  # 4 parameters\n  )  # 4 parameters in total\n)  # 4 parameters in total"));
}

TEST_CASE("repr counts parameters per layer and in total") {
  auto net = cnn(true, 1);
  const std::string r = net->repr();
  // conv: out·in·k·k weights + out biases; BatchNorm: weight and bias per channel
  const int64_t conv1 = 32 * 1 * 9 + 32, bn1 = 2 * 32, conv2 = 64 * 32 * 9 + 64, bn2 = 2 * 64, fc1 = 2304 * 100 + 100,
                fc2 = 100 * 10 + 10;
  CHECK(contains(r, "(conv1): Conv2d(1, 32, kernel_size=3, stride=1)  # " + std::to_string(conv1) + " parameters\n"));
  CHECK(contains(r, "  # " + std::to_string(bn1) + " parameters\n"));
  CHECK(contains(r, "(fc1): Linear(in_features=2304, out_features=100, bias=True)  # " + std::to_string(fc1) + " parameters\n"));
  CHECK(contains(r, "(relu1): ReLU()\n"));  // no parameters, no count
  const int64_t total = conv1 + bn1 + conv2 + bn2 + fc1 + fc2;
  CHECK(r.substr(r.rfind(')')) == ")  # " + std::to_string(total) + " parameters in total");
}

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

// ---------------------------------------------------------------- parametrizations

TEST_CASE("parametrization: masked weight, weight_orig naming, gradients, removal") {
  Generator g(11);
  auto fc = nn::make<nn::Linear>(3, 2, true, g);
  auto net = nn::Sequential::named({{"fc", fc}});
  Tensor w0 = fc->parameter("weight");  // the tensor object
  const Tensor w0_values = w0.clone();
  const std::vector<float> m = {1, 0, 1, 0, 1, 1};
  Tensor mask = Tensor::from_vector(m, {2, 3});
  fc->register_parametrization("weight", std::make_shared<MaskParam>(mask));
  CHECK(fc->is_parametrized("weight"));
  CHECK_FALSE(fc->is_parametrized("bias"));
  CHECK(keys_of(net->named_parameters()) == std::vector<std::string>{"fc.weight_orig", "fc.bias"});
  CHECK(fc->parameter("weight_orig").same(w0));
  CHECK(fc->original_weight().same(w0));
  CHECK(!fc->weight().same(w0));  // the value it computes with: w ⊙ mask
  CHECK(error_of([&] { fc->parameter("weight"); }) != "<no error>");
  CHECK(fc->parametrizations("weight").size() == 1);

  // forward uses w ⊙ mask
  Tensor x = Tensor::uniform({4, 3}, -1.f, 1.f, g);
  Tensor y = net->forward(x);
  Tensor want = linear(x, mul(w0_values, mask), fc->parameter("bias").detach());
  CHECK(max_abs_diff(y, want) < 1e-6f);
  CHECK(max_abs_diff(y, linear(x, w0_values, fc->parameter("bias").detach())) > 1e-3f);

  // d Σy / d weight_orig[o, i] = mask[o, i] · Σ_n x[n, i]; masked entries get exactly 0.
  y.sum().backward();
  Tensor gw = w0.grad();
  REQUIRE(gw.defined());
  auto xs = x.to_vector<float>();
  auto gv = gw.to_vector<float>();
  for (int o = 0; o < 2; ++o)
    for (int i = 0; i < 3; ++i) {
      float colsum = 0;
      for (int nn_ = 0; nn_ < 4; ++nn_) colsum += xs[size_t(nn_ * 3 + i)];
      if (m[size_t(o * 3 + i)] == 0.f) CHECK(gv[size_t(o * 3 + i)] == 0.f);
      else CHECK(gv[size_t(o * 3 + i)] == doctest::Approx(colsum).epsilon(1e-5));
    }

  SUBCASE("bake = true: masked values become permanent, name and tensor object restored") {
    nn::SGDOptions so;
    so.lr = 0.5f;
    nn::SGD opt(net->parameters(), so);  // holds weight_orig's tensor
    fc->remove_parametrizations("weight", true);
    CHECK_FALSE(fc->is_parametrized("weight"));
    CHECK(keys_of(net->named_parameters()) == std::vector<std::string>{"fc.weight", "fc.bias"});
    CHECK(fc->parameter("weight").same(w0));
    CHECK(fc->parameter("weight").requires_grad());
    auto wv = w0.to_vector<float>(), ov = w0_values.to_vector<float>();
    for (size_t i = 0; i < wv.size(); ++i) CHECK(wv[i] == ov[i] * m[i]);
    // the optimizer built before removal still updates the layer's weight
    opt.zero_grad();
    net->forward(x).sum().backward();
    const Tensor before = w0.clone();
    opt.step();
    CHECK(max_abs_diff(fc->parameter("weight"), before) > 1e-3f);
    CHECK(bit_equal(fc->parameter("weight"), w0));
    // and the forward now uses the plain (baked) weight
    CHECK(max_abs_diff(net->forward(x), linear(x, w0.detach(), fc->parameter("bias").detach())) < 1e-6f);
  }
  SUBCASE("bake = false: the original values come back") {
    fc->remove_parametrizations("weight", false);
    CHECK(keys_of(net->named_parameters()) == std::vector<std::string>{"fc.weight", "fc.bias"});
    CHECK(fc->parameter("weight").same(w0));
    CHECK(bit_equal(w0, w0_values));
    CHECK(max_abs_diff(net->forward(x), linear(x, w0_values, fc->parameter("bias").detach())) < 1e-6f);
  }
  SUBCASE("errors") {
    CHECK(error_of([&] { fc->remove_parametrizations("bias"); }) != "<no error>");
    CHECK(contains(error_of([&] { fc->register_parametrization("nope", std::make_shared<MaskParam>(mask)); }), "nope"));
    CHECK(error_of([&] { fc->register_parametrization("bias", nullptr); }) != "<no error>");
  }
}

TEST_CASE("several parametrizations compose in registration order") {
  nn::Linear fc(2, 1, false);
  Tensor w = fc.parameter("weight");
  w.data<float>()[0] = 1.f;
  w.data<float>()[1] = -2.f;
  fc.register_parametrization("weight", std::make_shared<AffineParam>(1.f, 1.f));  // w + 1
  fc.register_parametrization("weight", std::make_shared<AffineParam>(3.f, 0.f));  // then ·3
  CHECK(fc.parametrizations("weight").size() == 2);
  // (w + 1)·3 = [6, -3]  (the other order would give [4, -5])
  auto v = fc.param("weight").to_vector<float>();
  CHECK(v[0] == 6.f);
  CHECK(v[1] == -3.f);
  CHECK(keys_of(fc.named_parameters()) == std::vector<std::string>{"weight_orig"});
  fc.remove_parametrizations("weight", true);
  CHECK(fc.parameter("weight").same(w));
  CHECK(w.to_vector<float>() == std::vector<float>{6.f, -3.f});
}
