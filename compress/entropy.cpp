// minidl/compress/entropy.cpp — see entropy.h.
#include "compress/entropy.h"

#include <zlib.h>
#include <zstd.h>

#include "core/error.h"

namespace minidl::compress {

namespace {
constexpr int kZlibLevel = 9;   // deflate's best
constexpr int kZstdLevel = 19;  // the highest level without --ultra's larger windows (ours are tiny)
}  // namespace

const char* codec_name(Codec c) {
  switch (c) {
    case Codec::None: return "none";
    case Codec::Zlib: return "zlib";
    case Codec::Zstd: return "zstd";
  }
  return "?";
}

Codec codec_from_name(const std::string& name) {
  if (name == "none") return Codec::None;
  if (name == "zlib") return Codec::Zlib;
  if (name == "zstd") return Codec::Zstd;
  detail::fail("unknown entropy codec \"", name, "\" (expected none, zlib or zstd)");
}

std::string entropy_encode(Codec codec, const std::string& raw) {
  if (codec == Codec::None) return raw;
  std::string out;
  if (codec == Codec::Zlib) {
    uLongf n = compressBound(uLong(raw.size()));
    out.resize(n);
    const int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
                             uLong(raw.size()), kZlibLevel);
    MINIDL_CHECK(rc == Z_OK, "zlib compress2 failed (", rc, ")");
    out.resize(n);
    return out;
  }
  out.resize(ZSTD_compressBound(raw.size()));
  const size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), kZstdLevel);
  MINIDL_CHECK(!ZSTD_isError(n), "ZSTD_compress failed: ", ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

bool entropy_decode(Codec codec, const unsigned char* p, size_t n, size_t raw_len, std::string& out, std::string& why) {
  out.assign(raw_len, '\0');
  if (codec == Codec::None) {
    if (n != raw_len) return why = "stored stream has " + std::to_string(n) + " bytes, expected " + std::to_string(raw_len), false;
    out.assign(reinterpret_cast<const char*>(p), n);
    return true;
  }
  if (codec == Codec::Zlib) {
    uLongf got = uLongf(raw_len);
    const int rc = uncompress(reinterpret_cast<Bytef*>(out.data()), &got, p, uLong(n));
    if (rc != Z_OK) return why = std::string("zlib: ") + (rc == Z_BUF_ERROR ? "stream longer than announced or truncated" : zError(rc)), false;
    if (got != raw_len) return why = "zlib stream gives " + std::to_string(got) + " bytes, expected " + std::to_string(raw_len), false;
    return true;
  }
  if (codec == Codec::Zstd) {
    const size_t got = ZSTD_decompress(out.data(), raw_len, p, n);
    if (ZSTD_isError(got)) return why = std::string("zstd: ") + ZSTD_getErrorName(got), false;
    if (got != raw_len) return why = "zstd stream gives " + std::to_string(got) + " bytes, expected " + std::to_string(raw_len), false;
    return true;
  }
  return why = "unknown codec " + std::to_string(int(codec)), false;
}

}  // namespace minidl::compress
