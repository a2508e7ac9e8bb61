// Tests for parametrizations on modules (pruning masks): the masked weight,
// weight_orig naming, gradients, removal, and composition order.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "minidl.h"
#include "module_util.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::test;

namespace {

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
