// minidl/core/blas.h — the one door to OpenBLAS: row-major single-precision GEMM.
//   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C
// op(X) is X or Xᵀ; ld* are row strides in elements, as in cblas_sgemm.
//
// Threading is minidl's, not OpenBLAS's: OpenBLAS is kept single-threaded and
// sgemm() splits a large product into one block of rows or columns per
// OpenMP thread. Inside a parallel region (a kernel that already gives each
// thread its own GEMMs, like conv2d's per-sample products) it runs on the
// calling thread only. This composes with minidl's other threads (parallel
// cross-validation folds each get their own thread count) and the result of
// every element does not depend on the thread count: each is one dot product
// over the full K, computed by one call.
#pragma once

#include <cstdint>

namespace minidl {

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
           int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The same product on the calling thread only, for kernels that already run
// one GEMM per thread inside their own parallel region.
void sgemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// The kernel family OpenBLAS uses ("SkylakeX", "Haswell", ...), after minidl's
// selection (see blas.cpp: AVX-512 kernels on AVX-512 CPUs unless
// MINIDL_OPENBLAS_CORETYPE=keep).
const char* blas_core_name();

}  // namespace minidl
