// minidl/datasets/cifar10.h — CIFAR-10 in its "binary version" (Krizhevsky 2009).
//
// https://www.cs.toronto.edu/~kriz/cifar.html, cifar-10-binary.tar.gz, which
// unpacks to cifar-10-batches-bin/ with
//   data_batch_1.bin .. data_batch_5.bin   training set, 10000 records each
//   test_batch.bin                         test set, 10000 records
// Each record is 3073 bytes: 1 label byte (0..9), then the 32x32 image as
// 1024 red, 1024 green and 1024 blue bytes, each plane row-major — already
// CHW, so records are copied as they are. Files may also be gzipped (".gz").
//
// A file that is not a whole number of records, or a label outside 0..9, is a
// minidl::Error naming the file and the byte offset of the bad record.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "datasets/dataset.h"

namespace minidl::datasets {

// The train (50000) or test (10000) split in `dir` (or in dir/cifar-10-batches-bin).
// Items are [3, 32, 32] pixels 0..255 stored as uint8; 10 classes named
// "airplane", "automobile", ..., "truck". With `limit`, only the first `limit`
// records (in file order) are kept, 1 <= limit <= available.
TensorDataset load_cifar10(const std::string& dir, bool train = true, std::optional<int64_t> limit = {});

}  // namespace minidl::datasets
