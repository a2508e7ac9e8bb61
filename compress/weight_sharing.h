// minidl/compress/weight_sharing.h — trained weight sharing, the second stage of
// Deep Compression (Han, Mao & Dally 2016, §3), and int8 as the other value coding.
//
// Weight sharing. The surviving (unpruned) weights of a layer are clustered
// into k = 2^b values by k-means (§3.1); each weight then stores only a b-bit
// index into the layer's codebook. As in the paper:
//   - linear initialisation (§3.2, found best because it keeps the few large
//     weights, which matter most, as centroids): c_j = min + (max − min)·j/(k − 1);
//   - Lloyd iterations to convergence (each weight to its nearest centroid,
//     ties to the lower one; each centroid to the mean of its weights; a
//     centroid left without weights keeps its value), deterministic;
//   - fine-tuning (§3.3): the assignments stay fixed and the centroids are
//     trained, the gradient of a centroid being the sum of its weights'
//     gradients: ∂L/∂c_k = Σ_{i: a_i = k} ∂L/∂W_i (eq. 3). That is the backward
//     of core's take() op, so WeightSharing is a parametrization whose forward
//     is W = take(centroids, assignments) and nn::fit trains it like any layer.
// Pruned weights are not clustered: their assignment is −1 and take() gives
// exactly +0.0 for them, so they stay zero through fine-tuning.
//
// int8 (compress/qscheme.h: symmetric, per output channel, [−127, 127]):
// W = scale_c · q, fixed (not trained); pruned weights have q = 0.
//
//   compress::remove_all(*net);                              // bake the pruning masks
//   compress::share_weights(*fc1, "weight", 5);             // 32 centroids, k-means
//   compress::quantize_weight_int8(*conv1, "weight");
//   nn::fit(...);                                            // fine-tunes fc1's centroids
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"

namespace minidl::compress {

struct KMeansResult {
  std::vector<float> centroids;      // k values, ascending after initialisation (Lloyd keeps the order in 1-D)
  std::vector<int64_t> assignments;  // one per input value, in [0, k)
  int iterations = 0;                // Lloyd iterations until no assignment changed
};
// 1-D k-means with linear initialisation, at most max_iterations Lloyd steps.
KMeansResult kmeans_linear(const std::vector<float>& values, int k, int max_iterations = 300);

// The codebook parametrization: tag "codebook", so its keys in the owner are
// "<param>_codebook.centroids" (a trained parameter [k]) and
// "<param>_codebook.assignments" (an int64 buffer shaped like the weight, −1 where pruned).
class WeightSharing : public nn::Parametrization {
 public:
  WeightSharing(Tensor centroids, Tensor assignments);
  Tensor forward(const Tensor& previous) override;  // take(centroids, assignments); `previous` only gives the shape
  std::string type_name() const override { return "WeightSharing"; }
  std::string tag() const override { return "codebook"; }
  std::string extra_repr() const override;
  int bits() const;  // log2 of the codebook size
  Tensor& centroids() { return parameter("centroids"); }
  Tensor& assignments() { return buffer("assignments"); }
};

// int8 per-channel symmetric: buffers "codes" (int8, the weight's shape) and
// "scale" (float32 [out channels]); tag "int8".
class Int8Weight : public nn::Parametrization {
 public:
  Int8Weight(Tensor codes, Tensor scale);
  Tensor forward(const Tensor& previous) override;  // scale_c · q, no gradient
  std::string type_name() const override { return "Int8Weight"; }
  std::string tag() const override { return "int8"; }
  Tensor& codes() { return buffer("codes"); }
  Tensor& scale() { return buffer("scale"); }
};

// Bits of a codebook, checked: 2..8, else a minidl::Error naming `what`.
void check_codebook_bits(int bits, const std::string& what);

// Cluster layer.param's nonzero weights (a pruning mask, if any, is baked in
// first; zeros count as pruned) into 2^bits centroids and register a
// WeightSharing on it. The original stays in <param>_orig, no longer trained.
std::shared_ptr<WeightSharing> share_weights(nn::Module& layer, const std::string& param, int bits);
// The same with int8 per-channel symmetric codes (qscheme.h's formulas).
std::shared_ptr<Int8Weight> quantize_weight_int8(nn::Module& layer, const std::string& param);

}  // namespace minidl::compress
