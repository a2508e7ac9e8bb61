#include "datasets/image_folder.h"

#include <stb_image.h>
#include <stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "datasets/file_bytes.h"
#include "datasets/image_check.h"

namespace minidl::datasets {
namespace fs = std::filesystem;

namespace {

enum class Kind { NotImage, Decodable, Unsupported };

Kind image_kind(const fs::path& file) {
  std::string ext = file.extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const char* e : {".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm"})
    if (ext == e) return Kind::Decodable;
  for (const char* e : {".tif", ".tiff", ".webp"})
    if (ext == e) return Kind::Unsupported;
  return Kind::NotImage;
}

// Folders under class_dir (itself included) in sorted path order, not
// descending into symlinked folders.
std::vector<std::string> walk_dirs(const fs::path& class_dir) {
  std::vector<std::string> dirs{class_dir.string()};
  std::error_code ec;
  fs::recursive_directory_iterator it(class_dir, fs::directory_options::skip_permission_denied, ec), end;
  MINIDL_CHECK(!ec, "image_folder: cannot list ", class_dir.string(), " (", ec.message(), ")");
  for (; it != end; it.increment(ec)) {
    MINIDL_CHECK(!ec, "image_folder: cannot list below ", class_dir.string(), " (", ec.message(), ")");
    if (it->is_symlink(ec)) {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

// Image files directly inside `dir`, sorted by name.
std::vector<std::string> images_in(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code list_ec, ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, list_ec)) {
    if (!e.is_regular_file(ec)) continue;
    const Kind kind = image_kind(e.path());
    MINIDL_CHECK(kind != Kind::Unsupported, e.path().string(),
                 ": image format not supported (stb_image reads .png .jpg .jpeg .bmp .ppm .pgm)");
    if (kind == Kind::Decodable) names.push_back(e.path().filename().string());
  }
  MINIDL_CHECK(!list_ec, "image_folder: cannot list ", dir, " (", list_ec.message(), ")");
  std::sort(names.begin(), names.end());
  for (std::string& n : names) n = (fs::path(dir) / n).string();
  return names;
}

}  // namespace

ImageFolderIndex index_image_folder(const std::string& root) {
  std::error_code ec;
  MINIDL_CHECK(fs::is_directory(root, ec), "image_folder: directory ", root,
               " does not exist (expected root/<class>/<image files>)");
  ImageFolderIndex index;
  for (const fs::directory_entry& e : fs::directory_iterator(root, ec))
    if (e.is_directory(ec)) index.classes.push_back(e.path().filename().string());
  MINIDL_CHECK(!index.classes.empty(), "image_folder: ", root,
               " has no class folders (expected root/<class>/<image files>)");
  std::sort(index.classes.begin(), index.classes.end());
  for (size_t c = 0; c < index.classes.size(); ++c) {
    const size_t before = index.samples.size();
    for (const std::string& dir : walk_dirs(fs::path(root) / index.classes[c]))
      for (std::string& file : images_in(dir)) index.samples.emplace_back(std::move(file), int64_t(c));
    MINIDL_CHECK(index.samples.size() > before, "image_folder: class folder ",
                 (fs::path(root) / index.classes[c]).string(),
                 " has no image files (.png .jpg .jpeg .bmp .ppm .pgm)");
  }
  return index;
}

TensorDataset load_image_folder(const std::string& root, const ImageFolderOptions& opt) {
  MINIDL_CHECK(opt.channels == 1 || opt.channels == 3, "load_image_folder: channels = ", opt.channels,
               ", expected 1 (grayscale) or 3 (RGB)");
  MINIDL_CHECK((opt.height == 0) == (opt.width == 0) && opt.height >= 0 && opt.width >= 0 &&
                   opt.height <= 65536 && opt.width <= 65536,
               "load_image_folder: height x width = ", opt.height, " x ", opt.width,
               ", expected both in [1, 65536], or both 0 for the images' native size");
  ImageFolderIndex index = index_image_folder(root);
  const int64_t n = int64_t(index.samples.size());
  const int64_t c = opt.channels;
  int64_t h = opt.height, w = opt.width;

  Tensor items;
  std::vector<uint8_t> resized;
  std::vector<int64_t> labels;
  labels.reserve(size_t(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::string& path = index.samples[size_t(i)].first;
    // Every size in the header is checked before stb_image is called (image_check.h says why).
    const std::string bytes = read_regular_file(path);
    const ImageHeader header = check_image_bytes(path, bytes);
    int iw = 0, ih = 0, file_channels = 0;
    std::unique_ptr<stbi_uc, void (*)(void*)> img(
        stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), int(bytes.size()), &iw, &ih,
                              &file_channels, int(c)),
        &stbi_image_free);
    MINIDL_CHECK(img != nullptr, path, ": cannot decode image (stb_image: ", stbi_failure_reason(), ")");
    MINIDL_CHECK(iw == header.width && ih == header.height && iw > 0 && ih > 0, path, ": stb_image decoded ", ih,
                 "x", iw, " but the ", header.format, " header says ", header.height, "x", header.width);
    if (!items.defined()) {  // the first image fixes the size when none was given
      if (h == 0) h = ih, w = iw;
      items = Tensor::empty({n, c, h, w}, DType::UInt8);
    }
    const stbi_uc* hwc = img.get();
    if (ih != h || iw != w) {
      MINIDL_CHECK(opt.height != 0, path, ": image is ", ih, "x", iw, " but ", index.samples[0].first, " is ", h,
                   "x", w, "; set ImageFolderOptions height and width to resize every image to one size");
      resized.resize(size_t(h * w * c));
      MINIDL_CHECK(stbir_resize_uint8(hwc, iw, ih, 0, resized.data(), int(w), int(h), 0, int(c)) == 1, path,
                   ": resizing ", ih, "x", iw, " to ", h, "x", w, " failed");
      hwc = resized.data();
    }
    // stb_image returns interleaved HWC; the dataset stores planar CHW.
    uint8_t* dst = items.data<uint8_t>() + i * c * h * w;
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < h * w; ++p) dst[ch * h * w + p] = hwc[p * c + ch];
    labels.push_back(index.samples[size_t(i)].second);
  }
  const int64_t num_classes = int64_t(index.classes.size());
  return TensorDataset(std::move(items), std::move(labels), num_classes, std::move(index.classes));
}

}  // namespace minidl::datasets
