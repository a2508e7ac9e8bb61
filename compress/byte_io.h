// minidl/compress/byte_io.h — the little-endian byte writer and the bounds-checked
// reader shared by minidl's compact model files (compress/sparse_format.cpp,
// compress/dc_format.cpp), and their CRC-32 (zlib's: the one of PNG and gzip).
//
// The Reader never reads past `end`: every get/str checks the remaining length
// first (datasets::span_fits, overflow-safe) and fails with a minidl::Error
// naming the source, the byte offset, the record (`context`) and the field.
// check_header and check_record_crc are the framing the two formats share.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "datasets/file_bytes.h"

namespace minidl::compress::io {

inline uint32_t crc(const void* p, size_t n) {
  uLong c = crc32(0L, Z_NULL, 0);
  const auto* b = static_cast<const Bytef*>(p);
  while (n > 0) {  // zlib takes uInt lengths
    const uInt chunk = uInt(std::min<size_t>(n, size_t(1) << 30));
    c = crc32(c, b, chunk);
    b += chunk;
    n -= chunk;
  }
  return uint32_t(c);
}

inline size_t varint_len(uint64_t v) {
  size_t n = 1;
  while (v >>= 7) ++n;
  return n;
}

struct Writer {
  std::string out;
  void put(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(char((v >> (8 * i)) & 0xff));
  }
  void varint(uint64_t v) {  // LEB128, 7 bits a byte
    do {
      const uint8_t b = uint8_t(v & 0x7f);
      v >>= 7;
      out.push_back(char(v ? b | 0x80 : b));
    } while (v);
  }
  void raw(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  void patch(size_t at, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out[at + size_t(i)] = char((v >> (8 * i)) & 0xff);
  }
};

struct Reader {
  const std::string& source;
  const unsigned char* base;  // start of the file
  size_t pos, end;            // current offset and end of the readable range, in file bytes
  std::string context;        // "record 3 (\"fc1.weight\")"

  template <class... A>
  [[noreturn]] void fail(size_t at, const A&... a) const {
    detail::fail(source, ": byte ", at, ": ", context, context.empty() ? "" : ": ", a...);
  }
  void need(uint64_t n, const char* what) const {
    if (!datasets::span_fits(pos, n, 1, end))
      fail(pos, what, " needs ", n, " bytes, only ", end - pos, " remain (file truncated?)");
  }
  uint64_t get(int bytes, const char* what) {
    need(size_t(bytes), what);
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | base[pos + size_t(i)];
    pos += size_t(bytes);
    return v;
  }
  uint64_t varint(const char* what) {
    const size_t at = pos;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint64_t b = get(1, what);
      v |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    fail(at, what, ": varint longer than 10 bytes");
  }
  std::string str(size_t n, const char* what) {
    need(n, what);
    std::string s(reinterpret_cast<const char*>(base + pos), n);
    pos += n;
    return s;
  }
  size_t left() const { return end - pos; }
};

// ---------------------------------------------------------------- framing

// The header both formats start with (little-endian):
//   0 magic (8 bytes)   8 version (u32)   12 record count (u32)   16 file size (u64)
//   24 the format's own fields (the sparse format has none, dc_format the codec byte)
//   header_bytes - 4: CRC-32 of the header_bytes - 4 bytes before it (u32)
struct HeaderFormat {
  const char* what;     // "sparse checkpoint": errors say "not a minidl sparse checkpoint: ..."
  const char* magic;    // 8 bytes
  uint32_t version;     // the one this build reads
  size_t header_bytes;  // checksum included
};

struct FileHeader {
  Reader reader;     // over the whole file, at byte 24 (the format's own fields)
  uint64_t records;  // the record count
};

// Checks, in this order, that `bytes` (read from `source`) holds a header,
// that it starts with the magic, that the header checksum matches (so the
// fields after it are what the writer wrote), the version, and that the file
// has the size its header claims: a shorter one was truncated.
inline FileHeader check_header(const std::string& bytes, const std::string& source, const HeaderFormat& f) {
  const auto* base = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t size = bytes.size(), crc_at = f.header_bytes - 4;
  Reader h{source, base, 0, size, ""};
  if (size < f.header_bytes) h.fail(size, "not a minidl ", f.what, ": ", size, " bytes, the header needs ", f.header_bytes);
  if (std::memcmp(base, f.magic, 8) != 0) h.fail(0, "not a minidl ", f.what, " (bad magic)");
  h.pos = crc_at;
  const uint32_t want = uint32_t(h.get(4, "header checksum"));
  if (crc(base, crc_at) != want) h.fail(crc_at, "header checksum mismatch (the header is corrupted)");
  h.pos = 8;
  const uint64_t version = h.get(4, "version");
  if (version != f.version) h.fail(8, "unsupported version ", version, " (this build reads version ", f.version, ")");
  const uint64_t count = h.get(4, "record count");
  const uint64_t claimed = h.get(8, "file size");
  if (claimed != size) h.fail(16, "the header says the file has ", claimed, " bytes, it has ", size, " (truncated?)");
  return {h, count};
}

// A record's body is [r.pos, r.end), and its CRC-32 (u32) follows at r.end;
// the caller has checked that those 4 bytes are in the file.
inline void check_record_crc(const Reader& r) {
  uint32_t stored = 0;
  for (int k = 3; k >= 0; --k) stored = (stored << 8) | r.base[r.end + size_t(k)];
  if (crc(r.base + r.pos, r.end - r.pos) != stored) r.fail(r.end, "checksum mismatch (the record is corrupted)");
}

}  // namespace minidl::compress::io
