// minidl/core/gemm_unpacked.h — a GEMM that reads its operands where they lie.
//
//   C[M, N] = init + A[M, K] · B[K, N]        (row-major B and C)
// where element (i, k) of A is A[i·rsa + k·csa] (so A or Aᵀ of a row-major
// matrix, without a copy) and `init` is, per row i, row_init[i] if given
// (a bias), else C itself if `accumulate`, else 0.
//
// Why next to OpenBLAS: sgemm copies ("packs") B into a blocked buffer before
// multiplying. For the convolution's per-sample products B is the im2col
// matrix, which minidl has just written in a layout the kernel can stream
// directly (32 consecutive floats of one row per step), so packing it is a
// second full copy — 13% of batch-1 inference in the profile. This kernel
// skips it, and adds the bias for free. It is used for conv2d's forward
// product and its input-gradient product (core/ops_conv.cpp); everything
// else goes through OpenBLAS. Each element is one dot product over k in
// order, so results do not depend on how the caller splits M or N.
//
// With AVX-512 it is an 8 × 32 register tile (16 accumulators, see the .cpp);
// without, it falls back to OpenBLAS (sgemm_serial), so it is always correct.
#pragma once

#include <cstdint>

namespace minidl {

void gemm_unpacked(int64_t M, int64_t N, int64_t K, const float* A, int64_t rsa, int64_t csa, const float* B,
                   int64_t ldb, float* C, int64_t ldc, const float* row_init, bool accumulate);

}  // namespace minidl
