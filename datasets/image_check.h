// minidl/datasets/image_check.h — validating an encoded image before stb_image sees it.
//
// stb_image is a fine decoder for trusted files, but it trusts the sizes it
// reads: a 22-byte PGM can make it allocate ~400 MB, a ~100-byte BMP > 2 GB,
// a truncated BMP or PGM decodes to uninitialised pixels, a PNG chunk length
// of 2 GB is allocated before it is read, a zlib bomb in a PNG inflates without
// bound, a BMP height of INT_MIN reaches abs() (undefined behaviour), and a
// zero-height image reaches an assert() in stb_image_resize. So the header of
// each format is parsed here first (with datasets::check_span for every size)
// and the image is rejected, with a one-line Error naming the file, unless
//   * its content is PNG, JPEG, BMP or binary PGM/PPM (by magic bytes — stb
//     would otherwise also try TGA, PSD, HDR, GIF and PIC on any file);
//   * width and height are in [1, 2^24] and width x height ≤ kMaxImagePixels,
//     and ≤ kMaxPixelsPerByte x the file size (no real image is that sparse);
//   * uncompressed formats (BMP without RLE, PGM/PPM) hold every pixel byte;
//   * PNG chunks lie inside the file, it ends with IEND, and its image data
//     inflates to no more than the header's size allows (checked by
//     inflating into a small scratch buffer, never the whole stream);
//   * JPEG data ends with an EOI marker (PIL also rejects truncated JPEGs).
#pragma once

#include <cstdint>
#include <string>

namespace minidl::datasets {

inline constexpr int64_t kMaxImagePixels = int64_t(1) << 24;  // 16.7 Mpx, e.g. 4096 x 4096
inline constexpr int64_t kMaxPixelsPerByte = 4096;

struct ImageHeader {
  const char* format = "";  // "PNG", "JPEG", "BMP", "PNM"
  int64_t width = 0, height = 0;
};

// The format and size of the image in `bytes` (the file `path`), or Error.
ImageHeader check_image_bytes(const std::string& path, const std::string& bytes);

}  // namespace minidl::datasets
