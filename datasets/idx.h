// minidl/datasets/idx.h — the IDX format and MNIST-style datasets (MNIST, Fashion-MNIST).
//
// IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): all integers big-endian.
//   offset 0: 0x00 0x00            magic
//   offset 2: dtype                0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//   offset 3: rank                 number of dimensions, >= 1
//   offset 4: rank x uint32        the dimensions
//   offset 4 + 4*rank: data        prod(dims) elements, row-major, nothing after
// Image files are u8 rank 3 (N x rows x cols, magic 0x00000803), label files
// u8 rank 1 (N, magic 0x00000801). Files may be gzipped (name ending ".gz").
//
// Every field is validated against the (decompressed) length before the data
// is read, and any mismatch is a minidl::Error naming the file, the offset and
// what was expected, e.g.
//   "train-images-idx3-ubyte.gz: truncated: header says 60000x28x28 = 47040000
//    bytes of data from offset 16, decompressed file has 1234 bytes"
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/tensor.h"
#include "datasets/dataset.h"

namespace minidl::datasets {

// Debian's dataset-fashion-mnist package installs the four .gz files here.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// An IDX file as a tensor of its shape. u8 -> UInt8, i8 -> Int8,
// i16 and i32 -> Int32, f32 and f64 -> Float32.
Tensor read_idx(const std::string& path);

// The train (60000) or test (10000, "t10k") split of an MNIST-format dataset
// in `dir`: {train,t10k}-images-idx3-ubyte and {train,t10k}-labels-idx1-ubyte,
// each either gzipped (".gz", preferred when both exist) or raw. Items are
// [1, rows, cols] pixels 0..255 stored as uint8; num_classes is the largest
// label in the whole file + 1 (10 for MNIST and Fashion-MNIST). With `limit`,
// only the first `limit` examples are kept (1 <= limit <= examples in the file).
TensorDataset load_mnist(const std::string& dir = kFashionMnistDir, bool train = true,
                         std::optional<int64_t> limit = {});

}  // namespace minidl::datasets
