#include "core/conv_util.h"

#include <algorithm>

#include "core/cpu_features.h"

namespace minidl::conv {

namespace detail {
// core/conv_util_avx512.cpp: the full 16 × 16 blocks of mask_transpose with AVX-512.
void mask_transpose_blocks_avx512(const float* gy, const float* y, int64_t ld, float* dm, float* dt, int64_t rows,
                                  int64_t cols, int64_t r16, int64_t c16);
}  // namespace detail

namespace {

// d[0, n) = s[0, n), or += with Add. Rows are short (24 floats in the seed
// CNN), and both memcpy and a vectorised loop with a runtime trip count spend
// more on setup and remainder handling than on the copy; fixed 16- and
// 8-float steps compile to single vector moves.
template <bool Add>
inline void copy_row(float* __restrict d, const float* __restrict s, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) d[i + j] = Add ? d[i + j] + s[i + j] : s[i + j];
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) d[i + j] = Add ? d[i + j] + s[i + j] : s[i + j];
  for (; i < n; ++i) d[i] = Add ? d[i] + s[i] : s[i];
}

// Output columns [lo, hi) whose input column ow·s + kw − p falls inside [0, W).
std::pair<int64_t, int64_t> valid_cols(const Geom& g, int64_t kw) {
  const int64_t lo = std::min(g.OW, std::max<int64_t>(0, (g.pad - kw + g.stride - 1) / g.stride));
  const int64_t hi = std::max(lo, std::min(g.OW, (g.W + g.pad - kw + g.stride - 1) / g.stride));
  return {lo, hi};
}

}  // namespace

void im2col(const float* x, float* cols, const Geom& g, int64_t oh0, int64_t oh1) {
  const int64_t np = (oh1 - oh0) * g.OW;
  if (g.stride == 1 && g.pad == 0) {
    // Every window inside the image: no bounds, no zero fill, one fixed-step
    // copy per output row. The general loop below spends more on its checks
    // and empty fills than on the 24-float copies of the seed CNN's conv2
    // (measured: conv2 forward 4.16 → 3.89 ms at batch 64, 2 threads).
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const float* src = x + (c * g.H + oh0 + kh) * g.W + kw;
          float* row = cols + ((c * g.KH + kh) * g.KW + kw) * np;
          for (int64_t oh = 0; oh < oh1 - oh0; ++oh) copy_row<false>(row + oh * g.OW, src + oh * g.W, g.OW);
        }
    return;
  }
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const float* xc = x + c * g.H * g.W;
        float* row = cols + ((c * g.KH + kh) * g.KW + kw) * np;
        const auto [lo, hi] = valid_cols(g, kw);
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          float* dst = row + (oh - oh0) * g.OW;
          const int64_t ih = oh * g.stride + kh - g.pad;
          if (ih < 0 || ih >= g.H) {
            std::fill_n(dst, g.OW, 0.f);
            continue;
          }
          const float* src = xc + ih * g.W;
          const int64_t off = kw - g.pad;  // iw = ow·s + off
          std::fill(dst, dst + lo, 0.f);
          if (g.stride == 1) {
            copy_row<false>(dst + lo, src + lo + off, hi - lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.stride + off];
          }
          std::fill(dst + hi, dst + g.OW, 0.f);
        }
      }
}

void col2im_add(const float* dcols, float* dx, const Geom& g, int64_t oh0, int64_t oh1) {
  const int64_t np = (oh1 - oh0) * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        float* xc = dx + c * g.H * g.W;
        const float* row = dcols + ((c * g.KH + kh) * g.KW + kw) * np;
        const auto [lo, hi] = valid_cols(g, kw);
        for (int64_t oh = oh0; oh < oh1; ++oh) {
          const int64_t ih = oh * g.stride + kh - g.pad;
          if (ih < 0 || ih >= g.H) continue;
          const float* src = row + (oh - oh0) * g.OW;
          float* dst = xc + ih * g.W;
          const int64_t off = kw - g.pad;
          if (g.stride == 1) {
            copy_row<true>(dst + lo + off, src + lo, hi - lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.stride + off] += src[ow];
          }
        }
      }
}

void pad_image(const float* x, float* xp, int64_t C, int64_t H, int64_t W, int64_t p) {
  const int64_t Hp = H + 2 * p, Wp = W + 2 * p;
  for (int64_t c = 0; c < C; ++c) {
    float* dc = xp + c * Hp * Wp;
    std::fill_n(dc, p * Wp, 0.f);
    for (int64_t h = 0; h < H; ++h) {
      float* row = dc + (h + p) * Wp;
      std::fill_n(row, p, 0.f);
      std::copy_n(x + (c * H + h) * W, W, row + p);
      std::fill_n(row + p + W, p, 0.f);
    }
    std::fill_n(dc + (H + p) * Wp, p * Wp, 0.f);
  }
}

// 8 independent additions per step instead of one long chain (a plain
// `s += p[i]` loop waits on every add's latency and cannot be vectorised,
// since reordering float sums changes the result), combined in a fixed
// order: the same bits every time.
double sum_lanes(const float* p, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(p[i + j]);
  for (; i < n; ++i) acc[i % 8] += double(p[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

namespace {

inline float masked(const float* gy, const float* y, int64_t i) { return !y || y[i] > 0.f ? gy[i] : 0.f; }


}  // namespace

void mask_transpose(const float* gy, const float* y, int64_t ld, float* dm, float* dt, int64_t rows, int64_t cols) {
  if (!dt) {  // the mask alone
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) dm[r * cols + c] = masked(gy, y, r * ld + c);
    return;
  }
  const int64_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
#ifdef MINIDL_HAVE_AVX512_KERNELS
  if (use_avx512_fp32()) {
    detail::mask_transpose_blocks_avx512(gy, y, ld, dm, dt, rows, cols, r16, c16);
  } else
#endif
    for (int64_t c0 = 0; c0 < c16; c0 += 16)
      for (int64_t r0 = 0; r0 < r16; r0 += 16) {  // full blocks
        float blk[16][16];  // fixed trip counts, unrolled; few cache lines touched at a time
        for (int r = 0; r < 16; ++r)
          for (int c = 0; c < 16; ++c) {
            const float v = masked(gy, y, (r0 + r) * ld + c0 + c);
            blk[c][r] = v;
            if (dm) dm[(r0 + r) * cols + c0 + c] = v;
          }
        for (int c = 0; c < 16; ++c)
          for (int r = 0; r < 16; ++r) dt[(c0 + c) * rows + r0 + r] = blk[c][r];
      }
  for (int64_t r = 0; r < rows; ++r)  // the ragged right and bottom edges
    for (int64_t c = (r < r16 ? c16 : 0); c < cols; ++c) {
      const float v = masked(gy, y, r * ld + c);
      dt[c * rows + r] = v;
      if (dm) dm[r * cols + c] = v;
    }
}

}  // namespace minidl::conv
