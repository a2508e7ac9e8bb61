// 2-D convolution as one im2col GEMM per batch.
//
// im2col unrolls every receptive field of the whole batch into a column:
//   cols[(c, kh, kw), (n, oh, ow)] = x[n, c, oh·s + kh − p, ow·s + kw − p]   (0 outside)
// so the convolution is a single matrix product
//   Y'[Cout, N·OH·OW] = W[Cout, Cin·KH·KW] · cols
// followed by a reorder to NCHW and the bias. Backward:
//   dW = dY' · colsᵀ,   dcols = Wᵀ · dY',   dx = col2im(dcols),   db = Σ dY
// (col2im scatters each column entry back to the input pixel it came from,
// summing overlaps). cols is recomputed in backward from the saved input
// instead of being kept alive between the passes.
#include <cstring>

#include "core/blas.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

namespace {

struct ConvGeom {
  int64_t N, C, H, W, Cout, KH, KW, OH, OW, stride, pad;
  int64_t K() const { return C * KH * KW; }
  int64_t P() const { return OH * OW; }
};

// cols [C·KH·KW, N·OH·OW]
void im2col(const float* x, float* cols, const ConvGeom& g) {
  const int64_t K = g.K(), NP = g.N * g.P();
#pragma omp parallel for num_threads(threads_for(K * NP)) schedule(static)
  for (int64_t k = 0; k < K; ++k) {
    const int64_t c = k / (g.KH * g.KW), kh = (k / g.KW) % g.KH, kw = k % g.KW;
    float* row = cols + k * NP;
    for (int64_t n = 0; n < g.N; ++n) {
      const float* xc = x + (n * g.C + c) * g.H * g.W;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        float* dst = row + (n * g.OH + oh) * g.OW;
        const int64_t ih = oh * g.stride + kh - g.pad;
        if (ih < 0 || ih >= g.H) {
          std::memset(dst, 0, size_t(g.OW) * sizeof(float));
          continue;
        }
        const float* src = xc + ih * g.W;
        if (g.stride == 1) {
          // iw = ow + kw - pad; zero the columns that fall outside [0, W).
          const int64_t lo = std::max<int64_t>(0, g.pad - kw), hi = std::min<int64_t>(g.OW, g.W + g.pad - kw);
          for (int64_t ow = 0; ow < lo; ++ow) dst[ow] = 0.f;
          if (hi > lo) std::memcpy(dst + lo, src + lo + kw - g.pad, size_t(hi - lo) * sizeof(float));
          for (int64_t ow = std::max(hi, lo); ow < g.OW; ++ow) dst[ow] = 0.f;
        } else {
          for (int64_t ow = 0; ow < g.OW; ++ow) {
            const int64_t iw = ow * g.stride + kw - g.pad;
            dst[ow] = (iw >= 0 && iw < g.W) ? src[iw] : 0.f;
          }
        }
      }
    }
  }
}

// dx += col2im(dcols). Parallel over input channels: each channel's pixels are
// written by one thread only, so the sums are deterministic.
void col2im(const float* dcols, float* dx, const ConvGeom& g) {
  const int64_t NP = g.N * g.P();
#pragma omp parallel for num_threads(threads_for(g.K() * NP)) schedule(static)
  for (int64_t c = 0; c < g.C; ++c) {
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const float* row = dcols + ((c * g.KH + kh) * g.KW + kw) * NP;
        for (int64_t n = 0; n < g.N; ++n) {
          float* xc = dx + (n * g.C + c) * g.H * g.W;
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const int64_t ih = oh * g.stride + kh - g.pad;
            if (ih < 0 || ih >= g.H) continue;
            const float* src = row + (n * g.OH + oh) * g.OW;
            float* dst = xc + ih * g.W;
            for (int64_t ow = 0; ow < g.OW; ++ow) {
              const int64_t iw = ow * g.stride + kw - g.pad;
              if (iw >= 0 && iw < g.W) dst[iw] += src[ow];
            }
          }
        }
      }
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
  if (bias.defined())
    MINIDL_CHECK(bias.dim() == 1 && bias.size(0) == g.Cout, "conv2d: bias must be [", g.Cout, "], got ",
                 to_string(bias.shape()));

  const int64_t K = g.K(), P = g.P(), NP = g.N * P;
  Tensor cols = Tensor::empty({K, NP});
  im2col(x.data<float>(), cols.data<float>(), g);
  Tensor yt = Tensor::empty({g.Cout, NP});  // Y' = W · cols
  sgemm(false, false, g.Cout, NP, K, 1.f, weight.data<float>(), K, cols.data<float>(), NP, 0.f, yt.data<float>(), NP);
  cols = Tensor();  // free before allocating the output

  Tensor y = Tensor::empty({g.N, g.Cout, g.OH, g.OW});
  const float* pyt = yt.data<float>();
  const float* pb = bias.defined() ? bias.data<float>() : nullptr;
  float* py = y.data<float>();
#pragma omp parallel for collapse(2) num_threads(threads_for(g.Cout * NP)) schedule(static)
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.Cout; ++co) {
      const float* src = pyt + co * NP + n * P;
      float* dst = py + (n * g.Cout + co) * P;
      const float b = pb ? pb[co] : 0.f;
      for (int64_t p = 0; p < P; ++p) dst[p] = src[p] + b;
    }

  return record(y, "conv2d", {x, weight, bias},
                [x = x.detach(), w = weight.detach(), g, rx = x.requires_grad(), rw = weight.requires_grad(),
                 rb = bias.requires_grad()](const Tensor& gy) {
                  const int64_t K = g.K(), P = g.P(), NP = g.N * P;
                  // dY' [Cout, N·P] from dY [N, Cout, P]
                  Tensor gyt = Tensor::empty({g.Cout, NP});
                  const float* pgy = gy.data<float>();
                  float* pgyt = gyt.data<float>();
#pragma omp parallel for collapse(2) num_threads(threads_for(g.Cout * NP)) schedule(static)
                  for (int64_t co = 0; co < g.Cout; ++co)
                    for (int64_t n = 0; n < g.N; ++n)
                      std::memcpy(pgyt + co * NP + n * P, pgy + (n * g.Cout + co) * P, size_t(P) * sizeof(float));
                  Tensor gx, gw, gb;
                  if (rb) {
                    gb = Tensor::empty({g.Cout});
                    float* pb = gb.data<float>();
                    for (int64_t co = 0; co < g.Cout; ++co) {
                      double s = 0;
                      for (int64_t i = 0; i < NP; ++i) s += pgyt[co * NP + i];
                      pb[co] = float(s);
                    }
                  }
                  if (rw) {  // dW = dY' · colsᵀ
                    Tensor cols = Tensor::empty({K, NP});
                    im2col(x.data<float>(), cols.data<float>(), g);
                    gw = Tensor::empty(w.shape());
                    sgemm(false, true, g.Cout, K, NP, 1.f, pgyt, NP, cols.data<float>(), NP, 0.f, gw.data<float>(), K);
                  }
                  if (rx) {  // dcols = Wᵀ · dY', dx = col2im(dcols)
                    Tensor dcols = Tensor::empty({K, NP});
                    sgemm(true, false, K, NP, g.Cout, 1.f, w.data<float>(), K, pgyt, NP, 0.f, dcols.data<float>(), NP);
                    gx = Tensor::zeros(x.shape());
                    col2im(dcols.data<float>(), gx.data<float>(), g);
                  }
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace minidl
