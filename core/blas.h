// minidl/core/blas.h — the one door to OpenBLAS: row-major single-precision GEMM.
//   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C
// op(X) is X or Xᵀ; ld* are row strides in elements, as in cblas_sgemm.
#pragma once

#include <cstdint>

namespace minidl {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

}  // namespace minidl
