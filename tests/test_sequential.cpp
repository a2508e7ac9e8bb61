// Tests for nn::Sequential: names and order, chaining. (The fusion of a layer
// with the ReLU after it is a pass now, nn/fuse.h: tests/test_fuse.cpp.)
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
