// Tests for compress/structured.h (filter / neuron removal that shrinks the
// model) and compress/report.h (parameters, nonzeros, MACs, bytes).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "compress/prune.h"
#include "compress/report.h"
#include "compress/structured.h"
#include "minidl.h"
#include "test_util.h"

using namespace minidl;
namespace cp = minidl::compress;
using cp::Amount;

namespace {

using minidl::test::error_of;
using minidl::test::contains;
std::vector<float> vals(const Tensor& t) { return t.to_vector<float>(); }

std::shared_ptr<nn::Sequential> cnn(uint64_t seed, bool bn, int64_t image = 28) {
  Generator g(seed);
  nn::SeedCNNOptions o;
  o.batchnorm = bn;
  o.image_size = image;
  auto net = nn::seed_cnn(o, g);
  if (bn) {  // non-trivial BN state, so that a wrong channel mapping shows
    for (const char* name : {"bn1", "bn2"}) {
      auto m = net->get_submodule(name);
      const int64_t c = m->parameter("weight").numel();
      m->parameter("weight").copy_(Tensor::uniform({c}, 0.5f, 1.5f, g));
      m->parameter("bias").copy_(Tensor::uniform({c}, -0.5f, 0.5f, g));
      m->buffer("running_mean").copy_(Tensor::uniform({c}, -0.2f, 0.2f, g));
      m->buffer("running_var").copy_(Tensor::uniform({c}, 0.5f, 2.f, g));
    }
  }
  return net;
}

// A copy of `net` (same architecture options) with the same state.
std::shared_ptr<nn::Sequential> copy_of(nn::Sequential& net, bool bn, int64_t image = 28) {
  auto c = cnn(12345, bn, image);
  cp::prepare_for_state_dict(*c, net.state_dict());
  c->load_state_dict(net.state_dict());
  return c;
}

// Zero rows `idx` of dim 0 of tensor `t` (in place).
void zero_rows(Tensor t, const std::vector<int64_t>& idx) {
  const int64_t per = t.numel() / t.size(0);
  float* v = t.data<float>();
  for (int64_t r : idx) std::fill(v + r * per, v + (r + 1) * per, 0.f);
}

double max_diff(const Tensor& a, const Tensor& b) {
  const auto x = vals(a), y = vals(b);
  REQUIRE(x.size() == y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::fabs(double(x[i]) - double(y[i])));
  return d;
}

Tensor input(uint64_t seed, int64_t n = 4, int64_t image = 28) {
  Generator g(seed);
  return Tensor::normal({n, 1, image, image}, 0, 1, g);
}

// The channels with the k smallest Ln norms, computed here independently.
std::vector<int64_t> smallest_by_norm(const Tensor& w, int p, int64_t k) {
  const int64_t rows = w.size(0), per = w.numel() / rows;
  const auto v = vals(w);
  std::vector<std::pair<double, int64_t>> n;
  for (int64_t r = 0; r < rows; ++r) {
    double s = 0;
    for (int64_t i = 0; i < per; ++i) s += p == 1 ? std::fabs(v[size_t(r * per + i)]) : double(v[size_t(r * per + i)]) * v[size_t(r * per + i)];
    n.emplace_back(s, r);
  }
  std::sort(n.begin(), n.end());
  std::vector<int64_t> out;
  for (int64_t i = 0; i < k; ++i) out.push_back(n[size_t(i)].second);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("slice_norms: L1 and L2 of each filter") {
  Tensor w = Tensor::from_vector(std::vector<float>{3, -4, 0, 0, 1, -1, 1, -1}, {2, 4});
  auto l1 = cp::slice_norms(w, 1), l2 = cp::slice_norms(w, 2);
  CHECK(l1 == std::vector<double>{7, 4});
  CHECK(l2[0] == doctest::Approx(5));
  CHECK(l2[1] == doctest::Approx(2));
  CHECK(contains(error_of([&] { cp::slice_norms(w, 0); }), "p must be >= 1"));
}

TEST_CASE("prune_conv_filters shrinks conv2 and fc1 and equals the original with those filters zeroed") {
  for (int p : {1, 2}) {
    CAPTURE(p);
    auto net = cnn(1, false);
    auto ref = copy_of(*net, false);
    const auto want = smallest_by_norm(net->get_submodule("conv2")->parameter("weight"), p, 32);
    auto r = cp::prune_conv_filters(*net, "conv2", Amount::fraction(0.5), p);
    CHECK(r.removed == want);
    CHECK(r.kept.size() == 32);
    CHECK(r.shrunk == std::vector<std::string>{"conv2", "fc1"});
    auto conv2 = std::dynamic_pointer_cast<nn::Conv2d>(net->get_submodule("conv2"));
    auto fc1 = std::dynamic_pointer_cast<nn::Linear>(net->get_submodule("fc1"));
    CHECK(conv2->out_channels == 32);
    CHECK(conv2->weight().shape() == Shape{32, 32, 3, 3});
    CHECK(conv2->bias().shape() == Shape{32});
    CHECK(fc1->in_features == 32 * 36);
    CHECK(fc1->weight().shape() == Shape{100, 32 * 36});
    CHECK(conv2->weight().requires_grad());

    // The reference: same weights, removed filters and biases zeroed.
    zero_rows(ref->get_submodule("conv2")->parameter("weight"), r.removed);
    zero_rows(ref->get_submodule("conv2")->parameter("bias"), r.removed);
    NoGradGuard ng;
    const Tensor x = input(2);
    CHECK(max_diff(net->forward(x), ref->forward(x)) < 1e-5);
  }
}

TEST_CASE("with BatchNorm: the channel's activation is zeroed (conv filter, bias and BN γ, β)") {
  for (bool train_mode : {false, true}) {
    CAPTURE(train_mode);
    auto net = cnn(3, true);
    auto ref = copy_of(*net, true);
    auto r = cp::prune_conv_filters(*net, "conv2", Amount::count(24), 1);
    CHECK(r.shrunk == std::vector<std::string>{"conv2", "bn2", "fc1"});
    auto bn2 = std::dynamic_pointer_cast<nn::BatchNorm2d>(net->get_submodule("bn2"));
    CHECK(bn2->num_features == 40);
    for (const char* t : {"running_mean", "running_var"}) CHECK(bn2->buffer(t).shape() == Shape{40});
    CHECK(bn2->parameter("weight").shape() == Shape{40});
    // Kept channels keep their own statistics.
    const auto rm_new = vals(bn2->buffer("running_mean")), rm_old = vals(ref->get_submodule("bn2")->buffer("running_mean"));
    for (size_t i = 0; i < r.kept.size(); ++i) CHECK(rm_new[i] == rm_old[size_t(r.kept[i])]);

    auto rc = ref->get_submodule("conv2");
    auto rb = ref->get_submodule("bn2");
    zero_rows(rc->parameter("weight"), r.removed);
    zero_rows(rc->parameter("bias"), r.removed);
    zero_rows(rb->parameter("weight"), r.removed);
    zero_rows(rb->parameter("bias"), r.removed);
    net->train(train_mode);
    ref->train(train_mode);
    NoGradGuard ng;
    const Tensor x = input(4);
    CHECK(max_diff(net->forward(x), ref->forward(x)) < 1e-5);
  }
}

TEST_CASE("pruning conv1's filters shrinks bn1 and conv2's input channels") {
  auto net = cnn(5, true);
  auto ref = copy_of(*net, true);
  auto r = cp::prune_conv_filters(*net, "conv1", Amount::count(12), 2);
  CHECK(r.shrunk == std::vector<std::string>{"conv1", "bn1", "conv2"});
  auto conv2 = std::dynamic_pointer_cast<nn::Conv2d>(net->get_submodule("conv2"));
  CHECK(conv2->in_channels == 20);
  CHECK(conv2->weight().shape() == Shape{64, 20, 3, 3});
  for (const char* m : {"conv1", "bn1"})
    for (const char* t : {"weight", "bias"}) zero_rows(ref->get_submodule(m)->parameter(t), r.removed);
  net->eval();
  ref->eval();
  NoGradGuard ng;
  const Tensor x = input(6);
  CHECK(max_diff(net->forward(x), ref->forward(x)) < 1e-5);
}

TEST_CASE("prune_linear_neurons shrinks fc1's outputs and fc2's inputs") {
  auto net = cnn(7, false);
  auto ref = copy_of(*net, false);
  const auto want = smallest_by_norm(net->get_submodule("fc1")->parameter("weight"), 1, 30);
  auto r = cp::prune_linear_neurons(*net, "fc1", Amount::fraction(0.3));
  CHECK(r.removed == want);
  CHECK(r.shrunk == std::vector<std::string>{"fc1", "fc2"});
  auto fc1 = std::dynamic_pointer_cast<nn::Linear>(net->get_submodule("fc1"));
  auto fc2 = std::dynamic_pointer_cast<nn::Linear>(net->get_submodule("fc2"));
  CHECK(fc1->out_features == 70);
  CHECK(fc2->in_features == 70);
  CHECK(fc2->weight().shape() == Shape{10, 70});
  zero_rows(ref->get_submodule("fc1")->parameter("weight"), r.removed);
  zero_rows(ref->get_submodule("fc1")->parameter("bias"), r.removed);
  NoGradGuard ng;
  const Tensor x = input(8);
  CHECK(max_diff(net->forward(x), ref->forward(x)) < 1e-5);
}

TEST_CASE("structured pruning of unstructured-pruned layers shrinks weight_orig and the masks too") {
  auto net = cnn(9, false, 16);
  cp::global_unstructured(cp::prunable_weights(*net), Amount::fraction(0.5));
  auto ref = copy_of(*net, false, 16);
  auto r = cp::prune_conv_filters(*net, "conv2", Amount::count(16));
  auto conv2 = net->get_submodule("conv2");
  auto fc1 = net->get_submodule("fc1");
  CHECK(cp::is_pruned(*conv2, "weight"));
  CHECK(conv2->parameter("weight_orig").shape() == Shape{48, 32, 3, 3});
  CHECK(conv2->buffer("weight_mask").shape() == Shape{48, 32, 3, 3});
  CHECK(fc1->parameter("weight_orig").shape() == Shape{100, 48 * 9});
  CHECK(fc1->buffer("weight_mask").shape() == Shape{100, 48 * 9});
  {
    // Reference: the removed filters' (masked) weights and biases zeroed.
    zero_rows(ref->get_submodule("conv2")->parameter("weight_orig"), r.removed);
    zero_rows(ref->get_submodule("conv2")->parameter("bias"), r.removed);
    NoGradGuard ng;
    const Tensor x = input(10, 4, 16);
    CHECK(max_diff(net->forward(x), ref->forward(x)) < 1e-5);
  }
  // Training continues with a new optimizer (the tensors are new); masks hold.
  nn::SGD sgd(net->parameters(), {0.05f, 0.9f, 0.f, 5e-4f, true});
  Generator g(1);
  const Tensor x = input(11, 8, 16);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, {8});
  for (int s = 0; s < 5; ++s) {
    sgd.zero_grad();
    cross_entropy(net->forward(x), y).backward();
    sgd.step();
  }
  NoGradGuard ng;
  const auto mk = vals(cp::mask_of(*fc1, "weight")), w = vals(fc1->param("weight"));
  int64_t bad = 0;
  for (size_t i = 0; i < mk.size(); ++i) bad += mk[i] == 0.f && w[i] != 0.f;
  CHECK(bad == 0);
}

TEST_CASE("nested Sequential and errors; a failed call leaves the model unchanged") {
  auto block = nn::Sequential::named({{"conv", nn::make<nn::Conv2d>(1, 8, 3)},
                                      {"relu", nn::make<nn::ReLU>()},
                                      {"pool", nn::make<nn::MaxPool2d>(2)},
                                      {"conv_b", nn::make<nn::Conv2d>(8, 4, 3)}});
  auto net = nn::Sequential::named({{"block", block}, {"flatten", nn::make<nn::Flatten>()},
                                    {"fc", nn::make<nn::Linear>(4 * 2 * 2, 3)}});
  const Tensor x = input(12, 2, 10);
  auto r = cp::prune_conv_filters(*net, "block.conv", Amount::count(3));
  CHECK(r.shrunk == std::vector<std::string>{"block.conv", "block.conv_b"});
  CHECK(net->forward(x).shape() == Shape{2, 3});
  // block.conv_b is the last layer of its block: its consumer is out of reach.
  CHECK(contains(error_of([&] { cp::prune_conv_filters(*net, "block.conv_b", Amount::count(1)); }),
            "no Conv2d or Linear after it"));

  auto m = cnn(13, false);
  CHECK(contains(error_of([&] { cp::prune_conv_filters(*m, "conv9", Amount::count(1)); }),
            "no layer \"conv9\" (the Sequential has: conv1, relu1, conv2"));
  CHECK(contains(error_of([&] { cp::prune_conv_filters(*m, "fc1", Amount::count(1)); }), "is not a Conv2d"));
  CHECK(contains(error_of([&] { cp::prune_conv_filters(*m, "conv2", Amount::fraction(1.0)); }),
            "removing 64 of 64 filters would leave none"));
  CHECK(contains(error_of([&] { cp::prune_conv_filters(*m, "conv2", Amount::count(65)); }), "[0, 64] (filters)"));
  CHECK(contains(error_of([&] { cp::prune_linear_neurons(*m, "fc2", Amount::count(1)); }),
            "no Conv2d or Linear after it"));
  CHECK(contains(error_of([&] { cp::remove_conv_filters(*m, "conv2", {3, 3}); }), "filter 3 is listed twice"));
  CHECK(contains(error_of([&] { cp::remove_conv_filters(*m, "conv2", {64}); }), "filter index 64 is outside [0, 64)"));
  // A consumer that cannot take the change: nothing is modified.
  auto odd = nn::Sequential::named({{"conv", nn::make<nn::Conv2d>(1, 4, 3)},
                                    {"bn", nn::make<nn::BatchNorm1d>(4)},
                                    {"fc", nn::make<nn::Linear>(4, 2)}});
  CHECK(contains(error_of([&] { cp::prune_conv_filters(*odd, "conv", Amount::count(1)); }),
            "cannot pass the removed channels through BatchNorm1d bn"));
  CHECK(std::dynamic_pointer_cast<nn::Conv2d>(odd->get_submodule("conv"))->weight().shape() == Shape{4, 1, 3, 3});
  CHECK(m->get_submodule("conv2")->parameter("weight").shape() == Shape{64, 32, 3, 3});
}

TEST_CASE("report: parameters, nonzeros, MACs and bytes per layer and in total") {
  auto net = cnn(21, true);
  net->train();
  const auto rm = vals(net->get_submodule("bn2")->buffer("running_mean"));
  auto rep = cp::report(*net, {1, 1, 28, 28});
  CHECK(net->is_training());  // restored
  CHECK(vals(net->get_submodule("bn2")->buffer("running_mean")) == rm);  // eval mode: stats untouched
  std::vector<std::string> names;
  for (auto& l : rep.layers) names.push_back(l.name);
  CHECK(names == std::vector<std::string>{"conv1", "bn1", "conv2", "bn2", "fc1", "fc2"});
  CHECK(rep.layer("conv1").params == 32 * 9 + 32);
  CHECK(rep.layer("conv1").macs == 32 * 26 * 26 * 9);
  CHECK(rep.layer("conv2").params == 64 * 32 * 9 + 64);
  CHECK(rep.layer("conv2").macs == 64LL * 24 * 24 * 32 * 9);
  CHECK(rep.layer("fc1").macs == 2304 * 100);
  CHECK(rep.layer("fc2").macs == 1000);
  CHECK(rep.layer("bn2").params == 128);
  CHECK(rep.layer("bn2").macs == 0);
  CHECK(rep.total.params == 250326 + 2 * 64 + 2 * 32);
  CHECK(rep.total.dense_bytes == 4 * rep.total.params);
  CHECK(rep.layer("conv2").type == "Conv2d");
  CHECK(rep.total.macs == 32 * 26 * 26 * 9 + 64LL * 24 * 24 * 32 * 9 + 2304 * 100 + 1000);
  CHECK(rep.layer("conv2").nonzero_macs == rep.layer("conv2").macs);  // random init: no zeros

  cp::global_unstructured(cp::prunable_weights(*net), Amount::fraction(0.9));
  auto pr = cp::report(*net, {1, 1, 28, 28});
  CHECK(pr.total.params == rep.total.params);  // masks are not parameters
  CHECK(pr.layer("conv2").macs == rep.layer("conv2").macs);  // dense kernels: same MACs
  int64_t nz = 0;
  for (float v : vals(net->get_submodule("conv2")->param("weight"))) nz += v != 0.f;
  CHECK(pr.layer("conv2").nonzero_macs == nz * 24 * 24);
  CHECK(pr.layer("conv2").nonzeros == nz + 64);
  const auto& fc1 = pr.layer("fc1");
  CHECK(fc1.sparsity() > 0.9);
  CHECK(fc1.sparse_bytes < fc1.dense_bytes / 6);
  CHECK(pr.layer("bn1").sparse_bytes > pr.layer("bn1").dense_bytes);  // dense + record header
  const std::string table = pr.to_string();
  CHECK(contains(table, "conv2"));
  CHECK(contains(table, "total"));
  CHECK(contains(table, "sparsity"));
  MESSAGE("\n" << table);

  // Structured: half of conv2's filters -> half of conv2's and fc1's MACs.
  auto dense = cnn(22, false);
  auto before = cp::report(*dense, {1, 1, 28, 28});
  cp::prune_conv_filters(*dense, "conv2", Amount::fraction(0.5));
  auto after = cp::report(*dense, {1, 1, 28, 28});
  CHECK(after.layer("conv2").macs * 2 == before.layer("conv2").macs);
  CHECK(after.layer("fc1").macs * 2 == before.layer("fc1").macs);
  CHECK(after.total.params < before.total.params);
  CHECK(contains(error_of([&] { cp::report(*dense, {}); }), "batch size"));
}
