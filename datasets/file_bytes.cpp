#include "datasets/file_bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace minidl::datasets {
namespace fs = std::filesystem;

// ---- the shared bounds check

bool span_fits(uint64_t offset, uint64_t count, uint64_t item_size, uint64_t length, uint64_t* bytes) {
  uint64_t n = 0;
  if (__builtin_mul_overflow(count, item_size, &n)) return false;
  if (bytes) *bytes = n;
  return offset <= length && n <= length - offset;
}

uint64_t check_span(const std::string& file, const std::string& what, uint64_t offset, uint64_t count,
                    uint64_t item_size, uint64_t length) {
  uint64_t n = 0;
  if (span_fits(offset, count, item_size, length, &n)) return n;
  std::string size = std::to_string(count);
  if (item_size != 1) size += " x " + std::to_string(item_size);
  detail::fail(file, ": truncated: ", what, " needs ", size, " bytes at offset ", offset, ", ",
               describe_length(file, length));
}

bool dims_product(const std::vector<uint64_t>& dims, uint64_t cap, uint64_t* product) {
  uint64_t nonzero = 1;
  bool zero = false;
  for (uint64_t d : dims) {
    if (d == 0) {
      zero = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero, d, &nonzero) || nonzero > cap) return false;
  }
  *product = zero ? 0 : nonzero;
  return true;
}

// ---- FileReader

// Owns the descriptor / gzip stream, so a constructor that throws halfway
// (not a regular file, not gzip) still closes them: impl_ is already built.
struct FileReader::Impl {
  std::string path;
  int fd = -1;
  gzFile gz = nullptr;
  uint64_t size = 0;
  ~Impl() {
    if (gz) gzclose(gz);
    if (fd >= 0) ::close(fd);
  }
};

FileReader::FileReader(const std::string& path, bool gunzip) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int e = errno;
    MINIDL_CHECK(e != ENOENT, path, ": no such file");
    detail::fail(path, ": cannot open (", std::strerror(e), ")");
  }
  impl_->fd = fd;
  struct stat st {};
  MINIDL_CHECK(::fstat(fd, &st) == 0, path, ": cannot stat (", std::strerror(errno), ")");
  MINIDL_CHECK(!S_ISDIR(st.st_mode), path, ": is a directory, expected a file");
  // Devices and FIFOs could block or never end; data files and checkpoints are regular files.
  MINIDL_CHECK(S_ISREG(st.st_mode), path, ": not a regular file (a FIFO, device or socket?)");
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  impl_->size = uint64_t(st.st_size);
  if (!gunzip || !is_gz_path(path)) return;
  impl_->gz = gzdopen(fd, "rb");
  MINIDL_CHECK(impl_->gz != nullptr, path, ": cannot open as gzip (out of memory)");
  impl_->fd = -1;  // owned by gz now (gzclose closes it)
  gzbuffer(impl_->gz, 1 << 17);
  // In "transparent" mode zlib passes non-gzip files through unchanged; a file
  // named .gz that is not gzip is almost certainly a mistake, so say so.
  MINIDL_CHECK(!gzdirect(impl_->gz), path, ": not a gzip file (missing gzip magic 1f 8b at offset 0)");
}

FileReader::~FileReader() = default;

bool FileReader::gz() const { return impl_->gz != nullptr; }
uint64_t FileReader::file_size() const { return impl_->size; }
const std::string& FileReader::path() const { return impl_->path; }

size_t FileReader::read_into(void* dst, size_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  size_t done = 0;
  while (done < n) {
    const size_t want = std::min<size_t>(n - done, size_t(1) << 30);
    if (impl_->gz) {
      const int got = gzread(impl_->gz, p + done, unsigned(want));
      if (got > 0) done += size_t(got);
      if (size_t(got > 0 ? got : 0) == want) continue;
      // gzread signals a damaged stream either by returning -1 (Z_DATA_ERROR,
      // e.g. a bad CRC) or by stopping early with Z_BUF_ERROR ("unexpected end
      // of file" for a truncated stream); check the error state in both cases.
      int err = Z_OK;
      const char* msg = gzerror(impl_->gz, &err);
      if (err != Z_OK) {
        std::string m = msg ? msg : "unknown error";
        if (m.rfind(impl_->path + ": ", 0) == 0) m = m.substr(impl_->path.size() + 2);  // zlib prefixes the path
        detail::fail(impl_->path, ": corrupt gzip stream, reading stopped at compressed offset ",
                     gzoffset(impl_->gz), " (zlib: ", m, ")");
      }
      break;  // end of the stream
    }
    const ssize_t got = ::read(impl_->fd, p + done, want);
    if (got < 0 && errno == EINTR) continue;
    MINIDL_CHECK(got >= 0, impl_->path, ": read error after ", done, " bytes (", std::strerror(errno), ")");
    if (got == 0) break;
    done += size_t(got);
  }
  return done;
}

size_t FileReader::read(std::vector<uint8_t>& out, size_t n) {
  const size_t old = out.size();
  out.resize(old + n);
  const size_t got = read_into(out.data() + old, n);
  out.resize(old + got);
  return got;
}

// ---- whole files

namespace {

uint64_t default_limit(const FileReader& r) {
  if (!r.gz()) return r.file_size();
  uint64_t ratio = 0, total = 0;
  if (__builtin_mul_overflow(r.file_size(), kMaxGzipRatio, &ratio) ||
      __builtin_add_overflow(ratio, kGzipSlack, &total))
    return kUnlimited - 1;
  return total;
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path, const SizeLimit& limit) {
  FileReader r(path);
  const uint64_t cap = default_limit(r);
  std::vector<uint8_t> out;
  auto allowed_now = [&] { return limit ? std::min(limit(out), cap) : cap; };
  uint64_t allowed = allowed_now();
  constexpr size_t kChunk = size_t(1) << 20;
  for (;;) {
    const uint64_t stop = allowed + 1;  // one byte more shows that data follows
    if (out.size() >= stop) break;
    const size_t n = size_t(std::min<uint64_t>(stop - out.size(), kChunk));
    // Grow geometrically (linear growth would copy quadratically) but never past cap + 1.
    if (out.capacity() < out.size() + n)
      out.reserve(size_t(std::min<uint64_t>(cap + 1, std::max<uint64_t>(2 * out.capacity(), out.size() + n))));
    if (r.read(out, n) == 0) break;
    if (limit && out.size() >= allowed) allowed = std::max(allowed, allowed_now());
  }
  if (r.gz() && out.size() > cap)
    detail::fail(path, ": inflates to more than ", cap, " bytes (", kMaxGzipRatio, " x its ", r.file_size(),
                 " compressed bytes + ", kGzipSlack >> 20, " MiB); refusing a likely decompression bomb");
  return out;
}

std::string read_regular_file(const std::string& path) {
  FileReader r(path, false);
  std::string bytes;
  bytes.resize(size_t(r.file_size()));
  bytes.resize(r.read_into(bytes.data(), bytes.size()));
  return bytes;
}

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

}  // namespace minidl::datasets
