// Harness: IDX files (datasets/idx.h: read_idx, load_mnist). Built twice:
// fuzz_idx reads raw files, fuzz_idx_gz (FUZZ_IDX_GZ) gzipped ones.
//   byte 0, bit 0: 0 = read_idx of one file, 1 = load_mnist of a folder whose
//                  images file is the input up to byte 1 x size / 256 and whose
//                  labels file is the rest
//   fuzz_idx_gz, byte 0 bits 1-2 mod 3: 0 = the harness gzips the files itself
//                  (so the inflated stream is what the mutations shape);
//                  1 = the input is written as a .gz file as is (damaged gzip,
//                  bombs); 2 = like 0 with load_mnist's limit = byte 1 + 1
#include <zlib.h>

#include <string>
#include <vector>

#include "datasets/idx.h"
#include "fuzz_util.h"

using namespace minidl;

namespace {
std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(compressBound(uLong(size)) + 32);
  z_stream z{};
  deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = uInt(size);
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
void put(const std::filesystem::path& p, const uint8_t* d, size_t n, int mode) {
  if (mode == 1 || mode == 3) {
    const auto g = gzip(d, n);
    fuzz::write_file(p.string() + ".gz", g.data(), g.size());
  } else {
    fuzz::write_file(mode == 2 ? p.string() + ".gz" : p.string(), d, n);
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
#ifdef FUZZ_IDX_GZ
  const int mode = 1 + ((data[0] >> 1) & 3) % 3;
#else
  const int mode = 0;
#endif
  const int kind = data[0] & 1, split = data[1];
  data += 2;
  size -= 2;
  const auto dir = fuzz::scratch() / "idx";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (kind == 0) {
    put(dir / "x", data, size, mode);
    const std::string path = (dir / "x").string() + (mode ? ".gz" : "");
    return fuzz::expect_ok_or_error([&] { (void)datasets::read_idx(path); });
  }
  const size_t cut = size * split / 256;
  put(dir / "train-images-idx3-ubyte", data, cut, mode);
  put(dir / "train-labels-idx1-ubyte", data + cut, size - cut, mode);
  std::optional<int64_t> limit;
  if (mode == 3) limit = int64_t(split) + 1;
  return fuzz::expect_ok_or_error([&] { (void)datasets::load_mnist(dir.string(), true, limit); });
}
