#include "datasets/file_bytes.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace minidl::datasets {
namespace fs = std::filesystem;

namespace {

void check_regular_file(const std::string& path) {
  std::error_code ec;
  const auto st = fs::status(path, ec);
  MINIDL_CHECK(fs::exists(st), path, ": no such file");
  MINIDL_CHECK(!fs::is_directory(st), path, ": is a directory, expected a file");
  // Devices and FIFOs could block or never end; data files are regular files.
  MINIDL_CHECK(fs::is_regular_file(st), path, ": not a regular file");
}

std::vector<uint8_t> read_raw(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  MINIDL_CHECK(f != nullptr, path, ": cannot open (", std::strerror(errno), ")");
  std::vector<uint8_t> bytes;
  std::error_code ec;
  const auto expected = fs::file_size(path, ec);
  if (!ec) bytes.reserve(size_t(expected));
  uint8_t chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  MINIDL_CHECK(!std::ferror(f.get()), path, ": read error after ", bytes.size(), " bytes");
  return bytes;
}

std::vector<uint8_t> read_gz(const std::string& path) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> f(gzopen(path.c_str(), "rb"), &gzclose);
  MINIDL_CHECK(f != nullptr, path, ": cannot open (", std::strerror(errno), ")");
  gzbuffer(f.get(), 1 << 17);
  std::vector<uint8_t> bytes;
  const unsigned kChunk = 1u << 20;
  for (;;) {
    const size_t old = bytes.size();
    bytes.resize(old + kChunk);
    const int n = gzread(f.get(), bytes.data() + old, kChunk);
    bytes.resize(old + size_t(n > 0 ? n : 0));
    if (n <= 0) break;
  }
  // gzread signals a damaged stream either by returning -1 (Z_DATA_ERROR, e.g.
  // a bad CRC) or by stopping early with Z_BUF_ERROR ("unexpected end of
  // file" for a truncated stream); check the error state in both cases.
  int err = Z_OK;
  const char* msg = gzerror(f.get(), &err);
  if (err != Z_OK) {
    std::string m = msg ? msg : "unknown error";
    if (m.rfind(path + ": ", 0) == 0) m = m.substr(path.size() + 2);  // zlib prefixes the path
    detail::fail(path, ": corrupt gzip stream, reading stopped at compressed offset ", gzoffset(f.get()),
                 " (zlib: ", m, ")");
  }
  // In "transparent" mode zlib passes non-gzip files through unchanged; a file
  // named .gz that is not gzip is almost certainly a mistake, so say so.
  MINIDL_CHECK(!gzdirect(f.get()), path, ": not a gzip file (missing gzip magic 1f 8b at offset 0)");
  return bytes;
}

}  // namespace

bool is_gz_path(const std::string& path) {
  return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
}

std::string describe_length(const std::string& path, uint64_t nbytes) {
  return std::string(is_gz_path(path) ? "decompressed file has " : "file has ") + std::to_string(nbytes) +
         " bytes";
}

std::string find_raw_or_gz(const std::string& dir, const std::string& name, const char* who) {
  for (const std::string& candidate : {name + ".gz", name}) {
    const fs::path p = fs::path(dir) / candidate;
    std::error_code ec;
    if (fs::exists(p, ec)) return p.string();
  }
  detail::fail(who, ": ", dir, " has neither ", name, ".gz nor ", name);
}

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  check_regular_file(path);
  return is_gz_path(path) ? read_gz(path) : read_raw(path);
}

}  // namespace minidl::datasets
