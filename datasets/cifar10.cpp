#include "datasets/cifar10.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <vector>

#include "datasets/file_bytes.h"

namespace minidl::datasets {
namespace fs = std::filesystem;

namespace {
constexpr size_t kPixels = 3 * 32 * 32;
constexpr size_t kRecord = 1 + kPixels;
// batches.meta.txt of the binary distribution, in label order.
const std::vector<std::string> kClassNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                              "dog",      "frog",       "horse", "ship", "truck"};
}  // namespace

TensorDataset load_cifar10(const std::string& dir, bool train, std::optional<int64_t> limit) {
  std::error_code ec;
  MINIDL_CHECK(fs::is_directory(dir, ec), "load_cifar10: directory ", dir, " does not exist");
  std::string root = dir;
  const std::string first = train ? "data_batch_1.bin" : "test_batch.bin";
  if (!fs::exists(fs::path(dir) / first, ec) && !fs::exists(fs::path(dir) / (first + ".gz"), ec) &&
      fs::is_directory(fs::path(dir) / "cifar-10-batches-bin", ec))
    root = (fs::path(dir) / "cifar-10-batches-bin").string();  // the tarball's own folder

  std::vector<std::string> names;
  if (train)
    for (int k = 1; k <= 5; ++k) names.push_back("data_batch_" + std::to_string(k) + ".bin");
  else
    names.push_back("test_batch.bin");
  MINIDL_CHECK(!limit || *limit >= 1, "load_cifar10: limit = ", limit.value_or(0), " must be at least 1");

  // Read and validate file by file, stopping early once `limit` records are in.
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  for (const std::string& name : names) {
    if (limit && int64_t(labels.size()) >= *limit) break;
    const std::string path = find_raw_or_gz(root, name, "load_cifar10");
    // With a limit, reading (and inflating) stops once enough records are in.
    const uint64_t want = limit ? uint64_t(*limit) - labels.size() : kUnlimited;
    uint64_t want_bytes = kUnlimited;
    if (!span_fits(0, want, kRecord, kUnlimited, &want_bytes)) want_bytes = kUnlimited;
    const std::vector<uint8_t> b = read_file_bytes(path, [&](const std::vector<uint8_t>&) {
      return want_bytes == kUnlimited ? kUnlimited : want_bytes - 1;  // the reader takes one byte more
    });
    MINIDL_CHECK(!b.empty(), path, ": empty, expected records of ", kRecord, " bytes (1 label + 3072 pixels)");
    const bool whole_file = b.size() < want_bytes;
    MINIDL_CHECK(!whole_file || b.size() % kRecord == 0, path, ": truncated: ", describe_length(path, b.size()),
                 ", not a whole number of ", kRecord, "-byte records (1 label + 3072 pixels); the record at offset ",
                 b.size() / kRecord * kRecord, " has only ", b.size() % kRecord, " bytes");
    const size_t records = b.size() / kRecord;
    // (CIFAR-10 declares no sizes: records are read only as far as the bytes go.)
    for (size_t r = 0; r < records; ++r)
      MINIDL_CHECK(b[r * kRecord] <= 9, path, ": label ", int(b[r * kRecord]), " at offset ", r * kRecord,
                   " (record ", r, "), expected 0..9");
    const size_t take = size_t(std::min<uint64_t>(records, want));
    if (pixels.capacity() == 0) {  // assume every raw file is as long as the first (not a bomb's inflation)
      const size_t expect = records * (is_gz_path(path) ? 1 : names.size());
      pixels.reserve(kPixels * (limit ? std::min(expect, size_t(*limit)) : expect));
    }
    for (size_t r = 0; r < take; ++r) {
      labels.push_back(b[r * kRecord]);
      pixels.insert(pixels.end(), b.begin() + ptrdiff_t(r * kRecord + 1), b.begin() + ptrdiff_t((r + 1) * kRecord));
    }
  }
  const int64_t n = int64_t(labels.size());
  MINIDL_CHECK(!limit || *limit <= n, "load_cifar10: limit = ", *limit, " out of range [1, ", n,
               "] (records in ", root, ")");
  Tensor items = Tensor::empty({n, 3, 32, 32}, DType::UInt8);
  std::memcpy(items.raw_data(), pixels.data(), pixels.size());
  return TensorDataset(std::move(items), std::move(labels), 10, kClassNames);
}

}  // namespace minidl::datasets
