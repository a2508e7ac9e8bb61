#include "core/blas.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <mutex>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"

namespace minidl {

// ---- OpenBLAS's kernel choice
//
// Debian's OpenBLAS is built with DYNAMIC_ARCH: when the library loads it
// picks one kernel family for the process, from the CPU, or from
// OPENBLAS_CORETYPE if that is set. On the AMD Zen 5 machines this project
// runs on, OpenBLAS 0.3.21 ends up on its AVX2 "Haswell" kernels (there, the
// environment pins OPENBLAS_CORETYPE=Haswell; releases that do not know a CPU
// also fall back to an older family), although the CPU runs OpenBLAS's
// AVX-512 kernels about twice as fast (bench/README.md).
//
// So, once, before minidl's first GEMM: on a CPU with AVX-512 F/BW/DQ/VL
// whose OpenBLAS kernels are not AVX-512 ones, minidl asks OpenBLAS to select
// again with "SkylakeX" — through OpenBLAS's own exported selection entry
// points, gotoblas_dynamic_quit() and gotoblas_dynamic_init(), which read
// OPENBLAS_CORETYPE afresh (the variable is restored right after). CPUs
// without AVX-512 are never touched. MINIDL_OPENBLAS_CORETYPE overrides the
// policy: "keep" leaves OpenBLAS's choice alone, any other value is the
// kernel family to use. (An ELF .preinit_array hook setting the variable
// before OpenBLAS loads was tried first: glibc ignores changes made there.)
extern "C" {
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
}

namespace {

bool is_avx512_family(const std::string& core) {
  for (const char* k : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (core == k) return true;
  return false;
}

void select_openblas_kernels() {
  const char* policy = std::getenv("MINIDL_OPENBLAS_CORETYPE");
  std::string want;
  if (policy && *policy) {
    if (std::string(policy) == "keep") return;
    want = policy;
  } else {
    if (!cpu_features().avx512 || is_avx512_family(openblas_get_corename())) return;
    want = "SkylakeX";
  }
  if (want == openblas_get_corename()) return;
  const char* old = std::getenv("OPENBLAS_CORETYPE");
  const std::string saved = old ? old : "";
  ::setenv("OPENBLAS_CORETYPE", want.c_str(), 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  if (old) ::setenv("OPENBLAS_CORETYPE", saved.c_str(), 1);
  else ::unsetenv("OPENBLAS_CORETYPE");
}

void ensure_openblas_setup() {
  // OpenBLAS's own threads would fight minidl's OpenMP threads for the same
  // cores (OpenBLAS's pthread build cannot tell it is called from inside an
  // OpenMP team), so it is pinned to one thread; and its kernels are chosen.
  static std::once_flag once;
  std::call_once(once, [] {
    select_openblas_kernels();
    openblas_set_num_threads(1);
  });
}

}  // namespace

const char* blas_core_name() {
  ensure_openblas_setup();
  return openblas_get_corename();
}

// ---- GEMM

namespace {

// Below this many flops one thread is faster than starting a team (4e6
// flops is ~20 microseconds of sgemm) — unless the operands are large enough
// that the product is bound by reading them (batch-1 fc layers: a 1×2304
// row times a 920 KB weight), where two threads read twice as fast.
constexpr double kParallelFlops = 4e6;
constexpr double kParallelBytes = 256 << 10;

void call(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(M), int(N), int(K),
              alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

void check_dims(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
  const int64_t lim = int64_t(1) << 31;
  MINIDL_CHECK(M < lim && N < lim && K < lim && lda < lim && ldb < lim && ldc < lim,
               "sgemm: dimensions exceed OpenBLAS's 32-bit integer range (M=", M, ", N=", N, ", K=", K, ")");
}

}  // namespace

void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  check_dims(M, N, K, lda, ldb, ldc);
  ensure_openblas_setup();
  call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  check_dims(M, N, K, lda, ldb, ldc);
  ensure_openblas_setup();
  int T = omp_in_parallel() ? 1 : get_num_threads();
  const double flops = 2.0 * double(M) * double(N) * double(K), bytes = 4.0 * double(M * K + K * N);
  if (flops < kParallelFlops && bytes < kParallelBytes) T = 1;
  // Split the longer side of C into T blocks, rounded to 16 floats (one
  // AVX-512 register) so no thread gets a ragged kernel edge in the middle.
  const bool by_cols = N >= M;
  const int64_t len = by_cols ? N : M;
  T = int(std::min<int64_t>(T, (len + 15) / 16));
  if (T <= 1) {
    call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const int64_t block = ((len + T - 1) / T + 15) & ~int64_t(15);
#pragma omp parallel for num_threads(T) schedule(static)
  for (int t = 0; t < T; ++t) {
    const int64_t lo = std::min(len, t * block), n = std::min(len, lo + block) - lo;
    if (n <= 0) continue;
    if (by_cols)  // columns [lo, lo + n) of C need columns [lo, lo + n) of op(B)
      call(trans_a, trans_b, M, n, K, alpha, A, lda, trans_b ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
    else  // rows [lo, lo + n) of C need rows [lo, lo + n) of op(A)
      call(trans_a, trans_b, n, N, K, alpha, trans_a ? A + lo : A + lo * lda, lda, B, ldb, beta, C + lo * ldc, ldc);
  }
}

}  // namespace minidl
