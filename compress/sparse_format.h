// minidl/compress/sparse_format.h — a compact checkpoint for sparse models:
// compressed sparse rows with small relative indices, in the spirit of Deep
// Compression (Han, Mao & Dally 2016, §2: "we store the index difference
// instead of the absolute position ... 4 bits ... when the index difference
// exceeds the bound, we add a filler zero").
//
// A file holds a state_dict (any dtype, any keys), bit for bit: loading gives
// back exactly the tensors that were saved, including -0.0, NaN payloads and
// pruning masks. Each tensor is stored in whichever of the encodings below is
// smallest for it.
//
// File layout (all integers little-endian, CRC-32 as in zlib / PNG / gzip):
//
//   offset size  field
//   0      8     magic "MDLSPARS"
//   8      4     u32 version = 1
//   12     4     u32 T, number of tensor records
//   16     8     u64 size of the whole file in bytes (detects truncation)
//   24     4     u32 CRC-32 of bytes 0..23
//   28           T records, back to back; the file ends right after the last one.
//
// Record:
//   u64 L                    length of the body
//   body, L bytes:
//     u16 n, n bytes         tensor name (state_dict key), unique in the file
//     u8  dtype              0 F32, 1 I8, 2 U8, 3 I32, 4 I64 (minidl::DType)
//     u8  encoding           0 dense, 1 csr, 2 pattern, 3 pattern_ref
//     u8  ndim (≤ 8), ndim × u64 dims
//     payload (below); it must end exactly at the end of the body
//   u32 CRC-32 of the body
//
// Payloads. A tensor is viewed as R rows × C columns: R = dims[0] when ndim ≥ 2
// (a filter or a neuron per row), else R = 1; C = numel / R.
//   dense        numel · sizeof(dtype) raw bytes.
//   csr          (F32 only) the entries are the positions whose value has any
//                bit set (so +0.0 is not stored; -0.0 and NaN are):
//                  u8  b          index bits: 4 or 8
//                  u64 nnz        number of entries
//                  u64 ncodes     number of index codes (nnz + escapes)
//                  R × varint     entries in each row (LEB128, 7 bits a byte); they sum to nnz
//                  ⌈ncodes·b/8⌉ bytes of codes, b bits each; with b = 4 the
//                                 first code of a byte is its low nibble; the
//                                 last byte's unused bits are 0
//                  nnz × f32      the entries' values, in row-major order
//   pattern      (F32 holding only 0.0 and 1.0, e.g. a pruning mask) csr
//                without the values: the entries are the 1.0s.
//   pattern_ref  (F32 0/1) u16 n, n bytes: the name of an earlier record of
//                the same shape; this tensor is 1.0 where that one has any
//                bit set, else 0.0. A pruning mask whose weight_orig is zero
//                exactly where it is masked costs no index bytes at all.
//
// Relative indices: within a row, with p₀ = −1 (before column 0), entry i at
// column p_i has gap g = p_i − p_{i−1} ≥ 1. With E = 2^b − 1, it is written as
// ⌊(g − 1)/E⌋ escape codes E (each moves E columns on, no entry) followed by
// the code (g − 1) mod E ∈ [0, E − 1] (move code + 1 columns on: an entry).
// Unlike Deep Compression's filler zeros, an escape costs b bits instead of
// an index plus a 4-byte value, and it cannot be confused with a kept weight
// that is exactly zero, so masks survive the round trip exactly.
//
// Size: at 90% sparsity with scattered zeros (gap ~ geometric, mean 10),
// b = 4 needs Σ_j 0.9^{15j} ≈ 0.26 escapes per entry, so an entry costs
// ≈ 4 + 0.5·1.26 ≈ 4.6 bytes against 40 dense bytes for the ten positions it
// stands for: ≈ 11.6% of the dense size (tests/test_prune_sparse_format.cpp measures the seed CNN).
//
// Loading checks every length, count, index and checksum, and reports any
// problem as minidl::Error naming the file, the byte offset and the record.
// Saving is atomic (nn::write_file_atomic).
#pragma once

#include <cstdint>
#include <string>

#include "nn/module.h"

namespace minidl::compress {

struct SparseEncodeOptions {
  // 0: choose the smallest encoding per tensor. 4 or 8: store every float32
  // tensor as csr with that index width (to exercise the format in tests).
  int index_bits = 0;
};

// The file's bytes for `state`, and back. `source` names the bytes in errors (a path).
std::string encode_sparse(const nn::StateDict& state, const SparseEncodeOptions& options = {});
nn::StateDict decode_sparse(const std::string& bytes, const std::string& source = "<memory>");

void save_sparse(const nn::StateDict& state, const std::string& path, const SparseEncodeOptions& options = {});
void save_sparse(const nn::Module& model, const std::string& path, const SparseEncodeOptions& options = {});
nn::StateDict load_sparse(const std::string& path);
// Loads into a model: checks the masks, installs masks for pruned parameters
// (compress::prepare_for_state_dict), then load_state_dict (strict by default).
void load_sparse(nn::Module& model, const std::string& path, bool strict = true);

// Bytes of the record `name` → `tensor` would take on its own (best
// encoding, no pattern_ref), header and checksum included. Used by reports.
int64_t sparse_record_bytes(const std::string& name, const Tensor& tensor);

}  // namespace minidl::compress
