// minidl/core/qops.cpp — integer tensor ops on the int8 GEMM (core/qops.h).
#include "core/qops.h"

#include <omp.h>

#include <atomic>
#include <cmath>
#include <cstring>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/qgemm_kernels.h"

namespace minidl {

namespace {

void check_u8(const Tensor& x, int64_t dims, const char* who, const char* layout) {
  MINIDL_CHECK(x.defined(), who, ": input is undefined");
  MINIDL_CHECK(x.dtype() == DType::UInt8, who, ": input must be U8 (quantized), got ", dtype_name(x.dtype()));
  MINIDL_CHECK(x.dim() == dims, who, ": input must be ", layout, ", got ", to_string(x.shape()));
}

void check_zp(int32_t zp, const char* who) {
  MINIDL_CHECK(zp >= 0 && zp <= 255, who, ": zero point ", zp, " is outside [0, 255]");
}

struct ConvGeom {
  int64_t N, C, H, W, CO, KH, KW, OH, OW, K, P;
  int s, p;
};

ConvGeom conv_geom(const Tensor& x, int32_t x_zp, const PackedWeights& w, int stride, int padding,
                   const char* who, bool channels_last = false) {
  check_u8(x, 4, who, channels_last ? "[N, H, W, C] (channels-last)" : "[N, C, H, W]");
  check_zp(x_zp, who);
  MINIDL_CHECK(w.shape.size() == 4, who, ": weights were packed with shape ", to_string(w.shape),
               "; a convolution needs [Cout, C, KH, KW]");
  MINIDL_CHECK(stride >= 1 && padding >= 0, who, ": stride ", stride, " must be >= 1 and padding ", padding,
               " >= 0");
  ConvGeom g{};
  g.N = x.size(0), g.C = x.size(channels_last ? 3 : 1), g.H = x.size(channels_last ? 1 : 2),
  g.W = x.size(channels_last ? 2 : 3);
  g.CO = w.shape[0], g.KH = w.shape[2], g.KW = w.shape[3], g.s = stride, g.p = padding;
  MINIDL_CHECK(g.C == w.shape[1], who, ": input ", to_string(x.shape()), channels_last ? " (channels-last)" : "", " has ", g.C,
               " channels, the weights ", to_string(w.shape), " expect ", w.shape[1]);
  MINIDL_CHECK(g.H + 2 * padding >= g.KH && g.W + 2 * padding >= g.KW, who, ": input ", to_string(x.shape()),
               " with padding ", padding, " is smaller than the kernel ", to_string(w.shape));
  g.OH = (g.H + 2 * padding - g.KH) / stride + 1, g.OW = (g.W + 2 * padding - g.KW) / stride + 1;
  g.K = g.C * g.KH * g.KW, g.P = g.OH * g.OW;
  return g;
}

// Runs the convolution image by image: whole images per thread when there
// are at least as many as threads, else one image at a time with the GEMM
// itself split over threads. `conv(image, n)` convolves image n.
template <class Conv>
void conv_images(const Tensor& x, const ConvGeom& g, Conv&& conv) {
  const uint8_t* px = x.data<uint8_t>();
  const int64_t img = g.C * g.H * g.W;
  const int threads = omp_in_parallel() || g.N < get_num_threads() ? 1 : get_num_threads();
  parallel_range(g.N, threads, [&](int64_t lo, int64_t hi) {
    for (int64_t n = lo; n < hi; ++n) conv(px + n * img, n);
  });
}

// sum / d rounded to nearest, ties to even (d > 0, |sum| < 2^23): round half up
// as floor((2·sum + d) / 2d), then a tie (exact remainder) that landed on an
// odd value steps down. Power-of-two d (the seed's 4×4 window) shifts instead
// of dividing: one division per output was most of the pooling's time.
inline int32_t rdiv_half_even(int32_t sum, int32_t d, int log2_2d) {
  const int32_t num = 2 * sum + d;
  int32_t q;
  bool tie;
  if (log2_2d >= 0) {
    q = num >> log2_2d;  // arithmetic shift: floor
    tie = (num & ((1 << log2_2d) - 1)) == 0;
  } else {
    const int32_t dd = 2 * d;
    q = num / dd;
    int32_t r = num % dd;
    if (r < 0) --q, r += dd;  // floor
    tie = r == 0;
  }
  return tie && (q & 1) ? q - 1 : q;
}

}  // namespace

// The 4×4 / stride-4 pooling of one band of 4 rows and the vector part of quantize_per_tensor
// (core/qops_avx2.cpp, AVX2 only).
namespace qkern {
void pool4_band_avx2(const uint8_t* band, int64_t W, int64_t OW, int32_t zp, uint8_t* out);
int64_t quantize_avx2(const float* x, int64_t n, float inv, float zp, float top, uint8_t* q, bool* nan);
}

Tensor quantize_per_tensor(const Tensor& x, float scale, int32_t zero_point, int32_t qmax) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "quantize_per_tensor: input must be F32");
  MINIDL_CHECK(std::isfinite(scale) && scale > 0, "quantize_per_tensor: scale must be finite and > 0, got ", scale);
  check_zp(zero_point, "quantize_per_tensor");
  MINIDL_CHECK(qmax >= zero_point && qmax <= 255, "quantize_per_tensor: qmax ", qmax, " must be in [zero point ",
               zero_point, ", 255]");
  const float top = float(qmax);
  Tensor q = Tensor::empty(x.shape(), DType::UInt8);
  const float* px = x.data<float>();
  uint8_t* pq = q.data<uint8_t>();
  const float inv = 1.0f / scale, zp = float(zero_point);
  const int64_t n = x.numel();
  // rint = nearbyint in the default rounding mode (half to even), but inlined
  // as one vroundps (nearbyint must not raise "inexact", which keeps it a libm call).
  // Every int8 path but "generic" (MINIDL_ISA) runs the AVX2 loop, same bits.
  const bool avx2 = qgemm_isa() != QIsa::Generic;
  std::atomic<bool> nan{false};
  parallel_range(n, threads_for(n), [&](int64_t lo, int64_t hi) {
    bool seen = false;
    int64_t i = lo;
    if (avx2) i += qkern::quantize_avx2(px + lo, hi - lo, inv, zp, top, pq + lo, &seen);
    for (; i < hi; ++i) {
      if (std::isnan(px[i])) {  // not converted: NaN to uint8 is undefined
        seen = true, pq[i] = 0;
        continue;
      }
      const float r = std::rint(px[i] * inv) + zp;  // ±inf clamps
      pq[i] = uint8_t(r < 0.f ? 0.f : r > top ? top : r);
    }
    if (seen) nan = true;
  });
  if (nan)
    for (int64_t i = 0; i < n; ++i)
      MINIDL_CHECK(!std::isnan(px[i]), "quantize_per_tensor: element ", i, " of ", to_string(x.shape()), " is NaN");
  return q;
}

Tensor dequantize(const Tensor& q, float scale, int32_t zero_point) {
  MINIDL_CHECK(q.defined() && q.dtype() == DType::UInt8, "dequantize: input must be U8");
  check_zp(zero_point, "dequantize");
  Tensor y = Tensor::empty(q.shape());
  const uint8_t* pq = q.data<uint8_t>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < q.numel(); ++i) py[i] = float(int32_t(pq[i]) - zero_point) * scale;
  return y;
}

Tensor dequantize_accumulator(const Tensor& acc, const std::vector<float>& scale) {
  MINIDL_CHECK(acc.defined() && acc.dtype() == DType::Int32 && acc.dim() >= 2,
               "dequantize_accumulator: input must be I32 [N, C, ...]");
  const int64_t C = acc.size(1), inner = acc.numel() / (acc.size(0) * C);
  MINIDL_CHECK(int64_t(scale.size()) == C || scale.size() == 1, "dequantize_accumulator: ", scale.size(),
               " scales for ", C, " channels of ", to_string(acc.shape()));
  Tensor y = Tensor::empty(acc.shape());
  const int32_t* pa = acc.data<int32_t>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < acc.numel(); ++i) py[i] = float(pa[i]) * scale[scale.size() == 1 ? 0 : size_t(i / inner % C)];
  return y;
}

Tensor quantized_conv2d(const Tensor& x, int32_t x_zp, const PackedWeights& w, const Requant& rq, int stride,
                        int padding, ConvLayout layout) {
  const ConvGeom g = conv_geom(x, x_zp, w, stride, padding, "quantized_conv2d", layout.input_channels_last);
  check_requant(rq, g.CO, "quantized_conv2d");
  Tensor y = Tensor::empty(layout.output_channels_last ? Shape{g.N, g.OH, g.OW, g.CO} : Shape{g.N, g.CO, g.OH, g.OW},
                           DType::UInt8);
  uint8_t* py = y.data<uint8_t>();
  conv_images(x, g, [&](const uint8_t* image, int64_t n) {
    qconv_image_u8(image, g.C, g.H, g.W, g.s, g.p, x_zp, w, rq, py + n * g.CO * g.P, layout.input_channels_last,
                   layout.output_channels_last);
  });
  return y;
}

Tensor quantized_conv2d_s32(const Tensor& x, int32_t x_zp, const PackedWeights& w, const std::vector<int32_t>& bias,
                            int stride, int padding) {
  const ConvGeom g = conv_geom(x, x_zp, w, stride, padding, "quantized_conv2d_s32");
  MINIDL_CHECK(bias.empty() || int64_t(bias.size()) == g.CO, "quantized_conv2d_s32: bias has ", bias.size(),
               " entries for ", g.CO, " output channels");
  Tensor y = Tensor::empty({g.N, g.CO, g.OH, g.OW}, DType::Int32);
  int32_t* py = y.data<int32_t>();
  conv_images(x, g, [&](const uint8_t* image, int64_t n) {
    qconv_image_s32(image, g.C, g.H, g.W, g.s, g.p, x_zp, w, bias.empty() ? nullptr : bias.data(),
                    py + n * g.CO * g.P);
  });
  return y;
}

Tensor quantized_linear(const Tensor& x, int32_t x_zp, const PackedWeights& w, const Requant& rq) {
  check_u8(x, 2, "quantized_linear", "[N, K]");
  MINIDL_CHECK(x.size(1) == w.k, "quantized_linear: input ", to_string(x.shape()), " has ", x.size(1),
               " features, the weights ", to_string(w.shape), " expect ", w.k);
  Tensor y = Tensor::empty({x.size(0), w.n}, DType::UInt8);
  qgemm_u8s8u8(x.size(0), x.data<uint8_t>(), w.k, x_zp, w, rq, y.data<uint8_t>(), w.n);
  return y;
}

Tensor quantized_linear_s32(const Tensor& x, int32_t x_zp, const PackedWeights& w, const std::vector<int32_t>& bias) {
  check_u8(x, 2, "quantized_linear_s32", "[N, K]");
  MINIDL_CHECK(x.size(1) == w.k, "quantized_linear_s32: input ", to_string(x.shape()), " has ", x.size(1),
               " features, the weights ", to_string(w.shape), " expect ", w.k);
  MINIDL_CHECK(bias.empty() || int64_t(bias.size()) == w.n, "quantized_linear_s32: bias has ", bias.size(),
               " entries for ", w.n, " outputs");
  Tensor y = Tensor::empty({x.size(0), w.n}, DType::Int32);
  qgemm_u8s8s32(x.size(0), x.data<uint8_t>(), w.k, x_zp, w, bias.empty() ? nullptr : bias.data(),
                y.data<int32_t>(), w.n);
  return y;
}

namespace {
struct PoolGeom {
  int64_t OH, OW;
};
// log2(2·area) for a power-of-two window area (rdiv_half_even then shifts), else −1.
int log2_2area(int64_t area) { return (area & (area - 1)) == 0 ? int(__builtin_ctzll(uint64_t(2 * area))) : -1; }
PoolGeom pool_geom(int64_t H, int64_t W, int kernel, int stride, const Shape& shape, const char* who) {
  MINIDL_CHECK(kernel >= 1 && stride >= 1 && kernel <= H && kernel <= W && kernel <= 128, who, ": kernel ", kernel,
               " and stride ", stride, " must be >= 1 with the kernel (<= 128) inside the input ", to_string(shape));
  return {(H - kernel) / stride + 1, (W - kernel) / stride + 1};
}

// Planes [lo, hi) of x [planes][H][W] → y [planes][OH][OW]: each output is
// rdiv_half_even(Σ (q − zp), k²) + zp over its window, clamped to [0, 255].
void pool_planes(const uint8_t* px, int64_t lo, int64_t hi, int64_t H, int64_t W, int32_t zero_point, int kernel,
                 int stride, const PoolGeom& o, uint8_t* py) {
  const int64_t OH = o.OH, OW = o.OW, area = int64_t(kernel) * kernel;
  if (kernel == 4 && stride == 4 && OW >= 4 && cpu_features().avx2_fma) {
    for (int64_t nc = lo; nc < hi; ++nc)
      for (int64_t oy = 0; oy < OH; ++oy)
        qkern::pool4_band_avx2(px + (nc * H + oy * 4) * W, W, OW, zero_point, py + (nc * OH + oy) * OW);
    return;
  }
  std::vector<int32_t> col(static_cast<size_t>(W));  // column sums of one window row band
  const int log2_2d = log2_2area(area);
  for (int64_t nc = lo; nc < hi; ++nc)
    for (int64_t oy = 0; oy < OH; ++oy) {
      const uint8_t* __restrict band = px + (nc * H + oy * stride) * W;
      int32_t* __restrict cs = col.data();  // restrict: lets the row sums vectorise
      for (int64_t j = 0; j < W; ++j) cs[j] = band[j];
      for (int64_t i = 1; i < kernel; ++i)
        for (int64_t j = 0; j < W; ++j) cs[j] += band[i * W + j];
      for (int64_t ox = 0; ox < OW; ++ox) {
        int32_t sum = -int32_t(area) * zero_point;  // Σ (q − zp) over the window
        for (int64_t j = 0; j < kernel; ++j) sum += cs[ox * stride + j];
        const int32_t v = rdiv_half_even(sum, int32_t(area), log2_2d) + zero_point;
        py[(nc * OH + oy) * OW + ox] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}

// One image's codes y [H][W][C] → out [C][OH][OW], the same rule as pool_planes:
// the window sums run along the channels (contiguous), one vector op per channel group.
void pool_channels_last(const uint8_t* y, int64_t W, int64_t C, int32_t zero_point, int kernel, int stride,
                        const PoolGeom& o, uint8_t* out) {
  const int64_t area = int64_t(kernel) * kernel;
  const int log2_2d = log2_2area(area);
  if (log2_2d >= 0 && qisa_supported(QIsa::Avx512Vnni)) {  // the seed CNN's 4×4
    thread_local std::vector<uint8_t> codes;  // [OH·OW][C], then transposed to [C][OH·OW]
    codes.resize(size_t(o.OH * o.OW * C));
    qkern::pool_cl_avx512(y, W, C, zero_point, kernel, stride, log2_2d, o.OH, o.OW, codes.data());
    qkern::transpose_u8_avx512(codes.data(), o.OH * o.OW, C, C, out, o.OH * o.OW);
    return;
  }
  if (log2_2d >= 0 && kernel <= 8 && qisa_supported(QIsa::Avx2)) {
    thread_local std::vector<uint8_t> codes;
    codes.resize(size_t(o.OH * o.OW * C));
    qkern::pool_cl_avx2(y, W, C, zero_point, kernel, stride, log2_2d, o.OH, o.OW, codes.data());
    const int64_t P = o.OH * o.OW;  // [P][C] → [C][P]: a few KB per image (the seed's 36 × 64)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t c = 0; c < C; ++c) out[c * P + p] = codes[size_t(p * C + c)];
    return;
  }
  thread_local std::vector<int32_t> acc_buf;
  acc_buf.resize(size_t(C));
  int32_t* __restrict acc = acc_buf.data();
  for (int64_t oy = 0; oy < o.OH; ++oy)
    for (int64_t ox = 0; ox < o.OW; ++ox) {
      for (int64_t c = 0; c < C; ++c) acc[c] = -int32_t(area) * zero_point;
      for (int64_t i = 0; i < kernel; ++i)
        for (int64_t j = 0; j < kernel; ++j) {
          const uint8_t* __restrict px = y + ((oy * stride + i) * W + ox * stride + j) * C;
          for (int64_t c = 0; c < C; ++c) acc[c] += px[c];
        }
      for (int64_t c = 0; c < C; ++c) {
        const int32_t v = rdiv_half_even(acc[c], int32_t(area), log2_2d) + zero_point;
        out[(c * o.OH + oy) * o.OW + ox] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
      }
    }
}
}  // namespace

Tensor quantized_avg_pool2d(const Tensor& x, int32_t zero_point, int kernel, int stride) {
  check_u8(x, 4, "quantized_avg_pool2d", "[N, C, H, W]");
  check_zp(zero_point, "quantized_avg_pool2d");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const PoolGeom o = pool_geom(H, W, kernel, stride, x.shape(), "quantized_avg_pool2d");
  Tensor y = Tensor::empty({N, C, o.OH, o.OW}, DType::UInt8);
  const uint8_t* px = x.data<uint8_t>();
  uint8_t* py = y.data<uint8_t>();
  parallel_range(N * C, threads_for(x.numel()), [&](int64_t lo, int64_t hi) {
    pool_planes(px, lo, hi, H, W, zero_point, kernel, stride, o, py);
  });
  return y;
}

Tensor quantized_conv2d_avg_pool2d(const Tensor& x, int32_t x_zp, const PackedWeights& w, const Requant& rq,
                                   int stride, int padding, int pool_kernel, int pool_stride, bool in_cl) {
  const ConvGeom g = conv_geom(x, x_zp, w, stride, padding, "quantized_conv2d_avg_pool2d", in_cl);
  check_requant(rq, g.CO, "quantized_conv2d_avg_pool2d");
  const PoolGeom o = pool_geom(g.OH, g.OW, pool_kernel, pool_stride, {g.N, g.CO, g.OH, g.OW},
                               "quantized_conv2d_avg_pool2d (pooling the convolution's output)");
  Tensor y = Tensor::empty({g.N, g.CO, o.OH, o.OW}, DType::UInt8);
  uint8_t* py = y.data<uint8_t>();
  const bool cl = qconv_prefers_channels_last();  // pool the codes in the layout the path computes
  conv_images(x, g, [&](const uint8_t* image, int64_t n) {
    thread_local std::vector<uint8_t> conv;  // one image's codes, while still in cache
    conv.resize(size_t(g.CO * g.P));
    qconv_image_u8(image, g.C, g.H, g.W, g.s, g.p, x_zp, w, rq, conv.data(), in_cl, cl);
    uint8_t* out = py + n * g.CO * o.OH * o.OW;
    if (cl) pool_channels_last(conv.data(), g.OW, g.CO, rq.zero_point, pool_kernel, pool_stride, o, out);
    else pool_planes(conv.data(), 0, g.CO, g.OH, g.OW, rq.zero_point, pool_kernel, pool_stride, o, out);
  });
  return y;
}

}  // namespace minidl
