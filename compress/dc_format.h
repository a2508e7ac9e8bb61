// minidl/compress/dc_format.h — the Deep Compression model file (Han, Mao & Dally
// 2016): pruned weights, each layer's values coded by a trained codebook of 2^b
// centroids or as int8 per channel, with the codes and the relative sparse
// indices entropy-coded (compress/entropy.h: zstd or zlib). Self-describing
// (layer names, shapes, codings and the model's metadata: architecture, input
// scaling), versioned and CRC-checked; loading gives back bit for bit the
// weights the model computed with before saving, so the same accuracy.
//
// File layout (integers little-endian; varint = LEB128, 7 bits a byte):
//
//   offset size  field
//   0      8     magic "MDLDCOMP"
//   8      4     u32 version = 1
//   12     4     u32 T, number of records
//   16     8     u64 size of the whole file in bytes (detects truncation)
//   24     1     u8 codec of every stream: 0 none, 1 zlib (deflate), 2 zstd
//   25     4     u32 CRC-32 of bytes 0..24
//   29           T records: u32 L, L bytes of body, u32 CRC-32 of the body
//
// Body: u16 n, n bytes name (unique), u8 kind, then by kind
//   0 metadata  varint raw length, the rest: stream bytes of "key\0value\0"...
//   1 float32   u8 ndim (1..8), ndim × varint dims, numel × f32 (biases)
//   2 codebook  u8 ndim, dims, u8 b (2..8), 2^b × f32 centroids, varint nnz,
//               stream of indices, stream of codes (one byte each, < 2^b)
//   3 int8      u8 ndim, dims, dims[0] × f32 scales (per output channel,
//               symmetric: W = scale · q), varint nnz, stream of indices,
//               stream of codes (one int8 each, in [−127, 127])
//   stream      varint raw length, varint stored length, the stored bytes
//               (the codec's output; "none" stores the raw bytes)
// Indices: the nnz stored weights' flat (row-major) positions p_0 < p_1 < ...
// as relative indices (the paper's §2), gap g = p_i − p_{i−1} ≥ 1 with
// p_{−1} = −1: g − 1 is written as ⌊(g − 1)/255⌋ bytes 255 followed by
// (g − 1) mod 255. Every other weight is +0.0. Byte symbols rather than the
// paper's 4–5 bit fields, because the entropy coder then models them directly.
//
// Loading validates every length, count, index and code before allocating,
// and fails with a one-line minidl::Error naming the file, the byte offset,
// the record and the field; decoded tensors may take at most 64 MiB + 256 ×
// the file's size. Saving is atomic (nn::write_file_atomic): no partial file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compress/entropy.h"
#include "nn/checkpoint.h"
#include "nn/module.h"

namespace minidl::compress {

// What one record holds, for reports (per-layer bits).
struct CompressedRecord {
  std::string name;    // "fc1.weight", "fc1.bias", "metadata"
  std::string coding;  // "codebook", "int8", "float32", "metadata"
  int bits = 32;       // per stored value: b for a codebook, 8 for int8, 32 for float32
  int64_t numel = 0, nnz = 0;
  int64_t index_bytes = 0, code_bytes = 0;  // stored (entropy-coded) stream bytes
  int64_t bytes = 0;                        // the whole record, header and CRC included
};

struct CompressedFile {
  std::string bytes;
  std::vector<CompressedRecord> records;
};

// Encodes every layer of `model`: Conv2d / Linear weights must carry a
// WeightSharing or Int8Weight parametrization (compress/weight_sharing.h),
// biases go as float32. A layer of any other type holding tensors is an error naming it.
CompressedFile encode_compressed(const nn::Module& model, const nn::Metadata& metadata = {}, Codec codec = Codec::Zstd);
// The dense tensors ("conv1.weight", "conv1.bias", ...) and the metadata.
nn::StateDict decode_compressed(const std::string& bytes, const std::string& source = "<memory>",
                                nn::Metadata* metadata = nullptr);

CompressedFile save_compressed(const nn::Module& model, const std::string& path, const nn::Metadata& metadata = {},
                               Codec codec = Codec::Zstd);
nn::StateDict load_compressed(const std::string& path, nn::Metadata* metadata = nullptr);
// Whether the file starts with this format's magic.
bool is_compressed_file(const std::string& path);

}  // namespace minidl::compress
