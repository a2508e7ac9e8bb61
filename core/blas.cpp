#include "core/blas.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <mutex>

#include "core/error.h"
#include "core/parallel.h"

namespace minidl {

// ---- OpenBLAS's kernel choice
//
// OpenBLAS built with DYNAMIC_ARCH (Debian's is) picks its kernel family once,
// when the library is loaded, from the CPU, unless OPENBLAS_CORETYPE names
// one. On this project's machines (AMD Zen 5, family 0x1A, with AVX-512)
// OpenBLAS 0.3.21 does not know the family by name, but its fallback then
// chooses by CPU features and picks "Cooperlake" — its AVX-512 kernels — with
// no help: the "Haswell" (AVX2) kernels seen there came from
// OPENBLAS_CORETYPE=Haswell set in the session environment, not from a
// misdetection (bench/README.md has the measurements: sgemm runs about twice
// as fast with the AVX-512 kernels). An explicit OPENBLAS_CORETYPE is the
// user's choice and minidl leaves it alone; blas_core_name() reports what
// OpenBLAS uses, and the benchmark prints it.
//
// Two ways to override OpenBLAS's choice from inside the program were tried
// and rejected: setting the variable from an ELF .preinit_array function
// (which runs before library constructors) has no effect with glibc, whose
// own initialiser resets `environ` after the preinit functions ran, and the
// linker refuses .preinit_array in shared objects; re-running OpenBLAS's
// selection through its exported `gotoblas` pointer and
// `gotoblas_dynamic_init()` works but relies on OpenBLAS internals and would
// override a choice the user made on purpose.
const char* blas_core_name() { return openblas_get_corename(); }

// ---- GEMM

namespace {

// OpenBLAS's own threads would fight minidl's OpenMP threads for the same
// cores (OpenBLAS's pthread build cannot tell it is called from inside an
// OpenMP team), so it is pinned to one thread on first use.
void pin_openblas_to_one_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

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
  pin_openblas_to_one_thread();
  call(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  check_dims(M, N, K, lda, ldb, ldc);
  pin_openblas_to_one_thread();
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
