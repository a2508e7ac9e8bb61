#include "datasets/idx.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>
#include <vector>

#include "datasets/file_bytes.h"

namespace minidl::datasets {
namespace fs = std::filesystem;

namespace {

struct IdxType {
  uint8_t code;
  const char* name;
  size_t bytes;  // size of one element in the file
  DType dtype;   // what read_idx returns
};
constexpr IdxType kTypes[] = {
    {0x08, "u8", 1, DType::UInt8},   {0x09, "i8", 1, DType::Int8},      {0x0B, "i16", 2, DType::Int32},
    {0x0C, "i32", 4, DType::Int32},  {0x0D, "f32", 4, DType::Float32},  {0x0E, "f64", 8, DType::Float32},
};

uint64_t be32(const uint8_t* p) { return (uint64_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint64_t be64(const uint8_t* p) { return (be32(p) << 32) | be32(p + 4); }

std::string hex(uint64_t v, int digits) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

// A parsed IDX header: the element type, the dimensions, where the data starts.
struct IdxHeader {
  const IdxType* type = nullptr;
  Shape dims;
  size_t data_offset = 0;
};

IdxHeader parse_header(const std::vector<uint8_t>& b, const std::string& path) {
  MINIDL_CHECK(b.size() >= 4, path, ": truncated: IDX header needs 4 bytes at offset 0, ",
               describe_length(path, b.size()));
  MINIDL_CHECK(b[0] == 0 && b[1] == 0, path, ": wrong magic ", hex(be32(b.data()), 8),
               " at offset 0, expected 0x0000 then a dtype byte and a rank byte"
               " (0x00000803 for images, 0x00000801 for labels); not an IDX file?");
  IdxHeader h;
  for (const IdxType& t : kTypes)
    if (t.code == b[2]) h.type = &t;
  MINIDL_CHECK(h.type != nullptr, path, ": unknown IDX dtype ", hex(b[2], 2),
               " at offset 2, expected 0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32), 0x0D (f32) or 0x0E (f64)");
  const size_t rank = b[3];
  MINIDL_CHECK(rank >= 1, path, ": IDX rank 0 at offset 3, expected at least 1 dimension");
  h.data_offset = 4 + 4 * rank;
  MINIDL_CHECK(b.size() >= h.data_offset, path, ": truncated: header says rank ", rank, ", which needs ",
               h.data_offset, " header bytes, ", describe_length(path, b.size()));

  // Data size = prod(dims) * element size, overflow-safe (dims_product): the
  // product of the non-zero dimensions is capped at 2^56 (times at most 8 bytes
  // cannot overflow, and numel_of's int64 products stay in range even when a
  // zero dimension comes last), far above any file length.
  constexpr uint64_t kCap = uint64_t(1) << 56;
  std::vector<uint64_t> dims;
  std::ostringstream size_text;
  for (size_t d = 0; d < rank; ++d) {
    dims.push_back(be32(&b[4 + 4 * d]));
    h.dims.push_back(int64_t(dims.back()));
    size_text << (d ? "x" : "") << dims.back();
  }
  uint64_t count = 0, data_bytes = 0;
  const bool huge = !dims_product(dims, kCap, &count);
  const bool fits = !huge && span_fits(h.data_offset, count, h.type->bytes, b.size(), &data_bytes);
  if (!fits || data_bytes != b.size() - h.data_offset) {
    if (h.type->bytes != 1) size_text << " " << h.type->name << " elements of " << h.type->bytes << " bytes";
    if (huge) size_text << " = more than 2^56 elements";
    else size_text << " = " << data_bytes << " bytes";
    // read_idx_bytes stops one byte past the declared size, so "trailing" never reports a length.
    if (fits)
      detail::fail(path, ": trailing data: header says ", size_text.str(), " of data from offset ", h.data_offset,
                   ", the ", is_gz_path(path) ? "decompressed " : "", "file continues past byte ",
                   h.data_offset + data_bytes);
    detail::fail(path, ": truncated: header says ", size_text.str(), " of data from offset ", h.data_offset, ", ",
                 describe_length(path, b.size()));
  }
  return h;
}

// How many bytes an IDX file may have, judged from its first bytes: reading
// (and inflating, for .gz) stops one byte past the size its header declares,
// so a small header in front of a decompression bomb costs nothing.
uint64_t idx_size_limit(const std::vector<uint8_t>& b) {
  // A fixed answer for a bad header (parse_header reports it): answering
  // b.size() would let reading creep on one byte at a time (a fuzzer found it).
  if (b.size() < 4 || b[0] != 0 || b[1] != 0 || b[3] == 0) return 4;
  const size_t header = 4 + 4 * size_t(b[3]);
  if (b.size() < header) return header;
  size_t elem = 0;
  for (const IdxType& t : kTypes)
    if (t.code == b[2]) elem = t.bytes;
  if (elem == 0) return 4;
  std::vector<uint64_t> dims;
  for (size_t d = 0; d < b[3]; ++d) dims.push_back(be32(&b[4 + 4 * d]));
  uint64_t count = 0, bytes = 0;
  if (!dims_product(dims, uint64_t(1) << 56, &count)) return kUnlimited - 1;
  span_fits(0, count, elem, kUnlimited, &bytes);
  return header + bytes;
}

std::vector<uint8_t> read_idx_bytes(const std::string& path) { return read_file_bytes(path, idx_size_limit); }

template <class Out, class Conv>
void convert_all(const uint8_t* src, size_t elem_bytes, Out* dst, size_t n, Conv conv) {
  for (size_t i = 0; i < n; ++i) dst[i] = conv(src + i * elem_bytes);
}

Tensor decode(const std::vector<uint8_t>& b, const IdxHeader& h) {
  Tensor t = Tensor::empty(h.dims, h.type->dtype);
  const uint8_t* src = b.data() + h.data_offset;
  const size_t n = size_t(t.numel());
  switch (h.type->code) {
    case 0x08: if (n) std::memcpy(t.raw_data(), src, n); break;
    case 0x09: if (n) std::memcpy(t.raw_data(), src, n); break;
    case 0x0B: convert_all(src, 2, t.data<int32_t>(), n, [](const uint8_t* p) {
                 return int32_t(int16_t(uint16_t((p[0] << 8) | p[1]))); }); break;
    case 0x0C: convert_all(src, 4, t.data<int32_t>(), n, [](const uint8_t* p) {
                 return int32_t(uint32_t(be32(p))); }); break;
    case 0x0D: convert_all(src, 4, t.data<float>(), n, [](const uint8_t* p) {
                 uint32_t u = uint32_t(be32(p)); float f; std::memcpy(&f, &u, 4); return f; }); break;
    case 0x0E: convert_all(src, 8, t.data<float>(), n, [](const uint8_t* p) {
                 uint64_t u = be64(p); double d; std::memcpy(&d, &u, 8); return float(d); }); break;
  }
  return t;
}

// Reads an MNIST images (rank 3) or labels (rank 1) file, insisting on u8.
Tensor read_mnist_part(const std::string& path, size_t rank, const char* what) {
  const std::vector<uint8_t> bytes = read_idx_bytes(path);
  const IdxHeader h = parse_header(bytes, path);
  MINIDL_CHECK(h.type->code == 0x08 && h.dims.size() == rank, path, ": expected an IDX ", what, " file (u8, rank ",
               rank, ", magic ", hex(0x800 + rank, 8), "), got ", h.type->name, " rank ", h.dims.size(),
               " (magic ", hex(be32(bytes.data()), 8), ")");
  return decode(bytes, h);
}

}  // namespace

Tensor read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_idx_bytes(path);
  return decode(bytes, parse_header(bytes, path));
}

TensorDataset load_mnist(const std::string& dir, bool train, std::optional<int64_t> limit) {
  std::error_code ec;
  MINIDL_CHECK(fs::is_directory(dir, ec), "load_mnist: directory ", dir, " does not exist",
               " (expected the four MNIST-format IDX files there)");
  const std::string prefix = train ? "train" : "t10k";
  const std::string images_path = find_raw_or_gz(dir, prefix + "-images-idx3-ubyte", "load_mnist");
  const std::string labels_path = find_raw_or_gz(dir, prefix + "-labels-idx1-ubyte", "load_mnist");
  Tensor images = read_mnist_part(images_path, 3, "images (N x rows x cols)");
  Tensor labels = read_mnist_part(labels_path, 1, "labels");

  const int64_t n = images.size(0);
  MINIDL_CHECK(labels.size(0) == n, "load_mnist: mismatched counts: ", images_path, " has ", n, " images but ",
               labels_path, " has ", labels.size(0), " labels");
  MINIDL_CHECK(!limit || (*limit >= 1 && *limit <= n), "load_mnist: limit = ", limit.value_or(0),
               " out of range [1, ", n, "] (examples in ", images_path, ")");
  const uint8_t* lab = labels.data<uint8_t>();
  const int64_t num_classes = n ? int64_t(*std::max_element(lab, lab + n)) + 1 : 0;
  const int64_t keep = limit.value_or(n);

  std::vector<int64_t> label_vec(lab, lab + keep);
  // [N, rows, cols] -> [N, 1, rows, cols]: one channel, NCHW like every image dataset.
  Tensor items = images.reshape({n, 1, images.size(1), images.size(2)});
  if (keep < n) items = items.narrow(0, keep).clone();  // drop the unused rows' memory
  return TensorDataset(std::move(items), std::move(label_vec), num_classes);
}

}  // namespace minidl::datasets
