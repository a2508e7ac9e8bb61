// minidl/compress/weight_sharing.cpp — see weight_sharing.h.
#include "compress/weight_sharing.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "compress/prune.h"
#include "compress/qscheme.h"
#include "core/ops.h"

namespace minidl::compress {

KMeansResult kmeans_linear(const std::vector<float>& values, int k, int max_iterations) {
  MINIDL_CHECK(k >= 1, "kmeans_linear: k must be >= 1, got ", k);
  KMeansResult r;
  r.assignments.assign(values.size(), 0);
  if (values.empty()) {
    r.centroids.assign(size_t(k), 0.f);
    return r;
  }
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  MINIDL_CHECK(std::isfinite(*lo) && std::isfinite(*hi), "kmeans_linear: values must be finite");
  r.centroids.resize(size_t(k));
  for (int j = 0; j < k; ++j)  // linear initialisation (Han et al. 2016, §3.2)
    r.centroids[size_t(j)] = k == 1 ? *lo : float(double(*lo) + (double(*hi) - double(*lo)) * j / (k - 1));
  std::vector<double> sum(static_cast<size_t>(k));
  std::vector<int64_t> count(static_cast<size_t>(k));
  for (r.iterations = 0; r.iterations < max_iterations;) {
    // Assignment: each value to its nearest centroid (ties to the lower index).
    bool changed = false;
    for (size_t i = 0; i < values.size(); ++i) {
      const double v = values[i];
      int64_t best = 0;
      double bd = std::abs(v - r.centroids[0]);
      for (int j = 1; j < k; ++j) {
        const double d = std::abs(v - r.centroids[size_t(j)]);
        if (d < bd) bd = d, best = j;
      }
      changed = changed || best != r.assignments[i] || r.iterations == 0;
      r.assignments[i] = best;
    }
    ++r.iterations;
    if (!changed) break;
    // Update: each centroid to the mean of its weights (sums in double, in order).
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (size_t i = 0; i < values.size(); ++i) {
      sum[size_t(r.assignments[i])] += values[i];
      ++count[size_t(r.assignments[i])];
    }
    for (int j = 0; j < k; ++j)
      if (count[size_t(j)] > 0) r.centroids[size_t(j)] = float(sum[size_t(j)] / double(count[size_t(j)]));
  }
  return r;
}

void check_codebook_bits(int bits, const std::string& what) {
  MINIDL_CHECK(bits >= 2 && bits <= 8, what, ": codebook size must be 2..8 bits (4..256 centroids), got ", bits, " bits");
}

WeightSharing::WeightSharing(Tensor centroids, Tensor assignments) {
  MINIDL_CHECK(centroids.defined() && centroids.dtype() == DType::Float32 && centroids.dim() == 1,
               "WeightSharing: centroids must be a float32 vector");
  MINIDL_CHECK(assignments.defined() && assignments.dtype() == DType::Int64, "WeightSharing: assignments must be int64");
  const int64_t k = centroids.numel();
  MINIDL_CHECK(k >= 4 && k <= 256 && (k & (k - 1)) == 0, "WeightSharing: ", k, " centroids; expected 2^b for b in 2..8");
  const int64_t* a = assignments.data<int64_t>();
  for (int64_t i = 0; i < assignments.numel(); ++i)
    MINIDL_CHECK(a[i] >= -1 && a[i] < k, "WeightSharing: assignment ", a[i], " at ", i, " outside [-1, ", k, ")");
  register_parameter("centroids", centroids);
  register_buffer("assignments", assignments);
}

Tensor WeightSharing::forward(const Tensor& previous) {
  const Tensor& a = buffer("assignments");
  MINIDL_CHECK(previous.shape() == a.shape(), label(), ": assignments have shape ", to_string(a.shape()),
               ", the weight ", to_string(previous.shape()));
  return take(parameter("centroids"), a);
}

int WeightSharing::bits() const {
  int64_t k = const_cast<WeightSharing*>(this)->parameter("centroids").numel();
  int b = 0;
  while ((int64_t(1) << b) < k) ++b;
  return b;
}

std::string WeightSharing::extra_repr() const {
  std::ostringstream os;
  os << "bits=" << bits();
  return os.str();
}

Int8Weight::Int8Weight(Tensor codes, Tensor scale) {
  MINIDL_CHECK(codes.defined() && codes.dtype() == DType::Int8 && codes.dim() >= 1, "Int8Weight: codes must be int8");
  MINIDL_CHECK(scale.defined() && scale.dtype() == DType::Float32 && scale.dim() == 1 && scale.numel() == codes.shape()[0],
               "Int8Weight: scale must be float32 [", codes.shape()[0], "]");
  register_buffer("codes", codes);
  register_buffer("scale", scale);
}

Tensor Int8Weight::forward(const Tensor& previous) {
  const Tensor& q = buffer("codes");
  MINIDL_CHECK(previous.shape() == q.shape(), label(), ": codes have shape ", to_string(q.shape()), ", the weight ",
               to_string(previous.shape()));
  Tensor w = Tensor::empty(q.shape());
  const int8_t* pq = q.data<int8_t>();
  const float* s = buffer("scale").data<float>();
  float* pw = w.data<float>();
  const int64_t rows = q.shape()[0], cols = rows ? q.numel() / rows : 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) pw[r * cols + c] = dequantize_value(pq[r * cols + c], s[r], 0);
  return w;
}

namespace {
// The weight to code: the mask baked in (pruned entries +0.0); the original
// is kept but no longer trained.
Tensor baked_weight(nn::Module& layer, const std::string& param, const char* what) {
  MINIDL_CHECK(layer.has_parameter(param) || layer.is_parametrized(param), what, ": ", layer.label(), " has no parameter ", param);
  if (is_pruned(layer, param)) remove(layer, param);
  MINIDL_CHECK(!layer.is_parametrized(param), what, ": ", layer.label(), ".", param,
               " already has a parametrization other than a pruning mask");
  Tensor& w = layer.parameter(param);
  MINIDL_CHECK(w.dtype() == DType::Float32 && w.dim() >= 1, what, ": ", layer.label(), ".", param, " must be float32");
  return w;
}
}  // namespace

std::shared_ptr<WeightSharing> share_weights(nn::Module& layer, const std::string& param, int bits) {
  check_codebook_bits(bits, "share_weights: " + layer.label() + "." + param);
  Tensor w = baked_weight(layer, param, "share_weights");
  const float* p = w.data<float>();
  std::vector<float> kept;
  for (int64_t i = 0; i < w.numel(); ++i)
    if (p[i] != 0.f) kept.push_back(p[i]);
  const KMeansResult km = kmeans_linear(kept, 1 << bits);
  Tensor a = Tensor::empty(w.shape(), DType::Int64);
  int64_t* pa = a.data<int64_t>();
  for (int64_t i = 0, j = 0; i < w.numel(); ++i) pa[i] = p[i] != 0.f ? km.assignments[size_t(j++)] : -1;
  auto ws = std::make_shared<WeightSharing>(Tensor::from_vector(km.centroids, {int64_t(km.centroids.size())}), a);
  ws->centroids().requires_grad_(true);
  layer.register_parametrization(param, ws);
  layer.parameter(param + "_orig").requires_grad_(false);
  return ws;
}

std::shared_ptr<Int8Weight> quantize_weight_int8(nn::Module& layer, const std::string& param) {
  Tensor w = baked_weight(layer, param, "quantize_weight_int8");
  const int64_t rows = w.shape()[0], cols = rows ? w.numel() / rows : 0;
  const float* p = w.data<float>();
  Tensor q = Tensor::zeros(w.shape(), DType::Int8), s = Tensor::empty({rows});
  for (int64_t r = 0; r < rows; ++r) {
    const auto [lo, hi] = std::minmax_element(p + r * cols, p + (r + 1) * cols);
    float scale;
    int32_t zp;
    calculate_qparams(cols ? *lo : 0.f, cols ? *hi : 0.f, QScheme::PerChannelSymmetric, kWeightRange, scale, zp);
    s.data<float>()[r] = scale;
    for (int64_t c = 0; c < cols; ++c) q.data<int8_t>()[r * cols + c] = int8_t(quantize_value(p[r * cols + c], scale, 0, kWeightRange));
  }
  auto iw = std::make_shared<Int8Weight>(q, s);
  layer.register_parametrization(param, iw);
  layer.parameter(param + "_orig").requires_grad_(false);
  return iw;
}

}  // namespace minidl::compress
