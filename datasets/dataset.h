// minidl/datasets/dataset.h — the Dataset interface, an in-memory dataset, and Subset.
//
// A Dataset is a random-access list of (item, label) pairs with a fixed item
// shape, e.g. {1, 28, 28} for Fashion-MNIST or {F} for F CSV features. Items
// are read as float32 values into a caller-owned buffer, so a DataLoader can
// collate a batch without any per-sample allocation. Datasets are immutable
// once built and are shared as std::shared_ptr<const Dataset>; all reads are
// const and safe to call from several threads.
//
//   auto train = std::make_shared<TensorDataset>(load_mnist(dir, true));
//   auto part  = std::make_shared<Subset>(train, std::vector<int64_t>{0, 5, 7});
//   part->labels();   // labels of examples 0, 5, 7 — no pixel is touched
//
// Index checks live in the non-virtual read()/label() (the "non-virtual
// interface" idiom), so every implementation reports an out-of-range index the
// same way; subclasses implement read_item()/label_item() for valid indices.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"

namespace minidl::datasets {

class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual int64_t size() const = 0;
  virtual Shape item_shape() const = 0;  // e.g. {1, 28, 28} (C, H, W) or {F}
  virtual int64_t num_classes() const = 0;
  // Class names in label order, when the source has them (CIFAR-10, image
  // folders, CSV with string labels); empty otherwise.
  virtual std::vector<std::string> class_names() const { return {}; }
  // Every label in index order. The default calls label(i) for each i;
  // implementations that hold labels in memory return them directly.
  virtual std::vector<int64_t> labels() const;

  // Writes numel(item_shape()) floats of item i to dst. Pixel sources give
  // raw pixel values 0..255 (scale them with the ScalePixels transform).
  void read(int64_t i, float* dst) const;
  // The factor that brings read()'s values into the range a model expects:
  // 1/255 for pixel sources (0..255 -> 0..1, torchvision's ToTensor), 1 for
  // features that already are numbers on their own scale (a CSV table).
  // The data set knows which it holds, so the training recipe asks it
  // (nn::make_transforms) instead of dividing everything by 255 — a table of
  // features in [0, 1] divided by 255 trains at chance.
  virtual float input_scale() const { return 1.f; }
  int64_t label(int64_t i) const;  // in [0, num_classes())

  int64_t item_numel() const { return numel_of(item_shape()); }
  // A short description for messages, e.g. "TensorDataset(60000 x [1, 28, 28])".
  virtual std::string name() const = 0;

 protected:
  virtual void read_item(int64_t i, float* dst) const = 0;
  virtual int64_t label_item(int64_t i) const = 0;
  void check_index(int64_t i, const char* what) const;
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// All examples held in memory: `items` is a tensor [N, ...item_shape] of
// dtype UInt8 (pixels, stored compactly: Fashion-MNIST train is 47 MB) or
// Float32 (e.g. CSV features); read() converts to float. Labels must lie in
// [0, num_classes); num_classes < 0 means "max label + 1". input_scale
// defaults to 1/255 for UInt8 items (pixels) and 1 for Float32 ones; pass it
// for float pixels 0..255 (1/255.f) or any other unit.
class TensorDataset : public Dataset {
 public:
  TensorDataset(Tensor items, std::vector<int64_t> labels, int64_t num_classes = -1,
                std::vector<std::string> class_names = {}, std::optional<float> input_scale = std::nullopt);

  int64_t size() const override { return int64_t(labels_.size()); }
  Shape item_shape() const override { return item_shape_; }
  int64_t num_classes() const override { return num_classes_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  std::vector<int64_t> labels() const override { return labels_; }
  float input_scale() const override { return input_scale_; }
  std::string name() const override;

  const Tensor& items() const { return items_; }  // [N, ...item_shape], UInt8 or Float32

 protected:
  void read_item(int64_t i, float* dst) const override;
  int64_t label_item(int64_t i) const override { return labels_[size_t(i)]; }

 private:
  Tensor items_;
  Shape item_shape_;
  int64_t item_numel_ = 0;
  std::vector<int64_t> labels_;
  int64_t num_classes_ = 0;
  std::vector<std::string> class_names_;
  float input_scale_ = 1.f;
};

// A view of `base` through a list of indices (repeats allowed, any order).
// Holds only the index list, so building one per cross-validation fold is
// cheap; labels() reads only labels. Item shape, num_classes and class names
// are those of the base.
class Subset : public Dataset {
 public:
  Subset(DatasetPtr base, std::vector<int64_t> indices);

  int64_t size() const override { return int64_t(indices_.size()); }
  Shape item_shape() const override { return base_->item_shape(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  std::vector<std::string> class_names() const override { return base_->class_names(); }
  float input_scale() const override { return base_->input_scale(); }
  std::vector<int64_t> labels() const override;
  std::string name() const override;

  const DatasetPtr& base() const { return base_; }
  const std::vector<int64_t>& indices() const { return indices_; }

 protected:
  void read_item(int64_t i, float* dst) const override { base_->read(indices_[size_t(i)], dst); }
  int64_t label_item(int64_t i) const override { return base_->label(indices_[size_t(i)]); }

 private:
  DatasetPtr base_;
  std::vector<int64_t> indices_;
};

}  // namespace minidl::datasets
