// 2-D max and average pooling over NCHW, floor mode.
//   out[n,c,oh,ow] = max / mean over x[n, c, oh·s − p + i, ow·s − p + j], 0 ≤ i,j < k
// Max pooling routes the gradient to the (first) arg-max of each window;
// average pooling spreads it evenly, dividing by k² including padding
// (PyTorch's default count_include_pad=True).
#include <algorithm>
#include <limits>

#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

namespace {

struct PoolGeom {
  int64_t N, C, H, W, OH, OW, k, s, p;
};

PoolGeom pool_geom(const Tensor& x, int kernel, int stride, int padding, const char* op) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, op, ": expected a float32 tensor");
  MINIDL_CHECK(x.dim() == 4, op, ": expected input [N, C, H, W], got ", to_string(x.shape()));
  MINIDL_CHECK(kernel >= 1, op, ": kernel size must be >= 1, got ", kernel);
  MINIDL_CHECK(stride >= 0, op, ": stride must be >= 1 (or 0 for stride = kernel), got ", stride);
  if (stride == 0) stride = kernel;
  MINIDL_CHECK(padding >= 0 && 2 * padding <= kernel, op, ": padding must be in [0, kernel/2] = [0, ", kernel / 2,
               "], got ", padding);
  PoolGeom g{x.size(0), x.size(1), x.size(2), x.size(3), 0, 0, kernel, stride, padding};
  MINIDL_CHECK(g.H + 2 * padding >= kernel && g.W + 2 * padding >= kernel, op, ": input ", to_string(x.shape()),
               " is smaller than the kernel size ", kernel);
  g.OH = (g.H + 2 * padding - kernel) / stride + 1;
  g.OW = (g.W + 2 * padding - kernel) / stride + 1;
  return g;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const PoolGeom g = pool_geom(x, kernel, stride, padding, "max_pool2d");
  Tensor y = Tensor::empty({g.N, g.C, g.OH, g.OW});
  Tensor arg = Tensor::empty({g.N, g.C, g.OH, g.OW}, DType::Int32);  // flat index in the H·W plane
  const float* px = x.data<float>();
  float* py = y.data<float>();
  int32_t* pa = arg.data<int32_t>();
  const int64_t planes = g.N * g.C;
#pragma omp parallel for num_threads(threads_for(x.numel())) schedule(static)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = px + pl * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        int32_t bi = -1;
        for (int64_t i = 0; i < g.k; ++i) {
          const int64_t ih = oh * g.s - g.p + i;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t j = 0; j < g.k; ++j) {
            const int64_t iw = ow * g.s - g.p + j;
            if (iw < 0 || iw >= g.W) continue;
            const float v = xp[ih * g.W + iw];
            if (v > best || bi < 0) {
              best = v;
              bi = int32_t(ih * g.W + iw);
            }
          }
        }
        const int64_t o = (pl * g.OH + oh) * g.OW + ow;
        py[o] = best;
        pa[o] = bi;
      }
  }
  if (!needs_grad({&x})) return y;
  return record(y, "max_pool2d", {x}, [arg, g](const Tensor& gy) {
    Tensor gx = Tensor::zeros({g.N, g.C, g.H, g.W});
    const float* pg = gy.data<float>();
    const int32_t* pa = arg.data<int32_t>();
    float* px = gx.data<float>();
    const int64_t planes = g.N * g.C, per = g.OH * g.OW;
#pragma omp parallel for num_threads(threads_for(planes * per)) schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl)
      for (int64_t o = 0; o < per; ++o) px[pl * g.H * g.W + pa[pl * per + o]] += pg[pl * per + o];
    return std::vector<Tensor>{gx};
  });
}

namespace {

// Average pooling with stride = kernel and no padding (the seed CNN's 4×4):
// the windows tile the plane, so each output is the sum of k whole rows of k
// contiguous inputs — no bounds checks. The k rows of a band are summed
// first (vectorisable along the row), then each window's k column sums.
// KC > 0 fixes k at compile time (2, 3, 4: the inner loops unroll; 3x faster
// than the runtime-k loops on the seed CNN's pool); KC = 0 takes g.k.
template <int KC>
void avg_pool_tiled_planes(const float* px, float* py, const PoolGeom& g, float inv, int64_t p0, int64_t p1) {
  const int64_t k = KC ? KC : g.k, OW = g.OW, W = g.W, used = OW * k, step = 256 / k * k;
  float acc[256];  // column sums of one band of k rows, `step` columns at a time
  for (int64_t pl = p0; pl < p1; ++pl) {
    const float* xp = px + pl * g.H * W;
    float* yp = py + pl * g.OH * OW;
    for (int64_t oh = 0; oh < g.OH; ++oh) {
      const float* band = xp + oh * k * W;
      for (int64_t c0 = 0; c0 < used; c0 += step) {
        const int64_t n = std::min(used - c0, step);
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) {
          float s = band[c0 + c];
          for (int64_t i = 1; i < k; ++i) s += band[i * W + c0 + c];
          acc[c] = s;
        }
        for (int64_t o = 0; o < n / k; ++o) {
          float s = acc[o * k];
          for (int64_t j = 1; j < k; ++j) s += acc[o * k + j];
          yp[oh * OW + c0 / k + o] = s * inv;
        }
      }
    }
  }
}

void avg_pool_tiled(const float* px, float* py, const PoolGeom& g, float inv) {
  const int64_t planes = g.N * g.C;
  parallel_range(planes, threads_for(planes * g.H * g.W), [&](int64_t p0, int64_t p1) {
    switch (g.k) {
      case 2: avg_pool_tiled_planes<2>(px, py, g, inv, p0, p1); break;
      case 3: avg_pool_tiled_planes<3>(px, py, g, inv, p0, p1); break;
      case 4: avg_pool_tiled_planes<4>(px, py, g, inv, p0, p1); break;
      default: avg_pool_tiled_planes<0>(px, py, g, inv, p0, p1);
    }
  });
}

// Its backward: every input pixel inside a window gets dy·inv of its window,
// pixels past the last whole window (floor mode) get 0 — each written once,
// so no zero-filled gradient buffer is needed first.
void avg_pool_tiled_backward(const float* pg, float* px, const PoolGeom& g, float inv) {
  const int64_t planes = g.N * g.C;
  parallel_range(planes, threads_for(planes * g.H * g.W), [&](int64_t p0, int64_t p1) {
  for (int64_t pl = p0; pl < p1; ++pl) {
    float* xp = px + pl * g.H * g.W;
    const float* gp = pg + pl * g.OH * g.OW;
    for (int64_t ih = 0; ih < g.H; ++ih) {
      float* row = xp + ih * g.W;
      const int64_t oh = ih / g.k;
      if (oh >= g.OH) {
        std::fill_n(row, g.W, 0.f);
        continue;
      }
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const float v = gp[oh * g.OW + ow] * inv;
        for (int64_t j = 0; j < g.k; ++j) row[ow * g.k + j] = v;
      }
      std::fill(row + g.OW * g.k, row + g.W, 0.f);
    }
  }
  });
}

}  // namespace

Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding) {
  const PoolGeom g = pool_geom(x, kernel, stride, padding, "avg_pool2d");
  Tensor y = Tensor::empty({g.N, g.C, g.OH, g.OW});
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const float inv = 1.f / float(g.k * g.k);
  const int64_t planes = g.N * g.C;
  const bool tiled = g.s == g.k && g.p == 0 && g.k <= 256;
  if (tiled) {
    avg_pool_tiled(px, py, g, inv);
    if (!needs_grad({&x})) return y;
    return record(y, "avg_pool2d", {x}, [g, inv](const Tensor& gy) {
      Tensor gx = Tensor::empty({g.N, g.C, g.H, g.W});
      avg_pool_tiled_backward(gy.data<float>(), gx.data<float>(), g, inv);
      return std::vector<Tensor>{gx};
    });
  }
#pragma omp parallel for num_threads(threads_for(x.numel())) schedule(static)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const float* xp = px + pl * g.H * g.W;
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        float s = 0.f;
        for (int64_t i = 0; i < g.k; ++i) {
          const int64_t ih = oh * g.s - g.p + i;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t j = 0; j < g.k; ++j) {
            const int64_t iw = ow * g.s - g.p + j;
            if (iw >= 0 && iw < g.W) s += xp[ih * g.W + iw];
          }
        }
        py[(pl * g.OH + oh) * g.OW + ow] = s * inv;
      }
  }
  return record(y, "avg_pool2d", {x}, [g, inv](const Tensor& gy) {
    Tensor gx = Tensor::zeros({g.N, g.C, g.H, g.W});
    const float* pg = gy.data<float>();
    float* px = gx.data<float>();
    const int64_t planes = g.N * g.C;
#pragma omp parallel for num_threads(threads_for(planes * g.H * g.W)) schedule(static)
    for (int64_t pl = 0; pl < planes; ++pl) {
      float* xp = px + pl * g.H * g.W;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const float v = pg[(pl * g.OH + oh) * g.OW + ow] * inv;
          for (int64_t i = 0; i < g.k; ++i) {
            const int64_t ih = oh * g.s - g.p + i;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t j = 0; j < g.k; ++j) {
              const int64_t iw = ow * g.s - g.p + j;
              if (iw >= 0 && iw < g.W) xp[ih * g.W + iw] += v;
            }
          }
        }
    }
    return std::vector<Tensor>{gx};
  });
}

}  // namespace minidl
