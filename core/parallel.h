// minidl/core/parallel.h — one place to set how many threads minidl uses.
//
// Sets both OpenBLAS's thread count (for sgemm) and OpenMP's (for minidl's own
// loops). The default is the machine's core count. Results are deterministic
// for a given thread count: every parallel reduction splits its work the same
// way each time.
#pragma once

namespace minidl {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

}  // namespace minidl

#include <cstdint>

namespace minidl {
// Threads to use for a loop over `work` cheap elements: one below ~32k
// elements, where starting a team costs more than it saves.
inline int threads_for(int64_t work) { return work < (int64_t(1) << 15) ? 1 : get_num_threads(); }
}  // namespace minidl
