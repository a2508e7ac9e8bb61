#include "datasets/transforms.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace minidl::datasets {

namespace {

std::string list(const std::vector<float>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str() + "]";
}

void check_float(const Tensor& batch, int64_t min_dim, int64_t max_dim, const std::string& who) {
  MINIDL_CHECK(batch.defined() && batch.dtype() == DType::Float32, who, ": expected a float32 batch, got ",
               batch.defined() ? dtype_name(batch.dtype()) : "an undefined tensor");
  MINIDL_CHECK(batch.dim() >= min_dim && batch.dim() <= max_dim, who, ": expected a batch ",
               min_dim == 4 ? "[B, C, H, W]" : "[B, C, ...]", ", got shape ", to_string(batch.shape()));
}

}  // namespace

// ---- ScalePixels

void ScalePixels::apply(Tensor& batch, Generator&) const {
  check_float(batch, 1, 64, name());
  float* p = batch.data<float>();
  for (int64_t i = 0, n = batch.numel(); i < n; ++i) p[i] *= scale_;
}

std::string ScalePixels::name() const { return "ScalePixels(" + std::to_string(scale_) + ")"; }

// ---- Normalize

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)), std_(std::move(std)) {
  MINIDL_CHECK(!mean_.empty() && mean_.size() == std_.size(), "Normalize: ", mean_.size(), " means and ",
               std_.size(), " stds, expected one of each per channel");
  for (size_t c = 0; c < std_.size(); ++c)
    MINIDL_CHECK(std_[c] > 0 && std::isfinite(std_[c]) && std::isfinite(mean_[c]), "Normalize: channel ", c,
                 " has mean ", mean_[c], " and std ", std_[c], ", expected finite values and std > 0");
}

void Normalize::apply(Tensor& batch, Generator&) const {
  check_float(batch, 2, 64, name());
  const int64_t b = batch.size(0), c = batch.size(1);
  MINIDL_CHECK(c == int64_t(mean_.size()), name(), ": batch has ", c, " channels (shape ", to_string(batch.shape()),
               "), expected ", mean_.size());
  const int64_t inner = (b > 0 && c > 0) ? batch.numel() / (b * c) : 0;
  float* p = batch.data<float>();
  for (int64_t i = 0; i < b; ++i)
    for (int64_t ch = 0; ch < c; ++ch) {
      float* q = p + (i * c + ch) * inner;
      const float m = mean_[size_t(ch)], s = std_[size_t(ch)];
      for (int64_t k = 0; k < inner; ++k) q[k] = (q[k] - m) / s;  // as torch: sub, then div
    }
}

std::string Normalize::name() const { return "Normalize(mean=" + list(mean_) + ", std=" + list(std_) + ")"; }

// ---- RandomCrop

RandomCrop::RandomCrop(int64_t height, int64_t width, int64_t padding)
    : height_(height), width_(width), padding_(padding) {
  MINIDL_CHECK(height >= 1 && width >= 1 && padding >= 0, "RandomCrop: size ", height, "x", width, ", padding ",
               padding, "; expected size >= 1 and padding >= 0");
}

void RandomCrop::apply(Tensor& batch, Generator& gen) const {
  check_float(batch, 4, 4, name());
  const int64_t b = batch.size(0), c = batch.size(1), h = batch.size(2), w = batch.size(3), p = padding_;
  MINIDL_CHECK(height_ <= h + 2 * p && width_ <= w + 2 * p, name(), ": crop ", height_, "x", width_,
               " is larger than the padded image ", h + 2 * p, "x", w + 2 * p);
  Tensor out = Tensor::zeros({b, c, height_, width_});
  const float* src = batch.data<float>();
  float* dst = out.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    // Window origin in padded coordinates; padded pixel (y, x) is source (y - p, x - p).
    const int64_t top = int64_t(gen.randint(uint64_t(h + 2 * p - height_ + 1)));
    const int64_t left = int64_t(gen.randint(uint64_t(w + 2 * p - width_ + 1)));
    // Output columns [x0, x1) and rows [y0, y1) that land inside the source image.
    const int64_t x0 = std::max<int64_t>(0, p - left), x1 = std::min(width_, w + p - left);
    const int64_t y0 = std::max<int64_t>(0, p - top), y1 = std::min(height_, h + p - top);
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* s = src + (i * c + ch) * h * w;
      float* d = dst + (i * c + ch) * height_ * width_;
      for (int64_t y = y0; y < y1; ++y)
        std::copy(s + (y + top - p) * w + (x0 + left - p), s + (y + top - p) * w + (x1 + left - p),
                  d + y * width_ + x0);
    }
  }
  batch = out;
}

std::string RandomCrop::name() const {
  return "RandomCrop(" + std::to_string(height_) + "x" + std::to_string(width_) +
         ", padding=" + std::to_string(padding_) + ")";
}

// ---- RandomHorizontalFlip

RandomHorizontalFlip::RandomHorizontalFlip(float p) : p_(p) {
  MINIDL_CHECK(p >= 0.f && p <= 1.f, "RandomHorizontalFlip: p = ", p, ", expected in [0, 1]");
}

void RandomHorizontalFlip::apply(Tensor& batch, Generator& gen) const {
  check_float(batch, 4, 4, name());
  const int64_t b = batch.size(0), rows = batch.size(1) * batch.size(2), w = batch.size(3);
  float* p = batch.data<float>();
  for (int64_t i = 0; i < b; ++i) {
    if (!(gen.uniform01() < p_)) continue;
    for (int64_t r = 0; r < rows; ++r) std::reverse(p + (i * rows + r) * w, p + (i * rows + r + 1) * w);
  }
}

std::string RandomHorizontalFlip::name() const { return "RandomHorizontalFlip(p=" + std::to_string(p_) + ")"; }

// ---- Compose

Compose::Compose(std::vector<TransformPtr> transforms) : transforms_(std::move(transforms)) {
  for (size_t k = 0; k < transforms_.size(); ++k)
    MINIDL_CHECK(transforms_[k] != nullptr, "Compose: transform ", k, " is null");
}

void Compose::apply(Tensor& batch, Generator& gen) const {
  for (const TransformPtr& t : transforms_) t->apply(batch, gen);
}

std::string Compose::name() const {
  std::string r = "Compose(";
  for (size_t k = 0; k < transforms_.size(); ++k) r += (k ? ", " : "") + transforms_[k]->name();
  return r + ")";
}

// ---- channel_stats

ChannelStats channel_stats(const Dataset& ds, float scale) {
  const int64_t n = ds.size();
  const Shape shape = ds.item_shape();
  MINIDL_CHECK(n > 0, "channel_stats: ", ds.name(), " is empty");
  MINIDL_CHECK(!shape.empty() && shape[0] > 0, "channel_stats: ", ds.name(), " has items of shape ", to_string(shape),
               ", expected [C, ...]");
  const int64_t c = shape[0], numel = numel_of(shape), inner = numel / c;
  MINIDL_CHECK(inner > 0, "channel_stats: ", ds.name(), " has empty items of shape ", to_string(shape));
  std::vector<float> item(static_cast<size_t>(numel));
  std::vector<double> shift(static_cast<size_t>(c)), sum(shift.size(), 0.0), sumsq(shift.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    ds.read(i, item.data());
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* q = item.data() + ch * inner;
      if (i == 0) {
        double m = 0;
        for (int64_t k = 0; k < inner; ++k) m += double(q[k]) * scale;
        shift[size_t(ch)] = m / double(inner);
      }
      double s = 0, s2 = 0;
      for (int64_t k = 0; k < inner; ++k) {
        const double v = double(q[k]) * scale - shift[size_t(ch)];
        s += v;
        s2 += v * v;
      }
      sum[size_t(ch)] += s;
      sumsq[size_t(ch)] += s2;
    }
  }
  ChannelStats r;
  const double count = double(n) * double(inner);
  for (int64_t ch = 0; ch < c; ++ch) {
    const double m = sum[size_t(ch)] / count;
    r.mean.push_back(float(shift[size_t(ch)] + m));
    r.std.push_back(float(std::sqrt(std::max(0.0, sumsq[size_t(ch)] / count - m * m))));
  }
  return r;
}

}  // namespace minidl::datasets
