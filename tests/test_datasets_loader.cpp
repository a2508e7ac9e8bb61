// Tests for Dataset/TensorDataset/Subset (datasets/dataset.h), the DataLoader
// (datasets/loader.h: batching, seeded shuffling) and the batch transforms
// (datasets/transforms.h, channel_stats).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "datasets_util.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::datasets;
using namespace minidl::test;

namespace {

// A dataset of n scalar items [1] whose value is its index; label = index % k.
std::shared_ptr<TensorDataset> counting(int64_t n, int64_t k = 3) {
  std::vector<float> v;
  Idx labels;
  for (int64_t i = 0; i < n; ++i) v.push_back(float(i)), labels.push_back(i % k);
  return std::make_shared<TensorDataset>(Tensor::from_vector(v, {n, 1}), labels, k);
}

Idx visit_order(DataLoader& loader) {
  Idx seen;
  for (const Batch& b : loader)
    for (float v : b.x.to_vector<float>()) seen.push_back(int64_t(v));
  return seen;
}

}  // namespace

// ---------------------------------------------------------------- Dataset, Subset

namespace {
// Labels without pixels: read_item fails, so a test passes only if nothing reads items.
class LabelsOnly : public Dataset {
 public:
  int64_t size() const override { return 6; }
  Shape item_shape() const override { return {1, 2, 2}; }
  int64_t num_classes() const override { return 3; }
  std::string name() const override { return "LabelsOnly"; }

 protected:
  void read_item(int64_t, float*) const override { FAIL("pixels were read"); }
  int64_t label_item(int64_t i) const override { return (i * 2) % 3; }
};
}  // namespace

TEST_CASE("Subset is an index list: labels without pixels, nesting, checks") {
  auto base = std::make_shared<LabelsOnly>();
  CHECK(base->labels() == Idx{0, 2, 1, 0, 2, 1});
  auto sub = std::make_shared<Subset>(base, Idx{5, 0, 0, 3});
  CHECK(sub->size() == 4);
  CHECK(sub->labels() == Idx{1, 0, 0, 0});
  CHECK(sub->label(0) == 1);
  CHECK(sub->num_classes() == 3);
  CHECK(sub->item_shape() == Shape{1, 2, 2});
  Subset nested(sub, {0, 3});
  CHECK(nested.labels() == Idx{1, 0});
  CHECK(contains(error_of([&] { Subset(base, {0, 6}); }), "Subset: indices[1] = 6 out of range [0, 6) of LabelsOnly"));
  CHECK(error_of([&] { sub->label(4); }) == "Subset(4 of LabelsOnly): label(4): index out of range [0, 4)");

  auto ds = counting(5);
  Subset s(ds, {4, 1});
  CHECK(item(s, 0) == std::vector<float>{4.f});
  CHECK(contains(error_of([&] { item(*ds, -1); }), "read(-1): index out of range [0, 5)"));
  CHECK(contains(error_of([&] { TensorDataset(Tensor::zeros({2, 1}), {0, 3}, 3); }), "label 3 out of range [0, 3)"));
  CHECK(contains(error_of([&] { TensorDataset(Tensor::zeros({2, 1}), {0}); }), "2 items"));
}

// ---------------------------------------------------------------- DataLoader

TEST_CASE("DataLoader batches in order, with a partial or dropped last batch") {
  auto ds = counting(10);
  DataLoader loader(ds, {.batch_size = 4});
  CHECK(loader.size() == 3);
  std::vector<int64_t> sizes;
  Idx labels;
  for (const Batch& b : loader) {
    CHECK(b.x.dtype() == DType::Float32);
    CHECK(b.y.dtype() == DType::Int64);
    CHECK(b.x.shape() == Shape{b.y.size(0), 1});
    sizes.push_back(b.x.size(0));
    for (int64_t y : b.y.to_vector<int64_t>()) labels.push_back(y);
  }
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK(labels == Idx{0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  CHECK(visit_order(loader) == Idx{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  DataLoader dropping(ds, {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(visit_order(dropping) == Idx{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(DataLoader(ds, {.batch_size = 5, .drop_last = true}).size() == 2);
  CHECK(DataLoader(ds, {.batch_size = 11, .drop_last = true}).size() == 0);
  DataLoader whole(ds, {.batch_size = 11});
  CHECK(whole.size() == 1);
  CHECK(visit_order(whole).size() == 10);

  // NCHW collation of images.
  TempDir d;
  make_mnist(d, false);
  DataLoader images(std::make_shared<TensorDataset>(load_mnist(d.path.string(), true)), {.batch_size = 5});
  auto it = images.begin();
  CHECK(it->x.shape() == Shape{5, 1, 3, 4});
  CHECK(it->x.to_vector<float>()[12] == 7.f);  // image 1, pixel 0

  CHECK(contains(error_of([&] { DataLoader(ds, {.batch_size = 0}); }), "batch_size = 0"));
  CHECK(contains(error_of([&] { DataLoader(nullptr); }), "dataset is null"));
}

TEST_CASE("DataLoader shuffling is a seeded function of (seed, epoch)") {
  auto ds = counting(50);
  DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 7});
  DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 7});
  DataLoader c(ds, {.batch_size = 8, .shuffle = true, .seed = 8});

  Idx a0 = visit_order(a), a1 = visit_order(a), b0 = visit_order(b), c0 = visit_order(c);
  CHECK(a0 == b0);  // same seed, same epoch
  CHECK(a0 != a1);  // each pass is a new epoch
  CHECK(a0 != c0);  // different seed
  for (const Idx& o : {a0, a1, c0}) {  // a permutation: every index exactly once
    Idx sorted = o;
    std::sort(sorted.begin(), sorted.end());
    Idx expect(50);
    for (int64_t i = 0; i < 50; ++i) expect[size_t(i)] = i;
    CHECK(sorted == expect);
  }
  CHECK(a0 == a.order(0));
  CHECK(a1 == a.order(1));
  CHECK(a.epoch() == 2);
  b.set_epoch(1);
  CHECK(visit_order(b) == a1);  // resuming at epoch 1
  CHECK(b.epoch() == 2);

  // Fisher–Yates from the back with Generator::randint — spelled out here.
  Idx expect(50);
  for (int64_t i = 0; i < 50; ++i) expect[size_t(i)] = i;
  DataLoader unshuffled(ds, {.batch_size = 8});
  CHECK(unshuffled.order(3) == expect);
  std::set<Idx> distinct;
  for (int64_t e = 0; e < 10; ++e) distinct.insert(a.order(e));
  CHECK(distinct.size() == 10);
}

// ---------------------------------------------------------------- transforms

TEST_CASE("ScalePixels and Normalize") {
  Generator gen(0);
  Tensor x = Tensor::from_vector(std::vector<float>{0, 255, 51, 102, 10, 20, 30, 40}, {2, 2, 2});  // [B=2, C=2, 2]
  ScalePixels().apply(x, gen);
  CHECK(x.to_vector<float>()[1] == doctest::Approx(1.0));
  CHECK(x.to_vector<float>()[2] == doctest::Approx(0.2));

  Tensor y = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 1, 2});
  Normalize({1.f, 2.f}, {2.f, 0.5f}).apply(y, gen);
  CHECK(y.to_vector<float>() == std::vector<float>{0.f, 0.5f, 2.f, 4.f, 2.f, 2.5f, 10.f, 12.f});
  Tensor features = Tensor::from_vector(std::vector<float>{1, 10, 3, 30}, {2, 2});  // [B, F]
  Normalize({2.f, 20.f}, {1.f, 10.f}).apply(features, gen);
  CHECK(features.to_vector<float>() == std::vector<float>{-1.f, -1.f, 1.f, 1.f});

  CHECK(contains(error_of([&] { Normalize({1.f}, {1.f}).apply(y, gen); }), "batch has 2 channels"));
  CHECK(contains(error_of([&] { Normalize({1.f}, {0.f}); }), "std > 0"));
  CHECK(contains(error_of([&] { Normalize({1.f, 2.f}, {1.f}); }), "2 means and 1 stds"));
}

TEST_CASE("RandomHorizontalFlip mirrors exactly; RandomCrop shifts content into zero padding") {
  Generator gen(3);
  Tensor x = Tensor::arange(24).reshape({2, 1, 3, 4});
  const std::vector<float> orig = x.to_vector<float>();
  Tensor flipped = x.clone();
  RandomHorizontalFlip(1.f).apply(flipped, gen);
  std::vector<float> f = flipped.to_vector<float>();
  for (int64_t i = 0; i < 24; ++i) CHECK(f[size_t(i)] == orig[size_t(i - i % 4 + (3 - i % 4))]);
  Tensor same = x.clone();
  RandomHorizontalFlip(0.f).apply(same, gen);
  CHECK(same.to_vector<float>() == orig);

  // Crop 3x4 with padding 2: replay the generator to know each window origin.
  const uint64_t seed = 11;
  Generator g(seed), replay(seed);
  Tensor c = x.clone();
  RandomCrop(3, 4, 2).apply(c, g);
  REQUIRE(c.shape() == Shape{2, 1, 3, 4});
  std::vector<float> got = c.to_vector<float>();
  bool shifted = false;
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t top = int64_t(replay.randint(3 + 4 - 3 + 1)), left = int64_t(replay.randint(4 + 4 - 4 + 1));
    shifted = shifted || top != 2 || left != 2;
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t xx = 0; xx < 4; ++xx) {
        const int64_t sy = y + top - 2, sx = xx + left - 2;
        const float expect = (sy >= 0 && sy < 3 && sx >= 0 && sx < 4) ? orig[size_t(i * 12 + sy * 4 + sx)] : 0.f;
        CHECK(got[size_t(i * 12 + y * 4 + xx)] == expect);
      }
  }
  CHECK(shifted);

  Tensor small = x.clone();
  RandomCrop(2, 2).apply(small, gen);
  CHECK(small.shape() == Shape{2, 1, 2, 2});
  Tensor whole = x.clone();
  RandomCrop(3, 4).apply(whole, gen);  // no padding, full size: the identity
  CHECK(whole.to_vector<float>() == orig);
  CHECK(contains(error_of([&] { Tensor t = x.clone(); RandomCrop(8, 8, 1).apply(t, gen); }), "larger than the padded image"));
  CHECK(contains(error_of([&] { Tensor t = Tensor::zeros({2, 3}); RandomCrop(1, 1).apply(t, gen); }), "[B, C, H, W]"));
}

TEST_CASE("channel_stats over a dataset or its training Subset; transforms in the loader are seeded") {
  // Two RGB-ish items [2, 1, 2]: channel 0 values {0, 2, 4, 6}, channel 1 values {10, 10, 30, 30}.
  auto ds = std::make_shared<TensorDataset>(
      Tensor::from_vector(std::vector<uint8_t>{0, 2, 10, 10, 4, 6, 30, 30}, {2, 2, 1, 2}), Idx{0, 1});
  ChannelStats s = channel_stats(*ds);
  CHECK(s.mean[0] == doctest::Approx(3.0));
  CHECK(s.std[0] == doctest::Approx(std::sqrt(5.0)));
  CHECK(s.mean[1] == doctest::Approx(20.0));
  CHECK(s.std[1] == doctest::Approx(10.0));
  ChannelStats first = channel_stats(Subset(ds, {0}), 0.5f);
  CHECK(first.mean[0] == doctest::Approx(0.5));
  CHECK(first.std[0] == doctest::Approx(0.5));
  CHECK(first.std[1] == doctest::Approx(0.0));

  auto images = std::make_shared<TensorDataset>(Tensor::arange(5 * 16).reshape({5, 1, 4, 4}), Idx{0, 1, 0, 1, 0});
  DataLoaderOptions opt{.batch_size = 2, .shuffle = true, .seed = 3};
  opt.transforms = {std::make_shared<ScalePixels>(), std::make_shared<Normalize>(channel_stats(*images, 1 / 255.f)),
                    std::make_shared<RandomCrop>(4, 4, 1), std::make_shared<RandomHorizontalFlip>()};
  DataLoader l1(images, opt), l2(images, opt);
  std::vector<float> e0, e0b, e1;
  for (const Batch& b : l1) for (float v : b.x.to_vector<float>()) e0.push_back(v);
  for (const Batch& b : l1) for (float v : b.x.to_vector<float>()) e1.push_back(v);
  for (const Batch& b : l2) for (float v : b.x.to_vector<float>()) e0b.push_back(v);
  CHECK(e0.size() == 5 * 16);
  CHECK(e0 == e0b);
  CHECK(e0 != e1);
}
