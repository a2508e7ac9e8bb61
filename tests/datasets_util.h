// tests/datasets_util.h — helpers shared by the test_datasets_*.cpp suites:
// a temp directory, file writers (raw, text, gzip), IDX/MNIST file builders
// and reading one item of a Dataset.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace minidl::test {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using Idx = std::vector<int64_t>;
using minidl::datasets::Dataset;

// A fresh directory, removed with everything in it at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "minidl_datasets_XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

inline void write_file(const std::string& path, const Bytes& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  REQUIRE(f.good());
}
inline void write_text(const std::string& path, const std::string& s) { write_file(path, Bytes(s.begin(), s.end())); }

inline void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), unsigned(b.size())) == int(b.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

inline void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

// An IDX file: magic 00 00 dtype rank, big-endian dims, then `data` as given.
inline Bytes idx(uint8_t dtype, const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes b{0, 0, dtype, uint8_t(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// n images of rows x cols, pixel (i, y, x) = (i * 7 + y * cols + x) % 256; labels i % 10.
inline Bytes mnist_images(uint32_t n, uint32_t rows, uint32_t cols) {
  Bytes data;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t p = 0; p < rows * cols; ++p) data.push_back(uint8_t((i * 7 + p) % 256));
  return idx(0x08, {n, rows, cols}, data);
}
inline Bytes mnist_labels(uint32_t n) {
  Bytes data;
  for (uint32_t i = 0; i < n; ++i) data.push_back(uint8_t(i % 10));
  return idx(0x08, {n}, data);
}

// A little MNIST-format folder: 12 train and 5 test examples of 3x4.
inline void make_mnist(const TempDir& d, bool gz) {
  auto put = [&](const std::string& name, const Bytes& b) {
    gz ? write_gz(d / (name + ".gz"), b) : write_file(d / name, b);
  };
  put("train-images-idx3-ubyte", mnist_images(12, 3, 4));
  put("train-labels-idx1-ubyte", mnist_labels(12));
  put("t10k-images-idx3-ubyte", mnist_images(5, 3, 4));
  put("t10k-labels-idx1-ubyte", mnist_labels(5));
}

inline std::vector<float> item(const Dataset& ds, int64_t i) {
  std::vector<float> v(static_cast<size_t>(ds.item_numel()));
  ds.read(i, v.data());
  return v;
}

}  // namespace minidl::test
