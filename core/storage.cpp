#include "core/storage.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"

namespace minidl {

Storage::Storage(size_t nbytes, bool zero) : nbytes_(nbytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  size_t padded = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (padded == 0) padded = kAlignment;
  data_ = std::aligned_alloc(kAlignment, padded);
  MINIDL_CHECK(data_ != nullptr, "out of memory allocating ", nbytes, " bytes");
  if (zero) std::memset(data_, 0, padded);
}

Storage::~Storage() { std::free(data_); }

}  // namespace minidl
