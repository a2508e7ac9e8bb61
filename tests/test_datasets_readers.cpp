// Tests for the other dataset readers: CIFAR-10 binary batches (datasets/cifar10.h),
// CSV tables (datasets/csv.h) and image folders (datasets/image_folder.h, PNGs
// written with stb_image_write). Every input file is generated in a temp dir
// (tests/datasets_util.h).
#include <doctest/doctest.h>

#if __has_include(<stb_image_write.h>)
#include <stb_image_write.h>
#else
#include <stb/stb_image_write.h>
#endif

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "datasets/cifar10.h"
#include "datasets/csv.h"
#include "datasets/dataset.h"
#include "datasets/image_folder.h"
#include "datasets_util.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace minidl;
using namespace minidl::datasets;
using namespace minidl::test;

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
