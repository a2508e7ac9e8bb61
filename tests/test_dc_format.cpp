// The Deep Compression file (compress/dc_format.h): bit-identical round trips
// with every codec, the exporter's refusals, and damaged or hostile files.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <unistd.h>

#include "compress/byte_io.h"
#include "compress/dc_format.h"
#include "compress/prune.h"
#include "compress/weight_sharing.h"
#include "core/ops.h"
#include "core/random.h"
#include "nn/seed_cnn.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;
namespace cp = minidl::compress;
namespace fs = std::filesystem;

namespace {

// A small seed CNN, pruned 70%, conv1 int8, conv2 4 bits, fc1 3 bits, fc2 2 bits.
std::shared_ptr<nn::Sequential> coded_net(uint64_t seed = 11) {
  Generator g(seed);
  auto net = nn::seed_cnn({.image_size = 12, .num_classes = 3, .conv1_channels = 4, .conv2_channels = 6, .hidden = 7}, g);
  cp::prune_to_sparsity(cp::prunable_weights(*net), 0.7, /*global=*/false);
  cp::quantize_weight_int8(*net->get_submodule("conv1"), "weight");
  cp::share_weights(*net->get_submodule("conv2"), "weight", 4);
  cp::share_weights(*net->get_submodule("fc1"), "weight", 3);
  cp::share_weights(*net->get_submodule("fc2"), "weight", 2);
  return net;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Fix the header CRC after patching header bytes, or a record's after patching its body.
void fix_header(std::string& f) {
  const uint32_t c = cp::io::crc(f.data(), 25);
  std::memcpy(&f[25], &c, 4);
}
void fix_record(std::string& f, size_t record_at) {
  uint32_t len;
  std::memcpy(&len, &f[record_at], 4);
  const uint32_t c = cp::io::crc(&f[record_at + 4], len);
  std::memcpy(&f[record_at + 4 + len], &c, 4);
}
// Offset of the record named `name` (a linear scan of the records).
size_t record_at(const std::string& f, const std::string& name) {
  for (size_t pos = 29; pos + 4 <= f.size();) {
    uint32_t len;
    std::memcpy(&len, &f[pos], 4);
    uint16_t n;
    std::memcpy(&n, &f[pos + 4], 2);
    if (f.compare(pos + 6, n, name) == 0 && n == name.size()) return pos;
    pos += 8 + len;
  }
  FAIL("no record ", name);
  return 0;
}

}  // namespace

TEST_CASE("round trip: the decoded weights are the ones the model computed with, bit for bit, with every codec") {
  auto net = coded_net();
  const nn::Metadata meta{{"model", "conv:4:3,relu"}, {"input_scale", "0.5"}};
  for (cp::Codec codec : {cp::Codec::Zstd, cp::Codec::Zlib, cp::Codec::None}) {
    CAPTURE(cp::codec_name(codec));
    const cp::CompressedFile f = cp::encode_compressed(*net, meta, codec);
    nn::Metadata back;
    const nn::StateDict sd = cp::decode_compressed(f.bytes, "mem", &back);
    CHECK(back == meta);
    REQUIRE(sd.size() == 8);
    for (const auto& kv : sd) {  // (not a structured binding: clang 14 cannot capture one in CAPTURE)
      const std::string& name = kv.first;
      const Tensor& t = kv.second;
      CAPTURE(name);
      const std::string layer = name.substr(0, name.rfind('.')), param = name.substr(name.rfind('.') + 1);
      CHECK(same_bits(t, net->get_submodule(layer)->param(param)));
    }
    // A fresh model loaded from the file computes exactly what the coded one does.
    auto fresh = nn::seed_cnn({.image_size = 12, .num_classes = 3, .conv1_channels = 4, .conv2_channels = 6, .hidden = 7});
    fresh->load_state_dict(sd);
    Generator g(1);
    const Tensor x = Tensor::normal({2, 1, 12, 12}, 0.f, 1.f, g);
    NoGradGuard ng;
    CHECK(same_bits((*fresh)(x), (*net)(x)));
  }
  const auto& recs = cp::encode_compressed(*net, {}, cp::Codec::Zstd).records;
  REQUIRE(recs.size() == 8);  // no metadata record when there is none
  CHECK(recs[0].coding == "int8");
  CHECK(recs[2].coding == "codebook");
  CHECK(recs[2].bits == 4);
  CHECK(recs[2].nnz == 6 * 4 * 9 - int64_t(std::nearbyint(0.7 * 6 * 4 * 9)));
}

TEST_CASE("entropy coding shrinks a large sparse layer; zstd and zlib both below the raw streams") {
  Generator g(2);
  auto net = nn::seed_cnn({.image_size = 28, .conv1_channels = 8, .conv2_channels = 16, .hidden = 64}, g);
  cp::prune_to_sparsity(cp::prunable_weights(*net), 0.9, false);
  for (const auto& [m, p] : cp::prunable_weights(*net)) cp::share_weights(*m, p, 4);
  const size_t raw = cp::encode_compressed(*net, {}, cp::Codec::None).bytes.size();
  const size_t zl = cp::encode_compressed(*net, {}, cp::Codec::Zlib).bytes.size();
  const size_t zs = cp::encode_compressed(*net, {}, cp::Codec::Zstd).bytes.size();
  MESSAGE("raw ", raw, " zlib ", zl, " zstd ", zs);
  CHECK(zl < raw * 9 / 10);
  CHECK(zs < raw * 9 / 10);
}

TEST_CASE("the exporter refuses what it does not know, naming it, and writes no file") {
  const fs::path dir = fs::temp_directory_path() / ("minidl_dc_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "m.dc").string();
  Generator g(3);
  auto bn = nn::seed_cnn({.batchnorm = true, .image_size = 8, .num_classes = 2, .conv1_channels = 2, .conv2_channels = 2, .hidden = 3}, g);
  for (const auto& [m, p] : cp::prunable_weights(*bn)) cp::share_weights(*m, p, 2);
  std::string e = error_of([&] { cp::save_compressed(*bn, path); });
  CHECK(contains(e, "bn1 (BatchNorm2d) is not one the exporter knows"));
  CHECK(!fs::exists(path));
  auto plain = nn::seed_cnn({.image_size = 8, .num_classes = 2, .conv1_channels = 2, .conv2_channels = 2, .hidden = 3}, g);
  e = error_of([&] { cp::save_compressed(*plain, path); });
  CHECK(contains(e, "conv1.weight has no weight-sharing codebook or int8 coding"));
  CHECK(!fs::exists(path));
  CHECK(e.find('\n') == std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("damaged files: truncated, bad CRC, wrong version, bad fields: one-line errors naming them") {
  const std::string good = cp::encode_compressed(*coded_net(), {{"k", "v"}}).bytes;
  auto err = [](const std::string& bytes) { return error_of([&] { cp::decode_compressed(bytes, "m.dc"); }); };
  for (size_t n = 0; n < good.size(); n += 7) {  // every truncation is an error, none a crash
    const std::string e = err(good.substr(0, n));
    CHECK(contains(e, "m.dc: byte "));
    CHECK(e.find('\n') == std::string::npos);
  }
  CHECK(contains(err(good.substr(0, good.size() - 1)), "truncated?"));
  for (size_t at = 29; at < good.size(); at += 13) {  // any flipped byte after the header: a checksum or length error
    std::string bad = good;
    bad[at] = char(bad[at] ^ 0x5a);
    const std::string e = err(bad);
    CHECK((contains(e, "checksum mismatch") || contains(e, "record length") || contains(e, "needs")));
  }
  std::string v = good;
  v[8] = 2;
  CHECK(contains(err(v), "header checksum mismatch"));
  fix_header(v);
  CHECK(contains(err(v), "byte 8: unsupported version 2 (this build reads version 1)"));
  std::string m = good;
  m[0] = 'X';
  CHECK(contains(err(m), "bad magic"));
  // A codebook of 9 bits inside a record with a valid CRC.
  std::string b = good;
  const size_t rec = record_at(b, "conv2.weight");
  const size_t bits_at = rec + 4 + 2 + 12 + 1 + 1 + 4;  // len, name length, name, kind, ndim, 4 one-byte dims
  REQUIRE(b[bits_at] == 4);
  b[bits_at] = 9;
  fix_record(b, rec);
  const std::string e = err(b);
  CHECK(contains(e, "record 3 (\"conv2.weight\"): codebook size must be 2..8 bits, got 9"));
}

TEST_CASE("hostile files: huge shapes and counts are refused before anything is allocated") {
  std::string f = cp::encode_compressed(*coded_net()).bytes;
  // Make fc1.weight claim 2^20 x 2^20 elements: dims are varints, so rebuild that record.
  const size_t rec = record_at(f, "fc1.weight");
  uint32_t len;
  std::memcpy(&len, &f[rec], 4);
  cp::io::Writer w;
  w.put(10, 2);
  w.raw("fc1.weight", 10);
  w.put(2, 1);  // codebook
  w.put(2, 1);  // ndim
  w.varint(uint64_t(1) << 20);
  w.varint(uint64_t(1) << 20);
  w.put(2, 1);  // 2 bits
  for (int i = 0; i < 4; ++i) w.put(0, 4);
  w.varint(uint64_t(1) << 40);  // nnz
  std::string bad = f.substr(0, rec);
  bad += std::string(4, '\0');
  std::memcpy(&bad[rec], &(len = uint32_t(w.out.size())), 4);
  bad += w.out + std::string(4, '\0') + f.substr(rec + 8 + len);
  fix_record(bad, rec);
  const uint64_t size = bad.size();
  std::memcpy(&bad[16], &size, 8);
  fix_header(bad);
  const std::string e = error_of([&] { cp::decode_compressed(bad, "h.dc"); });
  CHECK(contains(e, "h.dc: byte "));
  CHECK(contains(e, "fc1.weight"));
  CHECK((contains(e, "exceeds") || contains(e, "limit")));
}
