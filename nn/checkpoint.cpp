#include "nn/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

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

void write_file_atomic(const std::string& path, const std::string& bytes) {
  // Unique per process and per call, so concurrent saves (parallel folds) never share a temporary.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  MINIDL_CHECK(fd >= 0, path, ": cannot create temporary file ", tmp, ": ", std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      detail::fail(path, ": write failed after ", done, " of ", bytes.size(), " bytes: ", std::strerror(e),
                   " (the previous file, if any, is untouched)");
    }
    done += size_t(w);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    detail::fail(path, ": cannot flush temporary file: ", std::strerror(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    detail::fail(path, ": cannot rename temporary file into place: ", std::strerror(e));
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

StateDict load_safetensors(const std::string& path, Metadata* metadata) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  MINIDL_CHECK(f.good(), path, ": cannot open file");
  const uint64_t size = uint64_t(f.tellg());
  f.seekg(0);
  MINIDL_CHECK(size >= 8, path, ": not a safetensors file: ", size, " bytes, the 8-byte header length is missing");
  unsigned char len_bytes[8];
  f.read(reinterpret_cast<char*>(len_bytes), 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];
  MINIDL_CHECK(n <= kMaxHeader && n <= size - 8, path, ": header length ", n, " at byte 0 exceeds the file (",
               size, " bytes) or the 100 MB limit");
  std::string h(n, '\0');
  f.read(h.data(), std::streamsize(n));
  MINIDL_CHECK(f.good(), path, ": read error in the header (bytes 8..", 8 + n, ")");
  json header;
  try {
    header = json::parse(h);
  } catch (const json::parse_error& e) {
    detail::fail(path, ": header (bytes 8..", 8 + n, ") is not valid JSON: byte ", 8 + e.byte - 1, ": ", e.what());
  }
  MINIDL_CHECK(header.is_object(), path, ": header must be a JSON object");
  const uint64_t data_start = 8 + n, data_size = size - data_start;

  struct Entry {
    std::string name;
    DType dtype;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      MINIDL_CHECK(v.is_object(), path, ": __metadata__ must be an object of strings");
      for (const auto& [k, s] : v.items()) {
        MINIDL_CHECK(s.is_string(), path, ": __metadata__ value for \"", k, "\" is not a string");
        if (metadata) (*metadata)[k] = s.get<std::string>();
      }
      continue;
    }
    MINIDL_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), path,
                 ": tensor \"", name, "\" needs dtype, shape and data_offsets");
    Entry e{name, DType::Float32, {}, 0, 0};
    MINIDL_CHECK(v["dtype"].is_string() && parse_dtype(v["dtype"].get<std::string>(), e.dtype), path, ": tensor \"",
                 name, "\" has unsupported dtype ", v["dtype"].dump(), " (supported: F32, I8, U8, I32, I64)");
    MINIDL_CHECK(v["shape"].is_array(), path, ": tensor \"", name, "\": shape must be an array");
    // Element count without overflow: the product of the non-zero dimensions
    // is capped at 2^60 (so numel_of and the byte count below cannot overflow).
    constexpr uint64_t kMaxElements = uint64_t(1) << 60;
    uint64_t nonzero = 1;
    bool empty = false;
    for (const auto& d : v["shape"]) {
      MINIDL_CHECK(d.is_number_unsigned() && d.get<uint64_t>() < (uint64_t(1) << 40), path, ": tensor \"", name,
                   "\": bad dimension ", d.dump());
      const uint64_t dim = d.get<uint64_t>();
      e.shape.push_back(int64_t(dim));
      if (dim == 0) empty = true;
      else nonzero = nonzero > kMaxElements / dim ? kMaxElements + 1 : nonzero * dim;
    }
    MINIDL_CHECK(nonzero <= kMaxElements, path, ": tensor \"", name, "\": shape ", to_string(e.shape),
                 " has too many elements");
    const auto& o = v["data_offsets"];
    MINIDL_CHECK(o.is_array() && o.size() == 2 && o[0].is_number_unsigned() && o[1].is_number_unsigned(), path,
                 ": tensor \"", name, "\": data_offsets must be two non-negative integers");
    e.begin = o[0].get<uint64_t>();
    e.end = o[1].get<uint64_t>();
    MINIDL_CHECK(e.begin <= e.end && e.end <= data_size, path, ": tensor \"", name, "\": data_offsets [", e.begin,
                 ", ", e.end, ") fall outside the ", data_size, "-byte data section (file truncated?)");
    const uint64_t want = empty ? 0 : nonzero * dtype_size(e.dtype);
    MINIDL_CHECK(e.end - e.begin == want, path, ": tensor \"", name, "\": shape ", to_string(e.shape), " ",
                 dtype_name(e.dtype), " needs ", want, " bytes, data_offsets give ", e.end - e.begin);
    entries.push_back(std::move(e));
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

  StateDict out;
  for (const auto& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    f.seekg(std::streamoff(data_start + e.begin));
    f.read(static_cast<char*>(t.raw_data()), std::streamsize(e.end - e.begin));
    MINIDL_CHECK(f.good(), path, ": read error in tensor \"", e.name, "\" at byte ", data_start + e.begin);
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
