// Tests for nn/fuse.h and nn/fused.h: ReLU fusion changes nothing but the
// speed (the same outputs, gradients and running statistics, bit for bit, and
// the same state_dict keys, so checkpoints load before or after fusing);
// BatchNorm folding equals the unfolded eval-mode model to float rounding;
// only exact types are fused; errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

std::vector<std::string> keys_of(const nn::StateDict& sd) {
  std::vector<std::string> k;
  for (const auto& [n, t] : sd) k.push_back(n);
  return k;
}

std::vector<std::string> types_of(const nn::Sequential& s) {
  std::vector<std::string> t;
  for (const auto& [n, m] : s.named_children()) t.push_back(m->type_name());
  return t;
}

// A ReLU subclass that does something else: fuse must not fuse it away.
class LeakyAsReLU : public nn::ReLU {
 public:
  Tensor forward(const Tensor& x) override { return mul(x, 0.5f); }
};

// A seed CNN with non-trivial BatchNorm state (γ, β, running mean and variance).
std::shared_ptr<nn::Sequential> bn_cnn(uint64_t seed, bool conv_bias = true) {
  Generator g(seed);
  auto net = nn::seed_cnn({.batchnorm = true}, g);
  for (const char* name : {"bn1", "bn2"}) {
    auto m = net->get_submodule(name);
    const int64_t c = m->parameter("weight").numel();
    m->parameter("weight").copy_(Tensor::uniform({c}, 0.5f, 1.5f, g));
    m->parameter("bias").copy_(Tensor::uniform({c}, -0.5f, 0.5f, g));
    m->buffer("running_mean").copy_(Tensor::uniform({c}, -0.3f, 0.3f, g));
    m->buffer("running_var").copy_(Tensor::uniform({c}, 0.2f, 3.f, g));
  }
  if (!conv_bias) {  // conv1 without bias: folding must add one
    auto c = nn::make<nn::Conv2d>(1, 32, 3, 1, 0, false, g);
    net->replace_module("conv1", c);
  }
  return net;
}

double max_rel_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<float>(), y = b.to_vector<float>();
  REQUIRE(x.size() == y.size());
  double m = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    m = std::max(m, std::fabs(double(x[i]) - double(y[i])));
    scale = std::max(scale, std::fabs(double(y[i])));
  }
  return m / std::max(scale, 1e-30);
}

}  // namespace

TEST_CASE("fuse: layer + ReLU -> fused modules, the unfused chain's values, gradients, statistics and keys") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    Generator g1(9), g2(9);
    auto a = nn::seed_cnn({.batchnorm = bn}, g1), b = nn::seed_cnn({.batchnorm = bn}, g2);
    const auto keys = keys_of(a->state_dict());
    const Tensor conv1_w = a->get_submodule("conv1")->parameter("weight");
    const auto log = nn::fuse(*a);
    if (bn) {
      CHECK(log == std::vector<std::string>{"bn1 + relu1 -> BNReLU2d", "bn2 + relu2 -> BNReLU2d",
                                            "fc1 + relu3 -> LinearReLU"});
      CHECK(types_of(*a) == std::vector<std::string>{"Conv2d", "BNReLU2d", "Identity", "Conv2d", "BNReLU2d",
                                                     "Identity", "AvgPool2d", "Flatten", "LinearReLU", "Identity",
                                                     "Linear"});
    } else {
      CHECK(log == std::vector<std::string>{"conv1 + relu1 -> ConvReLU2d", "conv2 + relu2 -> ConvReLU2d",
                                            "fc1 + relu3 -> LinearReLU"});
      CHECK(a->get_submodule("conv1")->type_name() == "ConvReLU2d");
      CHECK(a->get_submodule("conv1")->parameter("weight").same(conv1_w));  // the same tensor object
    }
    CHECK(keys_of(a->state_dict()) == keys);
    CHECK(nn::fuse(*a).empty());  // nothing left to fuse
    Generator gx(4);
    Tensor x = Tensor::uniform({6, 1, 28, 28}, 0.f, 1.f, gx);
    Tensor t = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5}, {6});
    for (bool training : {true, false}) {
      CAPTURE(training);
      a->train(training);
      b->train(training);
      Tensor ya = a->forward(x), yb = b->forward(x);
      CHECK(bit_equal(ya, yb));
      if (!training) continue;
      a->zero_grad();
      b->zero_grad();
      cross_entropy(ya, t).backward();
      cross_entropy(yb, t).backward();
      const auto pa = a->named_parameters(), pb = b->named_parameters();
      REQUIRE(pa.size() == pb.size());
      for (size_t i = 0; i < pa.size(); ++i) {
        CAPTURE(pa[i].first);
        CHECK(bit_equal(pa[i].second.grad(), pb[i].second.grad()));
      }
      const auto ba = a->named_buffers(), bb = b->named_buffers();
      for (size_t i = 0; i < ba.size(); ++i) CHECK(bit_equal(ba[i].second, bb[i].second));
    }
  }
}

TEST_CASE("fuse: checkpoints load before and after fusing, pruned ones too") {
  Generator g(5);
  auto src = nn::seed_cnn({}, g);
  compress::global_unstructured(compress::prunable_weights(*src), compress::Amount::fraction(0.5));
  Tensor x = Tensor::uniform({3, 1, 28, 28}, 0.f, 1.f, g);
  src->eval();
  const Tensor want = src->forward(x);

  auto before = nn::seed_cnn();  // load, then fuse
  compress::load_pruned_state(*before, src->state_dict(), "src");
  nn::fuse(*before);
  auto after = nn::seed_cnn();  // fuse, then load
  nn::fuse(*after);
  compress::load_pruned_state(*after, src->state_dict(), "src");
  for (auto* m : {before.get(), after.get()}) {
    m->eval();
    CHECK(bit_equal(m->forward(x), want));
    CHECK(keys_of(m->state_dict()) == keys_of(src->state_dict()));
    CHECK(m->get_submodule("conv2")->type_name() == "ConvReLU2d");
    CHECK(compress::is_pruned(*m->get_submodule("conv2"), "weight"));
  }
}

TEST_CASE("fuse matches only exact types, skips Identity, keeps layer errors") {
  Generator g(2);
  auto conv = nn::make<nn::Conv2d>(1, 4, 3, 1, 0, true, g);
  auto s = nn::Sequential::named({{"conv", conv}, {"act", std::make_shared<LeakyAsReLU>()}});
  CHECK(nn::fuse(*s).empty());
  Tensor x = Tensor::uniform({2, 1, 6, 6}, -1.f, 1.f, g);
  CHECK(bit_equal(s->forward(x), mul(conv->forward(x), 0.5f)));  // the subclass's forward ran

  auto r = nn::Sequential::named({{"conv", nn::make<nn::Conv2d>(1, 4, 3, 1, 0, true, g)},
                                  {"id", nn::make<nn::Identity>()},
                                  {"relu", nn::make<nn::ReLU>()},
                                  {"relu_again", nn::make<nn::ReLU>()}});
  const Tensor want = relu((*r)[0]->forward(x));
  CHECK(nn::fuse(*r) == std::vector<std::string>{"conv + relu -> ConvReLU2d"});
  CHECK(types_of(*r) == std::vector<std::string>{"ConvReLU2d", "Identity", "Identity", "ReLU"});
  Tensor y = r->forward(x);
  CHECK(bit_equal(y, want));
  bool clamped = false;
  for (float v : y.to_vector<float>()) clamped |= v == 0.f;
  CHECK(clamped);
  CHECK_THROWS_WITH_AS(r->forward(Tensor::zeros({2, 3, 6, 6})), doctest::Contains("ConvReLU2d conv: expected input"),
                       minidl::Error);

  // nested Sequentials are fused too; lines carry the path
  auto outer = nn::Sequential::named({{"block", nn::Sequential::named({{"fc", nn::make<nn::Linear>(4, 3, true, g)},
                                                                       {"act", nn::make<nn::ReLU>()}})}});
  CHECK(nn::fuse(*outer) == std::vector<std::string>{"block.fc + block.act -> LinearReLU"});
  // BatchNorm1d + ReLU
  auto mlp = nn::Sequential::named({{"fc", nn::make<nn::Linear>(4, 3, true, g)},
                                    {"bn", nn::make<nn::BatchNorm1d>(3)},
                                    {"relu", nn::make<nn::ReLU>()}});
  Tensor x2 = Tensor::uniform({5, 4}, -1.f, 1.f, g);
  mlp->eval();
  const Tensor want2 = mlp->forward(x2);
  CHECK(nn::fuse(*mlp) == std::vector<std::string>{"bn + relu -> BNReLU1d"});
  CHECK(bit_equal(mlp->forward(x2), want2));
}

TEST_CASE("fold_batchnorm equals the unfolded eval-mode model to float rounding") {
  for (bool conv_bias : {true, false}) {
    for (bool relu : {false, true}) {
      CAPTURE(conv_bias);
      CAPTURE(relu);
      auto ref = bn_cnn(3, conv_bias), net = bn_cnn(3, conv_bias);
      ref->eval();
      net->eval();
      Generator gx(8);
      Tensor x = Tensor::uniform({4, 1, 28, 28}, 0.f, 1.f, gx);
      const Tensor want = ref->forward(x);
      const auto log = nn::fuse(*net, {.relu = relu, .fold_batchnorm = true});
      CHECK(log[0] == "conv1 + bn1 -> Conv2d (batchnorm folded)");
      CHECK(log[1] == "conv2 + bn2 -> Conv2d (batchnorm folded)");
      CHECK(log.size() == (relu ? 5u : 2u));
      CHECK(net->get_submodule("bn1")->type_name() == "Identity");
      CHECK(net->get_submodule("conv1")->type_name() == (relu ? "ConvReLU2d" : "Conv2d"));
      std::set<std::string> keys;
      for (const auto& k : keys_of(net->state_dict())) keys.insert(k);
      CHECK(keys.count("conv1.bias"));
      CHECK_FALSE(keys.count("bn1.running_mean"));
      const Tensor got = net->forward(x);
      CHECK(max_rel_diff(got, want) < 1e-5);
      CHECK(max_rel_diff(got, want) > 0);  // really a different computation
    }
  }
}

TEST_CASE("fold_batchnorm: the formula per channel, pruned convs, a BNReLU2d, errors") {
  // One channel by hand: W' = W·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε).
  auto conv = nn::make<nn::Conv2d>(1, 1, 1);
  conv->parameter("weight").copy_(Tensor::from_vector(std::vector<float>{2.f}, {1, 1, 1, 1}));
  conv->parameter("bias").copy_(Tensor::from_vector(std::vector<float>{0.5f}, {1}));
  auto bn = nn::make<nn::BatchNorm2d>(1, 0.25f);
  bn->parameter("weight").copy_(Tensor::from_vector(std::vector<float>{3.f}, {1}));
  bn->parameter("bias").copy_(Tensor::from_vector(std::vector<float>{-1.f}, {1}));
  bn->buffer("running_mean").copy_(Tensor::from_vector(std::vector<float>{1.5f}, {1}));
  bn->buffer("running_var").copy_(Tensor::from_vector(std::vector<float>{0.75f}, {1}));  // √(0.75+0.25) = 1
  auto s = nn::Sequential::named({{"conv", conv}, {"bn", bn}});
  nn::fold_batchnorm(*s);
  CHECK(conv->weight().to_vector<float>()[0] == 6.f);                  // 2·3/1
  CHECK(conv->bias().to_vector<float>()[0] == -1.f + (0.5f - 1.5f) * 3.f);  // −4

  // A pruned conv stays pruned: the mask is kept, zeros stay zeros.
  auto ref = bn_cnn(4), net = bn_cnn(4);
  for (auto* m : {ref.get(), net.get()})
    compress::l1_unstructured(*m->get_submodule("conv2"), "weight", compress::Amount::fraction(0.6));
  nn::fuse(*net);  // bn1/bn2 + ReLU first: conv + BNReLU2d folds into a ConvReLU2d
  CHECK(net->get_submodule("bn2")->type_name() == "BNReLU2d");
  CHECK(nn::fold_batchnorm(*net) == std::vector<std::string>{"conv1 + bn1 -> ConvReLU2d (batchnorm folded)",
                                                             "conv2 + bn2 -> ConvReLU2d (batchnorm folded)"});
  CHECK(compress::is_pruned(*net->get_submodule("conv2"), "weight"));
  CHECK(compress::sparsity(*net->get_submodule("conv2"), "weight") == doctest::Approx(0.6).epsilon(1e-3));
  ref->eval();
  net->eval();
  Generator gx(1);
  Tensor x = Tensor::uniform({2, 1, 28, 28}, 0.f, 1.f, gx);
  CHECK(max_rel_diff(net->forward(x), ref->forward(x)) < 1e-5);

  // errors name the layers, and leave the model unchanged
  auto no_stats = nn::Sequential::named({{"conv", nn::make<nn::Conv2d>(1, 2, 3)},
                                         {"bn", nn::make<nn::BatchNorm2d>(2, 1e-5f, 0.1f, true, false)}});
  CHECK(contains(error_of([&] { nn::fold_batchnorm(*no_stats); }),
                 "fold_batchnorm(conv + bn): BatchNorm2d bn has no running statistics"));
  CHECK(no_stats->get_submodule("bn")->type_name() == "BatchNorm2d");
  struct Odd : nn::Parametrization {
    Tensor forward(const Tensor& w) override { return add(w, 1.f); }
    std::string type_name() const override { return "Odd"; }
  };
  auto c2 = nn::make<nn::Conv2d>(1, 2, 3);
  c2->register_parametrization("weight", std::make_shared<Odd>());
  auto odd = nn::Sequential::named({{"conv", c2}, {"bn", nn::make<nn::BatchNorm2d>(2)}});
  CHECK(contains(error_of([&] { nn::fold_batchnorm(*odd); }), "has a Odd parametrization"));
}
