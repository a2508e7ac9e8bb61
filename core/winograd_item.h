// minidl/core/winograd_item.h — one unit of work of the Winograd convolution
// (a block of tile rows of one sample), shared by core/winograd.cpp and the
// per-ISA files that include core/winograd_kernels.inc. Plain data only: no
// inline code, so nothing here is compiled with two instruction sets.
#pragma once

#include <cstdint>

namespace minidl::wino::detail {

struct Item {
  const float* x;     // [C][H][W], this sample
  const float* mask;  // [C][H][W] or null: x taken only where mask > 0
  const float* U;     // [α²][Cp][Coutp]
  const float* bias;  // [Cout] or null
  float* y;           // [Cout][OH][OW], this sample
  int64_t C, H, W, Cout, OH, OW, pad, Cp, Coutp, tW, ty0, ty1;
  bool relu, blas_gemm;  // blas_gemm: the α² products through OpenBLAS, not the own tile
  float *xt, *V, *M, *yt;  // scratch (sizes: core/winograd.cpp, Plan)
  // The weight gradient only (run_wgrad_item): dy of this sample [Cout][OH][OW]
  // (masked by `mask`, ym, instead of x), and dU [α²][Cp][Coutp], accumulated.
  const float* dy = nullptr;
  float* dU = nullptr;
  double* db = nullptr;  // [Coutp] or null: db += Σ dy (masked), per channel
};

// One item through F(m×m, 3×3), m = 2 or 4.
void run_item_avx2(const Item& it, int m);
void run_item_portable(const Item& it, int m);
// dU += Σ_tiles (Bᵀ d B)ᵀ ⊗ (A dy Aᵀ) for one item (M and yt hold the packed
// and transformed dy).
void run_wgrad_item_avx2(const Item& it, int m);
void run_wgrad_item_portable(const Item& it, int m);

}  // namespace minidl::wino::detail
