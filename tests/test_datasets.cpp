// Tests for datasets/: IDX/MNIST (raw and .gz, and every kind of bad file),
// CIFAR-10 batches, CSV, image folders (PNGs written with stb_image_write),
// Dataset/TensorDataset/Subset, the DataLoader (batching, seeded shuffling)
// and the batch transforms; plus the real Fashion-MNIST from Debian's
// dataset-fashion-mnist package. Every input file is generated in a temp dir.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <zlib.h>

#if __has_include(<stb_image_write.h>)
#include <stb_image_write.h>
#else
#include <stb/stb_image_write.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/random.h"
#include "datasets/cifar10.h"
#include "datasets/csv.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace minidl;
using namespace minidl::datasets;
using Bytes = std::vector<uint8_t>;
using Idx = std::vector<int64_t>;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

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

void write_file(const std::string& path, const Bytes& b) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  REQUIRE(f.good());
}
void write_text(const std::string& path, const std::string& s) { write_file(path, Bytes(s.begin(), s.end())); }

void write_gz(const std::string& path, const Bytes& b) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, b.data(), unsigned(b.size())) == int(b.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

Bytes read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

void put_be32(Bytes& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

// An IDX file: magic 00 00 dtype rank, big-endian dims, then `data` as given.
Bytes idx(uint8_t dtype, const std::vector<uint32_t>& dims, const Bytes& data) {
  Bytes b{0, 0, dtype, uint8_t(dims.size())};
  for (uint32_t d : dims) put_be32(b, d);
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// n images of rows x cols, pixel (i, y, x) = (i * 7 + y * cols + x) % 256; labels i % 10.
Bytes mnist_images(uint32_t n, uint32_t rows, uint32_t cols) {
  Bytes data;
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t p = 0; p < rows * cols; ++p) data.push_back(uint8_t((i * 7 + p) % 256));
  return idx(0x08, {n, rows, cols}, data);
}
Bytes mnist_labels(uint32_t n) {
  Bytes data;
  for (uint32_t i = 0; i < n; ++i) data.push_back(uint8_t(i % 10));
  return idx(0x08, {n}, data);
}

// A little MNIST-format folder: 12 train and 5 test examples of 3x4.
void make_mnist(const TempDir& d, bool gz) {
  auto put = [&](const std::string& name, const Bytes& b) {
    gz ? write_gz(d / (name + ".gz"), b) : write_file(d / name, b);
  };
  put("train-images-idx3-ubyte", mnist_images(12, 3, 4));
  put("train-labels-idx1-ubyte", mnist_labels(12));
  put("t10k-images-idx3-ubyte", mnist_images(5, 3, 4));
  put("t10k-labels-idx1-ubyte", mnist_labels(5));
}

std::vector<float> item(const Dataset& ds, int64_t i) {
  std::vector<float> v(static_cast<size_t>(ds.item_numel()));
  ds.read(i, v.data());
  return v;
}

// A dataset of n scalar items [1] whose value is its index; label = index % k.
std::shared_ptr<TensorDataset> counting(int64_t n, int64_t k = 3) {
  std::vector<float> v;
  Idx labels;
  for (int64_t i = 0; i < n; ++i) v.push_back(float(i)), labels.push_back(i % k);
  return std::make_shared<TensorDataset>(Tensor::from_vector(v, {n, 1}), labels, k);
}

Idx visit_order(DataLoader& loader) {
  Idx seen;
  for (const Batch& b : loader)
    for (float v : b.x.to_vector<float>()) seen.push_back(int64_t(v));
  return seen;
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

// ---------------------------------------------------------------- CIFAR-10

namespace {
// `n` records; record r of file f has label (f + r) % 10 and pixel p = (f * 31 + r + p) % 256.
Bytes cifar_records(int f, int n) {
  Bytes b;
  for (int r = 0; r < n; ++r) {
    b.push_back(uint8_t((f + r) % 10));
    for (int p = 0; p < 3072; ++p) b.push_back(uint8_t((f * 31 + r + p) % 256));
  }
  return b;
}
}  // namespace

TEST_CASE("load_cifar10 reads the binary batches as CHW uint8") {
  TempDir d;
  for (int f = 1; f <= 5; ++f) write_file(d / ("cifar-10-batches-bin/data_batch_" + std::to_string(f) + ".bin"),
                                          cifar_records(f, 3));
  write_file(d / "cifar-10-batches-bin/test_batch.bin", cifar_records(0, 4));

  TensorDataset train = load_cifar10(d.path.string(), true);  // finds the tarball's sub-folder
  CHECK(train.input_scale() == 1.f / 255.f);
  CHECK(train.size() == 15);
  CHECK(train.item_shape() == Shape{3, 32, 32});
  CHECK(train.num_classes() == 10);
  CHECK(train.class_names().front() == "airplane");
  CHECK(train.class_names().back() == "truck");
  CHECK(train.labels() == Idx{1, 2, 3, 2, 3, 4, 3, 4, 5, 4, 5, 6, 5, 6, 7});
  std::vector<float> x = item(train, 4);  // file 2, record 1
  CHECK(x[0] == float((2 * 31 + 1) % 256));
  CHECK(x[1024] == float((2 * 31 + 1 + 1024) % 256));  // first green pixel
  CHECK(x[3071] == float((2 * 31 + 1 + 3071) % 256));

  TensorDataset test = load_cifar10(d / "cifar-10-batches-bin", false);
  CHECK(test.size() == 4);
  CHECK(load_cifar10(d.path.string(), true, 7).labels() == Idx{1, 2, 3, 2, 3, 4, 3});
  CHECK(contains(error_of([&] { load_cifar10(d.path.string(), true, 16); }), "limit = 16 out of range [1, 15]"));

  SUBCASE("bad files") {
    Bytes b = cifar_records(3, 3);
    b.resize(b.size() - 100);
    write_file(d / "cifar-10-batches-bin/data_batch_3.bin", b);
    CHECK(contains(error_of([&] { load_cifar10(d.path.string(), true); }),
              "data_batch_3.bin: truncated: file has 9119 bytes, not a whole number of 3073-byte records "
              "(1 label + 3072 pixels); the record at offset 6146 has only 2973 bytes"));
    b = cifar_records(3, 3);
    b[3073] = 10;
    write_file(d / "cifar-10-batches-bin/data_batch_3.bin", b);
    CHECK(contains(error_of([&] { load_cifar10(d.path.string(), true); }),
              "data_batch_3.bin: label 10 at offset 3073 (record 1), expected 0..9"));
    fs::remove(d / "cifar-10-batches-bin/data_batch_3.bin");
    CHECK(contains(error_of([&] { load_cifar10(d.path.string(), true); }),
              "neither data_batch_3.bin.gz nor data_batch_3.bin"));
    CHECK(contains(error_of([&] { load_cifar10(d / "missing", true); }), "does not exist"));
  }
}

// ---------------------------------------------------------------- CSV

TEST_CASE("load_csv: features, label column by name or index, string labels") {
  TempDir d;
  write_text(d / "a.csv", "x1, x2, \"y\", x3\r\n1.5, 2, 1, -3\r\n\r\n4, 5e-1, 0, 6\r\n7, 8, 2, 9\n\n");
  TensorDataset ds = load_csv(d / "a.csv", {.label_name = "y"});
  CHECK(ds.input_scale() == 1.f);  // features as they are, never /255
  CHECK(ds.size() == 3);
  CHECK(ds.item_shape() == Shape{3});
  CHECK(ds.labels() == Idx{1, 0, 2});
  CHECK(ds.num_classes() == 3);
  CHECK(item(ds, 0) == std::vector<float>{1.5f, 2.f, -3.f});
  CHECK(item(ds, 1) == std::vector<float>{4.f, 0.5f, 6.f});
  CHECK(load_csv(d / "a.csv", {.label_column = 2}).labels() == Idx{1, 0, 2});
  CHECK(load_csv(d / "a.csv", {.label_column = -2}).labels() == Idx{1, 0, 2});

  write_text(d / "iris.csv", "5.1;3.5;setosa\n6.3;2.9;virginica\n5.9;3.0;versicolor\n5.0;3.4;setosa\n");
  TensorDataset iris = load_csv(d / "iris.csv", {.header = false, .delimiter = ';'});
  CHECK(iris.labels() == Idx{0, 2, 1, 0});
  CHECK(iris.class_names() == std::vector<std::string>{"setosa", "versicolor", "virginica"});
  CHECK(item(iris, 1) == std::vector<float>{6.3f, 2.9f});

  write_text(d / "bad.csv", "a,b,c\n1,2,0\n1,x,1\n");
  CHECK(error_of([&] { load_csv(d / "bad.csv"); }) == (d / "bad.csv") + ": line 3, column 2: 'x' is not a finite number");
  write_text(d / "ragged.csv", "a,b,c\n1,2,0\n1,1\n");
  CHECK(contains(error_of([&] { load_csv(d / "ragged.csv"); }), "ragged.csv: line 3 has 2 fields, expected 3"));
  CHECK(contains(error_of([&] { load_csv(d / "a.csv", {.label_name = "z"}); }),
            "a.csv: label column 'z' not in the header (line 1): x1, x2, y, x3"));
  CHECK(contains(error_of([&] { load_csv(d / "a.csv", {.label_column = 4}); }), "label_column = 4 out of range [-4, 3]"));
  write_text(d / "empty.csv", "a,b\n");
  CHECK(contains(error_of([&] { load_csv(d / "empty.csv"); }), "empty.csv: no data rows after the header"));
  CHECK(contains(error_of([&] { load_csv(d / "none.csv"); }), "none.csv: no such file"));
}

// ---------------------------------------------------------------- image folder

namespace {
// A w x h image with `c` channels, value (seed + x * 10 + y * 3 + ch * 50) % 256.
void write_png(const std::string& path, int w, int h, int c, int seed) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<uint8_t> px;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < c; ++ch) px.push_back(uint8_t((seed + x * 10 + y * 3 + ch * 50) % 256));
  REQUIRE(stbi_write_png(path.c_str(), w, h, c, px.data(), w * c) != 0);
}
}  // namespace

TEST_CASE("load_image_folder: sorted classes, torchvision order, exact pixels, resizing") {
  TempDir d;
  write_png(d / "dog/b.png", 4, 3, 3, 1);
  write_png(d / "dog/a.PNG", 4, 3, 3, 2);
  write_png(d / "dog/sub/c.png", 4, 3, 3, 3);
  write_png(d / "cat/z.png", 4, 3, 3, 4);
  write_text(d / "cat/notes.txt", "not an image");
  write_png(d / "bird/x.png", 4, 3, 1, 5);  // grayscale file

  ImageFolderIndex index = index_image_folder(d.path.string());
  CHECK(index.classes == std::vector<std::string>{"bird", "cat", "dog"});
  REQUIRE(index.samples.size() == 5);
  CHECK(index.samples[2].first == d / "dog/a.PNG");
  CHECK(index.samples[3].first == d / "dog/b.png");
  CHECK(index.samples[4].first == d / "dog/sub/c.png");

  TensorDataset rgb = load_image_folder(d.path.string());
  CHECK(rgb.size() == 5);
  CHECK(rgb.item_shape() == Shape{3, 3, 4});
  CHECK(rgb.labels() == Idx{0, 1, 2, 2, 2});
  CHECK(rgb.class_names() == index.classes);
  std::vector<float> x = item(rgb, 3);  // dog/b.png, seed 1: CHW
  CHECK(x[0] == 1.f);                   // (x 0, y 0, ch 0)
  CHECK(x[1] == 11.f);                  // x 1
  CHECK(x[4] == 4.f);                   // y 1
  CHECK(x[12] == 51.f);                 // green plane
  std::vector<float> gray_as_rgb = item(rgb, 0);
  CHECK(gray_as_rgb[0] == 5.f);
  CHECK(gray_as_rgb[12] == 5.f);  // grey replicated into G

  TensorDataset gray = load_image_folder(d.path.string(), {.channels = 1, .height = 6, .width = 8});
  CHECK(gray.item_shape() == Shape{1, 6, 8});
  CHECK(gray.size() == 5);

  SUBCASE("errors") {
    write_png(d / "dog/big.png", 5, 3, 3, 0);
    CHECK(contains(error_of([&] { load_image_folder(d.path.string()); }),
              "big.png: image is 3x5 but " + (d / "bird/x.png") + " is 3x4"));
    fs::remove(d / "dog/big.png");
    write_text(d / "dog/broken.png", "garbage");
    CHECK(contains(error_of([&] { load_image_folder(d.path.string()); }), "broken.png: cannot decode image"));
    fs::remove(d / "dog/broken.png");
    write_text(d / "dog/w.webp", "");
    CHECK(contains(error_of([&] { index_image_folder(d.path.string()); }), "w.webp: image format not supported"));
    fs::remove(d / "dog/w.webp");
    fs::create_directories(d / "empty");
    CHECK(contains(error_of([&] { index_image_folder(d.path.string()); }), "class folder " + (d / "empty") + " has no image"));
    CHECK(contains(error_of([&] { load_image_folder(d / "nope"); }), "does not exist"));
    CHECK(contains(error_of([&] { load_image_folder(d.path.string(), {.channels = 2}); }), "channels = 2"));
  }
}

// ---------------------------------------------------------------- Dataset, Subset

namespace {
// Labels without pixels: read_item fails, so a test passes only if nothing reads items.
class LabelsOnly : public Dataset {
 public:
  int64_t size() const override { return 6; }
  Shape item_shape() const override { return {1, 2, 2}; }
  int64_t num_classes() const override { return 3; }
  std::string name() const override { return "LabelsOnly"; }

 protected:
  void read_item(int64_t, float*) const override { FAIL("pixels were read"); }
  int64_t label_item(int64_t i) const override { return (i * 2) % 3; }
};
}  // namespace

TEST_CASE("Subset is an index list: labels without pixels, nesting, checks") {
  auto base = std::make_shared<LabelsOnly>();
  CHECK(base->labels() == Idx{0, 2, 1, 0, 2, 1});
  auto sub = std::make_shared<Subset>(base, Idx{5, 0, 0, 3});
  CHECK(sub->size() == 4);
  CHECK(sub->labels() == Idx{1, 0, 0, 0});
  CHECK(sub->label(0) == 1);
  CHECK(sub->num_classes() == 3);
  CHECK(sub->item_shape() == Shape{1, 2, 2});
  Subset nested(sub, {0, 3});
  CHECK(nested.labels() == Idx{1, 0});
  CHECK(contains(error_of([&] { Subset(base, {0, 6}); }), "Subset: indices[1] = 6 out of range [0, 6) of LabelsOnly"));
  CHECK(error_of([&] { sub->label(4); }) == "Subset(4 of LabelsOnly): label(4): index out of range [0, 4)");

  auto ds = counting(5);
  Subset s(ds, {4, 1});
  CHECK(item(s, 0) == std::vector<float>{4.f});
  CHECK(contains(error_of([&] { item(*ds, -1); }), "read(-1): index out of range [0, 5)"));
  CHECK(contains(error_of([&] { TensorDataset(Tensor::zeros({2, 1}), {0, 3}, 3); }), "label 3 out of range [0, 3)"));
  CHECK(contains(error_of([&] { TensorDataset(Tensor::zeros({2, 1}), {0}); }), "2 items"));
}

// ---------------------------------------------------------------- DataLoader

TEST_CASE("DataLoader batches in order, with a partial or dropped last batch") {
  auto ds = counting(10);
  DataLoader loader(ds, {.batch_size = 4});
  CHECK(loader.size() == 3);
  std::vector<int64_t> sizes;
  Idx labels;
  for (const Batch& b : loader) {
    CHECK(b.x.dtype() == DType::Float32);
    CHECK(b.y.dtype() == DType::Int64);
    CHECK(b.x.shape() == Shape{b.y.size(0), 1});
    sizes.push_back(b.x.size(0));
    for (int64_t y : b.y.to_vector<int64_t>()) labels.push_back(y);
  }
  CHECK(sizes == std::vector<int64_t>{4, 4, 2});
  CHECK(labels == Idx{0, 1, 2, 0, 1, 2, 0, 1, 2, 0});
  CHECK(visit_order(loader) == Idx{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});

  DataLoader dropping(ds, {.batch_size = 4, .drop_last = true});
  CHECK(dropping.size() == 2);
  CHECK(visit_order(dropping) == Idx{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(DataLoader(ds, {.batch_size = 5, .drop_last = true}).size() == 2);
  CHECK(DataLoader(ds, {.batch_size = 11, .drop_last = true}).size() == 0);
  DataLoader whole(ds, {.batch_size = 11});
  CHECK(whole.size() == 1);
  CHECK(visit_order(whole).size() == 10);

  // NCHW collation of images.
  TempDir d;
  make_mnist(d, false);
  DataLoader images(std::make_shared<TensorDataset>(load_mnist(d.path.string(), true)), {.batch_size = 5});
  auto it = images.begin();
  CHECK(it->x.shape() == Shape{5, 1, 3, 4});
  CHECK(it->x.to_vector<float>()[12] == 7.f);  // image 1, pixel 0

  CHECK(contains(error_of([&] { DataLoader(ds, {.batch_size = 0}); }), "batch_size = 0"));
  CHECK(contains(error_of([&] { DataLoader(nullptr); }), "dataset is null"));
}

TEST_CASE("DataLoader shuffling is a seeded function of (seed, epoch)") {
  auto ds = counting(50);
  DataLoader a(ds, {.batch_size = 8, .shuffle = true, .seed = 7});
  DataLoader b(ds, {.batch_size = 8, .shuffle = true, .seed = 7});
  DataLoader c(ds, {.batch_size = 8, .shuffle = true, .seed = 8});

  Idx a0 = visit_order(a), a1 = visit_order(a), b0 = visit_order(b), c0 = visit_order(c);
  CHECK(a0 == b0);  // same seed, same epoch
  CHECK(a0 != a1);  // each pass is a new epoch
  CHECK(a0 != c0);  // different seed
  for (const Idx& o : {a0, a1, c0}) {  // a permutation: every index exactly once
    Idx sorted = o;
    std::sort(sorted.begin(), sorted.end());
    Idx expect(50);
    for (int64_t i = 0; i < 50; ++i) expect[size_t(i)] = i;
    CHECK(sorted == expect);
  }
  CHECK(a0 == a.order(0));
  CHECK(a1 == a.order(1));
  CHECK(a.epoch() == 2);
  b.set_epoch(1);
  CHECK(visit_order(b) == a1);  // resuming at epoch 1
  CHECK(b.epoch() == 2);

  // Fisher–Yates from the back with Generator::randint — spelled out here.
  Idx expect(50);
  for (int64_t i = 0; i < 50; ++i) expect[size_t(i)] = i;
  DataLoader unshuffled(ds, {.batch_size = 8});
  CHECK(unshuffled.order(3) == expect);
  std::set<Idx> distinct;
  for (int64_t e = 0; e < 10; ++e) distinct.insert(a.order(e));
  CHECK(distinct.size() == 10);
}

// ---------------------------------------------------------------- transforms

TEST_CASE("ScalePixels and Normalize") {
  Generator gen(0);
  Tensor x = Tensor::from_vector(std::vector<float>{0, 255, 51, 102, 10, 20, 30, 40}, {2, 2, 2});  // [B=2, C=2, 2]
  ScalePixels().apply(x, gen);
  CHECK(x.to_vector<float>()[1] == doctest::Approx(1.0));
  CHECK(x.to_vector<float>()[2] == doctest::Approx(0.2));

  Tensor y = Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {2, 2, 1, 2});
  Normalize({1.f, 2.f}, {2.f, 0.5f}).apply(y, gen);
  CHECK(y.to_vector<float>() == std::vector<float>{0.f, 0.5f, 2.f, 4.f, 2.f, 2.5f, 10.f, 12.f});
  Tensor features = Tensor::from_vector(std::vector<float>{1, 10, 3, 30}, {2, 2});  // [B, F]
  Normalize({2.f, 20.f}, {1.f, 10.f}).apply(features, gen);
  CHECK(features.to_vector<float>() == std::vector<float>{-1.f, -1.f, 1.f, 1.f});

  CHECK(contains(error_of([&] { Normalize({1.f}, {1.f}).apply(y, gen); }), "batch has 2 channels"));
  CHECK(contains(error_of([&] { Normalize({1.f}, {0.f}); }), "std > 0"));
  CHECK(contains(error_of([&] { Normalize({1.f, 2.f}, {1.f}); }), "2 means and 1 stds"));
}

TEST_CASE("RandomHorizontalFlip mirrors exactly; RandomCrop shifts content into zero padding") {
  Generator gen(3);
  Tensor x = Tensor::arange(24).reshape({2, 1, 3, 4});
  const std::vector<float> orig = x.to_vector<float>();
  Tensor flipped = x.clone();
  RandomHorizontalFlip(1.f).apply(flipped, gen);
  std::vector<float> f = flipped.to_vector<float>();
  for (int64_t i = 0; i < 24; ++i) CHECK(f[size_t(i)] == orig[size_t(i - i % 4 + (3 - i % 4))]);
  Tensor same = x.clone();
  RandomHorizontalFlip(0.f).apply(same, gen);
  CHECK(same.to_vector<float>() == orig);

  // Crop 3x4 with padding 2: replay the generator to know each window origin.
  const uint64_t seed = 11;
  Generator g(seed), replay(seed);
  Tensor c = x.clone();
  RandomCrop(3, 4, 2).apply(c, g);
  REQUIRE(c.shape() == Shape{2, 1, 3, 4});
  std::vector<float> got = c.to_vector<float>();
  bool shifted = false;
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t top = int64_t(replay.randint(3 + 4 - 3 + 1)), left = int64_t(replay.randint(4 + 4 - 4 + 1));
    shifted = shifted || top != 2 || left != 2;
    for (int64_t y = 0; y < 3; ++y)
      for (int64_t xx = 0; xx < 4; ++xx) {
        const int64_t sy = y + top - 2, sx = xx + left - 2;
        const float expect = (sy >= 0 && sy < 3 && sx >= 0 && sx < 4) ? orig[size_t(i * 12 + sy * 4 + sx)] : 0.f;
        CHECK(got[size_t(i * 12 + y * 4 + xx)] == expect);
      }
  }
  CHECK(shifted);

  Tensor small = x.clone();
  RandomCrop(2, 2).apply(small, gen);
  CHECK(small.shape() == Shape{2, 1, 2, 2});
  Tensor whole = x.clone();
  RandomCrop(3, 4).apply(whole, gen);  // no padding, full size: the identity
  CHECK(whole.to_vector<float>() == orig);
  CHECK(contains(error_of([&] { Tensor t = x.clone(); RandomCrop(8, 8, 1).apply(t, gen); }), "larger than the padded image"));
  CHECK(contains(error_of([&] { Tensor t = Tensor::zeros({2, 3}); RandomCrop(1, 1).apply(t, gen); }), "[B, C, H, W]"));
}

TEST_CASE("channel_stats over a dataset or its training Subset; transforms in the loader are seeded") {
  // Two RGB-ish items [2, 1, 2]: channel 0 values {0, 2, 4, 6}, channel 1 values {10, 10, 30, 30}.
  auto ds = std::make_shared<TensorDataset>(
      Tensor::from_vector(std::vector<uint8_t>{0, 2, 10, 10, 4, 6, 30, 30}, {2, 2, 1, 2}), Idx{0, 1});
  ChannelStats s = channel_stats(*ds);
  CHECK(s.mean[0] == doctest::Approx(3.0));
  CHECK(s.std[0] == doctest::Approx(std::sqrt(5.0)));
  CHECK(s.mean[1] == doctest::Approx(20.0));
  CHECK(s.std[1] == doctest::Approx(10.0));
  ChannelStats first = channel_stats(Subset(ds, {0}), 0.5f);
  CHECK(first.mean[0] == doctest::Approx(0.5));
  CHECK(first.std[0] == doctest::Approx(0.5));
  CHECK(first.std[1] == doctest::Approx(0.0));

  auto images = std::make_shared<TensorDataset>(Tensor::arange(5 * 16).reshape({5, 1, 4, 4}), Idx{0, 1, 0, 1, 0});
  DataLoaderOptions opt{.batch_size = 2, .shuffle = true, .seed = 3};
  opt.transforms = {std::make_shared<ScalePixels>(), std::make_shared<Normalize>(channel_stats(*images, 1 / 255.f)),
                    std::make_shared<RandomCrop>(4, 4, 1), std::make_shared<RandomHorizontalFlip>()};
  DataLoader l1(images, opt), l2(images, opt);
  std::vector<float> e0, e0b, e1;
  for (const Batch& b : l1) for (float v : b.x.to_vector<float>()) e0.push_back(v);
  for (const Batch& b : l1) for (float v : b.x.to_vector<float>()) e1.push_back(v);
  for (const Batch& b : l2) for (float v : b.x.to_vector<float>()) e0b.push_back(v);
  CHECK(e0.size() == 5 * 16);
  CHECK(e0 == e0b);
  CHECK(e0 != e1);
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
