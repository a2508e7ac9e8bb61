// ONNX export: the protobuf writer (nn/onnx_proto.h), the graphs nn::export_onnx and
// compress::export_onnx build, and their errors. The files themselves are checked by
// onnx.checker and ONNX Runtime in tests/parity/onnx_export_parity.py; here a minimal
// protobuf reader (below, test-only) decodes what was written.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "compress/onnx_export.h"
#include "compress/prune.h"
#include "compress/quantize.h"
#include "compress/quantized_modules.h"
#include "nn/checkpoint.h"
#include "nn/fuse.h"
#include "nn/onnx_export.h"
#include "nn/seed_cnn.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;
namespace fs = std::filesystem;

namespace {

// ---- a protobuf reader for the test: fields of one message, values or bytes
struct Field {
  int number = 0, wire = 0;
  uint64_t value = 0;
  std::string bytes;
};

uint64_t read_varint(const std::string& b, size_t& i) {
  uint64_t v = 0;
  for (int shift = 0;; shift += 7) {
    REQUIRE(i < b.size());
    const uint8_t c = uint8_t(b[i++]);
    v |= uint64_t(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
}

std::vector<Field> decode(const std::string& b) {
  std::vector<Field> out;
  for (size_t i = 0; i < b.size();) {
    Field f;
    const uint64_t key = read_varint(b, i);
    f.number = int(key >> 3), f.wire = int(key & 7);
    if (f.wire == 0) {
      f.value = read_varint(b, i);
    } else if (f.wire == 2) {
      const uint64_t n = read_varint(b, i);
      REQUIRE(i + n <= b.size());
      f.bytes = b.substr(i, n), i += n;
    } else {
      REQUIRE(f.wire == 5);
      REQUIRE(i + 4 <= b.size());
      f.bytes = b.substr(i, 4), i += 4;
    }
    out.push_back(f);
  }
  return out;
}

std::vector<Field> fields(const std::vector<Field>& m, int number) {
  std::vector<Field> out;
  for (const auto& f : m)
    if (f.number == number) out.push_back(f);
  return out;
}
Field field(const std::vector<Field>& m, int number) {
  const auto all = fields(m, number);
  REQUIRE(all.size() == 1);
  return all[0];
}

struct Decoded {
  std::vector<Field> model, graph;
  std::vector<std::vector<Field>> nodes, initializers;
  std::vector<std::string> op_types() const {
    std::vector<std::string> out;
    for (const auto& n : nodes) out.push_back(field(n, 4).bytes);
    return out;
  }
  const std::vector<Field>* initializer(const std::string& name) const {
    for (const auto& t : initializers)
      if (field(t, 8).bytes == name) return &t;
    return nullptr;
  }
};

Decoded decode_model(const std::string& bytes) {
  Decoded d;
  d.model = decode(bytes);
  d.graph = decode(field(d.model, 7).bytes);
  for (const auto& n : fields(d.graph, 1)) d.nodes.push_back(decode(n.bytes));
  for (const auto& t : fields(d.graph, 5)) d.initializers.push_back(decode(t.bytes));
  return d;
}

// Dimensions of a graph input/output ValueInfoProto: a number or the symbolic name.
std::vector<std::string> dims_of(const Field& value_info) {
  const auto type = decode(field(decode(value_info.bytes), 2).bytes);
  const auto tensor = decode(field(type, 1).bytes);
  std::vector<std::string> out;
  for (const auto& d : fields(decode(field(tensor, 2).bytes), 1)) {
    const auto dim = decode(d.bytes);
    out.push_back(dim[0].number == 2 ? dim[0].bytes : std::to_string(dim[0].value));
  }
  return out;
}

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "minidl_onnx_XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() { fs::remove_all(path); }
  size_t files() const { return size_t(std::distance(fs::directory_iterator(path), fs::directory_iterator())); }
};

class Mystery : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override { return x; }
  std::string type_name() const override { return "Mystery"; }
};

}  // namespace

TEST_CASE("protobuf wire format: varints, keys, fixed32, length-delimited") {
  std::string s;
  nn::onnx::ProtoWriter::append_varint(s, 0);
  nn::onnx::ProtoWriter::append_varint(s, 1);
  nn::onnx::ProtoWriter::append_varint(s, 300);
  CHECK(s == std::string("\x00\x01\xac\x02", 4));
  nn::onnx::ProtoWriter w;
  w.int64(1, -1);  // ten bytes: 64-bit two's complement
  CHECK(w.str() == std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
  nn::onnx::ProtoWriter f;
  f.fixed32_float(2, 1.f);
  CHECK(f.str() == std::string("\x15\x00\x00\x80\x3f", 5));
  nn::onnx::ProtoWriter m, inner;
  inner.bytes(4, "Relu");
  m.message(20, inner);  // key (20 << 3 | 2) = 162 needs two bytes
  CHECK(m.str() == std::string("\xa2\x01\x06\x22\x04Relu", 9));
}

TEST_CASE("serialize: ModelProto with IR version 7, opset 13 and a graph") {
  nn::onnx::Model m;
  m.nodes.push_back({"Relu", "r", "", {"x"}, {"y"}, {nn::onnx::Attribute::of("alpha", 0.5f)}});
  m.inputs.push_back({"x", nn::onnx::DataType::Float, {{0, "N"}, {3, ""}}});
  m.outputs.push_back({"y", nn::onnx::DataType::Float, {{0, "N"}, {3, ""}}});
  m.metadata = {{"k", "v"}};
  const Decoded d = decode_model(nn::onnx::serialize(m));
  CHECK(field(d.model, 1).value == 7);
  CHECK(field(decode(field(d.model, 8).bytes), 2).value == 13);
  CHECK(field(decode(field(d.model, 14).bytes), 1).bytes == "k");
  CHECK(d.op_types() == std::vector<std::string>{"Relu"});
  const auto attr = decode(field(d.nodes[0], 5).bytes);
  CHECK(field(attr, 1).bytes == "alpha");
  CHECK(field(attr, 20).value == 1);  // AttributeType FLOAT
  CHECK(dims_of(field(d.graph, 11)) == std::vector<std::string>{"N", "3"});
}

TEST_CASE("export_onnx: the seed CNN, weights as initializers, symbolic batch") {
  Generator gen(3);
  auto net = nn::seed_cnn({}, gen);
  const Decoded d = decode_model(nn::to_onnx(*net, {1, 1, 28, 28}));
  CHECK(d.op_types() == std::vector<std::string>{"Conv", "Relu", "Conv", "Relu", "AveragePool", "Flatten", "Gemm", "Relu",
                                                  "Gemm"});
  CHECK(field(d.nodes[0], 3).bytes == "conv1");
  const auto* w = d.initializer("fc1.weight");
  REQUIRE(w != nullptr);
  CHECK(field(*w, 2).value == 1);  // FLOAT
  CHECK(fields(*w, 1).size() == 2);
  const Tensor fc1 = net->get_submodule("fc1")->parameter("weight");
  CHECK(field(*w, 9).bytes == std::string(static_cast<const char*>(fc1.raw_data()), fc1.nbytes()));
  CHECK(dims_of(field(d.graph, 11)) == std::vector<std::string>{"N", "1", "28", "28"});
  CHECK(dims_of(field(d.graph, 12)) == std::vector<std::string>{"N", "10"});
  CHECK(field(d.nodes.back(), 2).bytes == "output");
  CHECK(net->is_training());  // the mode is restored

  nn::fuse(*net);  // ConvReLU2d / LinearReLU: the same graph
  CHECK(decode_model(nn::to_onnx(*net, {2, 1, 28, 28})).op_types() == d.op_types());
}

TEST_CASE("export_onnx: a pruned weight is exported as the layer computes with it (mask applied)") {
  auto net = nn::seed_cnn();
  auto fc2 = std::dynamic_pointer_cast<nn::Linear>(net->get_submodule("fc2"));
  Tensor mask = Tensor::ones(fc2->weight().shape());
  for (int64_t i = 0; i < mask.numel(); i += 2) mask.data<float>()[i] = 0.f;
  fc2->register_parametrization("weight", std::make_shared<compress::PruningMask>(mask));
  const Decoded d = decode_model(nn::to_onnx(*net, {1, 1, 28, 28}));
  const auto* w = d.initializer("fc2.weight");
  REQUIRE(w != nullptr);
  const Tensor masked = fc2->weight();
  CHECK(masked.data<float>()[0] == 0.f);
  CHECK(field(*w, 9).bytes == std::string(static_cast<const char*>(masked.raw_data()), masked.nbytes()));
  CHECK(d.initializer("fc2.weight_orig") == nullptr);
}

TEST_CASE("export_onnx: BatchNorm, Flatten as Reshape, an empty model") {
  auto bn = nn::seed_cnn({.batchnorm = true});
  const Decoded d = decode_model(nn::to_onnx(*bn, {1, 1, 28, 28}));
  CHECK(d.op_types()[1] == "BatchNormalization");
  CHECK(d.initializer("bn1.running_var") != nullptr);

  auto seq = nn::Sequential::named({{"flat", nn::make<nn::Flatten>(0)}});
  const Decoded r = decode_model(nn::to_onnx(*seq, {2, 3}));
  CHECK(r.op_types() == std::vector<std::string>{"Reshape"});
  CHECK(dims_of(field(r.graph, 12)) == std::vector<std::string>{"6"});  // the batch is merged: not symbolic
  auto id = nn::Sequential::named({{"id", nn::make<nn::Identity>()}});
  CHECK(decode_model(nn::to_onnx(*id, {2, 3})).op_types() == std::vector<std::string>{"Identity"});

  auto no_stats = nn::Sequential::named({{"bn", nn::make<nn::BatchNorm1d>(3, 1e-5f, 0.1f, true, false)}});
  CHECK(contains(error_of([&] { nn::to_onnx(*no_stats, {2, 3}); }), "layer 'bn' (BatchNorm1d) has no running statistics"));
}

TEST_CASE("export_onnx: an unknown layer is a one-line error naming it, and no file is written") {
  TempDir dir;
  const std::string path = (dir.path / "model.onnx").string();
  auto inner = nn::Sequential::named({{"fc", nn::make<nn::Linear>(4, 4)}, {"mystery", nn::make<Mystery>()}});
  auto net = nn::Sequential::named({{"block", inner}, {"out", nn::make<nn::Linear>(4, 2)}});
  const std::string e = error_of([&] { nn::export_onnx(*net, path, {1, 4}); });
  CHECK(contains(e, "export_onnx: layer 'block.mystery' (Mystery) has no ONNX export (supported: Conv2d"));
  CHECK(e.find('\n') == std::string::npos);
  CHECK(dir.files() == 0);  // no file, no temporary

  nn::write_file_atomic(path, "previous");
  CHECK(contains(error_of([&] { nn::export_onnx(*net, path, {1, 4}); }), "Mystery"));
  CHECK(contains(error_of([&] { nn::export_onnx(*nn::seed_cnn(), path, {1, 1, 20, 20}); }), "fc1"));  // bad shape
  CHECK(contains(error_of([&] { nn::export_onnx(*nn::seed_cnn(), path, {0, 1, 28, 28}); }), "dimension < 1"));
  std::ifstream f(path);
  CHECK(std::string(std::istreambuf_iterator<char>(f), {}) == "previous");
  CHECK(dir.files() == 1);
}

TEST_CASE("compress::export_onnx: the int8 seed CNN with QLinearConv, uint8 weights + 128") {
  Generator gen(5);
  auto net = nn::seed_cnn({}, gen);
  auto prepared = compress::prepare(*net, {.activation = "minmax"});
  {
    NoGradGuard ng;
    Generator g(6);
    Tensor x = Tensor::empty({8, 1, 28, 28});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = g.uniform01();
    prepared->eval();
    prepared->forward(x);
  }
  auto q = compress::convert(*prepared);
  CHECK(contains(error_of([&] { nn::to_onnx(*q, {1, 1, 28, 28}); }),
                 "layer 'quant' (Quantize) has no ONNX export (supported: Conv2d"));
  CHECK(contains(error_of([&] { nn::to_onnx(*q, {1, 1, 28, 28}); }), "int8 models: compress::export_onnx"));

  const Decoded d = decode_model(compress::to_onnx(*q, {1, 1, 28, 28}));
  CHECK(d.op_types() == std::vector<std::string>{"QuantizeLinear", "QLinearConv", "QLinearConv", "DequantizeLinear",
                                                  "AveragePool", "QuantizeLinear", "Flatten", "Reshape",
                                                  "QLinearConv", "Flatten", "Reshape", "QLinearConv", "Flatten",
                                                  "DequantizeLinear"});
  const auto* w = d.initializer("conv2.weight");
  REQUIRE(w != nullptr);
  CHECK(field(*w, 2).value == 2);  // UINT8
  const Tensor w8 = q->get_submodule("conv2")->buffer("weight");
  const std::string raw = field(*w, 9).bytes;
  REQUIRE(int64_t(raw.size()) == w8.numel());
  bool plus_128 = true;
  for (int64_t i = 0; i < w8.numel(); ++i) plus_128 = plus_128 && uint8_t(raw[i]) == uint8_t(w8.data<int8_t>()[i] + 128);
  CHECK(plus_128);
  const auto* ws = d.initializer("conv2.weight_scale");
  REQUIRE(ws != nullptr);
  CHECK(fields(*ws, 1).size() == 1);  // 1-D: per channel
  CHECK(field(*ws, 1).value == 64);
  const auto* b = d.initializer("fc1.bias");
  REQUIRE(b != nullptr);
  CHECK(field(*b, 2).value == 6);  // INT32
}

TEST_CASE("compress::export_onnx: a ReLU with a non-zero output zero point clips the codes") {
  Generator gen(7);
  Tensor w = Tensor::empty({2, 1, 1, 1});
  w.data<float>()[0] = 0.5f, w.data<float>()[1] = -0.25f;
  compress::QParams wq;
  wq.scale = {0.5f / 127, 0.25f / 127}, wq.zero_point = {0, 0};
  auto net = nn::Sequential::named({{"quant", nn::make<compress::Quantize>(0.1f, 3)},
                                    {"conv", nn::make<compress::QuantizedConv2d>(w, Tensor(), wq, 0.1f, 3, 0.05f, 5,
                                                                                 true, 1, 0)},
                                    {"dequant", nn::make<compress::Dequantize>(0.05f, 5)}});
  const Decoded d = decode_model(compress::to_onnx(*net, {1, 1, 2, 2}));
  CHECK(d.op_types() == std::vector<std::string>{"QuantizeLinear", "QLinearConv", "Clip", "DequantizeLinear"});
}
