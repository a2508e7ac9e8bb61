#include "core/blas.h"

#include <cblas.h>

#include "core/error.h"

namespace minidl {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  const int64_t lim = int64_t(1) << 31;
  MINIDL_CHECK(M < lim && N < lim && K < lim && lda < lim && ldb < lim && ldc < lim,
               "sgemm: dimensions exceed OpenBLAS's 32-bit integer range (M=", M, ", N=", N, ", K=", K, ")");
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(M),
              int(N), int(K), alpha, A, int(lda), B, int(ldb), beta, C, int(ldc));
}

}  // namespace minidl
