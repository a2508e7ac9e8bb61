// 2-D convolution as GEMMs, one sample (or one block of output rows of a
// sample) at a time; and conv2d_relu, the same with the ReLU fused in.
//
// For one sample, im2col unrolls every receptive field into a column:
//   cols[(c, kh, kw), (oh, ow)] = x[c, oh·s + kh − p, ow·s + kw − p]   (0 outside)
// so the convolution of that sample is one matrix product whose result is
// already the sample's slice of the NCHW output:
//   y[n] [Cout, OH·OW] = W [Cout, Cin·KH·KW] · cols  (+ b)
// Backward, per sample:
//   dW += dy[n] · colsᵀ,   db += Σ dy[n]
//   dx[n] = col2im(Wᵀ · dy[n])
// (col2im scatters each column entry back to the input pixel it came from,
// summing overlaps).
//
// Design, in short (the reasons, with the measurements behind them, are in
// bench/README.md, "Convolution: why per sample, and what backward skips"):
//  - per sample (or a block of a sample's output rows) rather than one GEMM
//    over the batch: cols stays in L2, the product lands in NCHW directly,
//    and threads take whole samples (partial dW/db summed in part order, so a
//    given thread count gives the same bits); batch-1 splits a sample's rows.
//  - gemm_unpacked (core/gemm_unpacked.h) reads operands in place, so
//    backward computes dWᵀ += cols · dyᵀ straight from x (no cols) and, for
//    stride 1 without padding, does col2im in the product's store (no dcols).
//  - conv2d_relu applies max(·, 0) in the store and the ReLU's mask while
//    copying dy.
//  - 3x3 stride-1 convolutions go to Winograd instead (core/winograd.h:
//    forward, dx and dW with 4x fewer multiplications at F(4x4, 3x3)) where
//    wino::choose_tile says so; MINIDL_CONV_ALGO=im2col keeps them here.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/blas.h"
#include "core/conv_util.h"
#include "core/gemm_unpacked.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/winograd.h"

namespace minidl {

namespace {

using conv::Geom;

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
RowBlocks row_blocks(const Geom& g, int64_t min_blocks) {
  int64_t rows = std::clamp<int64_t>(kColsBytes / std::max<int64_t>(1, g.K() * g.OW * int64_t(sizeof(float))), 1, g.OH);
  rows = std::min(rows, (g.OH + min_blocks - 1) / min_blocks);
  rows = std::max<int64_t>(rows, 1);
  return {rows, (g.OH + rows - 1) / rows};
}

int conv_threads(const Geom& g) {
  const double flops = 2.0 * double(g.N) * double(g.Cout) * double(g.P()) * double(g.K());
  return flops < kParallelFlops ? 1 : get_num_threads();
}

void forward(const float* x, const float* w, const float* b, float* y, const Geom& g, bool relu) {
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
      conv::im2col(x + n * g.C * g.H * g.W, cols, g, oh0, oh1);
      // yb = (relu of) b + W · cols
      gemm_unpacked(g.Cout, np, K, GemmA{w, K, 1}, cols, np, GemmC{yb, P}, b, false, relu);
    }
  });
}

// Gradients of one batch; gx / gw / gb may be null (not needed). ym: the
// output of conv2d_relu (dy is masked where it is not > 0), or null.
void backward(const float* x, const float* w, const float* ym, const float* gy, float* gx, float* gw, float* gb,
              const Geom& g) {
  const int64_t K = g.K(), P = g.P(), S = g.KH * g.KW, C = g.C, Cout = g.Cout;
  const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad;
  const int T = int(std::min<int64_t>(conv_threads(g), std::max<int64_t>(g.N, 1)));
  const RowBlocks rb = row_blocks(g, 1);
  const int64_t np_max = rb.rows * g.OW;
  // The paths (see the top of the file): dW read from x (a zero-padded copy
  // of it if p > 0) unless K < Cout; dx added by the product's store if
  // stride 1, no padding and rows of at least one vector (OW >= 16).
  const bool dw_implicit = K >= Cout;
  const bool dx_scatter = g.stride == 1 && g.pad == 0 && g.OW >= 16;
  const bool need_cols = gw && !dw_implicit, need_dcols = gx && !dx_scatter;
  const bool need_xpad = gw && dw_implicit && g.pad > 0, need_dyt = gw && dw_implicit, need_dym = ym != nullptr;
  // Per part: its buffers, then a partial dW (dWᵀ in (kh, kw, c) row order
  // if dw_implicit) and a partial db (doubles); each segment rounded up to 16
  // floats (64 bytes) so every one stays aligned.
  auto round16 = [](int64_t n) { return (n + 15) & ~int64_t(15); };
  const int64_t cols_len = need_cols ? round16(K * np_max) : 0, dcols_len = need_dcols ? round16(K * np_max) : 0;
  const int64_t dyt_len = need_dyt ? round16(np_max * Cout) : 0, dym_len = need_dym ? round16(Cout * np_max) : 0;
  const int64_t xpad_len = need_xpad ? round16(C * Hp * Wp) : 0, wlen = Cout * K, wseg = round16(wlen);
  const int64_t dw_at = cols_len + dcols_len + dyt_len + dym_len + xpad_len;  // offset of the partial dW in a part
  const int64_t per_thread = dw_at + wseg + round16(2 * Cout);
  Tensor scratch = Tensor::empty({T, per_thread});
  float* base = scratch.data<float>();
  // For dx_scatter: Wᵀ with rows in (kh, kw, c) order, and where each row's
  // shifted image starts in dx[n].
  Tensor wt_t = dx_scatter && gx ? Tensor::empty({K, Cout}) : Tensor();
  std::vector<int64_t> rows(dx_scatter && gx ? size_t(K) : 0);
  if (wt_t.defined()) {
    float* wt = wt_t.data<float>();
    for (int64_t s = 0; s < S; ++s)
      for (int64_t c = 0; c < C; ++c) {
        rows[size_t(s * C + c)] = c * g.H * g.W + (s / g.KW) * g.W + s % g.KW;
        for (int64_t co = 0; co < Cout; ++co) wt[(s * C + c) * Cout + co] = w[co * K + c * S + s];
      }
  }
  // Part t of T takes samples split_range(N, T, t) and sums into its own
  // partial dW and db; parts map to threads one to one (or several to one
  // thread if OpenMP gives fewer), and the partial sums do not depend on which.
  auto part = [&](int64_t t) {
    float* cols = base + t * per_thread;
    float* dcols = cols + cols_len;
    float* dyt = dcols + dcols_len;
    float* dym = dyt + dyt_len;
    float* xpad = dym + dym_len;
    float* dwt = cols + dw_at;
    double* db = reinterpret_cast<double*>(dwt + wseg);
    std::fill_n(db, Cout, 0.0);
    bool first = true;  // the first product of a part overwrites its dW
    const auto [n0, n1] = split_range(g.N, T, t);
    for (int64_t n = n0; n < n1; ++n) {
      const float* xn = x + n * C * g.H * g.W;
      const float* gyn = gy + n * Cout * P;
      const float* ymn = ym ? ym + n * Cout * P : nullptr;
      float* gxn = gx ? gx + n * C * g.H * g.W : nullptr;
      if (need_xpad) conv::pad_image(xn, xpad, C, g.H, g.W, g.pad);
      const float* xs = need_xpad ? xpad : xn;  // [C, Hp, Wp]
      if (gxn) std::fill_n(gxn, C * g.H * g.W, 0.f);
      for (int64_t blk = 0; blk < rb.count; ++blk) {
        const int64_t oh0 = blk * rb.rows, oh1 = std::min(g.OH, oh0 + rb.rows), np = (oh1 - oh0) * g.OW;
        // This block's dy [Cout, np] (masked by the ReLU if fused), row stride lds.
        const float* dsrc = gyn + oh0 * g.OW;
        int64_t lds = P;
        if (need_dym || need_dyt)
          conv::mask_transpose(dsrc, ymn ? ymn + oh0 * g.OW : nullptr, P, need_dym ? dym : nullptr,
                               need_dyt ? dyt : nullptr, Cout, np);
        if (need_dym) dsrc = dym, lds = np;
        if (gw) {
          if (dw_implicit) {  // dWᵀ[(kh, kw, c), co] += Σ_(oh, ow) x[c, oh·s + kh, ow·s + kw] · dyᵀ[(oh, ow), co]
            for (int64_t s = 0; s < S; ++s) {
              const GemmA a{xs + (oh0 * g.stride + s / g.KW) * Wp + s % g.KW, Hp * Wp, g.stride, g.OW, g.stride * Wp};
              gemm_unpacked(C, Cout, np, a, dyt, Cout, GemmC{dwt + s * C * Cout, Cout}, nullptr, !first);
            }
          } else {  // dW += dy · colsᵀ
            conv::im2col(xn, cols, g, oh0, oh1);
            sgemm_serial(false, true, Cout, K, np, 1.f, dsrc, lds, cols, np, first ? 0.f : 1.f, dwt, K);
          }
          first = false;
        }
        if (gxn && dx_scatter) {  // dx[c, oh + kh, ow + kw] += (Wᵀ · dy)[(kh, kw, c), (oh, ow)]
          // One call when every 8-row tile stays within one (kh, kw) (its rows
          // then write distinct channels), else one call per (kh, kw).
          const int64_t calls = C % 8 == 0 ? 1 : S, m = K / calls;
          for (int64_t s = 0; s < calls; ++s)
            gemm_unpacked(m, np, Cout, GemmA{wt_t.data<float>() + s * m * Cout, Cout, 1}, dsrc, lds,
                          GemmC{gxn + oh0 * g.W, 0, rows.data() + s * m, g.OW, g.W}, nullptr, true);
        } else if (gxn) {  // dcols = Wᵀ · dy (Wᵀ read in place), dx += col2im(dcols)
          gemm_unpacked(K, np, Cout, GemmA{w, 1, K}, dsrc, lds, GemmC{dcols, np}, nullptr, false);
          conv::col2im_add(dcols, gxn, g, oh0, oh1);
        }
        if (gb)
          for (int64_t co = 0; co < Cout; ++co) db[co] += conv::sum_lanes(dsrc + co * lds, np);
      }
    }
    if (gw && first) std::fill_n(dwt, wlen, 0.f);  // this part had no samples
  };
  parallel_range(T, T, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) part(t);
  });
  // Add the partial sums in part order (deterministic), back in W's layout.
  if (gw)
    for (int64_t co = 0; co < Cout; ++co)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s) {
          const int64_t i = dw_implicit ? (s * C + c) * Cout + co : co * K + c * S + s;
          float v = base[dw_at + i];
          for (int t = 1; t < T; ++t) v += base[t * per_thread + dw_at + i];
          gw[co * K + c * S + s] = v;
        }
  if (gb)
    for (int64_t co = 0; co < Cout; ++co) {
      double v = 0;
      for (int t = 0; t < T; ++t) v += reinterpret_cast<const double*>(base + t * per_thread + dw_at + wseg)[co];
      gb[co] = float(v);
    }
}

Tensor conv2d_op(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding, bool relu) {
  const char* op = relu ? "conv2d_relu" : "conv2d";
  MINIDL_CHECK(x.defined() && weight.defined(), op, ": input and weight must be defined");
  MINIDL_CHECK(x.dtype() == DType::Float32 && weight.dtype() == DType::Float32, op, ": expected float32 tensors");
  MINIDL_CHECK(stride >= 1, op, ": stride must be >= 1, got ", stride);
  MINIDL_CHECK(padding >= 0, op, ": padding must be >= 0, got ", padding);
  MINIDL_CHECK(weight.dim() == 4, op, ": weight must be [Cout, Cin, KH, KW], got ", to_string(weight.shape()));
  MINIDL_CHECK(x.dim() == 4 && x.size(1) == weight.size(1), op, ": expected input [N, ", weight.size(1),
               ", H, W], got ", to_string(x.shape()), " for weight ", to_string(weight.shape()));
  Geom g{x.size(0), x.size(1), x.size(2), x.size(3), weight.size(0), weight.size(2), weight.size(3), 0, 0,
         stride, padding};
  MINIDL_CHECK(g.H + 2 * padding >= g.KH && g.W + 2 * padding >= g.KW, op, ": input ", to_string(x.shape()),
               " (padded by ", padding, ") is smaller than the kernel ", to_string(weight.shape()));
  g.OH = (g.H + 2 * padding - g.KH) / stride + 1;
  g.OW = (g.W + 2 * padding - g.KW) / stride + 1;
  if (bias.defined()) {
    MINIDL_CHECK(bias.dtype() == DType::Float32, op, ": expected a float32 bias");
    MINIDL_CHECK(bias.dim() == 1 && bias.size(0) == g.Cout, op, ": bias must be [", g.Cout, "], got ",
                 to_string(bias.shape()));
  }

  Tensor y = Tensor::empty({g.N, g.Cout, g.OH, g.OW});
  if (y.numel() > 0) {
    const float* b = bias.defined() ? bias.data<float>() : nullptr;
    if (const int m = wino::choose_tile(g, false))  // 3x3 stride 1: Winograd (core/winograd.h)
      wino::forward(x.data<float>(), weight.data<float>(), b, y.data<float>(), g, m, relu);
    else
      forward(x.data<float>(), weight.data<float>(), b, y.data<float>(), g, relu);
  }
  if (!needs_grad({&x, &weight, &bias})) return y;  // inference: no closure to build

  return record(y, op, {x, weight, bias},
                [x = x.detach(), w = weight.detach(), ym = relu ? y.detach() : Tensor(), g, rx = x.requires_grad(),
                 rw = weight.requires_grad(), rb = bias.requires_grad()](const Tensor& gy) {
                  Tensor gx = rx ? Tensor::empty(x.shape()) : Tensor();
                  Tensor gw = rw ? Tensor::empty(w.shape()) : Tensor();
                  Tensor gb = rb ? Tensor::empty({g.Cout}) : Tensor();
                  if (g.N * g.P() == 0) {  // nothing flowed back
                    for (Tensor* t : {&gx, &gw, &gb})
                      if (t->defined()) t->zero_();
                    return std::vector<Tensor>{gx, gw, gb};
                  }
                  const float* ymp = ym.defined() ? ym.data<float>() : nullptr;
                  // dx and dW by Winograd where it applies (core/winograd.h), the rest (and db) here.
                  const int mx = rx ? wino::choose_tile(g, true) : 0, mw = rw ? wino::choose_tile(g, false) : 0;
                  const bool db_here = rb && !mw;  // db comes with a Winograd dW
                  if ((rx && !mx) || (rw && !mw) || db_here)
                    backward(x.data<float>(), w.data<float>(), ymp, gy.data<float>(),
                             rx && !mx ? gx.data<float>() : nullptr, rw && !mw ? gw.data<float>() : nullptr,
                             db_here ? gb.data<float>() : nullptr, g);
                  if (mx) wino::input_grad(gy.data<float>(), ymp, w.data<float>(), gx.data<float>(), g, mx);
                  if (mw)
                    wino::weight_grad(x.data<float>(), gy.data<float>(), ymp, gw.data<float>(),
                                      rb ? gb.data<float>() : nullptr, g, mw);
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding) {
  return conv2d_op(x, weight, bias, stride, padding, false);
}

Tensor conv2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride, int padding) {
  return conv2d_op(x, weight, bias, stride, padding, true);
}

}  // namespace minidl
