// minidl/compress/dc_format.cpp — see dc_format.h.
#include "compress/dc_format.h"

#include <cstring>
#include <fstream>
#include <set>

#include "compress/byte_io.h"
#include "compress/qscheme.h"
#include "compress/weight_sharing.h"
#include "datasets/file_bytes.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace minidl::compress {

namespace {

using io::Reader;
using io::Writer;

constexpr char kMagic[8] = {'M', 'D', 'L', 'D', 'C', 'O', 'M', 'P'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 29;
constexpr uint64_t kMaxNumel = uint64_t(1) << 40;
// A few bytes of a hostile file must not ask for gigabytes: the decoded
// tensors may take at most this much (a 97%-sparse model expands ~ 100x).
constexpr uint64_t kMaxExpansion = 256;
constexpr uint64_t kExpansionSlack = uint64_t(64) << 20;
enum Kind : uint8_t { kMetadata = 0, kFloat32 = 1, kCodebook = 2, kInt8 = 3 };

// ---------------------------------------------------------------- writing

// Relative indices of the flat positions `pos` (ascending), one byte per
// symbol with 255 as "move 255 on, no entry" (see the header).
std::string index_bytes(const std::vector<int64_t>& pos) {
  std::string out;
  int64_t prev = -1;
  for (int64_t p : pos) {
    int64_t v = p - prev - 1;
    for (; v >= 255; v -= 255) out.push_back(char(255));
    out.push_back(char(v));
    prev = p;
  }
  return out;
}

int64_t put_stream(Writer& w, Codec codec, const std::string& raw) {
  const std::string s = entropy_encode(codec, raw);
  w.varint(raw.size());
  w.varint(s.size());
  w.raw(s.data(), s.size());
  return int64_t(s.size());
}

void put_shape(Writer& w, const Tensor& t) {
  w.put(uint64_t(t.dim()), 1);
  for (int64_t d : t.shape()) w.varint(uint64_t(d));
}

void put_record(Writer& file, CompressedRecord& rec, const Writer& body) {
  MINIDL_CHECK(body.out.size() <= 0xffffffffu, "save_compressed: record ", rec.name, " is too large");
  file.put(body.out.size(), 4);
  file.raw(body.out.data(), body.out.size());
  file.put(io::crc(body.out.data(), body.out.size()), 4);
  rec.bytes = int64_t(body.out.size() + 8);
}

Writer begin_body(const std::string& name, Kind kind) {
  MINIDL_CHECK(!name.empty() && name.size() <= 0xffff, "save_compressed: bad tensor name \"", name, "\"");
  Writer w;
  w.put(name.size(), 2);
  w.raw(name.data(), name.size());
  w.put(kind, 1);
  return w;
}

// A coded weight: codebook (WeightSharing) or int8 (Int8Weight).
CompressedRecord coded_weight(Writer& file, const std::string& name, const nn::Module& layer, Codec codec) {
  auto ws = layer.find_parametrization<WeightSharing>("weight");
  auto iw = layer.find_parametrization<Int8Weight>("weight");
  MINIDL_CHECK((ws || iw) && layer.parametrizations("weight").size() == 1, "save_compressed: ", name,
               " has no weight-sharing codebook or int8 coding (compress::share_weights / quantize_weight_int8) "
               "as its only parametrization");
  CompressedRecord rec{name, ws ? "codebook" : "int8", ws ? ws->bits() : 8};
  Writer w = begin_body(name, ws ? kCodebook : kInt8);
  const Tensor codes_t = ws ? ws->assignments() : iw->codes();
  put_shape(w, codes_t);
  std::vector<int64_t> pos;
  std::string codes;
  for (int64_t i = 0; i < codes_t.numel(); ++i) {
    const int64_t c = ws ? codes_t.data<int64_t>()[i] : codes_t.data<int8_t>()[i];
    if (ws ? c < 0 : c == 0) continue;  // pruned (int8: a zero code is a zero weight either way)
    pos.push_back(i);
    codes.push_back(char(uint8_t(c)));
  }
  if (ws) {
    w.put(uint64_t(rec.bits), 1);
    w.raw(ws->centroids().raw_data(), ws->centroids().nbytes());
  } else {
    w.raw(iw->scale().raw_data(), iw->scale().nbytes());
  }
  rec.numel = codes_t.numel(), rec.nnz = int64_t(pos.size());
  w.varint(pos.size());
  rec.index_bytes = put_stream(w, codec, index_bytes(pos));
  rec.code_bytes = put_stream(w, codec, codes);
  put_record(file, rec, w);
  return rec;
}

CompressedRecord float32_record(Writer& file, const std::string& name, const Tensor& t) {
  MINIDL_CHECK(t.dtype() == DType::Float32 && t.dim() >= 1 && t.dim() <= 8, "save_compressed: ", name,
               " must be a float32 tensor of 1..8 dims");
  CompressedRecord rec{name, "float32", 32, t.numel(), t.numel()};
  Writer w = begin_body(name, kFloat32);
  put_shape(w, t);
  w.raw(t.raw_data(), t.nbytes());
  put_record(file, rec, w);
  return rec;
}

CompressedRecord metadata_record(Writer& file, const nn::Metadata& meta, Codec codec) {
  CompressedRecord rec{"metadata", "metadata", 8};
  std::string raw;
  for (const auto& [k, v] : meta) raw += k + '\0' + v + '\0';
  Writer w = begin_body("metadata", kMetadata);
  w.varint(raw.size());
  const std::string s = entropy_encode(codec, raw);
  w.raw(s.data(), s.size());
  rec.numel = rec.nnz = int64_t(raw.size());
  put_record(file, rec, w);
  return rec;
}

// ---------------------------------------------------------------- reading

std::string get_stream(Reader& r, Codec codec, uint64_t max_raw, const char* what) {
  const size_t at = r.pos;
  const uint64_t raw = r.varint(what);
  const uint64_t stored = r.varint(what);
  if (raw > max_raw) r.fail(at, what, ": raw length ", raw, " is impossible (at most ", max_raw, ")");
  r.need(stored, what);
  std::string out, why;
  if (!entropy_decode(codec, r.base + r.pos, size_t(stored), size_t(raw), out, why)) r.fail(r.pos, what, ": ", why);
  r.pos += size_t(stored);
  return out;
}

Shape get_shape(Reader& r, uint64_t& numel) {
  const size_t at = r.pos;
  const uint64_t ndim = r.get(1, "ndim");
  if (ndim < 1 || ndim > 8) r.fail(at, "ndim ", ndim, ": 1..8 are supported");
  Shape shape;
  numel = 1;
  for (uint64_t d = 0; d < ndim; ++d) {
    const size_t at_d = r.pos;
    const uint64_t v = r.varint("dimension");
    if (v > kMaxNumel || (v && numel > kMaxNumel / v)) r.fail(at_d, "dimension ", v, " makes the tensor too large");
    numel *= v;
    shape.push_back(int64_t(v));
  }
  return shape;
}

Tensor allocate(Reader& r, const Shape& shape, uint64_t& budget) {
  uint64_t bytes = 0;
  if (!datasets::span_fits(0, uint64_t(numel_of(shape)), 4, budget, &bytes))
    r.fail(r.pos, "shape ", to_string(shape), " would take the decoded tensors past the limit for this file (",
           kMaxExpansion, " x its size + ", kExpansionSlack >> 20, " MiB): corrupt or hostile");
  budget -= bytes;
  return Tensor::zeros(shape);
}

// Flat positions of the nnz entries, checked against numel.
std::vector<int64_t> get_indices(Reader& r, Codec codec, uint64_t nnz, uint64_t numel) {
  const size_t at = r.pos;
  const std::string s = get_stream(r, codec, nnz + numel / 255 + 1, "index stream");
  std::vector<int64_t> pos;
  pos.reserve(size_t(nnz));
  int64_t p = -1, v = 0;
  for (unsigned char c : s) {
    v += c;
    if (c == 255) continue;
    p += v + 1, v = 0;
    if (uint64_t(p) >= numel || pos.size() == nnz)
      r.fail(at, "index stream: entry ", pos.size(), " at position ", p, " is past ", nnz, " entries / ", numel, " elements");
    pos.push_back(p);
  }
  if (pos.size() != nnz || v != 0) r.fail(at, "index stream: ", pos.size(), " entries (+ ", v, " skipped), expected ", nnz);
  return pos;
}

void read_coded(Reader& r, Codec codec, Kind kind, Tensor& t, uint64_t& budget) {
  uint64_t numel = 0;
  const Shape shape = get_shape(r, numel);
  std::vector<float> table;  // centroids, or per-channel scales
  int bits = 8;
  if (kind == kCodebook) {
    const size_t at = r.pos;
    bits = int(r.get(1, "codebook bits"));
    if (bits < 2 || bits > 8) r.fail(at, "codebook size must be 2..8 bits, got ", bits);
  }
  const uint64_t n_table = kind == kCodebook ? uint64_t(1) << bits : uint64_t(shape[0]);
  r.need(4 * n_table, kind == kCodebook ? "centroids" : "scales");
  table.resize(size_t(n_table));
  std::memcpy(table.data(), r.base + r.pos, 4 * table.size());
  r.pos += 4 * table.size();
  const size_t at_nnz = r.pos;
  const uint64_t nnz = r.varint("entry count");
  if (nnz > numel) r.fail(at_nnz, "entry count ", nnz, " exceeds the ", numel, " elements of ", to_string(shape));
  t = allocate(r, shape, budget);
  const std::vector<int64_t> pos = get_indices(r, codec, nnz, numel);
  const size_t at_codes = r.pos;
  const std::string codes = get_stream(r, codec, nnz, "code stream");
  if (codes.size() != nnz) r.fail(at_codes, "code stream has ", codes.size(), " codes, expected ", nnz);
  float* w = t.data<float>();
  const uint64_t cols = numel / uint64_t(shape[0] ? shape[0] : 1);
  for (size_t i = 0; i < pos.size(); ++i) {
    const uint8_t c = uint8_t(codes[i]);
    if (kind == kCodebook) {
      if (c >= n_table) r.fail(at_codes, "code ", int(c), " of entry ", i, " is not below the ", n_table, " centroids");
      w[pos[i]] = table[c];
    } else {
      if (int8_t(c) == -128) r.fail(at_codes, "int8 code -128 of entry ", i, " is outside [-127, 127]");
      w[pos[i]] = dequantize_value(int8_t(c), table[size_t(uint64_t(pos[i]) / cols)], 0);  // as Int8Weight::forward
    }
  }
}

void read_body(Reader& r, Codec codec, Kind kind, Tensor& t, nn::Metadata* meta, uint64_t& budget) {
  if (kind == kMetadata) {
    const size_t at = r.pos;
    const uint64_t raw = r.varint("metadata length");
    if (raw > budget) r.fail(at, "metadata length ", raw, " is impossible for this file");
    std::string s, why;
    if (!entropy_decode(codec, r.base + r.pos, r.left(), size_t(raw), s, why)) r.fail(r.pos, "metadata: ", why);
    budget -= raw;
    r.pos = r.end;
    size_t p = 0;
    while (p < s.size()) {
      const size_t k = s.find('\0', p), v = k == std::string::npos ? k : s.find('\0', k + 1);
      if (v == std::string::npos) r.fail(at, "metadata: key/value list is not terminated");
      if (meta) (*meta)[s.substr(p, k - p)] = s.substr(k + 1, v - k - 1);
      p = v + 1;
    }
  } else if (kind == kFloat32) {
    uint64_t numel = 0;
    const Shape shape = get_shape(r, numel);
    if (4 * numel != r.left()) r.fail(r.pos, "float32 data has ", r.left(), " bytes, shape ", to_string(shape), " needs ", 4 * numel);
    t = allocate(r, shape, budget);
    std::memcpy(t.raw_data(), r.base + r.pos, size_t(4 * numel));
    r.pos = r.end;
  } else {
    read_coded(r, codec, kind, t, budget);
  }
}

constexpr io::HeaderFormat kFormat{"compressed model", kMagic, kVersion, kHeader};

nn::StateDict decode(const std::string& bytes, const std::string& src, nn::Metadata* meta) {
  auto [h, count] = io::check_header(bytes, src, kFormat);  // h is at byte 24, the codec
  const auto* base = h.base;
  const size_t size = bytes.size();
  const uint64_t codec = h.get(1, "codec");
  if (codec > uint64_t(Codec::Zstd)) h.fail(24, "unknown codec ", codec);
  nn::StateDict out;
  std::set<std::string> names;
  uint64_t budget = kExpansionSlack + kMaxExpansion * size;
  size_t pos = kHeader;
  for (uint64_t i = 0; i < count; ++i) {
    Reader r{src, base, pos, size, "record " + std::to_string(i)};
    const uint64_t len = r.get(4, "record length");
    if (len > size - r.pos || size - r.pos - len < 4) r.fail(pos, "record length ", len, " runs past the end of the file");
    r.end = r.pos + size_t(len);
    io::check_record_crc(r);
    const size_t at_name = r.pos;
    const std::string name = r.str(size_t(r.get(2, "name length")), "name");
    r.context += " (\"" + name + "\")";
    if (name.empty() || !names.insert(name).second) r.fail(at_name, "empty or duplicate name");
    const size_t at_kind = r.pos;
    const uint64_t kind = r.get(1, "kind");
    if (kind > kInt8) r.fail(at_kind, "unknown record kind ", kind);
    Tensor t;
    read_body(r, Codec(codec), Kind(kind), t, meta, budget);
    if (r.pos != r.end) r.fail(r.pos, r.end - r.pos, " unexpected bytes at the end of the record");
    if (t.defined()) out.emplace_back(name, std::move(t));
    pos = r.end + 4;
  }
  if (pos != size) h.fail(pos, size - pos, " trailing bytes after the last of ", count, " records");
  return out;
}

bool knows(const nn::Module& m) {
  return dynamic_cast<const nn::Conv2d*>(&m) || dynamic_cast<const nn::Linear*>(&m);
}

}  // namespace

CompressedFile encode_compressed(const nn::Module& model, const nn::Metadata& metadata, Codec codec) {
  CompressedFile f;
  Writer file;
  file.raw(kMagic, 8);
  file.put(kVersion, 4);
  file.put(0, 4);   // record count, patched below
  file.put(0, 8);   // file size, patched below
  file.put(uint64_t(codec), 1);
  file.put(0, 4);   // header checksum, patched below
  if (!metadata.empty()) f.records.push_back(metadata_record(file, metadata, codec));
  for (const auto& [path, m] : const_cast<nn::Module&>(model).named_modules()) {
    if (m->named_parameters(false).empty() && m->named_buffers(false).empty()) continue;  // ReLU, pooling, ...
    MINIDL_CHECK(knows(*m), "save_compressed: layer ", path.empty() ? "<root>" : path, " (", m->type_name(),
                 ") is not one the exporter knows (Conv2d and Linear only)");
    const std::string prefix = path.empty() ? "" : path + ".";
    f.records.push_back(coded_weight(file, prefix + "weight", *m, codec));
    const Tensor b = m->param("bias");
    if (b.defined()) f.records.push_back(float32_record(file, prefix + "bias", b));
  }
  file.patch(12, f.records.size(), 4);
  file.patch(16, file.out.size(), 8);
  file.patch(25, io::crc(file.out.data(), 25), 4);
  f.bytes = std::move(file.out);
  MINIDL_CHECK(f.bytes.size() * kMaxExpansion + kExpansionSlack >= [&] {
    uint64_t n = 0;
    for (const auto& r : f.records) n += 4 * uint64_t(r.numel);
    return n;
  }(), "save_compressed: the model would expand past what the reader allows");
  return f;
}

nn::StateDict decode_compressed(const std::string& bytes, const std::string& source, nn::Metadata* metadata) {
  return decode(bytes, source, metadata);
}

CompressedFile save_compressed(const nn::Module& model, const std::string& path, const nn::Metadata& metadata, Codec codec) {
  CompressedFile f = encode_compressed(model, metadata, codec);  // throws before anything is written
  nn::write_file_atomic(path, f.bytes);
  return f;
}

nn::StateDict load_compressed(const std::string& path, nn::Metadata* metadata) {
  return decode(datasets::read_regular_file(path), path, metadata);
}

bool is_compressed_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f.gcount() == 8 && std::memcmp(magic, kMagic, 8) == 0;
}

}  // namespace minidl::compress
