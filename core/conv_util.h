// minidl/core/conv_util.h — the data-movement helpers of conv2d (core/ops_conv.cpp).
// Internal to core/: not installed as part of the API.
#pragma once

#include <cstdint>

namespace minidl::conv {

struct Geom {
  int64_t N, C, H, W, Cout, KH, KW, OH, OW, stride, pad;
  int64_t K() const { return C * KH * KW; }
  int64_t P() const { return OH * OW; }
};

// cols [K, (oh1 − oh0)·OW] for output rows [oh0, oh1) of one sample x [C, H, W]:
//   cols[(c, kh, kw), (oh, ow)] = x[c, oh·s + kh − p, ow·s + kw − p]   (0 outside)
void im2col(const float* x, float* cols, const Geom& g, int64_t oh0, int64_t oh1);

// dx[C, H, W] += col2im(dcols) for output rows [oh0, oh1) of one sample.
void col2im_add(const float* dcols, float* dx, const Geom& g, int64_t oh0, int64_t oh1);

// xp [C, H + 2p, W + 2p] = x [C, H, W] with a zero border of p.
void pad_image(const float* x, float* xp, int64_t C, int64_t H, int64_t W, int64_t p);

// Σ p[0, n) in double, in 8 interleaved partial sums added in a fixed order.
double sum_lanes(const float* p, int64_t n);

// m = gy, or — with y — gy where y > 0 and 0 elsewhere (ReLU's backward),
// for a [rows, cols] block with row stride ld; writes m to dm [rows, cols]
// (if dm) and mᵀ to dt [cols, rows] (if dt).
void mask_transpose(const float* gy, const float* y, int64_t ld, float* dm, float* dt, int64_t rows, int64_t cols);

}  // namespace minidl::conv
