// minidl/nn/onnx_proto.h — the ONNX messages minidl writes, and their protobuf encoding.
//
// An .onnx file is one serialized `onnx.ModelProto` (onnx/onnx.proto, proto2 syntax). The
// protobuf wire format is small: a message is a sequence of fields, each a key
// varint (field_number << 3 | wire_type) then the value —
//   wire type 0  varint: unsigned LEB128, 7 bits per byte, low bits first (int32/int64/enum;
//                negative numbers as their 64-bit two's complement, 10 bytes)
//   wire type 2  length-delimited: a varint byte count, then the bytes (string, bytes, and
//                embedded messages, which are serialized on their own and then length-prefixed)
//   wire type 5  fixed32: 4 bytes little-endian (float)
// Repeated fields are the field written once per element (proto2's unpacked form, which
// every parser accepts). Tensor data goes in TensorProto.raw_data, little-endian, as the
// ONNX spec requires for raw_data.
//
// Why by hand and not with a library: Debian has libonnx-dev (1.12, ONNX's C++ library with
// the protoc-generated onnx.pb.h) on top of libprotobuf-dev. Using it would add both as build
// dependencies and make every consumer of libminidl.a (find_package(minidl)) link
// libonnx_proto and libprotobuf, to write eight messages that minidl never reads. The writer
// here is ~150 lines, write-only (no parser, so no untrusted input reaches it), with every
// field number taken from onnx.proto and listed below; the files are checked by what minidl
// did not write: onnx.checker.check_model(full_check=True) and ONNX Runtime loading and
// running them (tests/parity/onnx_export_parity.py).
//
// Messages and fields written (onnx.proto numbers):
//   ModelProto        ir_version 1, producer_name 2, producer_version 3, doc_string 6,
//                     graph 7, opset_import 8, metadata_props 14
//   OperatorSetIdProto domain 1, version 2
//   StringStringEntryProto key 1, value 2
//   GraphProto        node 1, name 2, initializer 5, doc_string 10, input 11, output 12
//   NodeProto         input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto    name 1, f 2, i 3, s 4, ints 8, type 20
//   TensorProto       dims 1, data_type 2, name 8, raw_data 9
//   ValueInfoProto    name 1, type 2;  TypeProto tensor_type 1;  TypeProto.Tensor elem_type 1,
//                     shape 2;  TensorShapeProto dim 1;  Dimension dim_value 1, dim_param 2
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace minidl::nn::onnx {

// TensorProto.DataType values.
enum class DataType : int32_t { Float = 1, UInt8 = 2, Int8 = 3, Int32 = 6, Int64 = 7 };

struct Attribute {
  enum class Kind : int32_t { Float = 1, Int = 2, String = 3, Ints = 7 };  // AttributeProto.AttributeType
  std::string name;
  Kind kind = Kind::Int;
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<int64_t> ints;

  static Attribute of(std::string n, int64_t v) { return {std::move(n), Kind::Int, 0, v, {}, {}}; }
  static Attribute of(std::string n, float v) { return {std::move(n), Kind::Float, v, 0, {}, {}}; }
  static Attribute of(std::string n, std::vector<int64_t> v) { return {std::move(n), Kind::Ints, 0, 0, {}, std::move(v)}; }
};

struct Node {
  std::string op_type, name, domain;  // domain "": the standard ai.onnx operators
  std::vector<std::string> inputs, outputs;  // "" as an input: an omitted optional input
  std::vector<Attribute> attributes;
};

struct TensorData {
  std::string name;
  DataType type = DataType::Float;
  std::vector<int64_t> dims;  // empty: a scalar (rank 0)
  std::string raw;            // little-endian element bytes, product(dims) of them
};

// A graph input or output: element type and shape; a dimension is a size or, when `param`
// is not empty, a symbolic name (e.g. the batch size "N").
struct ValueInfo {
  struct Dim {
    int64_t value = 0;
    std::string param;
  };
  std::string name;
  DataType type = DataType::Float;
  std::vector<Dim> dims;
};

struct Model {
  int64_t ir_version = 7;  // IR version 7 goes with opset 13 (onnx/docs/Versioning.md)
  int64_t opset = 13;
  std::string producer_name = "minidl", producer_version, doc_string, graph_name = "minidl";
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<Node> nodes;  // in topological order
  std::vector<TensorData> initializers;
  std::vector<ValueInfo> inputs, outputs;
};

// The ModelProto bytes.
std::string serialize(const Model& model);

// The wire format itself (see the top of this file); public for tests.
class ProtoWriter {
 public:
  void varint(int field, uint64_t v);
  void int64(int field, int64_t v) { varint(field, uint64_t(v)); }
  void fixed32_float(int field, float v);
  void bytes(int field, std::string_view b);
  void message(int field, const ProtoWriter& m) { bytes(field, m.out_); }
  const std::string& str() const { return out_; }

  static void append_varint(std::string& out, uint64_t v);

 private:
  void key(int field, int wire_type) { append_varint(out_, uint64_t(field) << 3 | uint64_t(wire_type)); }
  std::string out_;
};

}  // namespace minidl::nn::onnx
