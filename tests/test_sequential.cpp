// Tests for nn::Sequential: names and order, chaining, and the fusion of a
// layer with the ReLU after it (Module::forward_relu), which must change
// nothing but the speed: the same outputs, gradients and running statistics,
// bit for bit, as running each child's forward in turn.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "minidl.h"

using namespace minidl;

namespace {

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// The chain without fusion: every child's own forward, one after another.
Tensor unfused(nn::Sequential& s, const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, m] : s.named_children()) h = m->forward(h);
  return h;
}

// A ReLU subclass that does something else: Sequential must not fuse it away.
class LeakyAsReLU : public nn::ReLU {
 public:
  Tensor forward(const Tensor& x) override { return mul(x, 0.5f); }
};

}  // namespace

TEST_CASE("Sequential::named keeps names and order, forward chains") {
  Generator g(3);
  auto l1 = nn::make<nn::Linear>(4, 3, true, g);
  auto l2 = nn::make<nn::Linear>(3, 2, true, g);
  auto s = nn::Sequential::named({{"first", l1}, {"act", nn::make<nn::Tanh>()}, {"second", l2}});
  REQUIRE(s->size() == 3);
  CHECK(s->named_children()[0].first == "first");
  CHECK(s->named_children()[2].first == "second");
  CHECK(l1->name() == "first");
  CHECK(l1->label() == "Linear first");
  std::vector<std::string> keys;
  for (const auto& [n, t] : s->named_parameters()) keys.push_back(n);
  CHECK(keys == std::vector<std::string>{"first.weight", "first.bias", "second.weight", "second.bias"});
  Tensor x = Tensor::uniform({5, 4}, -1.f, 1.f, g);
  Tensor want = l2->forward(tanh(l1->forward(x)));
  CHECK(bit_equal(s->forward(x), want));
  CHECK(bit_equal((*s)(x), want));
}

TEST_CASE("a layer followed by a ReLU runs fused, with the unfused chain's values, gradients and statistics") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    Generator g1(9), g2(9);
    auto a = nn::seed_cnn({.batchnorm = bn}, g1), b = nn::seed_cnn({.batchnorm = bn}, g2);
    Generator gx(4);
    Tensor x = Tensor::uniform({6, 1, 28, 28}, 0.f, 1.f, gx);
    Tensor t = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5}, {6});
    for (bool training : {true, false}) {
      CAPTURE(training);
      a->train(training);
      b->train(training);
      Tensor ya = a->forward(x), yb = unfused(*b, x);
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

TEST_CASE("fusion applies only to nn::ReLU itself, and keeps layer errors") {
  Generator g(2);
  auto conv = nn::make<nn::Conv2d>(1, 4, 3, 1, 0, true, g);
  auto s = nn::Sequential::named({{"conv", conv}, {"act", std::make_shared<LeakyAsReLU>()}});
  Tensor x = Tensor::uniform({2, 1, 6, 6}, -1.f, 1.f, g);
  CHECK(bit_equal(s->forward(x), mul(conv->forward(x), 0.5f)));  // the subclass's forward ran

  auto r = nn::Sequential::named({{"conv", conv}, {"relu", nn::make<nn::ReLU>()}});
  Tensor y = r->forward(x);
  CHECK(bit_equal(y, relu(conv->forward(x))));
  bool clamped = false;
  for (float v : y.to_vector<float>()) clamped |= v == 0.f;
  CHECK(clamped);
  CHECK_THROWS_WITH_AS(r->forward(Tensor::zeros({2, 3, 6, 6})), doctest::Contains("Conv2d conv: expected input"),
                       minidl::Error);
}
