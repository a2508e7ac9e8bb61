// minidl/nn/onnx_export.cpp — see onnx_export.h.
#include "nn/onnx_export.h"

#include <cstring>

#include "core/autograd.h"
#include "nn/batchnorm.h"
#include "nn/checkpoint.h"
#include "nn/conv2d.h"
#include "nn/flatten.h"
#include "nn/linear.h"
#include "nn/pooling.h"

namespace minidl::nn {

using onnx::Attribute;

// ---------------------------------------------------------------- OnnxGraph

std::string OnnxGraph::unique(const std::string& hint) {
  std::string name = hint.empty() ? std::string("value") : hint;
  for (int i = 1; names_.count(name); ++i) name = hint + "_" + std::to_string(i);
  names_.insert(name);
  return name;
}

std::string OnnxGraph::initializer(const std::string& name, const Tensor& t) {
  return initializer(name, t, std::vector<int64_t>(t.shape().begin(), t.shape().end()));
}

std::string OnnxGraph::initializer(const std::string& name, const Tensor& t, const std::vector<int64_t>& dims) {
  MINIDL_CHECK(t.defined(), "export_onnx: initializer ", name, " is undefined");
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  MINIDL_CHECK(n == t.numel(), "export_onnx: initializer ", name, " has ", t.numel(), " elements, not ", n);
  onnx::TensorData d;
  switch (t.dtype()) {
    case DType::Float32: d.type = onnx::DataType::Float; break;
    case DType::UInt8: d.type = onnx::DataType::UInt8; break;
    case DType::Int8: d.type = onnx::DataType::Int8; break;
    case DType::Int32: d.type = onnx::DataType::Int32; break;
    case DType::Int64: d.type = onnx::DataType::Int64; break;
  }
  d.name = unique(name);
  d.dims = dims;
  d.raw.assign(static_cast<const char*>(t.raw_data()), t.nbytes());
  model.initializers.push_back(std::move(d));
  return model.initializers.back().name;
}

std::string OnnxGraph::scalar_f32(const std::string& name, float v) {
  return initializer(name, Tensor::from_vector(std::vector<float>{v}, {1}), {});
}
std::string OnnxGraph::scalar_u8(const std::string& name, uint8_t v) {
  return initializer(name, Tensor::from_vector(std::vector<uint8_t>{v}, {1}), {});
}
std::string OnnxGraph::scalar_i8(const std::string& name, int8_t v) {
  return initializer(name, Tensor::from_vector(std::vector<int8_t>{v}, {1}), {});
}
std::string OnnxGraph::vector_i64(const std::string& name, const std::vector<int64_t>& v) {
  return initializer(name, Tensor::from_vector(v, {int64_t(v.size())}));
}

std::string OnnxGraph::node(const std::string& op_type, std::vector<std::string> inputs, const std::string& name,
                            std::vector<Attribute> attributes) {
  onnx::Node n;
  n.op_type = op_type;
  n.name = unique(name);
  n.inputs = std::move(inputs);
  n.outputs = {n.name};
  n.attributes = std::move(attributes);
  model.nodes.push_back(std::move(n));
  return model.nodes.back().name;
}

// ---------------------------------------------------------------- built-in layers

namespace {

constexpr const char* kSupported =
    "Conv2d, ConvReLU2d, Linear, LinearReLU, BatchNorm1d, BatchNorm2d, BNReLU1d, BNReLU2d, ReLU, Sigmoid, Tanh, "
    "MaxPool2d, AvgPool2d, Flatten, Dropout, Identity, Sequential";

std::vector<int64_t> pair(int64_t v) { return {v, v}; }

std::string conv(OnnxGraph& g, const OnnxLayer& l, Conv2d& c) {
  std::vector<std::string> in = {l.input, g.initializer(l.path + ".weight", c.weight())};
  if (c.bias().defined()) in.push_back(g.initializer(l.path + ".bias", c.bias()));
  const int64_t p = c.padding;
  return g.node("Conv", in, l.path,
                {Attribute::of("kernel_shape", pair(c.kernel_size)), Attribute::of("strides", pair(c.stride)),
                 Attribute::of("pads", std::vector<int64_t>{p, p, p, p})});
}

std::string gemm(OnnxGraph& g, const OnnxLayer& l, Linear& f) {
  std::vector<std::string> in = {l.input, g.initializer(l.path + ".weight", f.weight())};
  if (f.bias().defined()) in.push_back(g.initializer(l.path + ".bias", f.bias()));
  return g.node("Gemm", in, l.path, {Attribute::of("transB", int64_t(1))});
}

std::string batchnorm(OnnxGraph& g, const OnnxLayer& l, BatchNorm& bn) {
  MINIDL_CHECK(bn.track_running_stats && bn.has_buffer("running_mean"), "export_onnx: layer '", l.path, "' (",
               bn.type_name(), ") has no running statistics, which ONNX's BatchNormalization needs");
  const Shape c = {bn.num_features};
  const Tensor scale = bn.affine ? bn.param("weight") : Tensor::ones(c);
  const Tensor shift = bn.affine ? bn.param("bias") : Tensor::zeros(c);
  return g.node("BatchNormalization",
                {l.input, g.initializer(l.path + ".weight", scale), g.initializer(l.path + ".bias", shift),
                 g.initializer(l.path + ".running_mean", bn.buffer("running_mean")),
                 g.initializer(l.path + ".running_var", bn.buffer("running_var"))},
                l.path, {Attribute::of("epsilon", bn.eps), Attribute::of("momentum", 1.f - bn.momentum)});
}

std::string pool(OnnxGraph& g, const OnnxLayer& l, Pool2d& p, bool max) {
  const int64_t pad = p.padding;
  std::vector<Attribute> a = {Attribute::of("kernel_shape", pair(p.kernel_size)), Attribute::of("strides", pair(p.stride)),
                              Attribute::of("pads", std::vector<int64_t>{pad, pad, pad, pad})};
  if (!max) a.push_back(Attribute::of("count_include_pad", int64_t(1)));
  return g.node(max ? "MaxPool" : "AveragePool", {l.input}, l.path, a);
}

// Flatten(axis = 1) when minidl merges dims 1..last (the usual case); otherwise a Reshape
// to the example's output shape with dimension 0 copied (0) or, when it is merged, inferred (-1).
std::string flatten(OnnxGraph& g, const OnnxLayer& l, Flatten& f) {
  const int64_t rank = int64_t(l.input_shape.size());
  const int64_t s = f.start_dim < 0 ? f.start_dim + rank : f.start_dim, e = f.end_dim < 0 ? f.end_dim + rank : f.end_dim;
  if (l.output_shape == l.input_shape) return l.input;
  if (s == 1 && e == rank - 1) return g.node("Flatten", {l.input}, l.path, {Attribute::of("axis", int64_t(1))});
  std::vector<int64_t> shape(l.output_shape.begin(), l.output_shape.end());
  shape[0] = s == 0 ? -1 : 0;
  return g.node("Reshape", {l.input, g.vector_i64(l.path + ".shape", shape)}, l.path);
}

std::string with_relu(OnnxGraph& g, const OnnxLayer& l, const std::string& y) {
  return g.node("Relu", {y}, l.path + ".relu");
}

// The built-in exporters; "" for a module they do not know. Types are matched exactly (a
// subclass may compute something else).
std::string builtin(OnnxGraph& g, const OnnxLayer& l) {
  Module& m = l.module;
  const std::string t = m.type_name();
  if (t == "Conv2d") return conv(g, l, static_cast<Conv2d&>(m));
  if (t == "ConvReLU2d") return with_relu(g, l, conv(g, l, static_cast<Conv2d&>(m)));
  if (t == "Linear") return gemm(g, l, static_cast<Linear&>(m));
  if (t == "LinearReLU") return with_relu(g, l, gemm(g, l, static_cast<Linear&>(m)));
  if (t == "BatchNorm1d" || t == "BatchNorm2d") return batchnorm(g, l, static_cast<BatchNorm&>(m));
  if (t == "BNReLU1d" || t == "BNReLU2d") return with_relu(g, l, batchnorm(g, l, static_cast<BatchNorm&>(m)));
  if (t == "ReLU") return g.node("Relu", {l.input}, l.path);
  if (t == "Sigmoid") return g.node("Sigmoid", {l.input}, l.path);
  if (t == "Tanh") return g.node("Tanh", {l.input}, l.path);
  if (t == "MaxPool2d") return pool(g, l, static_cast<Pool2d&>(m), true);
  if (t == "AvgPool2d") return pool(g, l, static_cast<Pool2d&>(m), false);
  if (t == "Flatten") return flatten(g, l, static_cast<Flatten&>(m));
  if (t == "Dropout" || t == "Identity") return l.input;
  return "";
}

struct Walker {
  OnnxGraph& g;
  const OnnxExportOptions& o;

  // Exports `m` reading `value` (the example tensor `x` flowing alongside); both advance.
  void walk(const std::string& path, Module& m, std::string& value, Tensor& x) {
    if (m.type_name() == "Sequential") {
      for (const auto& [n, c] : m.named_children()) walk(path.empty() ? n : path + "." + n, *c, value, x);
      return;
    }
    const std::string where = path.empty() ? m.type_name() : path;
    Tensor y = m.forward(x);
    const OnnxLayer layer{where, m, value, x.shape(), y.shape()};
    std::string out;
    for (const auto& e : o.exporters)
      if (!(out = e(g, layer)).empty()) break;
    if (out.empty()) out = builtin(g, layer);
    if (out.empty())
      throw Error("export_onnx: layer '" + where + "' (" + m.type_name() + ") has no ONNX export (supported: " +
                  kSupported + (o.unsupported_hint.empty() ? "" : "; " + o.unsupported_hint) + ")");
    value = out;
    x = y;
  }
};

onnx::ValueInfo value_info(const std::string& name, const Tensor& t, bool symbolic_batch) {
  onnx::ValueInfo v;
  v.name = name;
  MINIDL_CHECK(t.dtype() == DType::Float32, "export_onnx: ", name, " must be float32, got ", dtype_name(t.dtype()));
  for (int64_t d : t.shape()) v.dims.push_back({d, ""});
  if (symbolic_batch && !v.dims.empty()) v.dims[0] = {0, "N"};
  return v;
}

// Restores the model's train/eval mode however the export ends.
struct ModeGuard {
  Module& m;
  bool was;
  ~ModeGuard() { m.train(was); }
};

}  // namespace

// ---------------------------------------------------------------- export

std::string to_onnx(Module& model, const Shape& shape, const OnnxExportOptions& o) {
  MINIDL_CHECK(!shape.empty(), "export_onnx: the example input shape is empty");
  for (int64_t d : shape)
    MINIDL_CHECK(d >= 1, "export_onnx: the example input shape ", to_string(shape), " has a dimension < 1");
  MINIDL_CHECK(!o.input_name.empty() && !o.output_name.empty() && o.input_name != o.output_name,
               "export_onnx: input and output names must be distinct and not empty");
  ModeGuard mode{model, model.is_training()};
  model.eval();
  NoGradGuard ng;
  OnnxGraph g;
  g.model.doc_string = o.doc_string;
  g.model.metadata = o.metadata;
  std::string value = g.unique(o.input_name);
  g.unique(o.output_name);  // reserved: no node may take it
  const Tensor input = Tensor::zeros(shape);
  Tensor x = input;
  Walker{g, o}.walk("", model, value, x);
  if (value == o.input_name) value = g.node("Identity", {value}, "identity");
  for (auto& n : g.model.nodes)
    for (auto& out : n.outputs)
      if (out == value) out = o.output_name;
  const bool batch = x.dim() >= 1 && x.size(0) == shape[0];
  g.model.inputs = {value_info(o.input_name, input, true)};
  g.model.outputs = {value_info(o.output_name, x, batch)};
  return onnx::serialize(g.model);
}

void export_onnx(Module& model, const std::string& path, const Shape& shape, const OnnxExportOptions& o) {
  write_file_atomic(path, to_onnx(model, shape, o));
}

}  // namespace minidl::nn
