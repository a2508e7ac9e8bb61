// minidl/core/winograd.cpp — choosing, threading and feeding the Winograd
// convolution (core/winograd.h has the math, core/winograd_kernels.inc the
// kernels). This file: the algorithm choice (MINIDL_CONV_ALGO and the rule),
// the weights' transform U = G g Gᵀ (in double, cached), and the split of a
// batch into items (blocks of tile rows of one sample) over the threads.
#include "core/winograd.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/cpu_features.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "core/winograd_item.h"

namespace minidl::wino {

namespace {

using conv::Geom;

// ---- the choice
Algo env_algo() {
  static const Algo a = [] {
    const char* e = std::getenv("MINIDL_CONV_ALGO");
    const std::string v = e ? e : "";
    if (v.empty() || v == "auto") return kAuto;
    if (v == "im2col") return kIm2col;
    if (v == "winograd") return kWinograd;
    if (v == "winograd2") return kWinograd2;
    if (v == "winograd4") return kWinograd4;
    MINIDL_CHECK(false, "MINIDL_CONV_ALGO: unknown value '", v, "' (allowed: auto, im2col, winograd, winograd2, winograd4)");
    return kAuto;
  }();
  return a;
}
std::atomic<int> g_override{-1};

bool use_avx2() {
  static const bool v = [] {
    fp32_isa();  // validates MINIDL_FP32_ISA
    const char* e = std::getenv("MINIDL_FP32_ISA");
#ifdef MINIDL_HAVE_AVX2_KERNELS
    return cpu_features().avx2_fma && !(e && std::string(e) == "portable");
#else
    return false && e;  // not compiled in (not an x86-64 GCC/Clang build)
#endif
  }();
  return v;
}
bool blas_gemm() {  // MINIDL_WINOGRAD_GEMM=blas: OpenBLAS for the α² products (to compare; the tile is faster)
  static const bool v = [] {
    const char* e = std::getenv("MINIDL_WINOGRAD_GEMM");
    return e && std::string(e) == "blas";
  }();
  return v;
}

// ---- the weights' transform
// G (α × 3) of F(2×2, 3×3) and F(4×4, 3×3), core/winograd.h.
constexpr double kG2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
constexpr double kG4[6][3] = {{1 / 4., 0, 0},         {-1 / 6., -1 / 6., -1 / 6.}, {-1 / 6., 1 / 6., -1 / 6.},
                              {1 / 24., 1 / 12., 1 / 6.}, {1 / 24., -1 / 12., 1 / 6.}, {0, 0, 1}};

int64_t round8(int64_t n) { return (n + 7) / 8 * 8; }

// U[ξν][i][o] (Cip × Cop, zero-padded) = G f Gᵀ of the 3x3 filter f from
// input channel i to output channel o: f = w[o][i] (forward), or for dx
// (flip) the filter of the transposed convolution, w[i][o] rotated by 180°.
std::vector<float> transform_weights(const float* w, int64_t Co, int64_t Ci, bool flip, int m) {
  const int A = m + 2;
  const double* G = m == 2 ? &kG2[0][0] : &kG4[0][0];
  const int64_t Cip = round8(Ci), Cop = round8(Co);
  std::vector<float> U(size_t(A * A * Cip * Cop), 0.f);
  for (int64_t o = 0; o < Co; ++o)
    for (int64_t i = 0; i < Ci; ++i) {
      double f[3][3], t[8][3];
      for (int kh = 0; kh < 3; ++kh)
        for (int kw = 0; kw < 3; ++kw)
          f[kh][kw] = flip ? w[((i * Co + o) * 3 + 2 - kh) * 3 + 2 - kw] : w[((o * Ci + i) * 3 + kh) * 3 + kw];
      for (int a = 0; a < A; ++a)  // t = G f
        for (int k = 0; k < 3; ++k) t[a][k] = G[a * 3] * f[0][k] + G[a * 3 + 1] * f[1][k] + G[a * 3 + 2] * f[2][k];
      for (int a = 0; a < A; ++a)  // U = t Gᵀ
        for (int b = 0; b < A; ++b)
          U[size_t(((a * A + b) * Cip + i) * Cop + o)] =
              float(t[a][0] * G[b * 3] + t[a][1] * G[b * 3 + 1] + t[a][2] * G[b * 3 + 2]);
    }
  return U;
}

// The transforms of recently used weights, keyed by address, shape and tile
// and validated by content: an entry keeps a copy of the weights it was made
// from and is used only if they are bit-for-bit the current ones, so any
// change to the weights (an optimizer step, a checkpoint load, pruning) makes
// a new transform. The comparison reads the weights once (73 KiB for the
// seed CNN's conv2, a few µs); the transform it saves costs ~10x that.
// kCacheEntries covers a few networks' 3x3 layers at once.
constexpr size_t kCacheEntries = 16;
struct Entry {
  const float* key;
  int64_t Co, Ci;
  int m;
  bool flip;
  std::vector<float> w, U;
};
std::mutex g_cache_mutex;
std::vector<std::shared_ptr<const Entry>> g_cache;  // most recently used first

std::shared_ptr<const Entry> cached_transform(const float* w, int64_t Co, int64_t Ci, bool flip, int m) {
  const size_t n = size_t(Co * Ci * 9);
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    for (size_t k = 0; k < g_cache.size(); ++k) {
      const Entry& e = *g_cache[k];
      if (e.key == w && e.Co == Co && e.Ci == Ci && e.m == m && e.flip == flip &&
          std::memcmp(e.w.data(), w, n * sizeof(float)) == 0) {
        std::rotate(g_cache.begin(), g_cache.begin() + long(k), g_cache.begin() + long(k) + 1);
        return g_cache.front();
      }
    }
  }
  auto e = std::make_shared<Entry>(Entry{w, Co, Ci, m, flip, std::vector<float>(w, w + n),
                                         transform_weights(w, Co, Ci, flip, m)});
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  std::erase_if(g_cache, [&](const std::shared_ptr<const Entry>& o) {
    return o->key == w && o->Co == Co && o->Ci == Ci && o->m == m && o->flip == flip;
  });
  g_cache.insert(g_cache.begin(), e);
  if (g_cache.size() > kCacheEntries) g_cache.pop_back();
  return e;
}

// ---- the driver
// Upper bound on one item's scratch (V, M, the packed input and yt): a whole
// sample of the seed CNN's conv2 at F(4×4) (≈ 0.65 MiB) is one item, so its
// α² products see all 36 tiles at once; larger images are cut into blocks of
// tile rows.
constexpr int64_t kItemBytes = int64_t(1) << 20;
// Below this many (im2col-equivalent) flops a convolution runs on one thread,
// as in core/ops_conv.cpp.
constexpr double kParallelFlops = 2e6;

struct Plan {
  int64_t m, A, Cp, Coutp, tH, tW, rows_per_item, blocks;
  int64_t xt_len, v_len, m_len, yt_len;
  int64_t per_thread() const { return xt_len + v_len + m_len + yt_len; }
};

Plan plan(const Geom& g, int m, int threads) {
  Plan p{};
  p.m = m, p.A = m + 2, p.Cp = round8(g.C), p.Coutp = round8(g.Cout);
  p.tH = (g.OH + m - 1) / m, p.tW = (g.OW + m - 1) / m;
  const int64_t Wt = p.tW * m + 2;
  // floats per tile row of an item, and the extra two input rows
  const int64_t row = m * Wt * p.Cp + p.A * p.A * p.tW * (p.Cp + p.Coutp) + m * p.tW * m * p.Coutp;
  int64_t rows = std::clamp<int64_t>((kItemBytes / 4 - 2 * Wt * p.Cp) / row, 1, p.tH);
  const int64_t min_blocks = g.N >= threads ? 1 : (threads + g.N - 1) / g.N;  // batch < threads: split samples
  rows = std::max<int64_t>(1, std::min(rows, (p.tH + min_blocks - 1) / min_blocks));
  p.rows_per_item = rows, p.blocks = (p.tH + rows - 1) / rows;
  auto r16 = [](int64_t n) { return (n + 15) & ~int64_t(15); };
  p.xt_len = r16((rows * m + 2) * Wt * p.Cp);
  p.v_len = r16(p.A * p.A * rows * p.tW * p.Cp);
  p.m_len = r16(p.A * p.A * rows * p.tW * p.Coutp);
  p.yt_len = r16(rows * m * p.tW * m * p.Coutp);
  return p;
}

void run(const float* x, const float* mask, const float* U, const float* b, float* y, const Geom& g, int m,
         bool relu) {
  const double flops = 2.0 * double(g.N) * double(g.Cout) * double(g.P()) * double(g.K());
  const int T = flops < kParallelFlops ? 1 : get_num_threads();
  const Plan p = plan(g, m, T);
  Tensor scratch = Tensor::empty({T, p.per_thread()});
  float* base = scratch.data<float>();
  const bool avx2 = use_avx2(), blas = blas_gemm();
  parallel_range(g.N * p.blocks, T, [&](int64_t i0, int64_t i1) {
    float* s = base + (T > 1 ? omp_get_thread_num() : 0) * p.per_thread();
    for (int64_t item = i0; item < i1; ++item) {
      const int64_t n = item / p.blocks, ty0 = (item % p.blocks) * p.rows_per_item;
      const int64_t in_off = n * g.C * g.H * g.W;
      detail::Item it{x + in_off, mask ? mask + in_off : nullptr, U, b, y + n * g.Cout * g.P(),
                      g.C, g.H, g.W, g.Cout, g.OH, g.OW, g.pad, p.Cp, p.Coutp, p.tW,
                      ty0, std::min(p.tH, ty0 + p.rows_per_item), relu, blas,
                      s, s + p.xt_len, s + p.xt_len + p.v_len, s + p.xt_len + p.v_len + p.m_len};
#ifdef MINIDL_HAVE_AVX2_KERNELS
      if (avx2) {
        detail::run_item_avx2(it, m);
        continue;
      }
#endif
      detail::run_item_portable(it, m);
    }
  });
}

// dW[co][ci] = Gᵀ dU[·][ci][co] G (the adjoint of U = G g Gᵀ), in double.
void weights_from_transform(const std::vector<double>& dU, float* dW, int64_t Co, int64_t Ci, int m) {
  const int A = m + 2;
  const double* G = m == 2 ? &kG2[0][0] : &kG4[0][0];
  const int64_t Cip = round8(Ci), Cop = round8(Co);
  for (int64_t o = 0; o < Co; ++o)
    for (int64_t i = 0; i < Ci; ++i) {
      double t[8][3] = {};  // t = dU G  (α × 3)
      for (int a = 0; a < A; ++a)
        for (int b = 0; b < A; ++b) {
          const double u = dU[size_t(((a * A + b) * Cip + i) * Cop + o)];
          for (int k = 0; k < 3; ++k) t[a][k] += u * G[b * 3 + k];
        }
      for (int kh = 0; kh < 3; ++kh)  // Gᵀ t
        for (int kw = 0; kw < 3; ++kw) {
          double v = 0;
          for (int a = 0; a < A; ++a) v += G[a * 3 + kh] * t[a][kw];
          dW[((o * Ci + i) * 3 + kh) * 3 + kw] = float(v);
        }
    }
}

}  // namespace

Algo algo() {
  const int o = g_override.load(std::memory_order_relaxed);
  return o >= 0 ? Algo(o) : env_algo();
}
void set_algo(int a) {
  MINIDL_CHECK(a >= -1 && a <= kWinograd4, "wino::set_algo: unknown algorithm ", a);
  g_override.store(a, std::memory_order_relaxed);
}

int choose_tile(const Geom& g, bool dx) {
  if (g.KH != 3 || g.KW != 3 || g.stride != 1 || (dx && g.pad > 2)) return 0;
  const int64_t OH = dx ? g.H : g.OH, OW = dx ? g.W : g.OW;  // the size of what is computed
  // F(4x4) from 8x8 outputs up; below, F(2x2)'s cheaper transforms and
  // smaller ragged waste win (bench_conv_algo: 4x4 outputs 1.2 vs 1.6 ms
  // forward, 8x8 even, 24x24 10.4 vs 16.9 ms; bench/README.md).
  const int rule = OH >= 8 && OW >= 8 ? 4 : 2;
  switch (algo()) {
    case kIm2col: return 0;
    case kWinograd2: return 2;
    case kWinograd4: return 4;
    case kWinograd: return rule;
    case kAuto: break;
  }
  // The rule (bench/README.md, "Winograd (issue 19)"): the α² products have
  // K = the input channels and N = the output channels, which need at least
  // one vector (8) each to pay: with one input channel (the seed CNN's conv1)
  // im2col's forward is 2x faster; with 8 and more Winograd won every shape
  // measured, forward and backward.
  return g.C >= 8 && g.Cout >= 8 ? rule : 0;
}

void forward(const float* x, const float* w, const float* b, float* y, const Geom& g, int m, bool relu) {
  const auto e = cached_transform(w, g.Cout, g.C, false, m);
  run(x, nullptr, e->U.data(), b, y, g, m, relu);
}

void weight_grad(const float* x, const float* dy, const float* ym, float* dW, float* db, const Geom& g, int m) {
  const double flops = 2.0 * double(g.N) * double(g.Cout) * double(g.P()) * double(g.K());
  // Parts as in core/ops_conv.cpp's backward: part t of T sums the items
  // split_range(items, T, t) into its own dU, and the parts' sums are added
  // in part order, so a given thread count always gives the same bits.
  const int T = flops < kParallelFlops ? 1 : get_num_threads();
  const Plan p = plan(g, m, 1);
  const int64_t items = g.N * p.blocks, du_len = p.A * p.A * p.Cp * p.Coutp + 2 * p.Coutp;  // dU, then db (doubles)
  Tensor scratch = Tensor::empty({T, p.per_thread() + du_len});
  float* base = scratch.data<float>();
  const bool avx2 = use_avx2(), blas = blas_gemm();
  parallel_range(T, T, [&](int64_t t0, int64_t t1) {
    for (int64_t part = t0; part < t1; ++part) {
      float* s = base + part * (p.per_thread() + du_len);
      float* dU = s + p.per_thread();
      std::fill_n(dU, du_len, 0.f);
      double* dbp = reinterpret_cast<double*>(dU + du_len - 2 * p.Coutp);
      std::fill_n(dbp, p.Coutp, 0.0);
      const auto [i0, i1] = split_range(items, T, part);
      for (int64_t item = i0; item < i1; ++item) {
        const int64_t n = item / p.blocks, ty0 = (item % p.blocks) * p.rows_per_item;
        const int64_t out_off = n * g.Cout * g.P();
        detail::Item it{x + n * g.C * g.H * g.W, ym ? ym + out_off : nullptr, nullptr, nullptr, nullptr,
                        g.C, g.H, g.W, g.Cout, g.OH, g.OW, g.pad, p.Cp, p.Coutp, p.tW,
                        ty0, std::min(p.tH, ty0 + p.rows_per_item), false, blas,
                        s, s + p.xt_len, s + p.xt_len + p.v_len, s + p.xt_len + p.v_len + p.m_len,
                        dy + out_off, dU, db ? dbp : nullptr};
#ifdef MINIDL_HAVE_AVX2_KERNELS
        if (avx2) {
          detail::run_wgrad_item_avx2(it, m);
          continue;
        }
#endif
        detail::run_wgrad_item_portable(it, m);
      }
    }
  });
  const int64_t nu = du_len - 2 * p.Coutp;
  std::vector<double> dU(size_t(nu), 0.0), dbs(size_t(p.Coutp), 0.0);
  for (int part = 0; part < T; ++part) {
    const float* d = base + part * (p.per_thread() + du_len) + p.per_thread();
    for (int64_t i = 0; i < nu; ++i) dU[size_t(i)] += double(d[i]);
    const double* b = reinterpret_cast<const double*>(d + nu);
    for (int64_t c = 0; c < p.Coutp; ++c) dbs[size_t(c)] += b[c];
  }
  weights_from_transform(dU, dW, g.Cout, g.C, m);
  if (db)
    for (int64_t c = 0; c < g.Cout; ++c) db[c] = float(dbs[size_t(c)]);
}

void input_grad(const float* dy, const float* ym, const float* w, float* dx, const Geom& g, int m) {
  MINIDL_CHECK(g.pad <= 2 && g.KH == 3 && g.KW == 3 && g.stride == 1, "wino::input_grad: unsupported geometry");
  // dx = conv(dy, w') with padding 2 − p: a convolution from Cout to C channels.
  const Geom t{g.N, g.Cout, g.OH, g.OW, g.C, 3, 3, g.H, g.W, 1, 2 - g.pad};
  const auto e = cached_transform(w, g.C, g.Cout, true, m);
  run(dy, ym, e->U.data(), nullptr, dx, t, m, false);
}

}  // namespace minidl::wino
