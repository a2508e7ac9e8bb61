// minidl/core/storage.h — a reference-counted, 64-byte-aligned byte buffer.
//
// Tensors hold a shared_ptr<Storage> plus a byte offset, so views (reshape,
// flatten, narrow along dim 0) share memory with their base tensor. The
// alignment suits AVX-512 loads in the kernels.
#pragma once

#include <cstddef>
#include <memory>

namespace minidl {

class Storage {
 public:
  static constexpr size_t kAlignment = 64;
  // Uninitialised memory of `nbytes` bytes (zeroed when `zero` is set).
  explicit Storage(size_t nbytes, bool zero = false);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
};

}  // namespace minidl
