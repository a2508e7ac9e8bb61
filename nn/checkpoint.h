// minidl/nn/checkpoint.h — checkpoints in the safetensors format.
//
// safetensors (Hugging Face) is a plain layout any numpy or PyTorch user can
// read: 8 bytes little-endian N, then N bytes of UTF-8 JSON
//   {"conv1.weight": {"dtype": "F32", "shape": [32, 1, 3, 3], "data_offsets": [0, 1152]},
//    ..., "__metadata__": {"format": "pt", ...}}
// then the raw little-endian tensor bytes; data_offsets are [begin, end)
// relative to the start of that byte buffer, and the tensors tile it exactly.
//
// Saving is atomic: the file is written under a temporary name in the same
// directory, fsynced, renamed over the target and the directory fsynced, so a
// failure or a kill midway never destroys the previous checkpoint. Loading validates everything it reads and
// reports the file, the tensor and the byte offset of any problem; only regular
// files are opened (a FIFO or device would block), and the header is strict:
// it must start with '{' and name each tensor once.
#pragma once

#include <map>
#include <string>

#include "nn/module.h"

namespace minidl::nn {

using Metadata = std::map<std::string, std::string>;

void save_safetensors(const StateDict& tensors, const std::string& path, const Metadata& metadata = {});
// Tensors in file order (ascending data offset). `metadata` receives __metadata__ if given.
StateDict load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// Model shorthands: the state_dict to/from a file. load() checks every key,
// shape and dtype against the model (strict) and names the tensor at fault.
void save(const Module& model, const std::string& path, const Metadata& metadata = {});
void load(Module& model, const std::string& path, bool strict = true);

// Write `bytes` to `path` atomically: a fresh temporary "<path>.tmp.<pid>.<n>"
// in the same directory, written and fsynced, renamed over `path`, then the
// directory fsynced. Killed at any moment (kill -9), the previous file stays
// intact; temporaries left by dead processes are removed by the next save to
// the same path. Shared by every file minidl writes (checkpoints, histories,
// reports).
void write_file_atomic(const std::string& path, const std::string& bytes);

// Before hours of training: Error ("<what>: ...") unless a file can be written
// at `path` — it is not a directory, its directory exists, and a temporary
// file there can be created, written (one block, fsynced) and removed, so
// read-only and full file systems are caught too.
void check_writable(const std::string& path, const std::string& what);

}  // namespace minidl::nn
