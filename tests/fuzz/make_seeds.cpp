// tests/fuzz/make_seeds.cpp — seed corpora for the harnesses, from minidl's own
// writers where it has them (save_safetensors, nn::save, save_sparse) and
// from stb_image_write / zlib / small hand-built files for the data formats
// minidl only reads. Each seed starts with the control byte(s) its harness
// expects (see the harness's header comment).
//
//   make_seeds OUT_DIR      writes OUT_DIR/<target>/<name> for every target
#include <stb_image_write.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "compress/dc_format.h"
#include "compress/prune.h"
#include "compress/sparse_format.h"
#include "compress/weight_sharing.h"
#include "core/random.h"
#include "nn/checkpoint.h"
#include "nn/seed_cnn.h"

using namespace minidl;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path out_dir;

void emit(const std::string& target, const std::string& name, const Bytes& prefix, const Bytes& body) {
  fs::create_directories(out_dir / target);
  std::ofstream f(out_dir / target / name, std::ios::binary);
  f.write(reinterpret_cast<const char*>(prefix.data()), std::streamsize(prefix.size()));
  f.write(reinterpret_cast<const char*>(body.data()), std::streamsize(body.size()));
}

Bytes file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

Bytes gzip(const Bytes& in) {
  Bytes out(compressBound(uLong(in.size())) + 32);
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = uInt(in.size());
  z.next_out = out.data();
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

Bytes idx(uint8_t dtype, const std::vector<uint32_t>& dims, size_t elem) {
  Bytes b = {0, 0, dtype, uint8_t(dims.size())};
  size_t n = 1;
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(d >> s));
    n *= d;
  }
  for (size_t i = 0; i < n * elem; ++i) b.push_back(uint8_t(i * 37 % 251));
  return b;
}

// The split byte that makes the harness cut `total` bytes after `first`.
uint8_t split_for(size_t first, size_t total) {
  for (int s = 0; s < 256; ++s)
    if (total * size_t(s) / 256 == first) return uint8_t(s);
  return 128;
}

void idx_seeds() {
  const Bytes images = idx(0x08, {3, 4, 4}, 1), labels = idx(0x08, {3}, 1);
  Bytes both = images;
  both.insert(both.end(), labels.begin(), labels.end());
  const uint8_t split = split_for(images.size(), both.size());
  for (const char* target : {"idx", "idx_gz"}) {
    const bool gz = std::string(target) == "idx_gz";
    emit(target, "images", {0, 0}, images);
    emit(target, "mnist", {1, split}, both);
    emit(target, "f64", {0, 0}, idx(0x0E, {2, 3}, 8));
    emit(target, "i16", {0, 0}, idx(0x0B, {5}, 2));
    if (gz) {
      emit(target, "mnist_limit", {1 | 4 << 1, split}, both);
      emit(target, "raw_gz", {1 << 1, 0}, gzip(images));
    }
  }
}

void cifar_seeds() {
  Bytes rec;
  for (int r = 0; r < 2; ++r) {
    rec.push_back(uint8_t(r * 7 % 10));
    for (int p = 0; p < 3072; ++p) rec.push_back(uint8_t((r + p) % 256));
  }
  emit("cifar10", "raw", {0}, rec);
  emit("cifar10", "harness_gz", {1}, rec);
  emit("cifar10", "gz", {2}, gzip(rec));
  emit("cifar10", "limit1", {1 << 2}, rec);
}

void csv_seeds() {
  const std::string t = "x1,x2,y\n1.5,2,0\n-3,4e-2,1\n\n5,6,2\r\n";
  emit("csv", "header", {1 | (15 << 3)}, Bytes(t.begin(), t.end()));
  emit("csv", "by_name", {1 | 4 | (15 << 3)}, Bytes(t.begin(), t.end()));
  const std::string names = "1;2;setosa\n3;4;virginica\n\"5\" ; 6;setosa\n";
  emit("csv", "names", {2 | (15 << 3)}, Bytes(names.begin(), names.end()));
}

void write_to(void* ctx, void* data, int n) {
  auto* b = static_cast<Bytes*>(ctx);
  b->insert(b->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
}

void image_seeds() {
  const int w = 5, h = 3;
  std::vector<uint8_t> px(size_t(w * h * 3));
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t(i * 17);
  Bytes png, bmp, jpg, gray;
  stbi_write_png_to_func(write_to, &png, w, h, 3, px.data(), w * 3);
  stbi_write_png_to_func(write_to, &gray, w, h, 1, px.data(), w);
  stbi_write_bmp_to_func(write_to, &bmp, w, h, 3, px.data());
  stbi_write_jpg_to_func(write_to, &jpg, w, h, 3, px.data(), 90);
  std::string pgm = "P5\n# comment\n5 3\n255\n", ppm = "P6 5 3 65535\n";
  Bytes pgm_b(pgm.begin(), pgm.end()), ppm_b(ppm.begin(), ppm.end());
  pgm_b.insert(pgm_b.end(), px.begin(), px.begin() + w * h);
  for (int i = 0; i < w * h * 3; ++i) ppm_b.insert(ppm_b.end(), {px[size_t(i)], uint8_t(i)});
  emit("image_folder", "png_rgb", {0 | 8}, png);
  emit("image_folder", "png_gray_resized", {0 | (2 << 4)}, gray);
  emit("image_folder", "jpg", {1 | 8 | (3 << 4)}, jpg);
  emit("image_folder", "bmp", {3 | 8}, bmp);
  emit("image_folder", "bmp_pair", {3 | 64 | (1 << 4)}, bmp);
  emit("image_folder", "pgm", {5}, pgm_b);
  emit("image_folder", "ppm16", {4 | 8}, ppm_b);
}

std::shared_ptr<nn::Sequential> tiny_net() {
  Generator g(7);
  return nn::seed_cnn({.batchnorm = true, .image_size = 8, .num_classes = 2, .conv1_channels = 2,
                       .conv2_channels = 2, .hidden = 3}, g);
}

void checkpoint_seeds() {
  const std::string tmp = (out_dir / "tmp.bin").string();
  auto net = tiny_net();
  nn::save(*net, tmp, {{"epoch", "3"}});
  emit("safetensors", "tiny_seed_cnn", {}, file_bytes(tmp));
  nn::StateDict all = {{"f", Tensor::full({2, 2}, 1.5f)},
                       {"i64", Tensor::from_vector(std::vector<int64_t>{1, -2}, {2})},
                       {"u8", Tensor::from_vector(std::vector<uint8_t>{3}, {1})},
                       {"i8", Tensor::from_vector(std::vector<int8_t>{-3}, {1})},
                       {"i32", Tensor::from_vector(std::vector<int32_t>{9}, {1})},
                       {"empty", Tensor::zeros({0, 3})},
                       {"scalar", Tensor::full({}, 2.f)}};
  nn::save_safetensors(all, tmp);
  emit("safetensors", "all_dtypes", {}, file_bytes(tmp));

  compress::save_sparse(*net, tmp);
  emit("sparse", "dense_model", {}, file_bytes(tmp));
  compress::prune_to_sparsity(compress::prunable_weights(*net), 0.7);
  for (int bits : {0, 4, 8}) {
    compress::save_sparse(*net, tmp, {bits});
    emit("sparse", "pruned_bits" + std::to_string(bits), {}, file_bytes(tmp));
  }
  compress::save_sparse(all, tmp);
  emit("sparse", "all_dtypes", {}, file_bytes(tmp));

  auto dc = nn::seed_cnn({.image_size = 8, .num_classes = 2, .conv1_channels = 2, .conv2_channels = 2, .hidden = 3});
  compress::prune_to_sparsity(compress::prunable_weights(*dc), 0.6, false);
  compress::quantize_weight_int8(*dc->get_submodule("conv1"), "weight");
  for (const char* layer : {"conv2", "fc1", "fc2"}) compress::share_weights(*dc->get_submodule(layer), "weight", 2);
  for (compress::Codec c : {compress::Codec::Zstd, compress::Codec::Zlib, compress::Codec::None}) {
    compress::save_compressed(*dc, tmp, {{"model", "seed"}}, c);
    emit("dc", std::string("seed_cnn_") + compress::codec_name(c), {}, file_bytes(tmp));
  }
  fs::remove(tmp);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  out_dir = argv[1];
  fs::create_directories(out_dir);
  idx_seeds();
  cifar_seeds();
  csv_seeds();
  image_seeds();
  checkpoint_seeds();
  std::printf("seeds written to %s\n", argv[1]);
  return 0;
}
