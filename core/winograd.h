// minidl/core/winograd.h — Winograd minimal filtering for 3x3, stride-1
// convolutions (issue 19). Internal to core/ (core/ops_conv.cpp calls it).
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR
// 2016). F(m×m, 3×3) computes an m×m block of outputs from an α×α block of
// inputs, α = m + 2, with α² multiplications instead of 9m²:
//   Y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ) ] A
// and, summed over input channels, the ⊙ becomes α² independent matrix
// products (one per (ξ, ν) position of the α×α transformed tile):
//   M[ξν] (tiles × Cout) = V[ξν] (tiles × Cin) · U[ξν] (Cin × Cout)
//   U[ξν][ci][co] = (G g[co][ci] Gᵀ)[ξ][ν]        (weights, transformed once)
//   V[ξν][t][ci]  = (Bᵀ d[t][ci] B)[ξ][ν]          (input tile t of channel ci)
//   y[co] tile t  = Aᵀ M[·][t][co] A               (an m×m output block)
//
// F(2×2, 3×3), α = 4 (interpolation points 0, 1, −1, ∞): 16 products per 4
// outputs against 36 — 2.25x fewer multiplications.
//   Bᵀ = [1  0 −1  0]     G = [ 1    0    0 ]     Aᵀ = [1 1  1  0]
//        [0  1  1  0]         [ 1/2  1/2  1/2]          [0 1 −1 −1]
//        [0 −1  1  0]         [ 1/2 −1/2  1/2]
//        [0  1  0 −1]         [ 0    0    1 ]
//
// F(4×4, 3×3), α = 6 (points 0, 1, −1, 2, −2, ∞): 36 products per 16 outputs
// against 144 — 4x fewer.
//   Bᵀ = [4  0 −5  0  1  0]   G = [ 1/4     0     0  ]   Aᵀ = [1 1  1 1  1 0]
//        [0 −4 −4  1  1  0]       [−1/6  −1/6  −1/6 ]        [0 1 −1 2 −2 0]
//        [0  4 −4 −1  1  0]       [−1/6   1/6  −1/6 ]        [0 1  1 4  4 0]
//        [0 −2 −1  2  1  0]       [ 1/24  1/12  1/6 ]        [0 1 −1 8 −8 1]
//        [0  2 −1 −2  1  0]       [ 1/24 −1/12  1/6 ]
//        [0  4  0 −5  0  1]       [ 0     0     1   ]
// F(6×6, 3×3) (α = 8, 5.06x fewer) was not built: it needs the points ±1/2
// too, and transforms with larger entries, whose float32 error is commonly
// reported an order of magnitude above F(4×4)'s (not measured here); the
// time went into making F(4×4) fast (bench/README.md, "Winograd (issue 19)").
//
// Numerics: the transforms are exact in real arithmetic but their rounding
// grows with α (the larger entries of Bᵀ, G, Aᵀ: up to 5 and 8 in F(4×4)).
// Measured against the double-precision reference (tests/test_winograd.cpp:
// 7 shapes incl. the seed CNN's, inputs U(0, 1), weights N(0, 0.5²)), worst
// max |out − ref| / max |ref| of forward / dx / dW:
//   im2col     6.5e-7 / 1.6e-7 / 4.3e-7
//   F(2×2,3×3) 2.6e-7 / 3.0e-7 / 3.8e-7
//   F(4×4,3×3) 2.7e-6 / 4.7e-6 / 1.6e-6   (bench/README.md has the full table)
// so F(4×4) costs about one of float32's seven decimal digits; the gradient
// checks (tests/gradcheck_table.h) pass with it at 0.54 of their tolerance.
//
// Edges: output tiles start at multiples of m; the input is packed into a
// zero-padded, channels-last buffer covering every tile, and the outputs of a
// ragged last tile row/column (OH or OW not a multiple of m) are computed and
// dropped, so any padding and any size is exact.
//
// The backward pass for dx is the same computation: dx = conv(dy, w'), with
// w'[ci][co][kh][kw] = w[co][ci][2 − kh][2 − kw] and padding 2 − p (p ≤ 2).
#pragma once

#include <cstdint>

#include "core/conv_util.h"

namespace minidl::wino {

// MINIDL_CONV_ALGO=auto (default) | im2col | winograd (the rule's tile size,
// on every 3x3 stride-1 convolution) | winograd2 | winograd4. Read once;
// set_algo() overrides it (for tests), -1 restores the environment's choice.
enum Algo { kAuto = 0, kIm2col = 1, kWinograd = 2, kWinograd2 = 3, kWinograd4 = 4 };
Algo algo();
void set_algo(int a);

// The output tile size m (2 or 4) to use for this convolution's forward pass
// (dx = false) or its input gradient (dx = true), or 0 for im2col.
int choose_tile(const conv::Geom& g, bool dx);

// y = (relu of) conv(x, w) + b through F(m×m, 3×3); g must be 3x3 stride 1.
// The weights' transform is cached by content (see winograd.cpp).
void forward(const float* x, const float* w, const float* b, float* y, const conv::Geom& g, int m, bool relu);

// dx = ∂L/∂x of conv(x, w) given dy (masked where ym ≤ 0 if ym: conv2d_relu's
// backward), through F(m×m, 3×3) on the flipped kernel; needs g.pad <= 2.
void input_grad(const float* dy, const float* ym, const float* w, float* dx, const conv::Geom& g, int m);

// dW = ∂L/∂w of conv(x, w) given dy (masked by ym as above), through the
// adjoint of F(m×m, 3×3):
//   dU[ξν] = Σ_tiles V[ξν]ᵀ · Z[ξν],  Z = A dY Aᵀ (dY an m×m tile of dy),
//   dW[co][ci] = Gᵀ dU[·][ci][co] G
// — the same number of multiplications as the forward pass. db (if not null)
// = Σ dy per channel, from the same packed dy.
void weight_grad(const float* x, const float* dy, const float* ym, float* dW, float* db, const conv::Geom& g, int m);

}  // namespace minidl::wino
