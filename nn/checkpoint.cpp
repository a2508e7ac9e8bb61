#include "nn/checkpoint.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "datasets/file_bytes.h"

namespace minidl::nn {

namespace {

using json = nlohmann::json;

// Refuse headers larger than this (the format's reference implementation uses 100 MB).
constexpr uint64_t kMaxHeader = 100u << 20;

bool parse_dtype(const std::string& s, DType& out) {
  for (DType t : {DType::Float32, DType::Int8, DType::UInt8, DType::Int32, DType::Int64})
    if (s == dtype_name(t)) {
      out = t;
      return true;
    }
  return false;
}

}  // namespace

namespace {

namespace fs = std::filesystem;

// Temporary files are "<target>.tmp.<pid>.<n>": unique per process and call,
// so concurrent saves (parallel folds) never share one.
std::string temp_name(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

// A save killed before its rename (kill -9, power loss) leaves its temporary
// behind. The next save to the same path removes those whose process is gone
// (kill(pid, 0) fails with ESRCH); a live process's temporary is never touched.
void remove_stale_temps(const std::string& path) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());  // "<pid>.<n>"
    const size_t dot = rest.find('.');
    if (dot == 0 || dot == std::string::npos || rest.find_first_not_of("0123456789.") != std::string::npos) continue;
    const long pid = std::strtol(rest.substr(0, dot).c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || (::kill(pid_t(pid), 0) == 0 || errno != ESRCH)) continue;
    std::error_code rm;
    fs::remove(it->path(), rm);
  }
}

// fsync of the directory makes the rename itself durable (POSIX leaves it in
// the page cache otherwise: after a crash the old name could come back).
void fsync_dir(const std::string& path) {
  const fs::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // the file is in place; durability of the name is best effort
  ::fsync(fd);
  ::close(fd);
}

// Creates a fresh temporary next to `path` and writes `bytes` to it, fsynced.
// Returns its name; on failure removes it and throws.
std::string write_temp(const std::string& path, const char* bytes, size_t size) {
  const std::string tmp = temp_name(path);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  MINIDL_CHECK(fd >= 0, path, ": cannot create temporary file ", tmp, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < size) {
    ssize_t w = ::write(fd, bytes + done, size - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = w < 0 ? errno : ENOSPC;
      ::close(fd);
      ::unlink(tmp.c_str());
      detail::fail(path, ": write failed after ", done, " of ", size, " bytes: ", std::strerror(e),
                   " (the previous file, if any, is untouched)");
    }
    done += size_t(w);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    detail::fail(path, ": cannot flush temporary file: ", std::strerror(e));
  }
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    detail::fail(path, ": cannot flush temporary file: ", std::strerror(e));
  }
  return tmp;
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  remove_stale_temps(path);
  // Write and fsync the temporary, rename it over the target (atomic in POSIX:
  // readers see the old or the new file, never a mix), fsync the directory.
  const std::string tmp = write_temp(path, bytes.data(), bytes.size());
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    detail::fail(path, ": cannot rename temporary file into place: ", std::strerror(e));
  }
  fsync_dir(path);
}

void check_writable(const std::string& path, const std::string& what) {
  std::error_code ec;
  MINIDL_CHECK(!fs::is_directory(path, ec), what, ": ", path, " is a directory, expected a file name");
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  MINIDL_CHECK(fs::is_directory(dir, ec), what, ": directory ", dir.string(), " of ", path, " does not exist");
  // A real write of one block and an fsync: catches read-only and full file systems too.
  try {
    const std::string tmp = write_temp(path, std::string(4096, '\0').data(), 4096);
    ::unlink(tmp.c_str());
  } catch (const Error& e) {
    detail::fail(what, ": cannot write ", path, " (", e.what(), ")");
  }
}

void save_safetensors(const StateDict& tensors, const std::string& path, const Metadata& metadata) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    MINIDL_CHECK(t.defined(), path, ": tensor \"", name, "\" is undefined");
    MINIDL_CHECK(name != "__metadata__" && !header.contains(name), path, ": duplicate or reserved tensor name \"",
                 name, "\"");
    header[name] = {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + t.nbytes()}}};
    offset += t.nbytes();
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
  std::string bytes(8, '\0');
  const uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char((n >> (8 * i)) & 0xff);
  bytes += h;
  bytes.reserve(bytes.size() + offset);
  for (const auto& [name, t] : tensors) bytes.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  write_file_atomic(path, bytes);
}

namespace {

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// The JSON header. The safetensors reference reader rejects a header that does
// not start with '{' (so no leading spaces or UTF-8 BOM; trailing spaces are
// the format's padding). Duplicate names are rejected too: JSON leaves their
// meaning open and readers disagree on which one wins, so a file could load
// differently here and in PyTorch.
json parse_header(const std::string& path, const std::string& h) {
  MINIDL_CHECK(!h.empty() && h[0] == '{', path, ": header (bytes 8..", 8 + h.size(),
               ") must be a JSON object starting with '{' at byte 8 (no leading spaces or byte-order mark)");
  std::set<std::string> names;
  std::string duplicate;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth == 1 && event == json::parse_event_t::key && !names.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(h, callback);
  } catch (const json::exception& e) {
    const size_t byte = e.id == 101 ? static_cast<const json::parse_error&>(e).byte : 0;
    detail::fail(path, ": header (bytes 8..", 8 + h.size(), ") is not valid JSON: byte ", 8 + byte - (byte > 0), ": ",
                 e.what());
  }
  MINIDL_CHECK(duplicate.empty(), path, ": header names tensor \"", duplicate, "\" twice");
  MINIDL_CHECK(header.is_object(), path, ": header must be a JSON object");
  return header;
}

Entry parse_entry(const std::string& path, const std::string& name, const json& v, uint64_t data_size) {
  MINIDL_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), path,
               ": tensor \"", name, "\" needs dtype, shape and data_offsets");
  Entry e{name, DType::Float32, {}, 0, 0};
  MINIDL_CHECK(v["dtype"].is_string() && parse_dtype(v["dtype"].get<std::string>(), e.dtype), path, ": tensor \"",
               name, "\" has unsupported dtype ", v["dtype"].dump(), " (supported: F32, I8, U8, I32, I64)");
  MINIDL_CHECK(v["shape"].is_array() && v["shape"].size() <= 64, path, ": tensor \"", name,
               "\": shape must be an array (of at most 64 dimensions)");
  std::vector<uint64_t> dims;
  for (const auto& d : v["shape"]) {
    MINIDL_CHECK(d.is_number_unsigned(), path, ": tensor \"", name, "\": bad dimension ", d.dump());
    dims.push_back(d.get<uint64_t>());
    e.shape.push_back(int64_t(std::min<uint64_t>(dims.back(), uint64_t(1) << 62)));
  }
  // Element count without overflow: the product of the non-zero dimensions is
  // capped at 2^60, so numel_of (int64, left to right) cannot overflow either.
  uint64_t numel = 0;
  MINIDL_CHECK(datasets::dims_product(dims, uint64_t(1) << 60, &numel), path, ": tensor \"", name, "\": shape ",
               to_string(e.shape), " has too many elements");
  const auto& o = v["data_offsets"];
  MINIDL_CHECK(o.is_array() && o.size() == 2 && o[0].is_number_unsigned() && o[1].is_number_unsigned(), path,
               ": tensor \"", name, "\": data_offsets must be two non-negative integers");
  e.begin = o[0].get<uint64_t>();
  e.end = o[1].get<uint64_t>();
  MINIDL_CHECK(e.begin <= e.end && e.end <= data_size, path, ": tensor \"", name, "\": data_offsets [", e.begin,
               ", ", e.end, ") fall outside the ", data_size, "-byte data section (file truncated?)");
  uint64_t want = 0;
  datasets::span_fits(0, numel, dtype_size(e.dtype), datasets::kUnlimited, &want);  // <= 2^63: no overflow
  MINIDL_CHECK(e.end - e.begin == want, path, ": tensor \"", name, "\": shape ", to_string(e.shape), " ",
               dtype_name(e.dtype), " needs ", want, " bytes, data_offsets give ", e.end - e.begin);
  return e;
}

}  // namespace

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  // Regular files only: a FIFO or device given as --init would block forever.
  datasets::FileReader f(path, /*gunzip=*/false);
  const uint64_t size = f.file_size();
  MINIDL_CHECK(size >= 8, path, ": not a safetensors file: ", size, " bytes, the 8-byte header length is missing");
  unsigned char len_bytes[8];
  MINIDL_CHECK(f.read_into(len_bytes, 8) == 8, path, ": read error in the header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  MINIDL_CHECK(n <= kMaxHeader && datasets::span_fits(8, n, 1, size), path, ": header length ", n,
               " at byte 0 exceeds the file (", size, " bytes) or the 100 MB limit");
  std::string h(n, '\0');
  MINIDL_CHECK(f.read_into(h.data(), n) == n, path, ": read error in the header (bytes 8..", 8 + n, ")");
  const json header = parse_header(path, h);
  const uint64_t data_start = 8 + n, data_size = size - data_start;

  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name != "__metadata__") {
      entries.push_back(parse_entry(path, name, v, data_size));
      continue;
    }
    MINIDL_CHECK(v.is_object(), path, ": __metadata__ must be an object of strings");
    for (const auto& [k, s] : v.items()) {
      MINIDL_CHECK(s.is_string(), path, ": __metadata__ value for \"", k, "\" is not a string");
      if (metadata) (*metadata)[k] = s.get<std::string>();
    }
  }
  // By offset; an empty tensor sharing its offset with the next one sorts first.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t expect = 0;
  for (const auto& e : entries) {
    MINIDL_CHECK(e.begin == expect, path, ": tensor \"", e.name, "\" starts at data byte ", e.begin, ", expected ",
                 expect, " (tensors must tile the data section without gaps or overlaps)");
    expect = e.end;
  }
  MINIDL_CHECK(expect == data_size, path, ": ", data_size - expect, " trailing bytes after the last tensor");

  // The tensors tile the data section in this order, so it is read front to back.
  StateDict out;
  for (const auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    MINIDL_CHECK(f.read_into(t.raw_data(), size_t(e.end - e.begin)) == e.end - e.begin, path,
                 ": read error in tensor \"", e.name, "\" at byte ", data_start + e.begin);
    out.emplace_back(e.name, std::move(t));
  }
  return out;
}

void save(const Module& model, const std::string& path, const Metadata& metadata) {
  Metadata m = metadata;
  m.emplace("format", "pt");
  save_safetensors(model.state_dict(), path, m);
}

void load(Module& model, const std::string& path, bool strict) {
  StateDict sd = load_safetensors(path);
  try {
    model.load_state_dict(sd, strict);
  } catch (const Error& e) {
    detail::fail(path, ": ", e.what());
  }
}

}  // namespace minidl::nn
