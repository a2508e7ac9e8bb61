// minidl/core/gemm_unpacked.h — a GEMM that reads and writes its operands where they lie.
//
//   C[M, N] = init + A[M, K] · B[K, N]        (then optionally max(·, 0))
// with B row-major (row k at B + k·ldb) and A, C addressed through the small
// descriptors below, so that the convolution's operands need no copies:
//  - A: element (i, k) at A[i·rsa + k·csa] (A or Aᵀ of a row-major matrix),
//    or, with kb > 0, at A[i·rsa + (k / kb)·kbs + (k % kb)·csa]: K walks a
//    2-D window of an image — the im2col matrix of a convolution read
//    straight from its input (conv2d's weight gradient, core/ops_conv.cpp).
//  - C: element (i, j) at C[row(i) + col(j)], row(i) = rows ? rows[i] : i·ldc,
//    col(j) = j, or, with nb > 0, (j / nb)·nbs + j % nb: the columns are an
//    image's pixels in rows of nb with row stride nbs — col2im's scatter, when
//    each C row is one shifted copy of the image (conv2d's input gradient).
//    Needs nb >= 16. Elements may share an address (col2im's overlapping
//    windows) only with `accumulate`, and only if no two rows of one 8-row
//    block (rows 8t … 8t + 7) do: each block reads, adds to and writes back
//    its part of C in turn.
//  - init is, per row i, row_init[i] if given (a bias, added after the
//    product, as sgemm's beta·C would be), else C itself if `accumulate`
//    (read through the same mapping), else 0. `relu` clamps the result at 0.
//
// Why next to OpenBLAS: sgemm copies ("packs") B into a blocked buffer before
// multiplying. For the convolution's per-sample products B is the im2col
// matrix, which minidl has just written in a layout the kernel can stream
// directly (32 consecutive floats of one row per step), so packing it is a
// second full copy — 13% of batch-1 inference in the profile. This kernel
// skips it, adds the bias and the ReLU for free, and reads/writes the
// strided operands above in place, which sgemm cannot. Each element is one
// dot product over k in order, so results do not depend on how the caller
// splits M or N.
//
// On CPUs with AVX-512 it is an 8 × 32 register tile (16 accumulators,
// core/gemm_unpacked_avx512.cpp, compiled for AVX-512 on its own and chosen
// at run time by core/cpu_features.h); elsewhere it falls back to OpenBLAS
// (sgemm_serial; strided operands are gathered into dense copies first), so
// it is always correct and the library stays portable.
#pragma once

#include <cstdint>

namespace minidl {

struct GemmA {
  const float* p;
  int64_t rsa, csa;
  int64_t kb = 0, kbs = 0;  // kb > 0: K = (K / kb) blocks of kb, block stride kbs
};

struct GemmC {
  float* p;
  int64_t ldc;
  const int64_t* rows = nullptr;  // row offsets (instead of i·ldc)
  int64_t nb = 0, nbs = 0;        // nb > 0: columns in blocks of nb, block stride nbs
};

void gemm_unpacked(int64_t M, int64_t N, int64_t K, const GemmA& A, const float* B, int64_t ldb, const GemmC& C,
                   const float* row_init, bool accumulate, bool relu = false);

}  // namespace minidl
