// minidl/compress/report.h — what a (pruned) model costs, per layer and in total.
//
// For every layer with parameters (Conv2d, Linear, BatchNorm, ...):
//   params        entries of the tensors the layer computes with (a pruned
//                 weight counts once; its mask is bookkeeping, not a parameter)
//   nonzeros      of those, the entries that are not exactly zero
//   sparsity      1 − nonzeros / params
//   MACs          multiply-accumulates per sample for `input_shape`, as a dense
//                 kernel does them (minidl has no sparse kernels, so pruning
//                 alone does not change them; structured pruning does):
//                   Conv2d  Cout·OH·OW · Cin·KH·KW      Linear  in·out
//                 (BatchNorm, activations and pooling are not counted)
//   nonzero MACs  the MACs a sparse kernel would do: nnz(W)·OH·OW, nnz(W)
//   dense bytes   4 bytes per float32 parameter
//   sparse bytes  the records these parameters take in compress/sparse_format
//                 (each tensor in its best encoding, headers included)
//
// Shapes are traced by running one forward pass (eval mode, no gradients,
// training mode restored after) on zeros of `input_shape`, layer by layer
// through the model's Sequential containers; a module with children that is
// not a Sequential cannot be traced and is an error.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace minidl::compress {

struct LayerStats {
  std::string name, type;  // "conv2", "Conv2d"; "total" for the sum
  int64_t params = 0, nonzeros = 0;
  int64_t macs = 0, nonzero_macs = 0;
  int64_t dense_bytes = 0, sparse_bytes = 0;
  double sparsity() const { return params ? 1.0 - double(nonzeros) / double(params) : 0.0; }
};

struct PruneReport {
  Shape input_shape;  // as given, e.g. [1, 1, 28, 28]
  std::vector<LayerStats> layers;
  LayerStats total;
  // A fixed-width table, one row per layer and a total row.
  std::string to_string() const;
  const LayerStats& layer(const std::string& name) const;  // throws if absent
};

// input_shape includes the batch dimension ([1, 1, 28, 28]); MACs are per sample.
PruneReport report(nn::Module& model, const Shape& input_shape);

}  // namespace minidl::compress
