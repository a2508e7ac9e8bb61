// Tests for nn/checkpoint.h: safetensors round trips for every dtype (0-d and
// empty tensors included) with metadata; the exact byte layout of a small
// file; files written by other writers; damaged files (each a minidl::Error
// naming the file and the problem, never a crash), plus random corruption;
// atomic saving; nn::save / nn::load of the seed CNN.
//
// That numpy and PyTorch read what minidl writes is checked by
// tests/torch_checkpoint_interop.py (ctest torch_checkpoint_interop).
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;
namespace fs = std::filesystem;

namespace {

// A fresh directory under $TMPDIR (or /tmp), removed at exit.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "minidl_ckpt_XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return s;
}
// A safetensors file by hand: length, header (space-padded to 8 if asked), data.
std::string st_file(std::string header, const std::string& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}
std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

using minidl::test::error_of;
using minidl::test::contains;

bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// Files in `dir` other than `keep` (to spot leftover temporaries).
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

nn::StateDict all_dtypes() {
  nn::StateDict sd;
  sd.emplace_back("f32", Tensor::from_vector(std::vector<float>{1.5f, -0.f, std::numeric_limits<float>::infinity(),
                                                                 std::numeric_limits<float>::denorm_min(), 3.4e38f,
                                                                 std::nanf("")},
                                             {2, 3}));
  sd.emplace_back("i8", Tensor::from_vector(std::vector<int8_t>{-128, -1, 0, 1, 127}, {5}));
  sd.emplace_back("u8", Tensor::from_vector(std::vector<uint8_t>{0, 1, 128, 255}, {2, 2}));
  sd.emplace_back("i32", Tensor::from_vector(std::vector<int32_t>{std::numeric_limits<int32_t>::min(), -7, 0,
                                                                  std::numeric_limits<int32_t>::max()},
                                             {4, 1}));
  sd.emplace_back("i64", Tensor::from_vector(std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -(int64_t(1) << 40),
                                                                  std::numeric_limits<int64_t>::max()},
                                             {3}));
  sd.emplace_back("scalar_f32", Tensor::scalar(-2.25f));
  sd.emplace_back("scalar_i64", Tensor::from_vector(std::vector<int64_t>{42}, {}));
  sd.emplace_back("empty_f32", Tensor::zeros({0}));
  sd.emplace_back("empty_i8", Tensor::zeros({3, 0}, DType::Int8));
  sd.emplace_back("after_empty", Tensor::from_vector(std::vector<int32_t>{5, 6}, {2}));
  return sd;
}

void check_same(const nn::StateDict& got, const nn::StateDict& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    CAPTURE(want[i].first);
    CHECK(got[i].first == want[i].first);
    CHECK(got[i].second.dtype() == want[i].second.dtype());
    CHECK(got[i].second.shape() == want[i].second.shape());
    CHECK(bit_equal(got[i].second, want[i].second));
  }
}

std::shared_ptr<nn::Sequential> cnn(bool bn, uint64_t seed) {
  Generator g(seed);
  nn::SeedCNNOptions o;
  o.batchnorm = bn;
  return nn::seed_cnn(o, g);
}

}  // namespace

// ---------------------------------------------------------------- round trips

TEST_CASE("round trip of every dtype, 0-d and empty tensors, with metadata") {
  TempDir dir;
  const std::string path = dir / "all.safetensors";
  const auto sd = all_dtypes();
  const nn::Metadata meta = {{"format", "pt"}, {"epoch", "3"}, {"note", "quotes \" and \\ and ünïcode"}};
  nn::save_safetensors(sd, path, meta);
  nn::Metadata got_meta;
  auto got = nn::load_safetensors(path, &got_meta);
  check_same(got, sd);  // same order: ascending data offset = the order saved
  CHECK(got_meta == meta);
  // loaded tensors own their memory and carry no autograd
  for (const auto& [n, t] : got) CHECK_FALSE(t.requires_grad());

  // without metadata: no __metadata__ entry at all
  nn::save_safetensors(sd, path);
  CHECK_FALSE(contains(read_bytes(path), "__metadata__"));
  nn::Metadata none;
  check_same(nn::load_safetensors(path, &none), sd);
  CHECK(none.empty());
  // an empty state dict is a valid file too
  nn::save_safetensors({}, path);
  CHECK(nn::load_safetensors(path).empty());
  CHECK(read_bytes(path) == le64(8) + "{}      ");
}

TEST_CASE("byte layout of a small known file") {
  TempDir dir;
  const std::string path = dir / "small.safetensors";
  nn::StateDict sd;
  sd.emplace_back("b", Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2}));
  sd.emplace_back("a", Tensor::from_vector(std::vector<uint8_t>{1, 2, 3}, {3}));
  nn::save_safetensors(sd, path, {{"k", "v"}});
  // Header: compact JSON; data_offsets [begin, end) into the data section,
  // tensors tiled in the order given; padded with spaces to a multiple of 8.
  const std::string json =
      R"({"__metadata__":{"k":"v"},"a":{"data_offsets":[8,11],"dtype":"U8","shape":[3]},)"
      R"("b":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})";
  const size_t padded = (json.size() + 7) / 8 * 8;
  std::string want = le64(padded) + json + std::string(padded - json.size(), ' ');
  want += std::string("\x00\x00\x80\x3f", 4);  // 1.0f little endian
  want += std::string("\x00\x00\x00\xc0", 4);  // -2.0f
  want += std::string("\x01\x02\x03", 3);
  const std::string got = read_bytes(path);
  CHECK(got.size() == want.size());
  CHECK(got == want);
  // the spec's invariants, independently of the exact JSON text
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(got[size_t(i)]);
  CHECK((8 + n) % 8 == 0);
  CHECK(got[8] == '{');
  CHECK(got.size() == 8 + n + 11);
}

TEST_CASE("files from other writers: any key order, padded or not") {
  TempDir dir;
  const std::string path = dir / "other.safetensors";
  // Keys listed out of offset order, no padding (older writers), a 0-d tensor.
  write_bytes(path, st_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                            R"("s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"__metadata__":{"format":"np"}})",
                            floats({7.f, 8.f}), false));
  nn::Metadata meta;
  auto sd = nn::load_safetensors(path, &meta);
  REQUIRE(sd.size() == 2);
  CHECK(sd[0].first == "s");  // file order = ascending offset
  CHECK(sd[0].second.shape() == Shape{});
  CHECK(sd[0].second.item() == 7.f);
  CHECK(sd[1].first == "w");
  CHECK(sd[1].second.to_vector<float>() == std::vector<float>{8.f});
  CHECK(meta.at("format") == "np");
  // with whitespace padding
  write_bytes(path, st_file(R"({"x":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", le64(123456789012345ull)));
  CHECK(nn::load_safetensors(path)[0].second.data<int64_t>()[0] == 123456789012345ll);
}

// ---------------------------------------------------------------- damaged files

TEST_CASE("damaged files: a minidl::Error naming the file and the problem") {
  TempDir dir;
  const std::string path = dir / "bad.safetensors";
  const std::string okt = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    const char* what;
    std::string bytes;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"empty file", "", "header length is missing"},
      {"truncated header length", std::string("\x08\x00\x00", 3), "header length is missing"},
      {"header length larger than the file", le64(1000) + "{}      ", "exceeds the file"},
      {"absurd header length", le64(~uint64_t(0)) + "{}      ", "exceeds the file"},
      {"invalid JSON", st_file(R"({"t":{"dtype":"F32",)", ""), "not valid JSON"},
      {"binary garbage header", st_file(std::string("\xff\xfe\x00\x01", 4), ""), "starting with '{'"},
      {"binary garbage after '{'", st_file(std::string("{\xfe\x00\x01", 4), ""), "not valid JSON"},
      {"header is not an object", st_file("[1, 2, 3]", ""), "must be a JSON object"},
      {"missing data_offsets", st_file(R"({"t":{"dtype":"F32","shape":[2]}})", floats({1, 2})),
       "needs dtype, shape and data_offsets"},
      {"missing dtype", st_file(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", floats({1, 2})),
       "needs dtype, shape and data_offsets"},
      {"entry is not an object", st_file(R"({"t":[0,8]})", floats({1, 2})), "needs dtype, shape and data_offsets"},
      {"unknown dtype F16", st_file(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", "abcd"),
       "unsupported dtype \"F16\""},
      {"unknown dtype BF16", st_file(R"({"t":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})", "abcd"),
       "unsupported dtype \"BF16\""},
      {"dtype not a string", st_file(R"({"t":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", floats({1, 2})),
       "unsupported dtype 4"},
      {"shape not an array", st_file(R"({"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", floats({1, 2})),
       "shape must be an array"},
      {"negative dimension", st_file(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", floats({1, 2})),
       "bad dimension -2"},
      {"fractional dimension", st_file(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", floats({1, 2})),
       "bad dimension"},
      {"dimensions whose product overflows",
       st_file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", ""), "\"t\""},
      {"offsets out of range", st_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,80]}})", floats({1, 2})),
       "fall outside the 8-byte data section"},
      {"offsets reversed", st_file(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", floats({1, 2})),
       "data_offsets [8, 0)"},
      {"offsets not integers", st_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}})", floats({1, 2})),
       "data_offsets must be two non-negative integers"},
      {"three offsets", st_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", floats({1, 2})),
       "data_offsets must be two non-negative integers"},
      {"negative offset", st_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-4,4]}})", floats({1, 2})),
       "data_offsets must be two non-negative integers"},
      {"size does not match shape·dtype", st_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", floats({1, 2})),
       "shape [3] F32 needs 12 bytes, data_offsets give 8"},
      {"more bytes than shape·dtype", st_file(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", floats({1, 2})),
       "shape [1] F32 needs 4 bytes, data_offsets give 8"},
      {"I64 size mismatch", st_file(R"({"t":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}})", floats({1, 2})),
       "needs 16 bytes"},
      {"gap between tensors",
       st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
               floats({1, 2, 3})),
       "\"b\" starts at data byte 8, expected 4"},
      {"overlapping tensors",
       st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
               floats({1, 2, 3})),
       "\"b\" starts at data byte 4, expected 8"},
      {"data not starting at 0", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", floats({1, 2})),
       "starts at data byte 4, expected 0"},
      {"trailing bytes", st_file("{" + okt + "}", floats({1, 2}) + "xyz"), "3 trailing bytes after the last tensor"},
      {"truncated data", st_file("{" + okt + "}", floats({1, 2}).substr(0, 5)), "file truncated?"},
      {"metadata not an object", st_file(R"({"__metadata__":[1],)" + okt + "}", floats({1, 2})),
       "__metadata__ must be an object"},
      {"metadata value not a string", st_file(R"({"__metadata__":{"epoch":3},)" + okt + "}", floats({1, 2})),
       "__metadata__ value for \"epoch\" is not a string"},
  };
  for (const auto& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    write_bytes(path, c.bytes);
    std::string e = error_of([&] { nn::load_safetensors(path); });
    CAPTURE(e);
    CHECK(contains(e, path));
    CHECK(contains(e, c.expect));
  }
  // files that are not there or not files
  CHECK(contains(error_of([&] { nn::load_safetensors(dir / "missing.safetensors"); }), "no such file"));
  std::string e = error_of([&] { nn::load_safetensors(dir.path.string()); });
  CHECK(contains(e, dir.path.string()));
}

TEST_CASE("random corruption and truncation: every load succeeds or throws minidl::Error") {
  TempDir dir;
  const std::string good = dir / "good.safetensors", bad = dir / "bad.safetensors";
  nn::save_safetensors(all_dtypes(), good, {{"format", "pt"}});
  const std::string base = read_bytes(good);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(base[size_t(i)]);
  const size_t header_end = size_t(8 + n);
  std::mt19937_64 rng(12345);
  auto pick = [&](size_t lo, size_t hi) { return lo + size_t(rng() % (hi - lo)); };
  int ok = 0, errors = 0;
  for (int it = 0; it < 3000; ++it) {
    std::string b = base;
    switch (it % 6) {
      case 0:  // flip bits anywhere
        for (int k = 0, m = 1 + int(rng() % 3); k < m; ++k) b[pick(0, b.size())] ^= char(1 << (rng() % 8));
        break;
      case 1:  // random bytes in the header
        for (int k = 0, m = 1 + int(rng() % 3); k < m; ++k) b[pick(8, header_end)] = char(rng());
        break;
      case 2: {  // replace a digit of the header by another digit (offsets, shapes)
        std::vector<size_t> digits;
        for (size_t i = 8; i < header_end; ++i)
          if (b[i] >= '0' && b[i] <= '9') digits.push_back(i);
        b[digits[rng() % digits.size()]] = char('0' + rng() % 10);
        break;
      }
      case 3: {  // lengthen a number (huge offsets / dimensions)
        std::vector<size_t> digits;
        for (size_t i = 8; i < header_end; ++i)
          if (b[i] >= '0' && b[i] <= '9') digits.push_back(i);
        const size_t at = digits[rng() % digits.size()];
        b.insert(at, std::string(1 + rng() % 12, char('1' + rng() % 9)));
        break;
      }
      case 4:  // truncate
        b.resize(pick(0, b.size()));
        break;
      case 5:  // damage the length field
        b[pick(0, 8)] = char(rng());
        break;
    }
    fs::remove(bad);  // (rewriting a truncated file makes ext4 flush it: slow)
    write_bytes(bad, b);
    try {
      auto sd = nn::load_safetensors(bad);
      for (const auto& [name, t] : sd) REQUIRE(t.nbytes() <= b.size());  // nothing claims more than the file holds
      ++ok;
    } catch (const minidl::Error& e) {
      ++errors;
      if (!contains(e.what(), bad)) FAIL("error does not name the file: ", e.what());
    } catch (const std::exception& e) {
      FAIL("iteration ", it, ": not a minidl::Error: ", e.what());
    }
  }
  MESSAGE("random corruption: ", ok, " loads succeeded, ", errors, " raised minidl::Error");
  CHECK(errors > 1000);
  CHECK(ok > 0);  // flips inside tensor data are undetectable and must load
}

// ---------------------------------------------------------------- saving

TEST_CASE("save errors") {
  TempDir dir;
  const std::string path = dir / "x.safetensors";
  nn::StateDict dup = {{"a", Tensor::zeros({1})}, {"a", Tensor::zeros({1})}};
  CHECK(contains(error_of([&] { nn::save_safetensors(dup, path); }), "duplicate or reserved tensor name \"a\""));
  nn::StateDict reserved = {{"__metadata__", Tensor::zeros({1})}};
  CHECK(error_of([&] { nn::save_safetensors(reserved, path); }) != "<no error>");
  nn::StateDict undef = {{"u", Tensor()}};
  CHECK(contains(error_of([&] { nn::save_safetensors(undef, path); }), "\"u\" is undefined"));
  CHECK(listing(dir.path).empty());  // nothing written by failed saves
}

TEST_CASE("atomic save: failures leave the previous file intact and no temporary behind") {
  TempDir dir;
  const auto sd = all_dtypes();
  const std::string target = dir / "ckpt.safetensors";
  nn::save_safetensors(sd, target, {{"v", "1"}});
  const std::string original = read_bytes(target);

  SUBCASE("directory does not exist") {
    const std::string p = dir / "no/such/dir/ckpt.safetensors";
    std::string e = error_of([&] { nn::save_safetensors(sd, p); });
    CHECK(contains(e, p));
    CHECK_FALSE(fs::exists(dir.path / "no"));
  }
  SUBCASE("a path component is a regular file") {
    const std::string p = target + "/inner.safetensors";
    CHECK(contains(error_of([&] { nn::save_safetensors(sd, p); }), p));
    CHECK(read_bytes(target) == original);
  }
  SUBCASE("the target is a non-empty directory: rename fails after writing") {
    const std::string p = dir / "occupied";
    fs::create_directory(p);
    write_bytes(p + "/keep.txt", "keep");
    std::string e = error_of([&] { nn::save_safetensors(sd, p); });
    CHECK(contains(e, p));
    CHECK(contains(e, "rename"));
    CHECK(read_bytes(p + "/keep.txt") == "keep");
  }
  SUBCASE("the write itself fails midway (file size limit)") {
    // RLIMIT_FSIZE makes write() fail with EFBIG once the temporary file holds
    // 64 bytes; SIGXFSZ is ignored so the failure is an error code, not a signal.
    nn::StateDict big = {{"w", Tensor::ones({1000})}};
    struct sigaction ign {}, old {};
    ign.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &ign, &old);
    rlimit lim{}, saved{};
    getrlimit(RLIMIT_FSIZE, &saved);
    lim = saved;
    lim.rlim_cur = 64;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    std::string e = error_of([&] { nn::save_safetensors(big, target); });
    setrlimit(RLIMIT_FSIZE, &saved);
    sigaction(SIGXFSZ, &old, nullptr);
    CHECK(contains(e, target));
    CHECK(contains(e, "write failed"));
    CHECK(read_bytes(target) == original);
    check_same(nn::load_safetensors(target), sd);
  }
  SUBCASE("the directory is not writable") {
    if (::geteuid() == 0) {
      MESSAGE("running as root: permission bits do not stop writes, not-writable case skipped");
    } else {
      fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
      CHECK(contains(error_of([&] { nn::save_safetensors(sd, target); }), target));
      fs::permissions(dir.path, fs::perms::owner_all);
      CHECK(read_bytes(target) == original);
    }
  }
  SUBCASE("a successful save replaces the file") {
    nn::StateDict other = {{"only", Tensor::full({3}, 2.f)}};
    nn::save_safetensors(other, target);
    check_same(nn::load_safetensors(target), other);
  }
  // in every case: the only entries are the target (and the test's own directory)
  for (const auto& name : listing(dir.path)) {
    CAPTURE(name);
    CHECK_FALSE(contains(name, ".tmp"));
  }
  if (read_bytes(target) != original) {  // only the successful save may change it
    CHECK(nn::load_safetensors(target).size() == 1);
  }
}

// ---------------------------------------------------------------- models

TEST_CASE("nn::save / nn::load of the seed CNN") {
  TempDir dir;
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    const std::string path = dir / (bn ? "bn.safetensors" : "plain.safetensors");
    auto a = cnn(bn, 1), b = cnn(bn, 2);
    if (bn) {
      Generator g(3);
      a->forward(Tensor::uniform({8, 1, 28, 28}, 0.f, 1.f, g));  // non-trivial running stats
    }
    nn::save(*a, path, {{"epoch", "7"}});
    nn::Metadata meta;
    nn::load_safetensors(path, &meta);
    CHECK(meta.at("format") == "pt");
    CHECK(meta.at("epoch") == "7");
    nn::load(*b, path);
    auto sa = a->state_dict(), sb = b->state_dict();
    REQUIRE(sa.size() == sb.size());
    for (size_t i = 0; i < sa.size(); ++i) {
      CHECK(sa[i].first == sb[i].first);
      CHECK(bit_equal(sa[i].second, sb[i].second));
    }
    a->eval();
    b->eval();
    Generator g(4);
    Tensor x = Tensor::uniform({2, 1, 28, 28}, 0.f, 1.f, g);
    CHECK(bit_equal(a->forward(x), b->forward(x)));
  }
  // A BN checkpoint does not load into a model without BN, and vice versa;
  // the message names the file and the keys, and the model is left as it was.
  auto plain = cnn(false, 5);
  const auto before = plain->state_dict();
  std::vector<Tensor> copies;
  for (const auto& [n, t] : before) copies.push_back(t.clone());
  std::string e = error_of([&] { nn::load(*plain, dir / "bn.safetensors"); });
  CHECK(contains(e, dir / "bn.safetensors"));
  CHECK(contains(e, "unexpected keys: bn1.weight, bn1.bias, bn1.running_mean, bn1.running_var, bn1.num_batches_tracked, "
               "bn2.weight"));
  for (size_t i = 0; i < before.size(); ++i) CHECK(bit_equal(plain->state_dict()[i].second, copies[i]));
  auto withbn = cnn(true, 5);
  e = error_of([&] { nn::load(*withbn, dir / "plain.safetensors"); });
  CHECK(contains(e, dir / "plain.safetensors"));
  CHECK(contains(e, "missing keys: bn1.weight, bn1.bias, bn1.running_mean"));
  // non-strict: what matches is loaded
  nn::load(*withbn, dir / "plain.safetensors", false);
  CHECK(bit_equal(withbn->get_submodule("fc2")->parameter("bias"),
                  nn::load_safetensors(dir / "plain.safetensors").back().second));
  // a checkpoint with a wrongly shaped tensor names it with both shapes
  nn::SeedCNNOptions o;
  o.num_classes = 5;
  auto five = nn::seed_cnn(o);
  e = error_of([&] { nn::load(*five, dir / "plain.safetensors"); });
  CHECK(contains(e, "fc2.weight"));
  CHECK(contains(e, "[10, 100]"));
  CHECK(contains(e, "[5, 100]"));
}
