// minidl/datasets/file_bytes.h — reading untrusted files: the one bounds check
// every format uses, and whole-file reads that gunzip ".gz" incrementally.
//
// minidl reads files users download from strangers (data sets, checkpoints,
// image folders). The rule every loader follows: a size read from a file is
// checked against the bytes actually present — with overflow-safe arithmetic —
// before anything is allocated or read. The check lives here, once:
//
//   check_span(file, "tensor \"fc1.weight\"", offset, count, item_size, length)
//
// "count items of item_size bytes at offset of a file of length bytes": it
// returns count * item_size, or throws a one-line Error naming the file, the
// field, the offset and the length when the product overflows or the span runs
// past the end. IDX, CIFAR-10, image headers, safetensors and the sparse
// checkpoint all call it.
//
// Files are opened without blocking and must be regular files (a FIFO or a
// device could block forever or never end). Files whose name ends in ".gz" are
// inflated chunk by chunk, and reading stops at the size the caller allows:
// an IDX header that declares 16 bytes of data gets 16 bytes (plus one, to
// see that more follows), not the 2 GB a decompression bomb would inflate to.
// With no declared size, a gzip file may inflate to kMaxGzipRatio times its
// compressed size plus kGzipSlack bytes — far above real data (MNIST ≈ 2×,
// numeric CSV ≈ 5–20×), far below what a bomb (≈ 1000×) asks.
//
// Errors name the path and the problem, on one line, e.g.
//   "/data/train-images-idx3-ubyte.gz: corrupt gzip stream, reading stopped at
//    compressed offset 5164 (zlib: incorrect data check)"
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace minidl::datasets {

// ---- the shared bounds check

// True when `count` items of `item_size` bytes starting at `offset` fit in
// `length` bytes; `bytes` receives count * item_size. Never overflows.
bool span_fits(uint64_t offset, uint64_t count, uint64_t item_size, uint64_t length, uint64_t* bytes = nullptr);

// As span_fits, but throws "<file>: truncated: <what> needs <count> x <item_size>
// bytes at offset <offset>, <file> has <length> bytes". Returns the byte count.
uint64_t check_span(const std::string& file, const std::string& what, uint64_t offset, uint64_t count,
                    uint64_t item_size, uint64_t length);

// Overflow-safe product of dimensions (a zero dimension gives 0); false when
// the product of the non-zero dimensions exceeds `cap` (so numel_of, which
// multiplies left to right in int64, cannot overflow either).
bool dims_product(const std::vector<uint64_t>& dims, uint64_t cap, uint64_t* product);

// ---- reading files

inline constexpr uint64_t kMaxGzipRatio = 128;
inline constexpr uint64_t kGzipSlack = uint64_t(64) << 20;
inline constexpr uint64_t kUnlimited = std::numeric_limits<uint64_t>::max();

// A regular file opened for reading, raw or (name ending ".gz") inflated.
class FileReader {
 public:
  // gunzip = false reads a ".gz" name raw (checkpoints are never gzipped).
  explicit FileReader(const std::string& path, bool gunzip = true);
  ~FileReader();
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;

  // Appends up to `n` bytes to `out` / reads them to `dst`; returns how many
  // (fewer only at the end of the file).
  size_t read(std::vector<uint8_t>& out, size_t n);
  size_t read_into(void* dst, size_t n);
  bool gz() const;
  uint64_t file_size() const;  // bytes on disk (compressed size for .gz)
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// How many bytes the file may hold in total, given its first bytes: the
// callback sees what was read so far and returns the total it allows (it is
// asked again once that much is in). Reading stops one byte past the allowed
// total, so the caller sees that more data follows.
using SizeLimit = std::function<uint64_t(const std::vector<uint8_t>& so_far)>;

// The file's bytes (inflated when `path` ends in ".gz"). Without a limit a .gz
// file may inflate to kMaxGzipRatio x its size + kGzipSlack bytes, else Error.
std::vector<uint8_t> read_file_bytes(const std::string& path, const SizeLimit& limit = {});

// The bytes of a regular file (no gunzipping): checkpoints. Rejects FIFOs,
// devices and directories without blocking.
std::string read_regular_file(const std::string& path);

bool is_gz_path(const std::string& path);  // name ends in ".gz"

// The path of `name` in `dir`: "dir/name.gz" when it exists, else "dir/name";
// an Error naming `who`, the directory and both names when neither exists.
std::string find_raw_or_gz(const std::string& dir, const std::string& name, const char* who);

// "file has N bytes" or, for .gz files, "decompressed file has N bytes" — for
// length errors, so the reader knows which length was meant.
std::string describe_length(const std::string& path, uint64_t nbytes);

}  // namespace minidl::datasets
