#include "core/storage.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace minidl {

// A caching allocator for large buffers.
//
// A training step allocates the same large buffers (im2col columns,
// activations, gradients) every iteration. Returning them to the OS and
// getting them back costs a page fault per 4 KiB page on first touch — on a
// virtual machine that dominated the whole step. So freed blocks of 64 KiB or
// more are kept in per-size free lists and handed out again (sizes rounded up
// to 1/8 of their power of two, so near-equal requests share a list), up to
// a cap on the bytes held. Small blocks go straight to malloc, which already
// recycles them well.
namespace {

constexpr size_t kCacheMin = size_t(64) << 10;
constexpr size_t kCacheCap = size_t(2) << 30;  // bytes kept for reuse at most

size_t size_class(size_t n) {
  if (n < kCacheMin) return (n + Storage::kAlignment - 1) / Storage::kAlignment * Storage::kAlignment;
  size_t p = size_t(1) << (63 - __builtin_clzll(n));  // largest power of two <= n
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

struct BlockCache {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  size_t held = 0;

  void* get(size_t cls) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = free.find(cls);
    if (it == free.end() || it->second.empty()) return nullptr;
    void* p = it->second.back();
    it->second.pop_back();
    held -= cls;
    return p;
  }
  bool put(void* p, size_t cls) {
    std::lock_guard<std::mutex> lock(mu);
    if (held + cls > kCacheCap) return false;
    free[cls].push_back(p);
    held += cls;
    return true;
  }
};

BlockCache& cache() {
  static BlockCache* c = new BlockCache;  // never destroyed: storages may die after main()
  return *c;
}

}  // namespace

Storage::Storage(size_t nbytes, bool zero) : nbytes_(nbytes) {
  const size_t cls = size_class(nbytes == 0 ? 1 : nbytes);
  if (cls >= kCacheMin) data_ = cache().get(cls);
  if (!data_) data_ = std::aligned_alloc(kAlignment, cls);
  MINIDL_CHECK(data_ != nullptr, "out of memory allocating ", nbytes, " bytes");
  if (zero) std::memset(data_, 0, nbytes);
}

Storage::~Storage() {
  const size_t cls = size_class(nbytes_ == 0 ? 1 : nbytes_);
  if (cls >= kCacheMin && cache().put(data_, cls)) return;
  std::free(data_);
}

}  // namespace minidl
