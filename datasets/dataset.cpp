#include "datasets/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace minidl::datasets {

// ---- Dataset

void Dataset::check_index(int64_t i, const char* what) const {
  const int64_t n = size();
  MINIDL_CHECK(i >= 0 && i < n, name(), ": ", what, "(", i, "): index out of range [0, ", n, ")");
}

void Dataset::read(int64_t i, float* dst) const {
  check_index(i, "read");
  read_item(i, dst);
}

int64_t Dataset::label(int64_t i) const {
  check_index(i, "label");
  return label_item(i);
}

std::vector<int64_t> Dataset::labels() const {
  std::vector<int64_t> r(static_cast<size_t>(size()));
  for (int64_t i = 0; i < int64_t(r.size()); ++i) r[size_t(i)] = label_item(i);
  return r;
}

// ---- TensorDataset

TensorDataset::TensorDataset(Tensor items, std::vector<int64_t> labels, int64_t num_classes,
                             std::vector<std::string> class_names, std::optional<float> input_scale)
    : items_(std::move(items)), labels_(std::move(labels)), class_names_(std::move(class_names)) {
  MINIDL_CHECK(items_.defined() && items_.dim() >= 2,
               "TensorDataset: items must be a tensor [N, ...item_shape] with at least 2 dimensions, got ",
               items_.defined() ? to_string(items_.shape()) : std::string("an undefined tensor"));
  MINIDL_CHECK(items_.dtype() == DType::UInt8 || items_.dtype() == DType::Float32,
               "TensorDataset: items must be U8 or F32, got ", dtype_name(items_.dtype()));
  MINIDL_CHECK(items_.size(0) == int64_t(labels_.size()), "TensorDataset: ", items_.size(0),
               " items (shape ", to_string(items_.shape()), ") but ", labels_.size(), " labels");
  input_scale_ = input_scale.value_or(items_.dtype() == DType::UInt8 ? 1.f / 255.f : 1.f);
  MINIDL_CHECK(std::isfinite(input_scale_) && input_scale_ > 0.f, "TensorDataset: input_scale must be a positive number, got ",
               input_scale_);
  item_shape_.assign(items_.shape().begin() + 1, items_.shape().end());
  item_numel_ = numel_of(item_shape_);

  int64_t max_label = -1;
  for (size_t i = 0; i < labels_.size(); ++i) {
    MINIDL_CHECK(labels_[i] >= 0, "TensorDataset: label ", i, " is ", labels_[i], ", expected >= 0");
    max_label = std::max(max_label, labels_[i]);
  }
  num_classes_ = num_classes < 0 ? max_label + 1 : num_classes;
  MINIDL_CHECK(max_label < num_classes_, "TensorDataset: label ", max_label, " out of range [0, ",
               num_classes_, ") (num_classes = ", num_classes_, ")");
  MINIDL_CHECK(class_names_.empty() || int64_t(class_names_.size()) == num_classes_, "TensorDataset: ",
               class_names_.size(), " class names for ", num_classes_, " classes");
}

std::string TensorDataset::name() const {
  return "TensorDataset(" + std::to_string(size()) + " x " + to_string(item_shape_) + ")";
}

void TensorDataset::read_item(int64_t i, float* dst) const {
  const size_t n = size_t(item_numel_);
  if (items_.dtype() == DType::UInt8) {
    const uint8_t* src = items_.data<uint8_t>() + size_t(i) * n;
    for (size_t k = 0; k < n; ++k) dst[k] = float(src[k]);
  } else {
    std::memcpy(dst, items_.data<float>() + size_t(i) * n, n * sizeof(float));
  }
}

// ---- Subset

Subset::Subset(DatasetPtr base, std::vector<int64_t> indices)
    : base_(std::move(base)), indices_(std::move(indices)) {
  MINIDL_CHECK(base_ != nullptr, "Subset: base dataset is null");
  const int64_t n = base_->size();
  for (size_t k = 0; k < indices_.size(); ++k)
    MINIDL_CHECK(indices_[k] >= 0 && indices_[k] < n, "Subset: indices[", k, "] = ", indices_[k],
                 " out of range [0, ", n, ") of ", base_->name());
}

std::vector<int64_t> Subset::labels() const {
  const std::vector<int64_t> all = base_->labels();
  std::vector<int64_t> r(indices_.size());
  for (size_t k = 0; k < indices_.size(); ++k) r[k] = all[size_t(indices_[k])];
  return r;
}

std::string Subset::name() const {
  return "Subset(" + std::to_string(size()) + " of " + base_->name() + ")";
}

}  // namespace minidl::datasets
