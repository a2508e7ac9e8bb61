// Harness: image folders (datasets/image_folder.h: load_image_folder) — the
// header checks of datasets/image_check.h, then stb_image and stb_image_resize.
//   byte 0: bits 0-2 the file's extension (.png .jpg .jpeg .bmp .ppm .pgm, 6-7:
//   .png), bit 3 RGB (else grayscale), bits 4-5 resize to 0x0 (native), 1x1,
//   7x5 or 32x32; bit 6: a second, fixed 2x2 PGM in the class (sizes must match)
#include "datasets/image_folder.h"
#include "fuzz_util.h"

using namespace minidl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int flags = data[0];
  static const char* kExt[] = {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".png", ".png"};
  static const int64_t kSize[4][2] = {{0, 0}, {1, 1}, {7, 5}, {32, 32}};
  const auto root = fuzz::scratch() / "images";
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  fuzz::write_file(root / "cls" / (std::string("a") + kExt[flags & 7]), data + 1, size - 1);
  if (flags & 64) {
    static const uint8_t kPgm[] = {'P', '5', ' ', '2', ' ', '2', ' ', '2', '5', '5', '\n', 1, 2, 3, 4};
    fuzz::write_file(root / "cls" / "b.pgm", kPgm, sizeof kPgm);
  }
  datasets::ImageFolderOptions o;
  o.channels = flags & 8 ? 3 : 1;
  o.height = kSize[(flags >> 4) & 3][0];
  o.width = kSize[(flags >> 4) & 3][1];
  return fuzz::expect_ok_or_error([&] { (void)datasets::load_image_folder(root.string(), o); });
}
