// minidl/datasets/file_bytes.h — whole-file reads, transparently gunzipping ".gz".
//
// The dataset readers parse fixed binary layouts (IDX, CIFAR-10 records), so
// the simplest robust approach is to read the whole file into memory and
// validate every length against the byte count before touching the data.
// Files whose name ends in ".gz" are decompressed with zlib (gzread), and the
// result is what the caller validates; a corrupt or truncated gzip stream, or
// a ".gz" file that is not gzip at all, is an Error.
//
// Errors name the path and the problem, on one line, e.g.
//   "/data/train-images-idx3-ubyte.gz: corrupt gzip stream, reading stopped at
//    compressed offset 5164 (zlib: incorrect data check)"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl::datasets {

// The file's bytes (decompressed when `path` ends in ".gz").
std::vector<uint8_t> read_file_bytes(const std::string& path);

bool is_gz_path(const std::string& path);  // name ends in ".gz"

// The path of `name` in `dir`: "dir/name.gz" when it exists, else "dir/name";
// an Error naming `who`, the directory and both names when neither exists.
std::string find_raw_or_gz(const std::string& dir, const std::string& name, const char* who);

// "file has N bytes" or, for .gz files, "decompressed file has N bytes" — for
// length errors, so the reader knows which length was meant.
std::string describe_length(const std::string& path, uint64_t nbytes);

}  // namespace minidl::datasets
