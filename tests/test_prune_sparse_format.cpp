// Tests for compress/sparse_format.h: the documented byte layout, bit-exact
// round trips (models with masks, odd values, escapes at every boundary),
// the size of a 90%-sparse seed CNN against its dense safetensors, and
// corrupted or truncated files.
#include <doctest/doctest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "compress/prune.h"
#include "compress/sparse_format.h"
#include "minidl.h"
#include "test_util.h"

using namespace minidl;
namespace cp = minidl::compress;
using cp::Amount;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("minidl_test_sparse_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

void check_same(const nn::StateDict& a, const nn::StateDict& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(a[i].first);
    CHECK(a[i].first == b[i].first);
    CHECK(same_bits(a[i].second, b[i].second));
  }
}

std::shared_ptr<nn::Sequential> cnn(uint64_t seed, bool bn) {
  Generator g(seed);
  nn::SeedCNNOptions o;
  o.batchnorm = bn;
  auto net = nn::seed_cnn(o, g);
  if (bn)
    for (const char* name : {"bn1", "bn2"}) {
      auto m = net->get_submodule(name);
      const int64_t c = m->parameter("weight").numel();
      m->parameter("weight").copy_(Tensor::uniform({c}, 0.5f, 1.5f, g));
      m->buffer("running_var").copy_(Tensor::uniform({c}, 0.5f, 2.f, g));
      m->buffer("num_batches_tracked").data<int64_t>()[0] = 1234;
    }
  return net;
}

// Little-endian byte helpers for hand-built files.
struct Bytes {
  std::string s;
  Bytes& put(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
    return *this;
  }
  Bytes& raw(const std::string& r) {
    s += r;
    return *this;
  }
  Bytes& f32(float f) {
    uint32_t b;
    std::memcpy(&b, &f, 4);
    return put(b, 4);
  }
};
uint32_t crc_of(const std::string& s) {
  return uint32_t(crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(s.data()), uInt(s.size())));
}
// A whole file from record bodies, with correct lengths and checksums.
std::string file_of(const std::vector<std::string>& bodies) {
  Bytes f;
  f.raw("MDLSPARS").put(1, 4).put(bodies.size(), 4).put(0, 8).put(0, 4);
  for (const auto& b : bodies) f.put(b.size(), 8).raw(b).put(crc_of(b), 4);
  std::string out = f.s;
  Bytes size;
  size.put(out.size(), 8);
  out.replace(16, 8, size.s);
  Bytes c;
  c.put(crc_of(out.substr(0, 24)), 4);
  out.replace(24, 4, c.s);
  return out;
}

}  // namespace

TEST_CASE("the byte layout is the one documented in the header") {
  // One row of 20 columns, entries at columns 0 and 19, 4-bit indices:
  // gaps 1 and 19 -> codes 0 | escape 15, 3 (19 − 1 = 18 = 15 + 3).
  std::vector<float> v(20, 0.f);
  v[0] = 2.f;
  v[19] = 3.f;
  nn::StateDict sd{{"w", Tensor::from_vector(v, {1, 20})}};
  Bytes body;
  body.put(1, 2).raw("w").put(0, 1).put(1, 1).put(2, 1).put(1, 8).put(20, 8);  // name, F32, csr, [1, 20]
  body.put(4, 1).put(2, 8).put(3, 8);                                          // b = 4, nnz = 2, ncodes = 3
  body.put(2, 1);                                                              // row 0: 2 entries (varint)
  body.put(0xF0, 1).put(0x03, 1);                                              // codes 0, 15 | 3, pad 0
  body.f32(2.f).f32(3.f);
  const std::string want = file_of({body.s});
  CHECK(cp::encode_sparse(sd, {4}) == want);
  check_same(cp::decode_sparse(want), sd);
  // Automatic choice picks the smallest: here csr (4-bit) beats 80 dense bytes.
  CHECK(cp::encode_sparse(sd) == want);
}

TEST_CASE("round trip is bit-exact for every dtype, odd value and escape boundary") {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  nn::StateDict sd;
  sd.emplace_back("scalar", Tensor::full({}, -0.f));
  sd.emplace_back("empty", Tensor::zeros({0}));
  sd.emplace_back("empty2", Tensor::zeros({0, 5}));
  sd.emplace_back("zeros", Tensor::zeros({3, 40}));
  sd.emplace_back("odd", Tensor::from_vector(std::vector<float>{-0.f, nan, inf, -inf, 1e-45f, 0.f, 1.f, 0.f}, {2, 4}));
  Generator g(1);
  sd.emplace_back("dense", Tensor::normal({5, 7}, 0, 1, g));
  sd.emplace_back("i64", Tensor::from_vector(std::vector<int64_t>{0, -5, 1LL << 40}, {3}));
  sd.emplace_back("i8", Tensor::from_vector(std::vector<int8_t>{0, -128, 127, 0}, {2, 2}));
  sd.emplace_back("u8", Tensor::from_vector(std::vector<uint8_t>{0, 255}, {2}));
  sd.emplace_back("i32", Tensor::from_vector(std::vector<int32_t>{7, 0, -1}, {1, 3}));
  // Gaps at and around the escape boundaries of both widths (E = 15 and 255).
  for (int64_t gap : {1, 14, 15, 16, 29, 30, 31, 254, 255, 256, 510, 511, 999}) {
    std::vector<float> row(1000, 0.f);
    for (int64_t c = gap - 1; c < 1000; c += gap) row[size_t(c)] = float(c) + 0.5f;
    sd.emplace_back("gap" + std::to_string(gap), Tensor::from_vector(row, {2, 500}));
  }
  sd.emplace_back("last_only", Tensor::from_vector([] {
                    std::vector<float> r(1000, 0.f);
                    r[999] = -1.f;
                    return r;
                  }(), {1, 1000}));
  sd.emplace_back("pattern", Tensor::from_vector(std::vector<float>{1, 0, 0, 1, 1, 1}, {2, 3}));
  sd.emplace_back("x_orig", Tensor::from_vector(std::vector<float>{0.5f, 0, 0, -2, 3, 1}, {2, 3}));
  sd.emplace_back("x_mask", Tensor::from_vector(std::vector<float>{1, 0, 0, 1, 1, 1}, {2, 3}));
  for (int bits : {0, 4, 8}) {
    CAPTURE(bits);
    check_same(cp::decode_sparse(cp::encode_sparse(sd, {bits})), sd);
  }
  CHECK(contains(error_of([&] { cp::encode_sparse(sd, {5}); }), "index_bits must be 0, 4 or 8"));
  CHECK(contains(error_of([&] { cp::encode_sparse({{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}}); }),
            "appears twice"));
}

TEST_CASE("a 90%-sparse seed CNN: bit-identical round trip (weights and masks) in <= 15% of the dense size") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    auto net = cnn(1, bn);
    cp::global_unstructured(cp::prunable_weights(*net), Amount::fraction(0.9));
    const std::string sparse_path = tmp_path("model.mdlsp"), dense_path = tmp_path("dense.safetensors"),
                      pruned_path = tmp_path("pruned.safetensors");
    cp::save_sparse(*net, sparse_path);
    nn::save(*net, pruned_path);  // with masks: weight_orig + weight_mask
    auto fresh = cnn(77, bn);
    cp::load_sparse(*fresh, sparse_path);
    check_same(net->state_dict(), fresh->state_dict());
    for (auto& [m, p] : cp::prunable_weights(*fresh)) CHECK(cp::is_pruned(*m, p));
    {
      NoGradGuard ng;
      net->eval();
      fresh->eval();
      Generator g(3);
      const Tensor x = Tensor::normal({4, 1, 28, 28}, 0, 1, g);
      CHECK(same_bits(net->forward(x), fresh->forward(x)));
    }
    // The reference: the same model made dense (masks baked in), as safetensors.
    cp::remove_all(*net);
    nn::save(*net, dense_path);
    const auto sparse = std::filesystem::file_size(sparse_path), dense = std::filesystem::file_size(dense_path),
               pruned = std::filesystem::file_size(pruned_path);
    const double ratio = double(sparse) / double(dense);
    MESSAGE(std::string(bn ? "seed CNN + BN" : "seed CNN") << ", 90% global sparsity: sparse " << sparse << " B, dense fp32 safetensors "
                       << dense << " B, ratio " << ratio << " (pruned safetensors with masks: " << pruned << " B)");
    CHECK(ratio <= 0.15);

    // The baked (mask-free) model round-trips too, at the same size.
    cp::save_sparse(*net, sparse_path);
    auto fresh2 = cnn(78, bn);
    cp::load_sparse(*fresh2, sparse_path);
    check_same(net->state_dict(), fresh2->state_dict());
    CHECK(double(std::filesystem::file_size(sparse_path)) / double(dense) <= 0.15);
    // Wrong architecture: the error names the file.
    nn::SeedCNNOptions o;
    o.hidden = 50;
    auto other = nn::seed_cnn(o);
    const std::string e = error_of([&] { cp::load_sparse(*other, sparse_path); });
    CHECK(contains(e, sparse_path));
    CHECK(contains(e, "fc1.weight"));
    for (auto& p : {sparse_path, dense_path, pruned_path}) std::filesystem::remove(p);
  }
}

TEST_CASE("corrupted and truncated files raise minidl::Error naming the file and the byte offset") {
  // A small pruned model keeps the exhaustive truncation loop fast.
  Generator g(5);
  nn::SeedCNNOptions o;
  o.image_size = 12;
  o.conv1_channels = 4;
  o.conv2_channels = 6;
  o.hidden = 12;
  o.batchnorm = true;
  auto net = nn::seed_cnn(o, g);
  cp::global_unstructured(cp::prunable_weights(*net), Amount::fraction(0.8));
  const nn::StateDict sd = net->state_dict();
  const std::string good = cp::encode_sparse(sd);
  check_same(cp::decode_sparse(good, "m.bin"), sd);

  // Every truncation.
  for (size_t n = 0; n < good.size(); ++n) {
    const std::string e = error_of([&] { cp::decode_sparse(good.substr(0, n), "m.bin"); });
    REQUIRE_MESSAGE((contains(e, "m.bin: byte ") && !contains(e, "<no error>")), "truncated to ", n, ": ", e);
  }
  // Trailing garbage, bad magic, future version, missing file.
  CHECK(contains(error_of([&] { cp::decode_sparse(good + "x", "m.bin"); }), "the header says the file has"));
  std::string bad = good;
  bad[0] = 'X';
  CHECK(contains(error_of([&] { cp::decode_sparse(bad, "m.bin"); }), "m.bin: byte 0: not a minidl sparse checkpoint"));
  bad = good;
  bad[8] = 2;
  {
    Bytes c;
    c.put(crc_of(bad.substr(0, 24)), 4);
    bad.replace(24, 4, c.s);
  }
  CHECK(contains(error_of([&] { cp::decode_sparse(bad, "m.bin"); }), "m.bin: byte 8: unsupported version 2"));
  CHECK(contains(error_of([] { cp::load_sparse(tmp_path("does_not_exist")); }), "no such file"));

  // Random corruptions of 1–4 consecutive bytes: CRC-32 detects every burst of
  // ≤ 32 bits, so each must be reported. Scattered multi-byte corruptions must
  // either load or throw minidl::Error (never crash or hang).
  Generator r(123);
  int detected = 0;
  for (int trial = 0; trial < 400; ++trial) {
    std::string c = good;
    const bool burst = trial % 2 == 0;
    const size_t at = size_t(r.randint(c.size()));
    const int len = 1 + int(r.randint(4));
    for (int k = 0; k < len; ++k) {
      const size_t i = burst ? std::min(at + size_t(k), c.size() - 1) : size_t(r.randint(c.size()));
      c[i] = char(uint8_t(c[i]) ^ uint8_t(1 + r.randint(255)));
    }
    try {
      cp::decode_sparse(c, "m.bin");
      CHECK_MESSAGE(!burst, "burst at byte ", at, " went undetected");
    } catch (const minidl::Error& e) {
      ++detected;
      CHECK(contains(e.what(), "m.bin: byte "));
    }
  }
  MESSAGE("corruptions detected: " << detected << " / 400");
  // The file path and record are named when loading from disk.
  const std::string path = tmp_path("corrupt.mdlsp");
  std::string c = good;
  c[good.size() / 2] ^= 0x40;
  {
    std::ofstream f(path, std::ios::binary);
    f << c;
  }
  const std::string e = error_of([&] { cp::load_sparse(path); });
  CHECK(contains(e, path + ": byte "));
  CHECK(contains(e, "checksum mismatch"));
  std::filesystem::remove(path);
}

TEST_CASE("structurally invalid records with valid checksums are rejected with their offset") {
  auto csr = [](uint64_t cols, uint64_t nnz, uint64_t ncodes, std::vector<uint64_t> rows, std::string codes,
                int nvalues) {
    Bytes b;
    b.put(1, 2).raw("w").put(0, 1).put(1, 1).put(2, 1).put(rows.size(), 8).put(cols, 8);
    b.put(4, 1).put(nnz, 8).put(ncodes, 8);
    for (auto n : rows) b.put(n, 1);
    b.raw(codes);
    for (int i = 0; i < nvalues; ++i) b.f32(1.f);
    return b.s;
  };
  // Baseline: valid.
  CHECK_NOTHROW(cp::decode_sparse(file_of({csr(20, 2, 3, {2}, "\xF0\x03", 2)})));
  // A code that moves past the row's end (two escapes: column 29 of 20).
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({csr(20, 1, 2, {1}, "\xFF", 1)}), "f"); }),
            "moves past the end of row 0"));
  // Row counts that do not add up, and codes left over.
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({csr(20, 2, 3, {1}, "\xF0\x03", 2)}), "f"); }),
            "row counts sum to 1, the entry count is 2"));
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({csr(20, 1, 3, {1}, "\xF0\x03", 1)}), "f"); }),
            "index codes left over"));
  // Wrong index width, unknown dtype / encoding, dense length mismatch, bad reference.
  std::string w = csr(20, 2, 3, {2}, "\xF0\x03", 2);
  w[size_t(2 + 1 + 3 + 16)] = 5;
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({w}), "f"); }), "index width must be 4 or 8 bits, got 5"));
  Bytes d;
  d.put(1, 2).raw("d").put(9, 1).put(0, 1).put(0, 1);
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({d.s}), "f"); }), "f: byte 39: record 0 (\"d\"): unknown dtype code 9"));
  Bytes d2;
  d2.put(1, 2).raw("d").put(0, 1).put(0, 1).put(1, 1).put(3, 8).f32(1.f);
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({d2.s}), "f"); }), "dense data has 4 bytes"));
  Bytes rf;
  rf.put(1, 2).raw("m").put(0, 1).put(3, 1).put(1, 1).put(3, 8).put(1, 2).raw("q");
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({rf.s}), "f"); }), "refers to \"q\", which is not an earlier record"));
  Bytes huge;
  huge.put(1, 2).raw("h").put(0, 1).put(1, 1).put(2, 1).put(uint64_t(1) << 50, 8).put(1, 8);
  CHECK(contains(error_of([&] { cp::decode_sparse(file_of({huge.s}), "f"); }), "makes the tensor too large"));
}
