// Weight sharing (compress/weight_sharing.h): k-means with linear initialisation,
// the codebook parametrization and its centroid gradient, training with fit,
// int8 as the other value coding.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "compress/prune.h"
#include "compress/weight_sharing.h"
#include "core/ops.h"
#include "core/random.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "nn/linear.h"
#include "nn/optim.h"
#include "nn/trainer.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;
namespace cp = minidl::compress;

TEST_CASE("kmeans_linear: linear initialisation, then Lloyd to a fixed point (worked by hand)") {
  // k = 4 over [0, 2]: initial centroids 0, 2/3, 4/3, 2. Step 1 assigns {0, .1, .2} → 0,
  // 1.0 → 1 (equidistant from 2/3 and 4/3: the lower), 1.1 → 2, 2.0 → 3; the means
  // are 0.1, 1.0, 1.1, 2.0, and step 2 changes no assignment.
  const cp::KMeansResult r = cp::kmeans_linear({0.f, 0.1f, 0.2f, 1.0f, 1.1f, 2.0f}, 4);
  REQUIRE(r.centroids.size() == 4);
  CHECK(r.centroids[0] == doctest::Approx(0.1));
  CHECK(r.centroids[1] == 1.0f);
  CHECK(r.centroids[2] == 1.1f);
  CHECK(r.centroids[3] == 2.0f);
  CHECK(r.assignments == std::vector<int64_t>{0, 0, 0, 1, 2, 3});
  CHECK(r.iterations == 2);
  // One iteration only: the centroids are still the linear ones' means after one step.
  const cp::KMeansResult one = cp::kmeans_linear({0.f, 0.1f, 0.2f, 1.0f, 1.1f, 2.0f}, 4, 1);
  CHECK(one.iterations == 1);
}

TEST_CASE("kmeans_linear: at convergence every value is nearest its centroid, each centroid is its cluster's mean") {
  Generator g(5);
  const Tensor t = Tensor::normal({3000}, 0.f, 0.05f, g);
  const std::vector<float> v = t.to_vector<float>();
  const cp::KMeansResult r = cp::kmeans_linear(v, 16);
  CHECK(r.iterations < 300);
  std::vector<double> sum(16);
  std::vector<int64_t> n(16);
  for (size_t i = 0; i < v.size(); ++i) {
    const int64_t a = r.assignments[i];
    for (int j = 0; j < 16; ++j) CHECK(std::abs(v[i] - r.centroids[size_t(a)]) <= std::abs(v[i] - r.centroids[size_t(j)]));
    sum[size_t(a)] += v[i], ++n[size_t(a)];
  }
  for (int j = 0; j < 16; ++j)
    if (n[size_t(j)]) CHECK(r.centroids[size_t(j)] == doctest::Approx(sum[size_t(j)] / double(n[size_t(j)])).epsilon(1e-6));
  CHECK(cp::kmeans_linear(v, 16).centroids == r.centroids);  // deterministic
}

TEST_CASE("share_weights: pruned weights get no centroid and stay exactly +0; the rest take codebook values") {
  Generator g(1);
  nn::Linear fc(40, 8, true, g);
  cp::l1_unstructured(fc, "weight", cp::Amount::fraction(0.75));
  auto ws = cp::share_weights(fc, "weight", 3);
  CHECK(ws->bits() == 3);
  CHECK(!cp::is_pruned(fc, "weight"));  // the mask was baked in first
  const Tensor w = fc.param("weight");
  const Tensor a = ws->assignments();
  const std::vector<float> c = ws->centroids().to_vector<float>();
  int64_t zeros = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t k = a.data<int64_t>()[i];
    if (k < 0) {
      CHECK(std::signbit(w.data<float>()[i]) == false);
      CHECK(w.data<float>()[i] == 0.f);
      ++zeros;
    } else {
      CHECK(w.data<float>()[i] == c[size_t(k)]);
    }
  }
  CHECK(zeros == 240);
  CHECK(contains(error_of([&] { cp::share_weights(fc, "weight", 4); }), "already has a parametrization"));
}

TEST_CASE("codebook size outside 2..8 bits: an error naming the layer") {
  Generator g(1);
  nn::Linear fc(4, 2, true, g);
  for (int b : {1, 9, 0}) {
    const std::string e = error_of([&] { cp::share_weights(fc, "weight", b); });
    CHECK(contains(e, "2..8 bits"));
    CHECK(contains(e, "Linear"));
  }
  CHECK(!fc.is_parametrized("weight"));
}

TEST_CASE("the gradient of a centroid is the sum of its weights' gradients (Deep Compression eq. 3)") {
  Generator g(2);
  nn::Linear fc(6, 3, false, g);
  cp::l1_unstructured(fc, "weight", cp::Amount::fraction(0.3));
  auto ws = cp::share_weights(fc, "weight", 2);
  const Tensor x = Tensor::normal({5, 6}, 0.f, 1.f, g);
  sum(mul(fc(x), fc(x)), {}).backward();
  // The same loss through a plain weight holding the same values.
  Tensor w = fc.param("weight").detach().clone().requires_grad_();
  const Tensor y = linear(x, w, Tensor());
  sum(mul(y, y), {}).backward();
  std::vector<double> expect(4);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const int64_t k = ws->assignments().data<int64_t>()[i];
    if (k >= 0) expect[size_t(k)] += w.grad().data<float>()[i];
  }
  const std::vector<float> got = ws->centroids().grad().to_vector<float>();
  for (int k = 0; k < 4; ++k) CHECK(got[size_t(k)] == doctest::Approx(expect[size_t(k)]).epsilon(1e-5));
  CHECK(!fc.parameter("weight_orig").grad().defined());  // the original is no longer trained
}

TEST_CASE("fit trains the centroids; assignments and pruned zeros stay fixed") {
  Generator g(3);
  const int64_t n = 64;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < n; ++i) labels.push_back(i % 3);
  auto data = std::make_shared<datasets::TensorDataset>(Tensor::normal({n, 10}, 0.f, 1.f, g), labels, 3);
  datasets::DataLoader loader(data, {.batch_size = 16});
  nn::Linear fc(10, 3, true, g);
  cp::l1_unstructured(fc, "weight", cp::Amount::fraction(0.5));
  auto ws = cp::share_weights(fc, "weight", 2);
  const Tensor a0 = ws->assignments().clone();
  const std::vector<float> c0 = ws->centroids().to_vector<float>();
  nn::SGD opt(fc.parameters(), nn::SGDOptions{.lr = 0.05f, .momentum = 0.9f});
  nn::fit(fc, opt, loader, {.epochs = 2});
  CHECK(ws->centroids().to_vector<float>() != c0);
  CHECK(ws->assignments().to_vector<int64_t>() == a0.to_vector<int64_t>());
  std::set<float> distinct;
  const Tensor w = fc.param("weight");
  for (int64_t i = 0; i < w.numel(); ++i) {
    if (a0.data<int64_t>()[i] < 0) CHECK(w.data<float>()[i] == 0.f);
    else distinct.insert(w.data<float>()[i]);
  }
  CHECK(distinct.size() <= 4);
}

TEST_CASE("int8: per-channel symmetric codes in [-127, 127], W = scale·q, pruned zeros stay zero") {
  Generator g(4);
  nn::Linear fc(20, 4, true, g);
  cp::l1_unstructured(fc, "weight", cp::Amount::fraction(0.5));
  const Tensor before = fc.param("weight").detach().clone();
  auto iw = cp::quantize_weight_int8(fc, "weight");
  const Tensor w = fc.param("weight");
  for (int64_t r = 0; r < 4; ++r) {
    int maxq = 0;
    const float s = iw->scale().data<float>()[r];
    for (int64_t c = 0; c < 20; ++c) {
      const int q = iw->codes().data<int8_t>()[r * 20 + c];
      maxq = std::max(maxq, std::abs(q));
      CHECK(w.data<float>()[r * 20 + c] == float(q) * s);
      CHECK(std::abs(w.data<float>()[r * 20 + c] - before.data<float>()[r * 20 + c]) <= s / 2 * (1 + 1e-6));
      if (before.data<float>()[r * 20 + c] == 0.f) CHECK(q == 0);
    }
    CHECK(maxq == 127);  // the largest |w| of each row maps to ±127
  }
}
