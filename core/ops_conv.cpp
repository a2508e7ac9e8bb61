// 2-D convolution as im2col + GEMM, one sample (or one block of output rows
// of a sample) at a time.
//
// For one sample, im2col unrolls every receptive field into a column:
//   cols[(c, kh, kw), (oh, ow)] = x[c, oh·s + kh − p, ow·s + kw − p]   (0 outside)
// so the convolution of that sample is one matrix product whose result is
// already the sample's slice of the NCHW output:
//   y[n] [Cout, OH·OW] = W [Cout, Cin·KH·KW] · cols  (+ b)
// Backward, per sample:
//   dW += dy[n] · colsᵀ      (summed as dWᵀ += cols · dy[n]ᵀ, see below)
//   dcols = Wᵀ · dy[n],   dx[n] = col2im(dcols),   db += Σ dy[n]
// (col2im scatters each column entry back to the input pixel it came from,
// summing overlaps). cols is recomputed in backward from the saved input
// rather than kept alive between the passes (it is K times larger than x).
//
// Why per sample rather than one GEMM over the whole batch:
//  - cache: cols of one sample of the seed CNN's conv2 is 288 × 576 floats
//    = 648 KiB and stays in the core's L2 cache from im2col to the product;
//    the whole batch's cols (41 MiB at batch 64) goes to memory and back, and
//    sgemm on it ran at less than half the speed (bench/README.md). Larger
//    samples are done in blocks of output rows (kColsBytes).
//  - no reorder: with ldc = OH·OW the product is written straight into y[n];
//    a batch GEMM gives [Cout, N·OH·OW], which needs a copy into NCHW (and the
//    same copy the other way for dy in backward).
//  - threads: each thread takes whole samples, with its own buffers and
//    single-threaded products. In backward each part of the batch sums its
//    samples' dW and db, and the partial sums are added in part order, so a
//    given thread count always gives the same bits. When there are fewer
//    samples than threads (batch-1 inference) the output rows of a sample are
//    split between threads instead.
//  - the products use gemm_unpacked (core/gemm_unpacked.h), which reads cols,
//    W and dy where they lie instead of first copying them into packed
//    buffers as sgemm does, and adds each output row's bias itself (no
//    separate bias pass, no zero-fill). The weight gradient is summed
//    transposed, dWᵀ += cols · dyᵀ, so that cols is again read in place and
//    only dy (Cout × OH·OW, 4.5x smaller for conv2) is copied: measured, this
//    beat OpenBLAS's dy · colsᵀ, which packs both, by 4% of a training step.
//    (Not when K < Cout, see backward().)
#include <omp.h>

#include <algorithm>
#include <cstring>

#include "core/blas.h"
#include "core/gemm_unpacked.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

namespace {

struct ConvGeom {
  int64_t N, C, H, W, Cout, KH, KW, OH, OW, stride, pad;
  int64_t K() const { return C * KH * KW; }
  int64_t P() const { return OH * OW; }
};

// Upper bound on one thread's cols block. A whole sample of the seed CNN's
// conv2 (648 KiB) fits: measured (with sgemm), larger products beat smaller
// blocks that kept cols and sgemm's packed copy of it together in the 1 MiB
// L2 (256 KiB blocks were 3% slower, 96 KiB blocks 15%).
constexpr int64_t kColsBytes = int64_t(1) << 20;
// Below this many flops a convolution runs on one thread.
constexpr double kParallelFlops = 2e6;

// How a sample's OH output rows are cut into blocks of `rows` rows.
struct RowBlocks {
  int64_t rows, count;
};
RowBlocks row_blocks(const ConvGeom& g, int64_t min_blocks) {
  int64_t rows = std::clamp<int64_t>(kColsBytes / std::max<int64_t>(1, g.K() * g.OW * int64_t(sizeof(float))), 1, g.OH);
  rows = std::min(rows, (g.OH + min_blocks - 1) / min_blocks);
  rows = std::max<int64_t>(rows, 1);
  return {rows, (g.OH + rows - 1) / rows};
}

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

// cols [K, (oh1 − oh0)·OW] for output rows [oh0, oh1) of one sample x [C, H, W].
void im2col(const float* x, float* cols, const ConvGeom& g, int64_t oh0, int64_t oh1) {
  const int64_t np = (oh1 - oh0) * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const float* xc = x + c * g.H * g.W;
        float* row = cols + ((c * g.KH + kh) * g.KW + kw) * np;
        // Output columns whose input column iw = ow·s + kw − p falls inside [0, W).
        const int64_t lo = std::min(g.OW, std::max<int64_t>(0, (g.pad - kw + g.stride - 1) / g.stride));
        const int64_t hi = std::max(lo, std::min(g.OW, (g.W + g.pad - kw + g.stride - 1) / g.stride));
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

// dx[C, H, W] += col2im(dcols) for output rows [oh0, oh1) of one sample.
void col2im_add(const float* dcols, float* dx, const ConvGeom& g, int64_t oh0, int64_t oh1) {
  const int64_t np = (oh1 - oh0) * g.OW;
  for (int64_t c = 0; c < g.C; ++c)
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        float* xc = dx + c * g.H * g.W;
        const float* row = dcols + ((c * g.KH + kh) * g.KW + kw) * np;
        const int64_t lo = std::min(g.OW, std::max<int64_t>(0, (g.pad - kw + g.stride - 1) / g.stride));
        const int64_t hi = std::max(lo, std::min(g.OW, (g.W + g.pad - kw + g.stride - 1) / g.stride));
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

// Σ p[0, n) in double, in 8 interleaved partial sums added in a fixed order:
// the same bits every time, and 8 independent additions per step instead of
// one long chain (a plain `s += p[i]` loop waits on every add's latency and
// cannot be vectorised, since reordering float sums changes the result).
double sum_lanes(const float* p, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(p[i + j]);
  for (; i < n; ++i) acc[i % 8] += double(p[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// dst [cols, rows] = src [rows, cols]ᵀ, src with row stride lds; in 16×16
// blocks so both sides touch few cache lines at a time.
void transpose(const float* __restrict src, int64_t lds, float* __restrict dst, int64_t rows, int64_t cols) {
  const int64_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  for (int64_t c0 = 0; c0 < c16; c0 += 16)
    for (int64_t r0 = 0; r0 < r16; r0 += 16) {  // full blocks: fixed trip counts, unrolled
      float blk[16][16];
      for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c) blk[c][r] = src[(r0 + r) * lds + c0 + c];
      for (int c = 0; c < 16; ++c)
        for (int r = 0; r < 16; ++r) dst[(c0 + c) * rows + r0 + r] = blk[c][r];
    }
  for (int64_t r = 0; r < rows; ++r)  // the ragged right and bottom edges
    for (int64_t c = (r < r16 ? c16 : 0); c < cols; ++c) dst[c * rows + r] = src[r * lds + c];
}

int conv_threads(const ConvGeom& g) {
  const double flops = 2.0 * double(g.N) * double(g.Cout) * double(g.P()) * double(g.K());
  return flops < kParallelFlops ? 1 : get_num_threads();
}

void forward(const float* x, const float* w, const float* b, float* y, const ConvGeom& g) {
  const int64_t K = g.K(), P = g.P();
  const int T = conv_threads(g);
  // Fewer samples than threads: cut each sample's rows so every thread has work.
  const RowBlocks rb = row_blocks(g, g.N >= T ? 1 : (T + g.N - 1) / g.N);
  const int64_t items = g.N * rb.count, cols_len = K * rb.rows * g.OW;
  Tensor scratch = Tensor::empty({T, cols_len});
  float* cols_all = scratch.data<float>();
  parallel_range(items, T, [&](int64_t i0, int64_t i1) {
    float* cols = cols_all + (T > 1 ? omp_get_thread_num() : 0) * cols_len;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t n = it / rb.count, oh0 = (it % rb.count) * rb.rows, oh1 = std::min(g.OH, oh0 + rb.rows);
      const int64_t np = (oh1 - oh0) * g.OW;
      float* yb = y + n * g.Cout * P + oh0 * g.OW;  // [Cout, np] with row stride P
      im2col(x + n * g.C * g.H * g.W, cols, g, oh0, oh1);
      gemm_unpacked(g.Cout, np, K, w, K, 1, cols, np, yb, P, b, false);  // yb = b + W · cols
    }
  });
}

// Gradients of one batch; gx / gw / gb may be null (not needed).
void backward(const float* x, const float* w, const float* gy, float* gx, float* gw, float* gb, const ConvGeom& g) {
  const int64_t K = g.K(), P = g.P();
  const int T = int(std::min<int64_t>(conv_threads(g), std::max<int64_t>(g.N, 1)));
  const RowBlocks rb = row_blocks(g, 1);
  // Per part: cols, dcols, dyᵀ, a partial dWᵀ and a partial db (doubles),
  // each segment rounded up to 16 floats (64 bytes) so every one stays aligned.
  auto round16 = [](int64_t n) { return (n + 15) & ~int64_t(15); };
  const int64_t cols_len = round16(K * rb.rows * g.OW), wlen = g.Cout * K, wseg = round16(wlen);
  const int64_t dyt_len = round16(rb.rows * g.OW * g.Cout);
  const int64_t per_thread = 2 * cols_len + dyt_len + wseg + round16(2 * g.Cout);
  const int64_t dw_at = 2 * cols_len + dyt_len;  // offset of the partial dW(ᵀ) in a part
  // With few im2col rows (K < Cout: conv1's K = 9) the transposed product
  // would run on 9-row tiles; OpenBLAS's dy · colsᵀ is faster there.
  const bool dw_transposed = K >= g.Cout;
  Tensor scratch = Tensor::empty({T, per_thread});
  float* base = scratch.data<float>();
  // Part t of T takes samples split_range(N, T, t) and sums into its own
  // partial dW and db; parts map to threads one to one (or several to one
  // thread if OpenMP gives fewer), and the partial sums do not depend on which.
  auto part = [&](int64_t t) {
    float* cols = base + t * per_thread;
    float* dcols = cols + cols_len;
    float* dyt = dcols + cols_len;
    float* dwt = cols + dw_at;
    double* db = reinterpret_cast<double*>(dwt + wseg);
    std::fill_n(db, g.Cout, 0.0);
    bool first = true;  // the first product of a part overwrites its dWᵀ
    const auto [n0, n1] = split_range(g.N, T, t);
    for (int64_t n = n0; n < n1; ++n) {
      const float* xn = x + n * g.C * g.H * g.W;
      const float* gyn = gy + n * g.Cout * P;
      float* gxn = gx ? gx + n * g.C * g.H * g.W : nullptr;
      if (gxn) std::fill_n(gxn, g.C * g.H * g.W, 0.f);
      for (int64_t blk = 0; blk < rb.count; ++blk) {
        const int64_t oh0 = blk * rb.rows, oh1 = std::min(g.OH, oh0 + rb.rows), np = (oh1 - oh0) * g.OW;
        const float* gyb = gyn + oh0 * g.OW;  // [Cout, np] with row stride P
        if (gw) {
          im2col(xn, cols, g, oh0, oh1);
          if (dw_transposed) {  // dWᵀ += cols · dyᵀ
            transpose(gyb, P, dyt, g.Cout, np);
            gemm_unpacked(K, g.Cout, np, cols, np, 1, dyt, g.Cout, dwt, g.Cout, nullptr, !first);
          } else {  // dW += dy · colsᵀ
            sgemm_serial(false, true, g.Cout, K, np, 1.f, gyb, P, cols, np, first ? 0.f : 1.f, dwt, K);
          }
          first = false;
        }
        if (gxn) {  // dcols = Wᵀ · dy, dx += col2im(dcols)
          gemm_unpacked(K, np, g.Cout, w, 1, K, gyb, P, dcols, np, nullptr, false);  // A = Wᵀ, read in place
          col2im_add(dcols, gxn, g, oh0, oh1);
        }
      }
      if (gb)
        for (int64_t co = 0; co < g.Cout; ++co) db[co] += sum_lanes(gyn + co * P, P);
    }
    if (gw && first) std::fill_n(dwt, wlen, 0.f);  // this part had no samples
  };
  parallel_range(T, T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) part(t);
  });
  // Add the partial sums in part order (deterministic), transposing dWᵀ.
  if (gw)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t co = 0; co < g.Cout; ++co) {
        const int64_t i = dw_transposed ? k * g.Cout + co : co * K + k;
        float s = base[dw_at + i];
        for (int t = 1; t < T; ++t) s += base[t * per_thread + dw_at + i];
        gw[co * K + k] = s;
      }
  if (gb)
    for (int64_t co = 0; co < g.Cout; ++co) {
      double s = 0;
      for (int t = 0; t < T; ++t) s += reinterpret_cast<const double*>(base + t * per_thread + dw_at + wseg)[co];
      gb[co] = float(s);
    }
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding) {
  MINIDL_CHECK(x.defined() && weight.defined(), "conv2d: input and weight must be defined");
  MINIDL_CHECK(x.dtype() == DType::Float32 && weight.dtype() == DType::Float32, "conv2d: expected float32 tensors");
  MINIDL_CHECK(stride >= 1, "conv2d: stride must be >= 1, got ", stride);
  MINIDL_CHECK(padding >= 0, "conv2d: padding must be >= 0, got ", padding);
  MINIDL_CHECK(weight.dim() == 4, "conv2d: weight must be [Cout, Cin, KH, KW], got ", to_string(weight.shape()));
  MINIDL_CHECK(x.dim() == 4 && x.size(1) == weight.size(1), "conv2d: expected input [N, ", weight.size(1),
               ", H, W], got ", to_string(x.shape()), " for weight ", to_string(weight.shape()));
  ConvGeom g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3), 0, 0,
             stride, padding};
  MINIDL_CHECK(g.H + 2 * padding >= g.KH && g.W + 2 * padding >= g.KW, "conv2d: input ", to_string(x.shape()),
               " (padded by ", padding, ") is smaller than the kernel ", to_string(weight.shape()));
  g.OH = (g.H + 2 * padding - g.KH) / stride + 1;
  g.OW = (g.W + 2 * padding - g.KW) / stride + 1;
  if (bias.defined()) {
    MINIDL_CHECK(bias.dtype() == DType::Float32, "conv2d: expected a float32 bias");
    MINIDL_CHECK(bias.dim() == 1 && bias.size(0) == g.Cout, "conv2d: bias must be [", g.Cout, "], got ",
                 to_string(bias.shape()));
  }

  Tensor y = Tensor::empty({g.N, g.Cout, g.OH, g.OW});
  if (y.numel() > 0)
    forward(x.data<float>(), weight.data<float>(), bias.defined() ? bias.data<float>() : nullptr, y.data<float>(), g);
  if (!needs_grad({&x, &weight, &bias})) return y;  // inference: no closure to build

  return record(y, "conv2d", {x, weight, bias},
                [x = x.detach(), w = weight.detach(), g, rx = x.requires_grad(), rw = weight.requires_grad(),
                 rb = bias.requires_grad()](const Tensor& gy) {
                  Tensor gx = rx ? Tensor::empty(x.shape()) : Tensor();
                  Tensor gw = rw ? Tensor::empty(w.shape()) : Tensor();
                  Tensor gb = rb ? Tensor::empty({g.Cout}) : Tensor();
                  if (g.N * g.P() == 0) {  // nothing flowed back
                    for (Tensor* t : {&gx, &gw, &gb})
                      if (t->defined()) t->zero_();
                  } else {
                    backward(x.data<float>(), w.data<float>(), gy.data<float>(), rx ? gx.data<float>() : nullptr,
                             rw ? gw.data<float>() : nullptr, rb ? gb.data<float>() : nullptr, g);
                  }
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace minidl
