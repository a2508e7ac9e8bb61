#include "datasets/loader.h"

#include <utility>

#include "core/random.h"

namespace minidl::datasets {

namespace {

// The seed of generator `stream` (0 = shuffle, 1 = transforms) of an epoch.
uint64_t epoch_seed(uint64_t seed, int64_t epoch, uint64_t stream) {
  return splitmix64(splitmix64(splitmix64(seed) ^ uint64_t(epoch)) ^ stream);
}

}  // namespace

DataLoader::DataLoader(DatasetPtr dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  MINIDL_CHECK(dataset_ != nullptr, "DataLoader: dataset is null");
  MINIDL_CHECK(options_.batch_size >= 1, "DataLoader: batch_size = ", options_.batch_size, ", expected >= 1");
  for (size_t k = 0; k < options_.transforms.size(); ++k)
    MINIDL_CHECK(options_.transforms[k] != nullptr, "DataLoader: transforms[", k, "] is null");
  item_shape_ = dataset_->item_shape();
  item_numel_ = numel_of(item_shape_);
}

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::set_epoch(int64_t epoch) {
  MINIDL_CHECK(epoch >= 0, "DataLoader::set_epoch: epoch = ", epoch, ", expected >= 0");
  epoch_ = epoch;
}

std::vector<int64_t> DataLoader::order(int64_t epoch) const {
  const int64_t n = dataset_->size();
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[size_t(i)] = i;
  if (options_.shuffle) {
    Generator gen(epoch_seed(options_.seed, epoch, 0));
    shuffle(idx, gen);  // Fisher–Yates
  }
  return idx;
}

DataLoader::Iterator DataLoader::begin() { return Iterator(this, epoch_++); }

DataLoader::Iterator::Iterator(const DataLoader* loader, int64_t epoch)
    : loader_(loader), order_(loader->order(epoch)), gen_(epoch_seed(loader->options_.seed, epoch, 1)) {
  load();
}

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  ++index_;
  load();
  return *this;
}

void DataLoader::Iterator::load() {
  if (index_ >= loader_->size()) {
    batch_ = Batch{};  // past the end: release the last batch
    return;
  }
  const Dataset& ds = *loader_->dataset_;
  const int64_t bs = loader_->options_.batch_size, start = index_ * bs;
  const int64_t count = std::min<int64_t>(bs, int64_t(order_.size()) - start);
  const int64_t numel = loader_->item_numel_;

  Shape shape{count};
  shape.insert(shape.end(), loader_->item_shape_.begin(), loader_->item_shape_.end());
  Tensor x = Tensor::empty(shape);
  Tensor y = Tensor::empty({count}, DType::Int64);
  float* xp = x.data<float>();
  int64_t* yp = y.data<int64_t>();
  for (int64_t k = 0; k < count; ++k) {
    const int64_t i = order_[size_t(start + k)];
    ds.read(i, xp + k * numel);
    yp[k] = ds.label(i);
  }
  for (const TransformPtr& t : loader_->options_.transforms) t->apply(x, gen_);
  const auto first = order_.begin() + std::ptrdiff_t(start);
  batch_ = Batch{std::move(x), std::move(y), std::vector<int64_t>(first, first + std::ptrdiff_t(count))};
}

}  // namespace minidl::datasets
