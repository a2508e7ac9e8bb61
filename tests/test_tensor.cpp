// Tests for core/tensor.h, core/autograd.h and the argument checks of core/ops.h:
// broadcasting and shape rules, views vs. copies, dtypes and conversions,
// factories and seeded randomness, the autograd rules (accumulation, reuse,
// no-grad, freeing the graph, detach), error messages, and bit-for-bit
// determinism of a training step. Gradient *values* are checked op by op in
// tests/test_gradcheck.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"
#include "test_util.h"

using minidl::DType;
using minidl::Generator;
using minidl::NoGradGuard;
using minidl::Shape;
using minidl::Tensor;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

Tensor vec(std::vector<float> v, const Shape& s) { return Tensor::from_vector(v, s); }

}  // namespace

// ============================================================== broadcasting and shapes

TEST_CASE("broadcast_shapes follows the trailing-dimension rule") {
  using minidl::broadcast_shapes;
  CHECK(broadcast_shapes({2, 3}, {2, 3}, "add") == Shape{2, 3});
  CHECK(broadcast_shapes({2, 3}, {}, "add") == Shape{2, 3});
  CHECK(broadcast_shapes({}, {}, "add") == Shape{});
  CHECK(broadcast_shapes({2, 3}, {1}, "add") == Shape{2, 3});
  CHECK(broadcast_shapes({2, 3, 4}, {4}, "add") == Shape{2, 3, 4});
  CHECK(broadcast_shapes({4}, {2, 3, 4}, "add") == Shape{2, 3, 4});
  CHECK(broadcast_shapes({2, 1, 4}, {3, 1}, "add") == Shape{2, 3, 4});
  CHECK(broadcast_shapes({8, 3, 5, 5}, {1, 3, 1, 1}, "add") == Shape{8, 3, 5, 5});
  CHECK(broadcast_shapes({4, 1}, {1, 5}, "add") == Shape{4, 5});
  CHECK(broadcast_shapes({0, 3}, {1, 3}, "add") == Shape{0, 3});  // a zero-size dim stretches a 1
  CHECK(broadcast_shapes({1}, {0}, "add") == Shape{0});
}

TEST_CASE("broadcast mismatches throw an Error naming the op and both shapes") {
  const std::string m = error_of([] { minidl::broadcast_shapes({2, 3}, {4}, "mul"); });
  CHECK(contains(m, "mul"));
  CHECK(contains(m, "[2, 3]"));
  CHECK(contains(m, "[4]"));
  CHECK(contains(error_of([] { minidl::broadcast_shapes({2, 3, 4}, {3, 2, 4}, "add"); }), "[3, 2, 4]"));
  CHECK(contains(error_of([] { minidl::broadcast_shapes({0}, {2}, "add"); }), "[0]"));

  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3, 2});
  struct Op {
    const char* name;
    Tensor (*f)(const Tensor&, const Tensor&);
  };
  for (const Op& op :
       {Op{"add", minidl::add}, Op{"sub", minidl::sub}, Op{"mul", minidl::mul}, Op{"div", minidl::div}}) {
    CAPTURE(op.name);
    const std::string e = error_of([&] { op.f(a, b); });
    CHECK(e.rfind(op.name, 0) == 0);  // starts with the op's name
    CHECK(contains(e, "[2, 3]"));
    CHECK(contains(e, "[3, 2]"));
  }
}

TEST_CASE("reshape infers one -1 and rejects bad shapes") {
  const Tensor x = Tensor::arange(24).reshape({2, 3, 4});
  CHECK(x.reshape({-1, 4}).shape() == Shape{6, 4});
  CHECK(x.reshape({2, -1}).shape() == Shape{2, 12});
  CHECK(x.reshape({-1}).shape() == Shape{24});
  CHECK(x.reshape({1, -1, 1}).shape() == Shape{1, 24, 1});
  CHECK(x.view({4, 6}).shape() == Shape{4, 6});
  CHECK(Tensor::scalar(3.f).reshape({-1}).shape() == Shape{1});
  CHECK(Tensor::zeros({1}).reshape({}).shape() == Shape{});
  CHECK(Tensor::zeros({0, 3}).reshape({-1, 3}).shape() == Shape{0, 3});

  CHECK(contains(error_of([&] { x.reshape({-1, -1}); }), "only one dimension can be -1"));
  const std::string e = error_of([&] { x.reshape({5, -1}); });
  CHECK(contains(e, "[5, -1]"));
  CHECK(contains(e, "[2, 3, 4]"));
  CHECK(contains(error_of([&] { x.reshape({7}); }), "is invalid for input of shape [2, 3, 4]"));
  CHECK(contains(error_of([&] { x.reshape({-2, -12}); }), "invalid dimension -2"));
  CHECK(contains(error_of([&] { x.reshape({0, -1}); }), "invalid"));

  CHECK(x.flatten().shape() == Shape{24});
  CHECK(x.flatten(1).shape() == Shape{2, 12});
  CHECK(x.flatten(0, 1).shape() == Shape{6, 4});
  CHECK(x.flatten(-2, -1).shape() == Shape{2, 12});
  CHECK(contains(error_of([&] { x.flatten(2, 1); }), "flatten"));
  CHECK(x.size(-1) == 4);
  CHECK(contains(error_of([&] { x.size(3); }), "out of range"));
}

TEST_CASE("reshape, flatten and narrow are views; transpose, permute and clone copy") {
  Tensor x = Tensor::arange(12).reshape({4, 3});
  Tensor r = x.reshape({2, 6});
  CHECK(r.raw_data() == x.raw_data());
  r.data<float>()[7] = 100.f;
  CHECK(x.data<float>()[7] == 100.f);
  CHECK(x.flatten().raw_data() == x.raw_data());

  Tensor n = x.narrow(1, 2);  // rows 1 and 2
  CHECK(n.shape() == Shape{2, 3});
  CHECK(n.raw_data() == static_cast<const void*>(x.data<float>() + 3));
  CHECK(n.to_vector<float>() == std::vector<float>{3, 4, 5, 6, 100, 8});
  n.data<float>()[0] = -1.f;
  CHECK(x.data<float>()[3] == -1.f);
  CHECK(x.narrow(4, 0).numel() == 0);
  CHECK(contains(error_of([&] { x.narrow(3, 2); }), "out of range for shape [4, 3]"));
  CHECK(contains(error_of([&] { x.narrow(-1, 1); }), "out of range"));
  Tensor w = Tensor::zeros({3, 2}).requires_grad_();
  CHECK(contains(error_of([&] { w.narrow(0, 1); }), "index_select0"));

  Tensor t = x.transpose(0, 1);
  CHECK(t.shape() == Shape{3, 4});
  CHECK(t.raw_data() != x.raw_data());
  CHECK(t.data<float>()[1] == x.data<float>()[3]);  // t[0][1] == x[1][0]
  x.data<float>()[3] = 55.f;
  CHECK(t.data<float>()[1] == -1.f);  // unaffected: a copy
  Tensor p = minidl::permute(x.reshape({2, 2, 3}), {2, 0, 1});
  CHECK(p.shape() == Shape{3, 2, 2});
  CHECK(p.raw_data() != x.raw_data());
  CHECK(x.clone().raw_data() != x.raw_data());
  CHECK(x.clone().to_vector<float>() == x.to_vector<float>());
}

// ============================================================== dtypes

TEST_CASE("data<T>() checks the dtype") {
  Tensor f = Tensor::zeros({2});
  const std::string e = error_of([&] { f.data<int8_t>(); });
  CHECK(contains(e, "F32"));
  CHECK(contains(e, "I8"));
  Tensor l = Tensor::zeros({2}, DType::Int64);
  CHECK(contains(error_of([&] { l.data<float>(); }), "holds I64, requested F32"));
  CHECK(contains(error_of([] { Tensor::zeros({1}, DType::Int64).item(); }), "requested F32"));
  CHECK(l.data<int64_t>()[1] == 0);
  CHECK(contains(error_of([&] { f.item(); }), "has 2 elements"));
  CHECK(contains(error_of([] { Tensor().data<float>(); }), "undefined"));
  CHECK(dtype_name(DType::UInt8) == std::string("U8"));
  CHECK(f.nbytes() == 8);
  CHECK(Tensor::zeros({3}, DType::Int8).nbytes() == 3);
}

TEST_CASE("to(DType) rounds half to even and saturates") {
  const Tensor f = Tensor::from_vector(
      std::vector<float>{0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 1.4999f, 126.5f, 127.5f, 300.f, -128.5f, -1000.f});
  CHECK(f.to(DType::Int8).to_vector<int8_t>() == std::vector<int8_t>{0, 2, 2, 0, -2, -2, 1, 126, 127, 127, -128, -128});
  const Tensor u = Tensor::from_vector(std::vector<float>{0.5f, 1.5f, 2.5f, -0.5f, -3.f, 254.5f, 255.5f, 1000.f, 3.5f});
  CHECK(u.to(DType::UInt8).to_vector<uint8_t>() == std::vector<uint8_t>{0, 2, 2, 0, 0, 254, 255, 255, 4});
  const Tensor w = Tensor::from_vector(std::vector<float>{2.5f, -3.5f, 1e10f, -1e10f});
  CHECK(w.to(DType::Int32).to_vector<int32_t>() == std::vector<int32_t>{2, -4, INT32_MAX, INT32_MIN});
  CHECK(w.to(DType::Int64).to_vector<int64_t>()[1] == -4);
  // integers to float are exact here, and back again
  const Tensor q = Tensor::from_vector(std::vector<int8_t>{-128, -1, 0, 127}, {4});
  CHECK(q.to(DType::Float32).to_vector<float>() == std::vector<float>{-128, -1, 0, 127});
  CHECK(q.to(DType::Float32).to(DType::Int8).to_vector<int8_t>() == q.to_vector<int8_t>());
  // same dtype: a copy
  CHECK(f.to(DType::Float32).raw_data() != f.raw_data());
  CHECK(f.to(DType::Float32).to_vector<float>() == f.to_vector<float>());
}

// ============================================================== factories and randomness

TEST_CASE("factories") {
  Tensor z = Tensor::zeros({2, 3});
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::Float32);
  CHECK(z.to_vector<float>() == std::vector<float>(6, 0.f));
  CHECK(Tensor::zeros({4}, DType::Int64).to_vector<int64_t>() == std::vector<int64_t>(4, 0));
  CHECK(Tensor::ones({3}).to_vector<float>() == std::vector<float>{1, 1, 1});
  CHECK(Tensor::full({2, 2}, -2.5f).to_vector<float>() == std::vector<float>(4, -2.5f));
  Tensor s = Tensor::scalar(4.f);
  CHECK(s.shape() == Shape{});
  CHECK(s.numel() == 1);
  CHECK(s.item() == 4.f);
  CHECK(Tensor::arange(5).to_vector<float>() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(Tensor::arange(0.f, 1.f, 0.25f).to_vector<float>() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  CHECK(Tensor::arange(3.f, 0.f, -1.f).to_vector<float>() == std::vector<float>{3, 2, 1});
  CHECK(Tensor::arange(0.f, 1.f, 0.3f).numel() == 4);  // ceil(1/0.3): 0, .3, .6, .9
  CHECK(Tensor::arange(2.f, 2.f).numel() == 0);
  CHECK(contains(error_of([] { Tensor::arange(0.f, 1.f, 0.f); }), "step"));
  Tensor v = vec({1, 2, 3, 4, 5, 6}, {3, 2});
  CHECK(v.shape() == Shape{3, 2});
  CHECK(v.data<float>()[5] == 6.f);
  CHECK(Tensor::from_vector(std::vector<float>{1, 2}).shape() == Shape{2});
  Tensor l = Tensor::from_vector(std::vector<int64_t>{7, 8}, {2});
  CHECK(l.dtype() == DType::Int64);
  CHECK(l.data<int64_t>()[1] == 8);
  CHECK(contains(error_of([] { vec({1, 2, 3}, {2, 2}); }), "3 values do not fill shape [2, 2]"));
  CHECK(contains(error_of([] { Tensor::zeros({2, -1}); }), "negative dimension"));
  CHECK(Tensor::empty({0, 5}).numel() == 0);
  Tensor filled = Tensor::zeros({3}, DType::Int32);
  filled.fill_(7.f);
  CHECK(filled.to_vector<int32_t>() == std::vector<int32_t>{7, 7, 7});
  CHECK(!Tensor().defined());
}

TEST_CASE("uniform and normal are seeded and have the right moments") {
  Generator g1(7), g2(7), g3(8);
  const Tensor a = Tensor::uniform({1000}, -1.f, 3.f, g1), b = Tensor::uniform({1000}, -1.f, 3.f, g2);
  CHECK(a.to_vector<float>() == b.to_vector<float>());
  CHECK(a.to_vector<float>() != Tensor::uniform({1000}, -1.f, 3.f, g3).to_vector<float>());
  const Tensor n1 = Tensor::normal({500}, 0.f, 1.f, g1), n2 = Tensor::normal({500}, 0.f, 1.f, g2);
  CHECK(n1.to_vector<float>() == n2.to_vector<float>());

  // 1e5 draws. Standard errors: mean σ/√n, std ≈ σ/√(2n); the bounds are ≥ 5 of them.
  const int64_t n = 100000;
  Generator g(2024);
  const Tensor u = Tensor::uniform({n}, -1.f, 3.f, g);
  const Tensor x = Tensor::normal({n}, 2.f, 3.f, g);
  double su = 0, lo = 1e9, hi = -1e9, sx = 0, sxx = 0;
  for (float v : u.to_vector<float>()) su += v, lo = std::min<double>(lo, v), hi = std::max<double>(hi, v);
  for (float v : x.to_vector<float>()) sx += v, sxx += double(v) * v;
  CHECK(lo >= -1.0);
  CHECK(hi < 3.0);
  CHECK(std::abs(su / n - 1.0) < 0.02);  // σ = 4/√12 ≈ 1.15: SE 0.0037
  const double mean = sx / n, sd = std::sqrt(sxx / n - mean * mean);
  CHECK(std::abs(mean - 2.0) < 0.05);  // SE 0.0095
  CHECK(std::abs(sd - 3.0) < 0.04);    // SE 0.0067
  CHECK(contains(error_of([&] { Tensor::normal({2}, 0.f, -1.f, g); }), "std"));
  CHECK(contains(error_of([&] { Tensor::uniform({2}, 1.f, 0.f, g); }), "lo"));
}

TEST_CASE("Generator: xoshiro256** seeded by splitmix64, the same on every platform") {
  // Golden values from an independent implementation of the published
  // algorithms (Blackman & Vigna; splitmix64 seeding), not from this one.
  Generator g0(0);
  CHECK(g0.next_u64() == 0x99ec5f36cb75f2b4ULL);
  CHECK(g0.next_u64() == 0xbf6e1f784956452aULL);
  CHECK(g0.next_u64() == 0x1a5f849d4933e6e0ULL);
  CHECK(g0.next_u64() == 0x6aa594f1262d2d2cULL);
  Generator g42(42);
  CHECK(g42.next_u64() == 0x15780b2e0c2ec716ULL);
  CHECK(g42.next_u64() == 0x6104d9866d113a7eULL);
  Generator u42(42);
  CHECK(u42.uniform01() == 0.08386296033859253f);  // top 24 bits / 2^24
  CHECK(u42.uniform01() == 0.37898021936416626f);

  // Same seed, same stream; manual_seed restarts it (including a cached normal).
  Generator a(123), b(123);
  for (int i = 0; i < 100; ++i) REQUIRE(a.next_u64() == b.next_u64());
  CHECK(a.normal() == b.normal());  // leaves a spare cached in both
  a.manual_seed(5);
  b.manual_seed(5);
  const double first = a.normal();
  CHECK(b.normal() == first);
  a.manual_seed(5);
  CHECK(a.normal() == first);  // not the spare from before the reseed
  CHECK(Generator(1).next_u64() != Generator(2).next_u64());

  // randint: in range, every value reached, roughly uniform.
  Generator r(9);
  std::vector<int> hist(8, 0);  // hist[7] counts out-of-range values
  for (int i = 0; i < 70000; ++i) ++hist[std::min<uint64_t>(r.randint(7), 7)];
  CHECK(hist[7] == 0);
  hist.pop_back();
  for (int c : hist) CHECK(std::abs(c - 10000) < 500);  // SE ≈ 93
  CHECK(r.randint(1) == 0);

  // The per-thread default generator follows minidl::manual_seed.
  minidl::manual_seed(77);
  const uint64_t d1 = minidl::default_generator().next_u64();
  minidl::manual_seed(77);
  CHECK(minidl::default_generator().next_u64() == d1);
  CHECK(d1 == Generator(77).next_u64());
}

// ============================================================== autograd rules

TEST_CASE("autograd: gradients accumulate across backward passes on separate graphs") {
  Tensor w = vec({1, 2, 3}, {3}).requires_grad_();
  CHECK(w.is_leaf());
  CHECK(!w.grad().defined());
  minidl::sum(minidl::mul(w, vec({1, 10, 100}, {3})), {}).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{1, 10, 100});
  minidl::sum(minidl::mul(w, vec({2, 20, 200}, {3})), {}).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{3, 30, 300});
  w.zero_grad();
  CHECK(!w.grad().defined());
  minidl::sum(minidl::mul(w, w), {}).backward();
  CHECK(w.grad().to_vector<float>() == std::vector<float>{2, 4, 6});
  // set_grad checks the shape
  CHECK(contains(error_of([&] { w.set_grad(Tensor::zeros({2})); }), "does not match"));
}

TEST_CASE("autograd: a tensor used several times in one graph gets the sum of the gradients") {
  Tensor x = vec({1, -2, 3}, {3}).requires_grad_();
  // y = x·x + x + exp(0·x) → dy/dx = 2x + 1
  Tensor y = minidl::add(minidl::add(minidl::mul(x, x), x), minidl::exp(minidl::mul(x, 0.f)));
  minidl::sum(y, {}).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{3, -3, 7});

  // a diamond: a = 2x feeds both branches of b = a·3 + a·a
  Tensor x2 = vec({0.5f, 1.f}, {2}).requires_grad_();
  Tensor a = minidl::mul(x2, 2.f);
  Tensor b = minidl::add(minidl::mul(a, 3.f), minidl::mul(a, a));
  b.backward(Tensor::ones({2}));
  // db/dx = (3 + 2a)·2 = 6 + 8x
  CHECK(x2.grad().to_vector<float>() == std::vector<float>{10, 14});
  CHECK(!a.grad().defined());  // non-leaves keep no .grad
}

TEST_CASE("autograd: NoGradGuard records nothing and restores the previous mode") {
  Tensor x = Tensor::ones({2}).requires_grad_();
  CHECK(minidl::grad_enabled());
  {
    NoGradGuard ng;
    CHECK(!minidl::grad_enabled());
    Tensor y = minidl::mul(x, 3.f);
    CHECK(!y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
    CHECK(y.is_leaf());
    {
      NoGradGuard inner;
      CHECK(!minidl::grad_enabled());
    }
    CHECK(!minidl::grad_enabled());  // the inner guard restores "off", not "on"
    CHECK(!minidl::needs_grad({&x}));
  }
  CHECK(minidl::grad_enabled());
  CHECK(minidl::needs_grad({&x}));
  Tensor y = minidl::mul(x, 3.f);
  CHECK(y.requires_grad());
  REQUIRE(y.grad_fn() != nullptr);
  CHECK(y.grad_fn()->name == "mul_scalar");
  // Ops on tensors that need no gradient record nothing either.
  CHECK(minidl::mul(Tensor::ones({2}), 3.f).grad_fn() == nullptr);
}

TEST_CASE("autograd: backward argument checks") {
  Tensor x = vec({1, 2, 3}, {3}).requires_grad_();
  Tensor y = minidl::mul(x, 2.f);
  const std::string e = error_of([&] { y.backward(); });
  CHECK(contains(e, "only for a tensor with one element"));
  CHECK(contains(e, "[3]"));
  CHECK(contains(error_of([&] { y.backward(Tensor::ones({2})); }), "does not match tensor shape [3]"));
  y.backward(vec({1, 1, 2}, {3}));  // an explicit gradient is fine
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 2, 4});
  CHECK(contains(error_of([] { Tensor::ones({1}).backward(); }), "does not require grad"));
  // a leaf that requires grad may be the root: d(x)/dx = seed
  Tensor s = Tensor::scalar(2.f).requires_grad_();
  s.backward();
  CHECK(s.grad().item() == 1.f);
}

TEST_CASE("autograd: backward twice throws; the graph and its activations are freed") {
  Tensor x = vec({1, 2}, {2}).requires_grad_();
  Tensor w = vec({3, 4}, {2}).requires_grad_();
  Tensor h = minidl::mul(x, w);  // saves x and w (as detached handles to their storage)
  Tensor loss = minidl::sum(minidl::tanh(h), {});
  CHECK(x.impl()->storage.use_count() > 1);
  REQUIRE(h.grad_fn() != nullptr);
  CHECK(h.grad_fn()->inputs.size() == 2);
  CHECK(static_cast<bool>(h.grad_fn()->backward));

  loss.backward();
  for (const Tensor* t : {&h, &loss}) {
    REQUIRE(t->grad_fn() != nullptr);
    CHECK(!t->grad_fn()->backward);  // the closure (and what it captured) is gone
    CHECK(t->grad_fn()->inputs.empty());
  }
  CHECK(x.impl()->storage.use_count() == 1);  // no closure holds x's data any more
  CHECK(w.impl()->storage.use_count() == 1);

  const std::string e = error_of([&] { loss.backward(); });
  CHECK(contains(e, "second time"));
  CHECK(contains(e, "graph is freed"));
  CHECK(x.grad().defined());  // the first pass's gradients are kept
}

TEST_CASE("autograd: requires_grad_ only on float leaves") {
  Tensor x = Tensor::ones({2}).requires_grad_();
  Tensor y = minidl::mul(x, 2.f);
  CHECK(!y.is_leaf());
  CHECK(contains(error_of([&] { y.requires_grad_(); }), "leaf"));
  Tensor i = Tensor::zeros({2}, DType::Int64);
  const std::string e = error_of([&] { i.requires_grad_(); });
  CHECK(contains(e, "only float tensors"));
  CHECK(contains(e, "I64"));
  i.requires_grad_(false);  // switching off is always allowed on a leaf
  CHECK(!i.requires_grad());
  x.requires_grad_(false);
  CHECK(!x.requires_grad());
  CHECK(minidl::mul(x, 2.f).grad_fn() == nullptr);
}

TEST_CASE("autograd: detach shares storage and has no history") {
  Tensor x = vec({1, 2}, {2}).requires_grad_();
  Tensor y = minidl::mul(x, 2.f);
  Tensor d = y.detach();
  CHECK(d.raw_data() == y.raw_data());
  CHECK(!d.requires_grad());
  CHECK(d.grad_fn() == nullptr);
  CHECK(d.is_leaf());
  d.data<float>()[0] = 9.f;
  CHECK(y.data<float>()[0] == 9.f);  // same memory
  CHECK(minidl::mul(d, 2.f).grad_fn() == nullptr);
  Tensor c = y.clone();
  CHECK(c.raw_data() != y.raw_data());
  CHECK(!c.requires_grad());
  // gradients stop at a detach
  Tensor z = minidl::add(minidl::mul(x, 3.f), minidl::mul(x.detach(), 5.f));
  minidl::sum(z, {}).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{3, 3});
}

// ============================================================== argument errors

TEST_CASE("errors name the op, the argument and the shapes") {
  Generator g(1);
  const Tensor x = Tensor::normal({2, 1, 8, 8}, 0.f, 1.f, g);
  const Tensor w3 = Tensor::normal({4, 3, 3, 3}, 0.f, 1.f, g);
  const Tensor w1 = Tensor::normal({4, 1, 3, 3}, 0.f, 1.f, g);

  SUBCASE("conv2d with mismatched channels names both shapes") {
    const std::string e = error_of([&] { minidl::conv2d(x, w3, Tensor()); });
    CHECK(contains(e, "conv2d"));
    CHECK(contains(e, "[2, 1, 8, 8]"));
    CHECK(contains(e, "[4, 3, 3, 3]"));
  }
  SUBCASE("linear names the expected and the actual input") {
    const std::string e = error_of([] {
      minidl::linear(Tensor::zeros({64, 1600}), Tensor::zeros({10, 2304}), Tensor::zeros({10}));
    });
    CHECK(e == "linear: expected input [*, 2304], got [64, 1600]");
    CHECK(contains(error_of([] {
                minidl::linear(Tensor::zeros({2, 3}), Tensor::zeros({4, 3}), Tensor::zeros({3}));
              }),
              "bias must be [4], got [3]"));
    CHECK(contains(error_of([] { minidl::linear(Tensor::zeros({2, 3, 1}), Tensor::zeros({4, 3}), Tensor()); }), "2-D"));
  }
  SUBCASE("kernel larger than the input") {
    const Tensor small = Tensor::zeros({1, 1, 3, 3});
    const std::string e = error_of([&] { minidl::conv2d(small, Tensor::zeros({1, 1, 5, 5}), Tensor()); });
    CHECK(contains(e, "smaller than the kernel"));
    CHECK(contains(e, "[1, 1, 3, 3]"));
    CHECK(contains(e, "[1, 1, 5, 5]"));
    CHECK(minidl::conv2d(small, Tensor::zeros({1, 1, 5, 5}), Tensor(), 1, 1).shape() == Shape{1, 1, 1, 1});
    CHECK(contains(error_of([&] { minidl::max_pool2d(Tensor::zeros({1, 1, 2, 2}), 3); }), "smaller than the kernel"));
    CHECK(contains(error_of([&] { minidl::avg_pool2d(Tensor::zeros({1, 1, 2, 5}), 3); }), "[1, 1, 2, 5]"));
  }
  SUBCASE("negative padding") {
    CHECK(contains(error_of([&] { minidl::conv2d(x, w1, Tensor(), 1, -1); }), "conv2d: padding must be >= 0, got -1"));
    CHECK(contains(error_of([&] { minidl::max_pool2d(x, 2, 2, -1); }), "max_pool2d: padding"));
    CHECK(contains(error_of([&] { minidl::avg_pool2d(x, 2, 2, -1); }), "avg_pool2d: padding"));
    CHECK(contains(error_of([&] { minidl::max_pool2d(x, 2, 2, 2); }), "got 2"));  // more than kernel/2
  }
  SUBCASE("stride 0") {
    CHECK(contains(error_of([&] { minidl::conv2d(x, w1, Tensor(), 0); }), "conv2d: stride must be >= 1, got 0"));
    CHECK(contains(error_of([&] { minidl::conv2d(x, w1, Tensor(), -2); }), "got -2"));
    // for pooling, stride <= 0 means "stride = kernel" (documented), not an error
    CHECK(minidl::max_pool2d(x, 2, 0).shape() == Shape{2, 1, 4, 4});
    CHECK(contains(error_of([&] { minidl::max_pool2d(x, 0); }), "kernel size must be >= 1"));
  }
  SUBCASE("cross_entropy target out of range") {
    const Tensor logits = Tensor::zeros({3, 5});
    const std::string e = error_of([&] {
      minidl::cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{0, 5, 1}, {3}));
    });
    CHECK(contains(e, "target 5 at index 1 is out of range [0, 5)"));
    CHECK(contains(error_of([&] {
                minidl::cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{0, 1, -1}, {3}));
              }),
              "target -1 at index 2"));
    CHECK(contains(error_of([&] { minidl::cross_entropy(logits, Tensor::zeros({3})); }), "int64 targets"));
    CHECK(contains(error_of([&] { minidl::cross_entropy(logits, Tensor::zeros({2}, DType::Int64)); }), "[3, 5]"));
  }
  SUBCASE("other shape errors") {
    const std::string e = error_of([] { minidl::matmul(Tensor::zeros({2, 3}), Tensor::zeros({4, 5})); });
    CHECK(contains(e, "[2, 3]"));
    CHECK(contains(e, "[4, 5]"));
    CHECK(contains(error_of([] { minidl::mse_loss(Tensor::zeros({2}), Tensor::zeros({3})); }), "[3]"));
    CHECK(contains(
        error_of([] {
          minidl::batch_norm(Tensor::zeros({4, 3}), Tensor::ones({2}), Tensor(), Tensor(), Tensor(), true, 0.1f, 1e-5f);
        }),
        "got [2]"));
    CHECK(contains(error_of([] { minidl::sum(Tensor::zeros({2, 3}), {2}); }), "dimension 2 out of range for shape [2, 3]"));
    CHECK(contains(error_of([] { minidl::sum(Tensor::zeros({2, 3}), {1, -1}); }), "given twice"));
    CHECK(contains(error_of([] { minidl::sum_to(Tensor::zeros({2, 3}), {4}); }), "cannot reduce [2, 3] to [4]"));
    CHECK(contains(error_of([] { minidl::permute(Tensor::zeros({2, 3}), {0, 0}); }), "permutation"));
    CHECK(contains(error_of([] { minidl::index_select0(Tensor::zeros({2, 3}), {2}); }), "index 2 out of range [0, 2)"));
    CHECK(contains(error_of([] { minidl::softmax(Tensor::zeros({2, 3}), 2); }), "softmax: dimension 2"));
  }
}

// ============================================================== determinism

namespace {
// One conv2d + linear forward/backward from fixed seeds; the gradients, flattened.
std::vector<std::vector<float>> train_step(uint64_t seed) {
  Generator g(seed);
  const Tensor x = Tensor::normal({8, 3, 32, 32}, 0.f, 1.f, g);
  Tensor cw = Tensor::normal({8, 3, 3, 3}, 0.f, 0.2f, g).requires_grad_();
  Tensor cb = Tensor::normal({8}, 0.f, 0.1f, g).requires_grad_();
  Tensor lw = Tensor::normal({10, 8 * 16 * 16}, 0.f, 0.01f, g).requires_grad_();
  Tensor lb = Tensor::zeros({10}).requires_grad_();
  Tensor xin = x.clone().requires_grad_();
  std::vector<int64_t> t(8);
  for (auto& v : t) v = int64_t(g.randint(10));
  Tensor h = minidl::relu(minidl::conv2d(xin, cw, cb, 1, 1));  // [8, 8, 32, 32]: big enough to run in parallel
  h = minidl::max_pool2d(h, 2);                                // [8, 8, 16, 16]
  Tensor loss = minidl::cross_entropy(minidl::linear(h.flatten(1), lw, lb), Tensor::from_vector(t, {8}));
  loss.backward();
  return {loss.to_vector<float>(),      xin.grad().to_vector<float>(), cw.grad().to_vector<float>(),
          cb.grad().to_vector<float>(), lw.grad().to_vector<float>(),  lb.grad().to_vector<float>()};
}
}  // namespace

TEST_CASE("determinism: the same seed and thread count give bit-identical gradients") {
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    minidl::set_num_threads(threads);
    const auto a = train_step(31), b = train_step(31);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      CAPTURE(i);
      REQUIRE(a[i].size() == b[i].size());
      CHECK(std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) == 0);
    }
    const auto c = train_step(32);
    CHECK(c[2] != a[2]);  // and a different seed really is different
  }
}
