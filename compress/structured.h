// minidl/compress/structured.h — structured pruning: remove whole conv filters
// or linear neurons, physically shrinking the layer and what consumes it.
//
// Filters are ranked by the Ln norm (p = 1 or 2) of their weights,
//   ‖W[c]‖_p = (Σ_{i,kh,kw} |W[c, i, kh, kw]|^p)^{1/p},
// and the smallest are removed (Li et al. 2017, "Pruning Filters for
// Efficient ConvNets", use p = 1). Ties: the lower channel index goes first.
// The norm is taken of the weight the layer computes with (weight_orig ⊙ mask
// if it is also unstructured-pruned).
//
// Removing output channel c of a Conv2d shrinks, in the same Sequential:
//   - the conv itself: weight rows, bias, out_channels (and weight_orig /
//     weight_mask if pruned);
//   - a following BatchNorm2d: γ, β, running_mean, running_var, num_features;
//   - the consumer: the next Conv2d's input channels (weight[:, c]), or,
//     through Flatten, the next Linear's input columns [c·H·W, (c+1)·H·W)
//     (H·W = in_features / channels);
// passing through layers that act per channel (activations, Identity,
// Dropout, max/avg pooling). Removing neuron j of a Linear shrinks its rows
// and bias, a following BatchNorm1d, and the next Linear's column j.
//
// Equivalence: the shrunk model computes exactly what the original computes
// when the removed channels' activations entering the consumer are zero
// (e.g. conv filter and bias zeroed, and with BN also γ = β = 0 for those
// channels, before a ReLU). The result is a smaller dense model, with fewer
// parameters and MACs. Parameters are new tensors: build a new optimizer.
#pragma once

#include <string>
#include <vector>

#include "compress/prune.h"
#include "nn/sequential.h"

namespace minidl::compress {

struct StructuredPruneResult {
  std::string layer;                   // "conv2"
  std::vector<int64_t> removed, kept;  // channel indices of the original layer, ascending
  std::vector<std::string> shrunk;     // every layer changed, in order ("conv2", "bn2", "fc1")
};

// The Ln norm of each slice along dim 0 (each filter / neuron), in double.
std::vector<double> slice_norms(const Tensor& weight, int p);

// Remove the `amount` filters with the smallest Ln norms from the Conv2d at
// `path` (a child of `model`, or of a nested Sequential: "block.conv").
StructuredPruneResult prune_conv_filters(nn::Sequential& model, const std::string& path, Amount amount, int p = 1);
// Remove the `amount` output neurons with the smallest Ln norms (of their weight rows) from a Linear.
StructuredPruneResult prune_linear_neurons(nn::Sequential& model, const std::string& path, Amount amount,
                                           int p = 1);

// Remove exactly these channels (any order, no duplicates; at least one must remain).
StructuredPruneResult remove_conv_filters(nn::Sequential& model, const std::string& path,
                                          const std::vector<int64_t>& channels);
StructuredPruneResult remove_linear_neurons(nn::Sequential& model, const std::string& path,
                                            const std::vector<int64_t>& neurons);

}  // namespace minidl::compress
