// examples/common_checkpoint.h — reading any saved fp32 or int8 model file.
//
//   nn::Metadata meta;
//   std::string kind;  // which format it was, for the report
//   nn::StateDict sd = examples::read_checkpoint(path, meta, kind);
//
// Recognised by content, not by name:
//   a Deep Compression file (examples/compress; compress/dc_format.h, magic
//     "MDLDCOMP"): decoded to float tensors, its metadata inside;
//   a sparse checkpoint (examples/prune's OUT.sparse; compress/sparse_format.h,
//     magic "MDLSPARS"): it carries no metadata, so the recipe (input
//     transforms, model spec) is read from the safetensors file of the same name
//     without ".sparse" when there is one;
//   otherwise safetensors (fp32, pruned with masks, or int8 from examples/quantize).
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "common_flags.h"
#include "minidl.h"

namespace minidl::examples {

inline bool is_sparse_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {};
  f.read(magic, 8);
  return f.gcount() == 8 && std::string(magic, 8) == "MDLSPARS";
}

inline nn::StateDict read_checkpoint(const std::string& path, nn::Metadata& meta, std::string& kind) {
  if (compress::is_compressed_file(path)) {
    kind = "minidl's Deep Compression file (compress/dc_format.h), read with compress::load_compressed";
    return compress::load_compressed(path, &meta);
  }
  if (!is_sparse_file(path)) {
    kind = "safetensors";
    return nn::load_safetensors(path, &meta);
  }
  kind = "minidl's sparse checkpoint format (compress/sparse_format.h), read with compress::load_sparse";
  nn::StateDict sd = compress::load_sparse(path);
  const std::string sibling = output_prefix(path, {".sparse"});
  if (sibling != path && std::filesystem::is_regular_file(sibling) && !is_sparse_file(sibling)) {
    nn::load_safetensors(sibling, &meta);
    kind += "; recipe from " + sibling;
  } else {
    kind += "; no " + sibling + " beside it, so no recorded normalisation: inputs scaled as the data set says";
  }
  return sd;
}

}  // namespace minidl::examples
