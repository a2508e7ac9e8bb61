// minidl/nn/onnx_export.h — a model as an ONNX file (opset 13), like torch.onnx.export.
//
//   auto net = nn::seed_cnn();
//   nn::load(*net, "seed_cnn.safetensors");
//   nn::export_onnx(*net, "seed_cnn.onnx", {1, 1, 28, 28});
//   // ONNX Runtime: session.run({input: [N, 1, 28, 28] float32}) -> {output: [N, 10]}
//
// The graph is what the model computes in eval mode, layer by layer, with every weight
// stored as an initializer (ONNX's name for a constant tensor of the graph):
//   Conv2d            Conv (weight, bias; kernel_shape, strides, pads)
//   ConvReLU2d        Conv → Relu            LinearReLU   Gemm → Relu
//   Linear            Gemm (transB = 1: y = x·Wᵀ + b, W stored [out, in] as minidl's)
//   BatchNorm1d/2d    BatchNormalization (running statistics, epsilon); BNReLU* adds Relu.
//                     Folded instead when the model went through nn::fuse(..., {.fold_batchnorm = true})
//   ReLU/Sigmoid/Tanh Relu / Sigmoid / Tanh
//   MaxPool2d         MaxPool (padding never wins the max, as minidl's)
//   AvgPool2d         AveragePool (count_include_pad = 1, PyTorch's and minidl's default)
//   Flatten           Flatten (axis 1) for start_dim 1 to the last dimension, else Reshape
//   Dropout, Identity nothing (eval mode)
//   Sequential        its children in order (nested ones too; node names are the dotted paths)
// Parametrized weights (pruning masks) are exported as the value the layer computes with.
// The input "input" is float32 of the example shape with dimension 0 symbolic ("N", any
// batch size); the output "output" has the shape the model gives on the example, dimension 0
// symbolic when it is the batch (the same size as the example's; not after a Flatten(0)). Inputs are what the model's forward takes: a checkpoint's recorded input
// transforms (pixel scaling, normalisation) are not part of the graph.
//
// The model runs once on a zero tensor of the example shape (in eval mode, no graph; its
// mode is restored afterwards), which checks the shape and gives every layer's output
// shape. A layer the exporter does not know is an Error before anything is written:
//   "export_onnx: layer 'block.attn' (Attention) has no ONNX export (supported: ...)"
// The file is written with nn::write_file_atomic (temporary, fsync, rename): a failure
// leaves the previous file, never a partial one. The wire format is nn/onnx_proto.h.
//
// Other folders extend the exporter without nn/ knowing their modules: an OnnxLayerExporter
// in OnnxExportOptions::exporters is asked first for every leaf module and adds the nodes
// of the ones it knows (compress/onnx_export.h does so for the int8 modules).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "nn/onnx_proto.h"

namespace minidl::nn {

// The graph under construction, for layer exporters.
class OnnxGraph {
 public:
  // `hint` if no value or node has that name yet, else hint_1, hint_2, ...
  std::string unique(const std::string& hint);
  // An initializer with t's dtype, shape and values (F32, U8, I8, I32 or I64); `dims`
  // overrides the shape (same element count; {} for a scalar). Returns its (unique) name.
  std::string initializer(const std::string& name, const Tensor& t);
  std::string initializer(const std::string& name, const Tensor& t, const std::vector<int64_t>& dims);
  std::string scalar_f32(const std::string& name, float v);
  std::string scalar_u8(const std::string& name, uint8_t v);
  std::string scalar_i8(const std::string& name, int8_t v);
  std::string vector_i64(const std::string& name, const std::vector<int64_t>& v);
  // Appends a node (named `name`, made unique) with one output named after it; returns that output.
  std::string node(const std::string& op_type, std::vector<std::string> inputs, const std::string& name,
                   std::vector<onnx::Attribute> attributes = {});

  onnx::Model model;

 private:
  std::set<std::string> names_;
};

// One leaf module for an exporter: its dotted path, the name of the value it reads and the
// shapes of its input and output on the example.
struct OnnxLayer {
  const std::string& path;
  Module& module;
  std::string input;
  Shape input_shape, output_shape;
};

// Adds the nodes of `layer` and returns the name of its output value, or returns "" if it
// does not know the module (the next exporter, then the built-in ones, are tried).
using OnnxLayerExporter = std::function<std::string(OnnxGraph& graph, const OnnxLayer& layer)>;

struct OnnxExportOptions {
  std::vector<OnnxLayerExporter> exporters;  // asked before the built-in layers
  std::string input_name = "input", output_name = "output";
  std::vector<std::pair<std::string, std::string>> metadata;  // ModelProto.metadata_props
  std::string doc_string;
  // Appended to the unknown-layer error (e.g. where int8 modules are exported).
  std::string unsupported_hint = "int8 models: compress::export_onnx";
};

// The .onnx bytes of `model` for inputs of `example_input_shape` (see the top of this file).
std::string to_onnx(Module& model, const Shape& example_input_shape, const OnnxExportOptions& options = {});
// to_onnx written to `path` atomically.
void export_onnx(Module& model, const std::string& path, const Shape& example_input_shape,
                 const OnnxExportOptions& options = {});

}  // namespace minidl::nn
