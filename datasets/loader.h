// minidl/datasets/loader.h — batches of a Dataset, optionally shuffled and augmented.
//
//   DataLoader loader(train, {.batch_size = 128, .shuffle = true, .seed = 1,
//                             .transforms = {std::make_shared<ScalePixels>()}});
//   for (int e = 0; e < epochs; ++e) {
//     loader.set_epoch(e);                    // optional: passes count epochs anyway
//     for (const Batch& b : loader) train_step(b.x, b.y);   // x [B,1,28,28], y [B] int64
//   }
//
// Order. Without shuffling, every epoch visits 0, 1, ..., n-1 (PyTorch's
// SequentialSampler). With shuffling, epoch e visits a permutation drawn by
// Fisher–Yates with minidl::Generator::randint from a generator seeded with a
// hash of (seed, e): a pure function of (seed, e), the same on every platform,
// different between epochs and seeds. Each begin() starts a pass over epoch
// epoch() and then advances epoch() by one, so plain repeated loops see new
// orders; set_epoch(e) chooses the epoch of the next pass (e.g. when resuming).
// Transforms draw from a second generator seeded with a hash of (seed, e), so
// augmentations are reproducible too.
//
// Batches. x is float32 [B, ...item_shape] (NCHW images, [B, F] features), y
// is int64 [B]. The last batch is smaller when n is not a multiple of the batch
// size, or dropped with drop_last (PyTorch's semantics). Items are read
// straight into the batch tensor: no allocation per sample.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"

namespace minidl::datasets {

struct Batch {
  Tensor x;  // float32 [B, ...item_shape] after the transforms
  Tensor y;  // int64 [B]
  std::vector<int64_t> index;  // the dataset index of each row (per-sample lookups, e.g. precomputed teacher logits)
};

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = false;
  uint64_t seed = 0;
  bool drop_last = false;
  std::vector<TransformPtr> transforms{};  // applied in order to each collated batch
};

class DataLoader {
 public:
  DataLoader(DatasetPtr dataset, DataLoaderOptions options = {});

  int64_t size() const;  // batches per epoch
  const DatasetPtr& dataset() const { return dataset_; }
  const DataLoaderOptions& options() const { return options_; }

  void set_epoch(int64_t epoch);                  // the epoch of the next pass
  int64_t epoch() const { return epoch_; }
  std::vector<int64_t> order(int64_t epoch) const;  // sample indices of that epoch, in visiting order

  struct End {};
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;

    const Batch& operator*() const { return batch_; }
    const Batch* operator->() const { return &batch_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(End) const { return index_ >= loader_->size(); }
    int64_t index() const { return index_; }  // number of the current batch in the epoch

   private:
    friend class DataLoader;
    Iterator(const DataLoader* loader, int64_t epoch);
    void load();

    const DataLoader* loader_;
    std::vector<int64_t> order_;
    Generator gen_;  // for the transforms
    int64_t index_ = 0;
    Batch batch_;
  };

  Iterator begin();  // a pass over epoch(); advances epoch() by one
  End end() const { return {}; }

 private:
  DatasetPtr dataset_;
  DataLoaderOptions options_;
  Shape item_shape_;
  int64_t item_numel_ = 0;
  int64_t epoch_ = 0;
};

}  // namespace minidl::datasets
