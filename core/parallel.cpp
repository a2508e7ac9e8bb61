#include "core/parallel.h"

#include <omp.h>

#include <atomic>

#include "core/error.h"

namespace minidl {

namespace {
std::atomic<int> g_threads{0};  // 0: not set, use OpenMP's default (the core count)
thread_local int t_threads = 0;  // a worker thread's own setting (parallel folds)
}  // namespace

// OpenBLAS stays single-threaded (core/blas.cpp): minidl splits GEMMs itself.
void set_num_threads(int n) {
  MINIDL_CHECK(n >= 1 && n <= 1024, "set_num_threads: thread count must be in [1, 1024], got ", n);
  g_threads = n;
  t_threads = n;
  omp_set_num_threads(n);  // this thread's OpenMP teams
}

int get_num_threads() {
  if (t_threads > 0) return t_threads;
  int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

}  // namespace minidl
