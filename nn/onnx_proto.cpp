// minidl/nn/onnx_proto.cpp — see onnx_proto.h (field numbers are onnx.proto's).
#include "nn/onnx_proto.h"

#include <bit>
#include <cstring>

namespace minidl::nn::onnx {

static_assert(std::endian::native == std::endian::little, "fixed32 and raw_data are written little-endian");

void ProtoWriter::append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(char(uint8_t(v) | 0x80));
    v >>= 7;
  }
  out.push_back(char(uint8_t(v)));
}

void ProtoWriter::varint(int field, uint64_t v) {
  key(field, 0);
  append_varint(out_, v);
}

void ProtoWriter::fixed32_float(int field, float v) {
  key(field, 5);
  char b[4];
  std::memcpy(b, &v, 4);
  out_.append(b, 4);
}

void ProtoWriter::bytes(int field, std::string_view b) {
  key(field, 2);
  append_varint(out_, b.size());
  out_.append(b.data(), b.size());
}

namespace {

ProtoWriter attribute(const Attribute& a) {
  ProtoWriter w;
  w.bytes(1, a.name);
  switch (a.kind) {
    case Attribute::Kind::Float: w.fixed32_float(2, a.f); break;
    case Attribute::Kind::Int: w.int64(3, a.i); break;
    case Attribute::Kind::String: w.bytes(4, a.s); break;
    case Attribute::Kind::Ints:
      for (int64_t v : a.ints) w.int64(8, v);
      break;
  }
  w.int64(20, int64_t(a.kind));
  return w;
}

ProtoWriter node(const Node& n) {
  ProtoWriter w;
  for (const auto& i : n.inputs) w.bytes(1, i);
  for (const auto& o : n.outputs) w.bytes(2, o);
  if (!n.name.empty()) w.bytes(3, n.name);
  w.bytes(4, n.op_type);
  for (const auto& a : n.attributes) w.message(5, attribute(a));
  if (!n.domain.empty()) w.bytes(7, n.domain);
  return w;
}

ProtoWriter tensor(const TensorData& t) {
  ProtoWriter w;
  for (int64_t d : t.dims) w.int64(1, d);
  w.int64(2, int64_t(t.type));
  w.bytes(8, t.name);
  w.bytes(9, t.raw);
  return w;
}

ProtoWriter value_info(const ValueInfo& v) {
  ProtoWriter shape;  // TensorShapeProto
  for (const auto& d : v.dims) {
    ProtoWriter dim;  // TensorShapeProto.Dimension
    if (d.param.empty())
      dim.int64(1, d.value);
    else
      dim.bytes(2, d.param);
    shape.message(1, dim);
  }
  ProtoWriter tensor_type;  // TypeProto.Tensor
  tensor_type.int64(1, int64_t(v.type));
  tensor_type.message(2, shape);
  ProtoWriter type;  // TypeProto
  type.message(1, tensor_type);
  ProtoWriter w;
  w.bytes(1, v.name);
  w.message(2, type);
  return w;
}

ProtoWriter graph(const Model& m) {
  ProtoWriter w;
  for (const auto& n : m.nodes) w.message(1, node(n));
  w.bytes(2, m.graph_name);
  for (const auto& t : m.initializers) w.message(5, tensor(t));
  for (const auto& v : m.inputs) w.message(11, value_info(v));
  for (const auto& v : m.outputs) w.message(12, value_info(v));
  return w;
}

}  // namespace

std::string serialize(const Model& m) {
  ProtoWriter w;
  w.int64(1, m.ir_version);
  w.bytes(2, m.producer_name);
  if (!m.producer_version.empty()) w.bytes(3, m.producer_version);
  if (!m.doc_string.empty()) w.bytes(6, m.doc_string);
  w.message(7, graph(m));
  ProtoWriter opset;  // OperatorSetIdProto: domain "" (ai.onnx) omitted
  opset.int64(2, m.opset);
  w.message(8, opset);
  for (const auto& [k, v] : m.metadata) {
    ProtoWriter e;  // StringStringEntryProto
    e.bytes(1, k);
    e.bytes(2, v);
    w.message(14, e);
  }
  return w.str();
}

}  // namespace minidl::nn::onnx
