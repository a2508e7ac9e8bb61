#include "datasets/image_check.h"

#include <zlib.h>

#include <cstring>

#include "core/error.h"
#include "datasets/file_bytes.h"

namespace minidl::datasets {

namespace {

using Bytes = std::string;
uint64_t u8(const Bytes& b, size_t i) { return uint8_t(b[i]); }
uint64_t be16(const Bytes& b, size_t i) { return (u8(b, i) << 8) | u8(b, i + 1); }
uint64_t be32(const Bytes& b, size_t i) { return (be16(b, i) << 16) | be16(b, i + 2); }
uint64_t le16(const Bytes& b, size_t i) { return u8(b, i) | (u8(b, i + 1) << 8); }
uint64_t le32(const Bytes& b, size_t i) { return le16(b, i) | (le16(b, i + 2) << 16); }
bool starts(const Bytes& b, const char* magic, size_t n) { return b.size() >= n && std::memcmp(b.data(), magic, n) == 0; }

// The limits every format shares, checked as soon as the header gives the
// size — before any pixel data is looked at or inflated.
void check_size(const std::string& path, const ImageHeader& h, size_t file_bytes) {
  constexpr int64_t kMaxSide = int64_t(1) << 24;
  MINIDL_CHECK(h.width >= 1 && h.height >= 1 && h.width <= kMaxSide && h.height <= kMaxSide, path, ": ", h.format,
               " image is ", h.width, "x", h.height, " (width x height), expected both in [1, ", kMaxSide, "]");
  const int64_t pixels = h.width * h.height;
  MINIDL_CHECK(pixels <= kMaxImagePixels, path, ": ", h.format, " image is ", h.width, "x", h.height, " = ", pixels,
               " pixels, more than the limit of ", kMaxImagePixels);
  MINIDL_CHECK(uint64_t(pixels) <= uint64_t(kMaxPixelsPerByte) * file_bytes, path, ": ", h.format, " image claims ",
               h.width, "x", h.height, " pixels in only ", file_bytes, " bytes (more than ", kMaxPixelsPerByte,
               " pixels per byte: corrupt or hostile)");
}

// PNG (ISO/IEC 15948): 8-byte signature, then chunks {u32 length, 4-byte
// type, data, u32 CRC}; IHDR first, IEND last. The inflated IDAT stream holds
// one filter byte per row and ceil(width x bits per pixel / 8) bytes per row;
// Adam7 interlacing adds at most 7 passes' worth of filter bytes and rounding,
// so width x height x bpp / 8 + 14 x height + 8 bounds it in both cases.
ImageHeader check_png(const std::string& path, const Bytes& b) {
  ImageHeader h{"PNG", 0, 0};
  check_span(path, "PNG IHDR chunk", 8, 1, 25, b.size());
  MINIDL_CHECK(std::memcmp(&b[12], "IHDR", 4) == 0 && be32(b, 8) == 13, path,
               ": PNG does not start with a 13-byte IHDR chunk at offset 8");
  h.width = int64_t(be32(b, 16));
  h.height = int64_t(be32(b, 20));
  const uint64_t depth = u8(b, 24), color = u8(b, 25);
  const uint64_t channels = color == 0 ? 1 : color == 2 ? 3 : color == 3 ? 1 : color == 4 ? 2 : color == 6 ? 4 : 0;
  MINIDL_CHECK(channels != 0 && depth >= 1 && depth <= 16, path, ": PNG color type ", color, " / bit depth ", depth,
               " at offset 24 is invalid");
  check_size(path, h, b.size());
  const uint64_t bound = (uint64_t(h.width) * uint64_t(h.height) * channels * depth + 7) / 8 +
                         14 * uint64_t(h.height) + 8;  // with width, height <= 2^32 this cannot overflow

  // Owned, so the chunk checks below may throw without leaking zlib's state.
  struct Inflater {
    z_stream z{};
    bool live = inflateInit(&z) == Z_OK;
    ~Inflater() {
      if (live) inflateEnd(&z);
    }
  } inflater;
  MINIDL_CHECK(inflater.live, path, ": zlib inflateInit failed");
  z_stream& z = inflater.z;
  unsigned char scratch[1 << 16];
  uint64_t inflated = 0;
  bool stream_end = false, iend = false;
  int zerr = Z_OK;
  for (size_t pos = 8; pos < b.size() && !iend;) {
    check_span(path, "PNG chunk header and CRC", pos, 1, 12, b.size());
    const uint64_t len = be32(b, pos);
    const std::string type = b.substr(pos + 4, 4);
    check_span(path, "PNG chunk \"" + type + "\" data", pos + 8, len, 1, b.size() - 4);
    iend = type == "IEND";
    if (type == "IDAT" && !stream_end) {
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(&b[pos + 8]));
      z.avail_in = uInt(len);
      while (z.avail_in > 0 && !stream_end && inflated <= bound) {
        z.next_out = scratch;
        z.avail_out = sizeof scratch;
        zerr = inflate(&z, Z_NO_FLUSH);
        inflated += sizeof scratch - z.avail_out;
        if (zerr == Z_STREAM_END) stream_end = true;
        else if (zerr != Z_OK && zerr != Z_BUF_ERROR) break;
      }
      if ((zerr != Z_OK && zerr != Z_BUF_ERROR && zerr != Z_STREAM_END) || inflated > bound) break;
    }
    pos += 12 + size_t(len);
  }
  const std::string zm = z.msg ? z.msg : "";
  MINIDL_CHECK(inflated <= bound, path, ": PNG image data inflates past the ", bound, " bytes a ", h.width, "x",
               h.height, " image can need (a decompression bomb?)");
  MINIDL_CHECK(zerr == Z_OK || zerr == Z_BUF_ERROR || zerr == Z_STREAM_END, path,
               ": corrupt PNG image data (zlib: ", zm.empty() ? "error " + std::to_string(zerr) : zm, ")");
  MINIDL_CHECK(iend, path, ": truncated PNG: no IEND chunk before the end of the file (", b.size(), " bytes)");
  return h;
}

// JPEG (ITU T.81): markers FF xx; every segment but SOI/EOI/RSTn/TEM carries a
// big-endian u16 length. The size is in the SOFn segment; entropy-coded data
// follows SOS and escapes FF as FF 00, so an EOI (FF D9) after the SOS means
// the file was not cut short.
ImageHeader check_jpeg(const std::string& path, const Bytes& b) {
  ImageHeader h{"JPEG", 0, 0};
  size_t pos = 2;
  bool sof = false;
  for (;;) {
    check_span(path, "JPEG marker", pos, 1, 2, b.size());
    MINIDL_CHECK(u8(b, pos) == 0xFF, path, ": JPEG marker expected at offset ", pos);
    const uint64_t m = u8(b, pos + 1);
    if (m == 0xFF) { ++pos; continue; }  // fill byte
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { pos += 2; continue; }
    check_span(path, "JPEG segment length", pos + 2, 1, 2, b.size());
    const uint64_t len = be16(b, pos + 2);
    MINIDL_CHECK(len >= 2, path, ": JPEG segment length ", len, " at offset ", pos + 2, " is less than 2");
    check_span(path, "JPEG segment", pos + 2, len, 1, b.size());
    const bool is_sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (is_sof && !sof) {
      MINIDL_CHECK(len >= 8, path, ": JPEG frame header at offset ", pos, " is too short");
      h.height = int64_t(be16(b, pos + 5));
      h.width = int64_t(be16(b, pos + 7));
      sof = true;
    }
    if (m == 0xDA) break;  // start of scan: entropy-coded data follows
    pos += 2 + size_t(len);
  }
  MINIDL_CHECK(sof, path, ": JPEG has no frame header (SOFn) before its scan");
  check_size(path, h, b.size());
  bool eoi = false;
  for (size_t i = b.size() - 1; i > pos && !eoi; --i) eoi = u8(b, i - 1) == 0xFF && u8(b, i) == 0xD9;
  MINIDL_CHECK(eoi, path, ": truncated JPEG: no end-of-image marker (FF D9) after the scan at offset ", pos);
  return h;
}

// BMP: BITMAPFILEHEADER (pixel data offset at 10), then a DIB header whose
// size (at 14) selects the OS/2 (12 bytes: u16 sizes) or Windows layout
// (i32 width at 18, i32 height at 22, negative = top-down; u16 bpp at 28;
// u32 compression at 30). Rows are padded to 4 bytes.
ImageHeader check_bmp(const std::string& path, const Bytes& b) {
  ImageHeader h{"BMP", 0, 0};
  check_span(path, "BMP headers", 0, 1, 30, b.size());
  const uint64_t offset = le32(b, 10), hsz = le32(b, 14);
  uint64_t bpp = 0, compression = 0;
  if (hsz == 12) {
    h.width = int64_t(le16(b, 18));
    h.height = int64_t(le16(b, 20));
    bpp = le16(b, 24);
  } else {
    check_span(path, "BMP info header", 0, 1, 34, b.size());
    h.width = int64_t(int32_t(uint32_t(le32(b, 18))));
    h.height = int64_t(int32_t(uint32_t(le32(b, 22))));
    if (h.height < 0) h.height = -h.height;  // top-down rows (in int64: INT_MIN is fine)
    bpp = le16(b, 28);
    compression = le32(b, 30);
  }
  MINIDL_CHECK(bpp == 1 || bpp == 4 || bpp == 8 || bpp == 16 || bpp == 24 || bpp == 32, path, ": BMP has ", bpp,
               " bits per pixel, expected 1, 4, 8, 16, 24 or 32");
  MINIDL_CHECK(compression != 1 && compression != 2 && compression != 4 && compression != 5, path,
               ": compressed (RLE/JPEG/PNG) BMP is not supported by stb_image");
  check_size(path, h, b.size());
  const uint64_t row = (uint64_t(h.width) * bpp + 31) / 32 * 4;
  check_span(path, "BMP pixel rows (" + std::to_string(h.height) + " rows of " + std::to_string(row) + " bytes)",
             offset, uint64_t(h.height), row, b.size());
  return h;
}

// Binary PGM (P5) / PPM (P6): magic, then width, height and maxval as decimal
// text separated by whitespace and #-comments, one whitespace byte, then the
// samples (2 bytes each when maxval > 255) — the way stb_image parses it.
ImageHeader check_pnm(const std::string& path, const Bytes& b) {
  ImageHeader h{"PNM", 0, 0};
  size_t pos = 2;
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  auto number = [&](const char* what) {
    for (;;) {
      while (pos < b.size() && space(b[pos])) ++pos;
      if (pos >= b.size() || b[pos] != '#') break;
      while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
    }
    const size_t at = pos;
    uint64_t v = 0;
    for (; pos < b.size() && b[pos] >= '0' && b[pos] <= '9'; ++pos) {
      v = v * 10 + uint64_t(b[pos] - '0');
      MINIDL_CHECK(v <= (uint64_t(1) << 24), path, ": PNM ", what, " at offset ", at, " is too large");
    }
    MINIDL_CHECK(pos > at, path, ": PNM ", what, " expected at offset ", at);
    return int64_t(v);
  };
  h.width = number("width");
  h.height = number("height");
  const int64_t maxval = number("maxval");
  MINIDL_CHECK(maxval <= 65535, path, ": PNM maxval ", maxval, " exceeds 65535");
  check_size(path, h, b.size());
  const uint64_t channels = b[1] == '5' ? 1 : 3, sample = maxval > 255 ? 2 : 1;
  check_span(path, "PNM samples", pos + 1, uint64_t(h.width) * uint64_t(h.height), channels * sample, b.size());
  return h;
}

}  // namespace

ImageHeader check_image_bytes(const std::string& path, const std::string& b) {
  MINIDL_CHECK(b.size() <= (size_t(1) << 30), path, ": image file of ", b.size(), " bytes is larger than 1 GiB");
  ImageHeader h;
  if (starts(b, "\x89PNG\r\n\x1a\n", 8)) h = check_png(path, b);
  else if (starts(b, "\xFF\xD8", 2)) h = check_jpeg(path, b);
  else if (starts(b, "BM", 2)) h = check_bmp(path, b);
  else if (starts(b, "P5", 2) || starts(b, "P6", 2)) h = check_pnm(path, b);
  else
    detail::fail(path, ": cannot decode image: not a PNG, JPEG, BMP or binary PGM/PPM image (", b.size(), " bytes, unknown magic)");
  return h;
}

}  // namespace minidl::datasets
