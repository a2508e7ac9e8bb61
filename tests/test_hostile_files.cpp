// Tests for issue 16's hardening: hostile files give a one-line minidl::Error
// before any large allocation (the shared bounds check, decompression bombs,
// image headers, CSV class counts, strict safetensors, the sparse format's
// expansion limit), loaders refuse FIFOs and devices, saves survive kill -9
// and clean up after dead processes, output paths are checked up front.
// The fuzz harnesses (tests/fuzz/) replay their own regression inputs; these
// cases pin the messages.
#include <doctest/doctest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "compress/sparse_format.h"
#include "datasets/csv.h"
#include "datasets/file_bytes.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "nn/checkpoint.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "minidl_hostile_XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, ec);
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// `prefix` then `zeros` zero bytes, gzipped chunk by chunk (no big buffer).
void write_gz_zeros(const std::string& path, const std::string& prefix, size_t zeros) {
  gzFile f = gzopen(path.c_str(), "wb9");
  REQUIRE(f != nullptr);
  gzwrite(f, prefix.data(), unsigned(prefix.size()));
  const std::string chunk(1 << 20, '\0');
  for (size_t done = 0; done < zeros; done += chunk.size())
    gzwrite(f, chunk.data(), unsigned(std::min(chunk.size(), zeros - done)));
  gzclose(f);
}

std::string be32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
std::string le32(uint32_t v) { return {char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }

std::vector<std::string> temps_of(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (contains(e.path().filename().string(), ".tmp.")) out.push_back(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("the shared bounds check: overflow-safe, names the file, field, offset and length") {
  uint64_t n = 0;
  CHECK(datasets::span_fits(8, 3, 4, 20, &n));
  CHECK(n == 12);
  CHECK_FALSE(datasets::span_fits(9, 3, 4, 20));
  CHECK_FALSE(datasets::span_fits(21, 0, 4, 20));                    // offset past the end
  CHECK_FALSE(datasets::span_fits(0, uint64_t(1) << 62, 8, ~0ull));   // count x size overflows
  CHECK_FALSE(datasets::span_fits(~0ull, 1, 1, ~0ull));
  CHECK(error_of([] { datasets::check_span("f.bin", "tensor \"w\"", 16, 10, 4, 50); }) ==
        "f.bin: truncated: tensor \"w\" needs 10 x 4 bytes at offset 16, file has 50 bytes");
  uint64_t p = 0;
  CHECK(datasets::dims_product({0xFFFFFFFF, 0}, uint64_t(1) << 56, &p));
  CHECK(p == 0);
  CHECK_FALSE(datasets::dims_product({0xFFFFFFFF, 0xFFFFFFFF, 0}, uint64_t(1) << 56, &p));
}

TEST_CASE("IDX: a small header in front of a gzip bomb is not inflated past what it declares") {
  TempDir d;
  // Header: u8, rank 1, 2 elements; then 2 data bytes and 96 MiB of zeros (~100 KB compressed).
  std::string header = std::string("\0\0\x08\x01", 4) + be32(2) + std::string(2, '\x07');
  write_gz_zeros(d / "x.gz", header, size_t(96) << 20);
  CHECK(error_of([&] { datasets::read_idx(d / "x.gz"); }) ==
        (d / "x.gz") + ": trailing data: header says 2 = 2 bytes of data from offset 8, the decompressed file "
                       "continues past byte 10");
  // Dimensions whose product overflows int64 before a trailing zero dimension.
  write_bytes(d / "z", std::string("\0\0\x08\x03", 4) + be32(0xFFFFFFFF) + be32(0xFFFFFFFF) + be32(0));
  CHECK(contains(error_of([&] { datasets::read_idx(d / "z"); }), "more than 2^56 elements"));
}

TEST_CASE("a gzip file without a declared size may not inflate beyond 128x + 64 MiB") {
  TempDir d;
  write_gz_zeros(d / "t.csv.gz", "x,y\n", size_t(80) << 20);  // ~80 KB -> 80 MiB: ratio ~1000
  const std::string e = error_of([&] { datasets::load_csv(d / "t.csv.gz"); });
  CHECK(contains(e, d / "t.csv.gz"));
  CHECK(contains(e, "decompression bomb"));
}

TEST_CASE("CSV: integer labels are class indices in [0, 2^20)") {
  TempDir d;
  write_bytes(d / "a.csv", "x,y\n1,9223372036854775807\n");
  CHECK(error_of([&] { datasets::load_csv(d / "a.csv"); }) ==
        (d / "a.csv") + ": line 2, column 2: class index 9223372036854775807 out of range [0, 1048575] (integer "
                        "labels are class indices; the class count is the largest + 1)");
  write_bytes(d / "b.csv", "x,y\n1,0\n2,1000000000000\n");
  CHECK(contains(error_of([&] { datasets::load_csv(d / "b.csv"); }), "line 3, column 2: class index 1000000000000"));
  write_bytes(d / "c.csv", "x,y\n1,0\n2,1048575\n");
  CHECK(datasets::load_csv(d / "c.csv").num_classes() == 1048576);
}

TEST_CASE("image folders: headers are checked before stb_image is called") {
  TempDir d;
  auto load = [&](const std::string& name, const std::string& bytes, int64_t size = 0) {
    std::error_code ec;
    fs::remove_all(d.path / "root", ec);
    write_bytes(d / ("root/c/" + name), bytes);
    return error_of([&] { datasets::load_image_folder(d / "root", {.channels = 1, .height = size, .width = size}); });
  };
  const std::string bmp_head = [] {
    std::string h = "BM" + le32(54 + 48) + le32(0) + le32(54) + le32(40) + le32(5);
    return h;
  }();
  auto bmp = [&](int32_t height, size_t pixel_bytes) {
    return bmp_head + le32(uint32_t(height)) + std::string("\x01\x00\x18\x00", 4) + le32(0) + std::string(20, '\0') +
           std::string(pixel_bytes, '\x40');
  };
  // The issue's 22-byte PGM that asked stb_image for ~400 MB.
  CHECK(contains(load("a.pgm", std::string("P5 20000 20000 255\n\0\0\0", 22)),
                 "PNM image is 20000x20000 = 400000000 pixels, more than the limit of 16777216"));
  CHECK(contains(load("a.pgm", std::string("P5 4000 4000 255\n\0\0\0", 20)),
                 "PNM image claims 4000x4000 pixels in only 20 bytes"));
  // Compressed formats cannot be checked that way; their size is capped in pixels and pixels per byte.
  const std::string png_sig("\x89PNG\r\n\x1a\n", 8);
  auto ihdr = [&](uint32_t w, uint32_t h) {
    return png_sig + be32(13) + "IHDR" + be32(w) + be32(h) + std::string("\x08\x00\x00\x00\x00", 5) + be32(0);
  };
  CHECK(contains(load("a.png", ihdr(20000, 20000)), "image is 20000x20000 = 400000000 pixels, more than the limit"));
  CHECK(contains(load("a.png", ihdr(4000, 4000)), "image claims 4000x4000 pixels in only 33 bytes"));
  CHECK(contains(load("a.pgm", std::string("P5 5 3 255\n") + std::string(7, 'x')),
                 "truncated: PNM samples needs 15 bytes at offset 11, file has 18 bytes"));
  CHECK(contains(load("a.bmp", bmp(3, 20)), "truncated: BMP pixel rows (3 rows of 16 bytes) needs 3 x 16 bytes"));
  CHECK(contains(load("a.bmp", bmp(INT32_MIN, 48)), "BMP image is 5x2147483648 (width x height)"));
  CHECK(contains(load("a.bmp", bmp(0, 48), 4), "BMP image is 5x0 (width x height), expected both in [1, 16777216]"));
  CHECK(contains(load("a.png", "GIF89a...."), "not a PNG, JPEG, BMP or binary PGM/PPM image"));
  CHECK(contains(load("a.jpg", std::string("\xff\xd8\xff\xc0\x00\x0b\x08\x00\x02\x00\x02\x01\x01\x11\x00\xff\xda\x00\x02\x00", 20)),
                 "truncated JPEG: no end-of-image marker"));
  // A valid 5x3 bottom-up 24-bit BMP decodes (rows padded to 16 bytes).
  CHECK(load("a.bmp", bmp(3, 48)) == "<no error>");
}

TEST_CASE("safetensors: strict header (no duplicates, starts with '{'), regular files only") {
  TempDir d;
  auto st = [](std::string h) {
    h.append((8 - h.size() % 8) % 8, ' ');
    std::string len(8, '\0');
    for (int i = 0; i < 8; ++i) len[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
    return len + h + std::string(4, '\0');
  };
  const std::string t = R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})";
  write_bytes(d / "dup", st("{" + t + "," + t + "}"));
  CHECK(error_of([&] { nn::load_safetensors(d / "dup"); }) == (d / "dup") + ": header names tensor \"a\" twice");
  for (const std::string& lead : {std::string("  "), std::string("\xef\xbb\xbf")}) {
    write_bytes(d / "lead", st(lead + "{" + t + "}"));
    CHECK(contains(error_of([&] { nn::load_safetensors(d / "lead"); }), "must be a JSON object starting with '{' at byte 8"));
  }
  write_bytes(d / "ok", st("{" + t + "}"));
  CHECK(nn::load_safetensors(d / "ok").size() == 1);
  // A FIFO would block a plain open() forever; /dev/zero never ends.
  REQUIRE(::mkfifo((d / "fifo").c_str(), 0600) == 0);
  CHECK(contains(error_of([&] { nn::load_safetensors(d / "fifo"); }), "not a regular file"));
  CHECK(contains(error_of([&] { compress::load_sparse(d / "fifo"); }), "not a regular file"));
  CHECK(contains(error_of([&] { nn::load_safetensors("/dev/zero"); }), "/dev/zero: not a regular file"));
  CHECK(contains(error_of([&] { datasets::read_idx(d / "fifo"); }), "not a regular file"));
}

TEST_CASE("sparse format: a few bytes cannot demand gigabytes") {
  // One pattern record of 4 x 2^28 float32 (4 GiB) with no entries: ~80 bytes.
  auto put = [](std::string& s, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
  };
  std::string body;
  put(body, 1, 2);
  body += "w";
  put(body, 0, 1), put(body, 2, 1), put(body, 2, 1), put(body, 4, 8), put(body, uint64_t(1) << 28, 8);
  put(body, 4, 1), put(body, 0, 8), put(body, 0, 8), put(body, 0, 4);
  std::string file = "MDLSPARS";
  put(file, 1, 4), put(file, 1, 4), put(file, 28 + 8 + body.size() + 4, 8);
  put(file, crc32(0, reinterpret_cast<const Bytef*>(file.data()), 24), 4);
  put(file, body.size(), 8);
  file += body;
  put(file, crc32(0, reinterpret_cast<const Bytef*>(body.data()), uInt(body.size())), 4);
  const std::string e = error_of([&] { compress::decode_sparse(file, "f"); });
  CHECK(contains(e, "f: byte"));
  CHECK(contains(e, "shape [4, 268435456] F32 would take the decoded tensors past the limit for this file"));
  // The writer refuses what the reader would refuse: an all-zero 2^25-float tensor is ~150 bytes sparse.
  nn::StateDict zeros = {{"z", Tensor::zeros({1, int64_t(1) << 25})}};
  CHECK(contains(error_of([&] { compress::encode_sparse(zeros); }), "expansion the reader allows"));
  nn::StateDict ok = {{"z", Tensor::zeros({4, 1000})}};
  CHECK(compress::decode_sparse(compress::encode_sparse(ok))[0].second.numel() == 4000);
}

TEST_CASE("kill -9 during saves: the previous file is always intact; the next save removes dead temporaries") {
  TempDir d;
  const std::string target = d / "ckpt.safetensors";
  nn::StateDict a = {{"w", Tensor::full({1 << 18}, 1.f)}}, b = {{"w", Tensor::full({3 << 17}, 2.f)}};
  nn::save_safetensors(a, target);
  const std::string bytes_a = read_bytes(target);
  nn::save_safetensors(b, target);
  const std::string bytes_b = read_bytes(target);
  unsigned seed = 12345;
  int killed_with_litter = 0;
  for (int round = 0; round < 30; ++round) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // child: save a and b in turn until killed
      for (int i = 0;; ++i) nn::write_file_atomic(target, i % 2 ? bytes_a : bytes_b);
    }
    seed = seed * 1103515245 + 12345;
    ::usleep(useconds_t(1000 + (seed >> 8) % 20000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    const std::string now = read_bytes(target);
    CHECK((now == bytes_a || now == bytes_b));
    if (!temps_of(d.path).empty()) ++killed_with_litter;
  }
  MESSAGE("saves killed with a temporary left behind: ", killed_with_litter, " of 30");
  // A temporary of a live process (our parent, e.g. ctest) is left alone; one of a dead process goes.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  write_bytes(target + ".tmp." + std::to_string(dead) + ".7", "partial");
  write_bytes(target + ".tmp." + std::to_string(::getppid()) + ".0", "in progress");
  nn::save_safetensors(a, target);
  CHECK(read_bytes(target) == bytes_a);
  CHECK(temps_of(d.path) == std::vector<std::string>{"ckpt.safetensors.tmp." + std::to_string(::getppid()) + ".0"});
}

TEST_CASE("check_writable: directories, missing folders, unwritable and full file systems fail up front") {
  TempDir d;
  CHECK(error_of([&] { nn::check_writable(d.path.string(), "--out"); }) ==
        "--out: " + d.path.string() + " is a directory, expected a file name");
  CHECK(contains(error_of([&] { nn::check_writable(d / "no/such/m.st", "--out"); }), "does not exist"));
  nn::check_writable(d / "m.st", "--out");
  CHECK(temps_of(d.path).empty());
  CHECK_FALSE(fs::exists(d / "m.st"));
  // A "full" file system: writes beyond 1000 bytes fail with EFBIG (SIGXFSZ ignored).
  struct sigaction ign {}, old {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGXFSZ, &ign, &old);
  rlimit saved{}, lim{};
  getrlimit(RLIMIT_FSIZE, &saved);
  lim = saved;
  lim.rlim_cur = 1000;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  const std::string e = error_of([&] { nn::check_writable(d / "m.st", "--history"); });
  setrlimit(RLIMIT_FSIZE, &saved);
  sigaction(SIGXFSZ, &old, nullptr);
  CHECK(contains(e, "--history: cannot write " + (d / "m.st")));
  CHECK(temps_of(d.path).empty());
  if (::geteuid() != 0) {
    fs::permissions(d.path, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK(contains(error_of([&] { nn::check_writable(d / "m.st", "--out"); }), "Permission denied"));
    fs::permissions(d.path, fs::perms::owner_all);
  }
}
