// minidl/datasets/image_folder.h — a folder of images, one sub-folder per class.
//
// The layout of torchvision.datasets.ImageFolder:
//   root/cat/001.png
//   root/cat/more/xyz.jpg       files in nested folders belong to the class too
//   root/dog/a.jpeg
// Classes are the sub-folders of root sorted by name (byte order, as Python's
// sorted()), labelled 0, 1, ...; within a class, folders are walked in sorted
// path order and the files of each folder taken in sorted name order, which is
// the order of torchvision's make_dataset (sorted(os.walk(...)), sorted(files)).
// Files are images by extension, case-insensitively, as torchvision's
// IMG_EXTENSIONS: .png .jpg .jpeg .bmp .ppm .pgm are decoded with stb_image;
// .tif .tiff .webp (which torchvision accepts but stb_image cannot read) are
// an Error rather than silently skipped, so class counts never differ from
// torchvision's. Other files are ignored. Symlinked files are followed,
// symlinked folders are not (so a link cycle cannot hang the walk).
//
// All images are decoded up front (serially) into one uint8 tensor
// [N, C, H, W], converted to grayscale (C = 1, stb_image's luma weights
// 77/150/29 ÷ 256) or RGB (C = 3), and resized with stb_image_resize's default
// filter when their size differs from the requested one. Meant for small and
// medium data sets that fit in memory.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.h"

namespace minidl::datasets {

struct ImageFolderOptions {
  int channels = 3;    // 1 (grayscale) or 3 (RGB)
  int64_t height = 0;  // every image is resized to height x width; 0 x 0 keeps the native
  int64_t width = 0;   // size, which must then be the same for every image
};

// The (path, label) pairs in dataset order and the class names, without
// decoding anything (torchvision's ImageFolder.samples and .classes).
struct ImageFolderIndex {
  std::vector<std::string> classes;
  std::vector<std::pair<std::string, int64_t>> samples;
};
ImageFolderIndex index_image_folder(const std::string& root);

// Decodes every image of index_image_folder(root). Errors name the file and
// the reason (missing root, no classes, a class without images, an undecodable
// file, mismatched native sizes when no size is given).
TensorDataset load_image_folder(const std::string& root, const ImageFolderOptions& options = {});

}  // namespace minidl::datasets
