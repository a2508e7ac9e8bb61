// minidl/core/parallel.h — one place to set how many threads minidl uses.
//
// minidl's own loops and GEMMs run on OpenMP threads (OpenBLAS itself is kept
// single-threaded, see core/blas.h). The default is the machine's core count.
// Results are deterministic for a given thread count: every parallel
// reduction splits its work the same way each time and combines the partial
// results in a fixed order.
#pragma once

#include <omp.h>

#include <cstdint>
#include <utility>

namespace minidl {

void set_num_threads(int n);  // n >= 1
int get_num_threads();

// Threads to use for a loop over `work` cheap elements: one below 128k
// elements (512 KiB of floats, a few microseconds of a memory-bound pass),
// where starting a team and waking its threads costs about what it saves —
// more on a loaded machine, where the second thread may not be running.
inline int threads_for(int64_t work) { return work < (int64_t(1) << 17) ? 1 : get_num_threads(); }

// Part `i` of `parts` contiguous, near-equal blocks of [0, n): [first, second).
inline std::pair<int64_t, int64_t> split_range(int64_t n, int64_t parts, int64_t i) {
  return {n * i / parts, n * (i + 1) / parts};
}

// body(lo, hi) over `threads` contiguous blocks of [0, n) in parallel — or
// body(0, n) on the calling thread when threads <= 1, without entering an
// OpenMP region at all: even a one-thread region costs about a microsecond of
// team setup, which is most of a batch-1 elementwise op.
template <class F>
void parallel_range(int64_t n, int threads, F&& body) {
  if (threads <= 1 || n <= 1) {
    body(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const auto [lo, hi] = split_range(n, omp_get_num_threads(), omp_get_thread_num());
    body(lo, hi);
  }
}

}  // namespace minidl
