#include "compress/sparse_format.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <new>

#include "compress/byte_io.h"
#include "compress/prune.h"
#include "datasets/file_bytes.h"
#include "nn/checkpoint.h"

namespace minidl::compress {

namespace {

constexpr char kMagic[8] = {'M', 'D', 'L', 'S', 'P', 'A', 'R', 'S'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeader = 28;
constexpr uint64_t kMaxNumel = uint64_t(1) << 40;
constexpr uint32_t kOne = 0x3f800000u;  // bits of 1.0f
// A sparse record can stand for far more bytes than it holds (an all-zero
// row costs one byte), so a few hundred bytes could ask for gigabytes. The
// tensors of a file may decode to at most kMaxExpansion x the file's size +
// kExpansionSlack bytes in total, checked before each allocation; a 99%-sparse
// model with its masks expands ~ 170x, a 90%-sparse one ~ 17x, and models
// under 64 MiB decoded load whatever their sparsity. encode_sparse refuses to
// write a file its reader would refuse.
constexpr uint64_t kMaxExpansion = 128;
constexpr uint64_t kExpansionSlack = uint64_t(64) << 20;
uint64_t decoded_limit(uint64_t file_bytes) { return kExpansionSlack + kMaxExpansion * file_bytes; }

enum Encoding : uint8_t { kDense = 0, kCsr = 1, kPattern = 2, kPatternRef = 3 };

using io::crc;
using io::varint_len;
using io::Writer;
using io::Reader;

const uint32_t* bits_of(const Tensor& t) { return static_cast<const uint32_t*>(t.raw_data()); }

// ---------------------------------------------------------------- writing

// The entries of a tensor viewed as rows × cols.
struct Structure {
  int64_t rows = 1, cols = 0;
  std::vector<uint64_t> counts;  // per row
  std::vector<int64_t> col;      // column of each entry, row-major
  std::vector<int64_t> flat;     // flat index of each entry
};

void view_rows(const Shape& s, int64_t numel, int64_t& rows, int64_t& cols) {
  rows = s.size() >= 2 ? s[0] : 1;
  cols = rows ? numel / rows : 0;
}

template <class Pred>
Structure structure(const Tensor& t, Pred is_entry) {
  Structure s;
  view_rows(t.shape(), t.numel(), s.rows, s.cols);
  s.counts.assign(size_t(s.rows), 0);
  const uint32_t* v = bits_of(t);
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < s.cols; ++c)
      if (is_entry(v[r * s.cols + c])) {
        ++s.counts[size_t(r)];
        s.col.push_back(c);
        s.flat.push_back(r * s.cols + c);
      }
  return s;
}

// Index codes of a structure with b-bit relative indices.
std::vector<uint8_t> codes(const Structure& s, int b) {
  const int64_t esc = (int64_t(1) << b) - 1;
  std::vector<uint8_t> out;
  size_t e = 0;
  for (int64_t r = 0; r < s.rows; ++r) {
    int64_t prev = -1;
    for (uint64_t i = 0; i < s.counts[size_t(r)]; ++i, ++e) {
      const int64_t g = s.col[e] - prev;
      for (int64_t q = (g - 1) / esc; q > 0; --q) out.push_back(uint8_t(esc));
      out.push_back(uint8_t((g - 1) % esc));
      prev = s.col[e];
    }
  }
  return out;
}

size_t structure_bytes(const Structure& s, int b) {
  size_t n = 1 + 8 + 8;
  for (uint64_t c : s.counts) n += varint_len(c);
  const int64_t esc = (int64_t(1) << b) - 1;
  uint64_t ncodes = 0;
  size_t e = 0;
  for (int64_t r = 0; r < s.rows; ++r) {
    int64_t prev = -1;
    for (uint64_t i = 0; i < s.counts[size_t(r)]; ++i, ++e) {
      ncodes += uint64_t((s.col[e] - prev - 1) / esc) + 1;
      prev = s.col[e];
    }
  }
  return n + size_t((ncodes * uint64_t(b) + 7) / 8);
}

void write_structure(Writer& w, const Structure& s, int b) {
  const auto c = codes(s, b);
  w.put(uint64_t(b), 1);
  w.put(s.col.size(), 8);
  w.put(c.size(), 8);
  for (uint64_t n : s.counts) w.varint(n);
  if (b == 8) {
    w.raw(c.data(), c.size());
  } else {
    for (size_t i = 0; i < c.size(); i += 2)
      w.put(uint64_t(c[i]) | (i + 1 < c.size() ? uint64_t(c[i + 1]) << 4 : 0), 1);
  }
}

struct Choice {
  Encoding enc = kDense;
  int bits = 0;
  std::string ref;
  size_t bytes = 0;
};

bool is_pattern(const Tensor& t) {
  const uint32_t* v = bits_of(t);
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    if (v[i] != 0 && v[i] != kOne) return false;
  return true;
}

// The cheapest encoding of `t`; `earlier` holds the tensors already written.
Choice choose(const std::string& name, const Tensor& t, const std::map<std::string, Tensor>& earlier,
              const SparseEncodeOptions& o) {
  Choice best{kDense, 0, "", t.nbytes()};
  if (t.dtype() != DType::Float32) return best;
  if (o.index_bits != 0) {
    MINIDL_CHECK(o.index_bits == 4 || o.index_bits == 8, "encode_sparse: index_bits must be 0, 4 or 8, got ",
                 o.index_bits);
    return {kCsr, o.index_bits, "", 0};
  }
  const Structure nz = structure(t, [](uint32_t v) { return v != 0; });
  for (int b : {4, 8}) {
    const size_t n = structure_bytes(nz, b) + 4 * nz.col.size();
    if (n < best.bytes) best = {kCsr, b, "", n};
  }
  if (!is_pattern(t)) return best;
  for (int b : {4, 8}) {
    const size_t n = structure_bytes(nz, b);  // for a 0/1 tensor the entries are the 1.0s
    if (n < best.bytes) best = {kPattern, b, "", n};
  }
  if (name.size() > 5 && name.compare(name.size() - 5, 5, "_mask") == 0) {
    const std::string ref = name.substr(0, name.size() - 5) + "_orig";
    auto it = earlier.find(ref);
    if (it != earlier.end() && it->second.shape() == t.shape() && it->second.dtype() == DType::Float32) {
      const uint32_t *a = bits_of(t), *r = bits_of(it->second);
      bool same = true;
      for (int64_t i = 0, n = t.numel(); i < n && same; ++i) same = (a[i] != 0) == (r[i] != 0);
      if (same && 2 + ref.size() < best.bytes) best = {kPatternRef, 0, ref, 2 + ref.size()};
    }
  }
  return best;
}

void write_record(Writer& file, const std::string& name, const Tensor& t, const Choice& c) {
  MINIDL_CHECK(t.defined(), "encode_sparse: tensor \"", name, "\" is undefined");
  MINIDL_CHECK(!name.empty() && name.size() <= 0xffff, "encode_sparse: tensor name \"", name,
               "\" must have 1..65535 bytes");
  MINIDL_CHECK(t.dim() <= 8, "encode_sparse: tensor \"", name, "\" has ", t.dim(), " dims; at most 8 are supported");
  Writer w;
  w.put(name.size(), 2);
  w.raw(name.data(), name.size());
  w.put(uint64_t(t.dtype()), 1);
  w.put(c.enc, 1);
  w.put(uint64_t(t.dim()), 1);
  for (int64_t d : t.shape()) w.put(uint64_t(d), 8);
  if (c.enc == kDense) {
    w.raw(t.raw_data(), t.nbytes());  // minidl runs on little-endian hosts only (as safetensors)
  } else if (c.enc == kPatternRef) {
    w.put(c.ref.size(), 2);
    w.raw(c.ref.data(), c.ref.size());
  } else {
    const bool values = c.enc == kCsr;
    const Structure s = structure(t, [values](uint32_t v) { return values ? v != 0 : v == kOne; });
    write_structure(w, s, c.bits);
    if (values) {
      const uint32_t* v = bits_of(t);
      for (int64_t f : s.flat) w.put(v[f], 4);
    }
  }
  file.put(w.out.size(), 8);
  file.raw(w.out.data(), w.out.size());
  file.put(crc(w.out.data(), w.out.size()), 4);
}

// ---------------------------------------------------------------- reading

// Allocates a decoded tensor, charging its bytes to the file's budget first.
Tensor allocate(Reader& r, const Shape& shape, DType dt, uint64_t& budget) {
  uint64_t bytes = 0;
  if (!datasets::span_fits(0, uint64_t(numel_of(shape)), dtype_size(dt), budget, &bytes))
    r.fail(r.pos, "shape ", to_string(shape), " ", dtype_name(dt), " would take the decoded tensors past ",
           "the limit for this file (", kMaxExpansion, " x its size + ", kExpansionSlack >> 20,
           " MiB): corrupt or hostile");
  budget -= bytes;
  try {
    return Tensor::zeros(shape, dt);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    r.fail(r.pos, "cannot allocate a tensor of shape ", to_string(shape), ": ", e.what());
  }
}

// Decode a csr/pattern structure into flat indices, checking it against rows × cols.
std::vector<int64_t> read_structure(Reader& r, int64_t rows, int64_t cols, int64_t numel) {
  const size_t at_bits = r.pos;
  const uint64_t b = r.get(1, "index width");
  if (b != 4 && b != 8) r.fail(at_bits, "index width must be 4 or 8 bits, got ", b);
  const size_t at_nnz = r.pos;
  const uint64_t nnz = r.get(8, "entry count");
  const uint64_t ncodes = r.get(8, "code count");
  if (nnz > uint64_t(numel) || ncodes < nnz || ncodes > uint64_t(r.end - r.pos) * 8 / b)
    r.fail(at_nnz, "entry count ", nnz, " / code count ", ncodes, " impossible for ", numel,
           " elements and the record's length");
  if (uint64_t(rows) > r.end - r.pos) r.fail(r.pos, rows, " row counts cannot fit in the record");
  std::vector<uint64_t> counts(static_cast<size_t>(rows));
  uint64_t sum = 0;
  for (auto& c : counts) {
    const size_t at = r.pos;
    c = r.varint("row count");
    if (c > uint64_t(cols)) r.fail(at, "row has ", c, " entries, more than its ", cols, " columns");
    sum += c;
  }
  if (sum != nnz) r.fail(at_nnz, "row counts sum to ", sum, ", the entry count is ", nnz);
  const size_t code_bytes = size_t((ncodes * b + 7) / 8);
  r.need(code_bytes, "index codes");
  const unsigned char* cp = r.base + r.pos;
  const size_t code_at = r.pos;
  r.pos += code_bytes;
  auto code = [&](uint64_t i) -> int64_t { return b == 8 ? cp[i] : (cp[i / 2] >> (4 * (i % 2))) & 0xf; };
  const int64_t esc = (int64_t(1) << b) - 1;
  std::vector<int64_t> flat;
  flat.reserve(size_t(nnz));
  uint64_t ci = 0;
  for (int64_t row = 0; row < rows; ++row) {
    int64_t p = -1;
    for (uint64_t left = counts[size_t(row)]; left > 0;) {
      if (ci >= ncodes) r.fail(code_at, "index codes end before row ", row, " is complete");
      const int64_t c = code(ci++);
      p += c == esc ? esc : c + 1;
      if (p >= cols) r.fail(code_at + size_t((ci - 1) * b / 8), "index code ", ci - 1, " moves past the end of row ", row, " (", cols, " columns)");
      if (c != esc) {
        flat.push_back(row * cols + p);
        --left;
      }
    }
  }
  if (ci != ncodes) r.fail(code_at, ncodes - ci, " index codes left over after the last row");
  if (b == 4 && ncodes % 2 && (cp[code_bytes - 1] >> 4) != 0) r.fail(code_at + code_bytes - 1, "padding bits are not zero");
  return flat;
}

constexpr io::HeaderFormat kFormat{"sparse checkpoint", kMagic, kVersion, kHeader};

// The fields every record starts with: name, dtype, encoding, shape.
struct RecordHead {
  std::string name;
  DType dtype = DType::Float32;
  uint64_t enc = kDense;
  Shape shape;
  uint64_t numel = 1;
};

// Record i at byte `pos`: u64 length, body, CRC-32 of the body. Checks the
// length and the checksum; returns a Reader over the body.
Reader open_record(const std::string& src, const unsigned char* base, size_t size, size_t pos, uint64_t i) {
  Reader r{src, base, pos, size, "record " + std::to_string(i)};
  const uint64_t len = r.get(8, "record length");
  if (len > size - r.pos || size - r.pos - len < 4)
    r.fail(pos, "record length ", len, " runs past the end of the file (", size, " bytes)");
  r.end = r.pos + size_t(len);
  io::check_record_crc(r);
  return r;
}

// Reads and checks the record's head; `index` holds the names read so far.
RecordHead read_head(Reader& r, const std::map<std::string, size_t>& index) {
  RecordHead h;
  const size_t body = r.pos;
  const size_t nlen = size_t(r.get(2, "name length"));
  if (nlen == 0) r.fail(body, "empty tensor name");
  h.name = r.str(nlen, "name");
  r.context += " (\"" + h.name + "\")";
  if (index.count(h.name)) r.fail(body, "duplicate tensor name");
  const size_t at_dtype = r.pos;
  const uint64_t dt = r.get(1, "dtype");
  if (dt > uint64_t(DType::Int64)) r.fail(at_dtype, "unknown dtype code ", dt);
  h.dtype = DType(dt);
  h.enc = r.get(1, "encoding");
  if (h.enc > kPatternRef) r.fail(at_dtype + 1, "unknown encoding ", h.enc);
  if (h.enc != kDense && h.dtype != DType::Float32) r.fail(at_dtype + 1, "encoding ", h.enc, " needs float32");
  const uint64_t ndim = r.get(1, "ndim");
  if (ndim > 8) r.fail(at_dtype + 2, ndim, " dims; at most 8 are supported");
  for (uint64_t d = 0; d < ndim; ++d) {
    const size_t at = r.pos;
    const uint64_t v = r.get(8, "dimension");
    if (v > kMaxNumel || (v && h.numel > kMaxNumel / v)) r.fail(at, "dimension ", v, " makes the tensor too large");
    h.numel *= v;
    h.shape.push_back(int64_t(v));
  }
  return h;
}

// kDense: the elements' bytes, exactly numel x the dtype's size of them.
Tensor read_dense(Reader& r, const RecordHead& h, uint64_t& budget) {
  const uint64_t n = h.numel * dtype_size(h.dtype);
  if (n != r.end - r.pos) r.fail(r.pos, "dense data has ", r.end - r.pos, " bytes, shape ", to_string(h.shape), " ",
                                 dtype_name(h.dtype), " needs ", n);
  Tensor t = allocate(r, h.shape, h.dtype, budget);
  std::memcpy(t.raw_data(), r.base + r.pos, size_t(n));
  r.pos += size_t(n);
  return t;
}

// kPatternRef: the 0/1 pattern of an earlier float32 record of the same shape
// (a mask is 1 where its weight is not 0), named by the record.
Tensor read_pattern_ref(Reader& r, const RecordHead& h, const nn::StateDict& out,
                        const std::map<std::string, size_t>& index, uint64_t& budget) {
  const size_t at = r.pos;
  const std::string ref = r.str(size_t(r.get(2, "reference length")), "reference name");
  auto it = index.find(ref);
  if (it == index.end()) r.fail(at, "refers to \"", ref, "\", which is not an earlier record");
  const Tensor& src_t = out[it->second].second;
  if (src_t.shape() != h.shape || src_t.dtype() != DType::Float32)
    r.fail(at, "refers to \"", ref, "\" of shape ", to_string(src_t.shape()), ", expected ", to_string(h.shape));
  Tensor t = allocate(r, h.shape, h.dtype, budget);
  const uint32_t* s = bits_of(src_t);
  float* v = t.data<float>();
  for (uint64_t j = 0; j < h.numel; ++j) v[j] = s[j] != 0 ? 1.f : 0.f;
  return t;
}

// kCsr / kPattern: the structure of the entries, then (kCsr) their float32
// values, filling the record's bytes exactly; kPattern's entries are 1.0.
Tensor read_entries(Reader& r, const RecordHead& h, uint64_t& budget) {
  int64_t rows, cols;
  view_rows(h.shape, int64_t(h.numel), rows, cols);
  const auto flat = read_structure(r, rows, cols, int64_t(h.numel));
  Tensor t = allocate(r, h.shape, h.dtype, budget);
  uint32_t* v = static_cast<uint32_t*>(t.raw_data());
  if (h.enc == kPattern) {
    for (int64_t f : flat) v[f] = kOne;
  } else {
    r.need(4 * flat.size(), "values");
    if (r.end - r.pos != 4 * flat.size()) r.fail(r.pos, r.end - r.pos - 4 * flat.size(), " bytes after the values");
    for (int64_t f : flat) v[f] = uint32_t(r.get(4, "value"));
  }
  return t;
}

nn::StateDict decode(const std::string& bytes, const std::string& src) {
  auto [h, count] = io::check_header(bytes, src, kFormat);
  const size_t size = bytes.size();
  nn::StateDict out;
  std::map<std::string, size_t> index;  // name -> position in out
  uint64_t budget = decoded_limit(size);  // bytes the tensors may still take
  size_t pos = kHeader;
  for (uint64_t i = 0; i < count; ++i) {
    Reader r = open_record(src, h.base, size, pos, i);
    RecordHead head = read_head(r, index);
    Tensor t = head.enc == kDense        ? read_dense(r, head, budget)
               : head.enc == kPatternRef ? read_pattern_ref(r, head, out, index, budget)
                                         : read_entries(r, head, budget);
    if (r.pos != r.end) r.fail(r.pos, r.end - r.pos, " unexpected bytes at the end of the record");
    index[head.name] = out.size();
    out.emplace_back(std::move(head.name), std::move(t));
    pos = r.end + 4;
  }
  if (pos != size) h.fail(pos, size - pos, " trailing bytes after the last of ", count, " records");
  return out;
}

}  // namespace

std::string encode_sparse(const nn::StateDict& state, const SparseEncodeOptions& o) {
  MINIDL_CHECK(state.size() <= 0xffffffffu, "encode_sparse: too many tensors");
  Writer file;
  file.raw(kMagic, 8);
  file.put(kVersion, 4);
  file.put(state.size(), 4);
  file.put(0, 8);  // file size, patched below
  file.put(0, 4);  // header checksum, patched below
  std::map<std::string, Tensor> earlier;
  for (const auto& [name, t] : state) {
    MINIDL_CHECK(t.defined(), "encode_sparse: tensor \"", name, "\" is undefined");
    MINIDL_CHECK(!earlier.count(name), "encode_sparse: tensor name \"", name, "\" appears twice");
    write_record(file, name, t, choose(name, t, earlier, o));
    earlier.emplace(name, t);
  }
  std::string& out = file.out;
  uint64_t decoded = 0;
  for (const auto& [name, t] : state) decoded += t.nbytes();
  MINIDL_CHECK(decoded <= decoded_limit(out.size()), "encode_sparse: the ", decoded, "-byte state would be stored in ",
               out.size(), " bytes, more than the ", kMaxExpansion, "x (+", kExpansionSlack >> 20,
               " MiB) expansion the reader allows; save it with nn::save_safetensors instead");
  for (int i = 0; i < 8; ++i) out[size_t(16 + i)] = char((uint64_t(out.size()) >> (8 * i)) & 0xff);
  const uint32_t c = crc(out.data(), 24);
  for (int i = 0; i < 4; ++i) out[size_t(24 + i)] = char((c >> (8 * i)) & 0xff);
  return out;
}

nn::StateDict decode_sparse(const std::string& bytes, const std::string& source) { return decode(bytes, source); }

void save_sparse(const nn::StateDict& state, const std::string& path, const SparseEncodeOptions& o) {
  nn::write_file_atomic(path, encode_sparse(state, o));
}

void save_sparse(const nn::Module& model, const std::string& path, const SparseEncodeOptions& o) {
  save_sparse(model.state_dict(), path, o);
}

nn::StateDict load_sparse(const std::string& path) {
  return decode(datasets::read_regular_file(path), path);  // regular files only: a FIFO would block
}

void load_sparse(nn::Module& model, const std::string& path, bool strict) {
  load_pruned_state(model, load_sparse(path), path, strict);
}

int64_t sparse_record_bytes(const std::string& name, const Tensor& t) {
  const Choice c = choose(name, t, {}, {});
  return int64_t(8 + 2 + name.size() + 3 + 8 * size_t(t.dim()) + c.bytes + 4);
}

}  // namespace minidl::compress
