// Tests for datasets/idx.h: IDX/MNIST (raw and .gz, and every kind of bad
// file), plus the real Fashion-MNIST from Debian's dataset-fashion-mnist
// package. Every input file is generated in a temp dir (tests/datasets_util.h).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "datasets/transforms.h"
#include "datasets_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace minidl;
using namespace minidl::datasets;
using namespace minidl::test;

namespace {

Bytes read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

// ---------------------------------------------------------------- IDX / MNIST

TEST_CASE("read_idx decodes every IDX dtype, big-endian") {
  TempDir d;
  write_file(d / "u8", idx(0x08, {2, 3}, {1, 2, 3, 4, 5, 255}));
  Tensor u8 = read_idx(d / "u8");
  CHECK(u8.dtype() == DType::UInt8);
  CHECK(u8.shape() == Shape{2, 3});
  CHECK(u8.to_vector<uint8_t>() == std::vector<uint8_t>{1, 2, 3, 4, 5, 255});

  write_file(d / "i8", idx(0x09, {2}, {0xFF, 0x05}));
  CHECK(read_idx(d / "i8").to_vector<int8_t>() == std::vector<int8_t>{-1, 5});
  write_file(d / "i16", idx(0x0B, {2}, {0xFF, 0xFE, 0x01, 0x00}));
  CHECK(read_idx(d / "i16").to_vector<int32_t>() == std::vector<int32_t>{-2, 256});
  write_file(d / "i32", idx(0x0C, {1}, {0x00, 0x01, 0x00, 0x02}));
  CHECK(read_idx(d / "i32").to_vector<int32_t>() == std::vector<int32_t>{65538});
  write_file(d / "f32", idx(0x0D, {1}, {0x3F, 0xC0, 0x00, 0x00}));  // 1.5f
  CHECK(read_idx(d / "f32").to_vector<float>() == std::vector<float>{1.5f});
  write_file(d / "f64", idx(0x0E, {1}, {0xC0, 0x04, 0, 0, 0, 0, 0, 0}));  // -2.5
  CHECK(read_idx(d / "f64").to_vector<float>() == std::vector<float>{-2.5f});

  write_gz(d / "u8.gz", idx(0x08, {2, 3}, {1, 2, 3, 4, 5, 255}));
  CHECK(read_idx(d / "u8.gz").to_vector<uint8_t>() == std::vector<uint8_t>{1, 2, 3, 4, 5, 255});
  write_file(d / "empty", idx(0x08, {0, 28, 28}, {}));
  CHECK(read_idx(d / "empty").shape() == Shape{0, 28, 28});
}

TEST_CASE("load_mnist reads raw and gzipped folders the same way") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    TempDir d;
    make_mnist(d, gz);
    TensorDataset train = load_mnist(d.path.string(), true);
    CHECK(train.input_scale() == 1.f / 255.f);  // pixels: the recipe divides by 255
    CHECK(train.size() == 12);
    CHECK(train.item_shape() == Shape{1, 3, 4});
    CHECK(train.num_classes() == 10);
    CHECK(train.items().dtype() == DType::UInt8);
    CHECK(train.label(11) == 1);
    std::vector<float> x = item(train, 2);
    CHECK(x.size() == 12);
    CHECK(x[0] == 14.f);
    CHECK(x[11] == 25.f);

    TensorDataset test = load_mnist(d.path.string(), false);
    CHECK(test.size() == 5);
    CHECK(test.labels() == Idx{0, 1, 2, 3, 4});
    CHECK(test.num_classes() == 5);  // largest label in the file + 1

    TensorDataset first = load_mnist(d.path.string(), true, 4);
    CHECK(first.size() == 4);
    CHECK(first.num_classes() == 10);  // from the whole file, not the first 4
    CHECK(item(first, 3) == item(train, 3));
    CHECK(contains(error_of([&] { load_mnist(d.path.string(), true, 13); }), "limit = 13 out of range [1, 12]"));
    CHECK(contains(error_of([&] { load_mnist(d.path.string(), true, 0); }), "limit = 0 out of range [1, 12]"));
  }
}

TEST_CASE("IDX errors name the file, the offset and what was expected") {
  TempDir d;
  const std::string dir = d.path.string();
  auto images = [&](const Bytes& b) { write_file(d / "train-images-idx3-ubyte", b); };
  write_file(d / "train-labels-idx1-ubyte", mnist_labels(12));
  auto load = [&] { return error_of([&] { load_mnist(dir, true); }); };

  SUBCASE("missing directory and files") {
    CHECK(contains(error_of([&] { load_mnist(d / "nope", true); }), "directory " + (d / "nope") + " does not exist"));
    std::string e = load();
    CHECK(contains(e, "neither train-images-idx3-ubyte.gz nor train-images-idx3-ubyte"));
    CHECK(contains(e, dir));
  }
  SUBCASE("truncated data") {
    Bytes b = mnist_images(12, 3, 4);
    b.resize(b.size() - 10);
    images(b);
    CHECK(load() == (d / "train-images-idx3-ubyte") +
                        ": truncated: header says 12x3x4 = 144 bytes of data from offset 16, file has 150 bytes");
  }
  SUBCASE("truncated gzip member names the decompressed length") {
    Bytes b = mnist_images(12, 3, 4);
    b.resize(100);
    write_gz(d / "train-images-idx3-ubyte.gz", b);
    std::string e = load();
    CHECK(contains(e, "train-images-idx3-ubyte.gz: truncated: header says 12x3x4 = 144 bytes of data from offset 16"));
    CHECK(contains(e, "decompressed file has 100 bytes"));
  }
  SUBCASE("trailing bytes") {
    Bytes b = mnist_images(12, 3, 4);
    b.push_back(0);
    images(b);
    CHECK(contains(load(), "train-images-idx3-ubyte: trailing data: header says 12x3x4 = 144 bytes"));
  }
  SUBCASE("truncated header") {
    images({0, 0, 8});
    CHECK(contains(load(), "train-images-idx3-ubyte: truncated: IDX header needs 4 bytes at offset 0, file has 3 bytes"));
    images({0, 0, 8, 3, 0, 0, 0, 12, 0, 0});
    CHECK(contains(load(), "train-images-idx3-ubyte: truncated: header says rank 3, which needs 16 header bytes"));
  }
  SUBCASE("absurd dimensions do not overflow or allocate") {
    images(idx(0x0E, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF}, {1, 2, 3}));
    CHECK(contains(load(), "truncated: header says 4294967295x4294967295x4294967295 f64 elements of 8 bytes"));
  }
  SUBCASE("wrong magic") {
    Bytes b = mnist_images(12, 3, 4);
    b[0] = 0x1f;
    b[1] = 0x8b;  // e.g. a gzip file without the .gz name
    images(b);
    std::string e = load();
    CHECK(contains(e, "train-images-idx3-ubyte: wrong magic 0x1f8b0803 at offset 0"));
    CHECK(contains(e, "not an IDX file"));
  }
  SUBCASE("unknown dtype") {
    images(idx(0x07, {1}, {0}));
    CHECK(contains(load(), "train-images-idx3-ubyte: unknown IDX dtype 0x07 at offset 2"));
  }
  SUBCASE("valid IDX of the wrong kind") {
    images(idx(0x0C, {12, 3}, Bytes(12 * 3 * 4, 0)));
    CHECK(contains(load(), "train-images-idx3-ubyte: expected an IDX images (N x rows x cols) file (u8, rank 3, "
                      "magic 0x00000803), got i32 rank 2"));
  }
  SUBCASE("mismatched counts") {
    images(mnist_images(11, 3, 4));
    std::string e = load();
    CHECK(contains(e, "mismatched counts"));
    CHECK(contains(e, "train-images-idx3-ubyte has 11 images"));
    CHECK(contains(e, "train-labels-idx1-ubyte has 12 labels"));
  }
  SUBCASE("corrupt gzip stream") {
    write_gz(d / "train-images-idx3-ubyte.gz", mnist_images(12, 3, 4));
    Bytes gz = read_all(d / "train-images-idx3-ubyte.gz");
    gz[gz.size() - 6] ^= 0xFF;  // the CRC-32 in the trailer
    write_file(d / "train-images-idx3-ubyte.gz", gz);
    std::string e = load();
    CHECK(contains(e, "train-images-idx3-ubyte.gz: corrupt gzip stream"));
    CHECK(contains(e, "incorrect data check"));
  }
  SUBCASE("truncated gzip stream") {
    write_gz(d / "train-images-idx3-ubyte.gz", mnist_images(12, 3, 4));
    Bytes gz = read_all(d / "train-images-idx3-ubyte.gz");
    gz.resize(gz.size() / 2);
    write_file(d / "train-images-idx3-ubyte.gz", gz);
    CHECK(contains(load(), "train-images-idx3-ubyte.gz: corrupt gzip stream"));
  }
  SUBCASE(".gz file that is not gzip") {
    write_file(d / "train-images-idx3-ubyte.gz", mnist_images(12, 3, 4));
    CHECK(contains(load(), "train-images-idx3-ubyte.gz: not a gzip file"));
  }
  SUBCASE("read_idx of a missing file or a directory") {
    CHECK(error_of([&] { read_idx(d / "none"); }) == (d / "none") + ": no such file");
    CHECK(contains(error_of([&] { read_idx(dir); }), "is a directory"));
  }
}

// ---------------------------------------------------------------- real data

TEST_CASE("Fashion-MNIST from /usr/share/datasets/fashion-mnist") {
  REQUIRE_MESSAGE(fs::is_directory(kFashionMnistDir),
                  "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)");
  TensorDataset train = load_mnist();
  TensorDataset test = load_mnist(kFashionMnistDir, false);
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  CHECK(train.item_shape() == Shape{1, 28, 28});
  CHECK(train.num_classes() == 10);
  std::vector<int64_t> count(10, 0);
  bool in_range = true;
  for (int64_t y : train.labels()) {
    in_range = in_range && y >= 0 && y < 10;
    if (in_range) ++count[size_t(y)];
  }
  REQUIRE(in_range);
  CHECK(count == std::vector<int64_t>(10, 6000));
  count.assign(10, 0);
  for (int64_t y : test.labels()) ++count[size_t(y)];
  CHECK(count == std::vector<int64_t>(10, 1000));
  const std::vector<float> x = item(train, 0);
  CHECK(*std::max_element(x.begin(), x.end()) <= 255.f);
  CHECK(*std::max_element(x.begin(), x.end()) > 0.f);
  CHECK(load_mnist(kFashionMnistDir, true, 100).size() == 100);
  ChannelStats s = channel_stats(Subset(std::make_shared<TensorDataset>(train), [] {
    Idx i(1000);
    for (int64_t k = 0; k < 1000; ++k) i[size_t(k)] = k;
    return i;
  }()), 1 / 255.f);
  CHECK(s.mean[0] == doctest::Approx(0.286).epsilon(0.05));  // the well-known 0.2860 / 0.3530
  CHECK(s.std[0] == doctest::Approx(0.353).epsilon(0.05));
}
