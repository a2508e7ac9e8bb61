// Harness: CIFAR-10 binary batches (datasets/cifar10.h: load_cifar10).
//   byte 0, bit 0: the test batch is gzipped by the harness; bit 1: written as
//   a .gz as is; bits 2-7: limit (0 = none, else that many records)
#include <zlib.h>

#include <vector>

#include "datasets/cifar10.h"
#include "fuzz_util.h"

using namespace minidl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int flags = data[0];
  data += 1;
  size -= 1;
  const auto dir = fuzz::scratch() / "cifar";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (flags & 1) {
    std::vector<uint8_t> out(compressBound(uLong(size)) + 32);
    z_stream z{};
    deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = const_cast<Bytef*>(data);
    z.avail_in = uInt(size);
    z.next_out = out.data();
    z.avail_out = uInt(out.size());
    deflate(&z, Z_FINISH);
    out.resize(z.total_out);
    deflateEnd(&z);
    fuzz::write_file(dir / "test_batch.bin.gz", out.data(), out.size());
  } else {
    fuzz::write_file(flags & 2 ? dir / "test_batch.bin.gz" : dir / "test_batch.bin", data, size);
  }
  std::optional<int64_t> limit;
  if (flags >> 2) limit = flags >> 2;
  return fuzz::expect_ok_or_error([&] { (void)datasets::load_cifar10(dir.string(), false, limit); });
}
