// minidl/core/qgemm.cpp — requantization, weight packing, the reference loops,
// CPUID dispatch and the threaded entry points of the int8 GEMM (core/qgemm.h).
#include "core/qgemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <mutex>

#include "core/cpu_features.h"
#include "core/parallel.h"
#include "core/qgemm_kernels.h"

namespace minidl {

// ---- requantization
double QuantMultiplier::value() const { return std::ldexp(double(m0), -31 - shift); }

QuantMultiplier quantize_multiplier(double M) {
  MINIDL_CHECK(std::isfinite(M) && M > 0 && M < 1073741824.0,
               "quantize_multiplier: the multiplier must be finite and in (0, 2^30), got ", M);
  int e = 0;
  const double f = std::frexp(M, &e);  // M = f·2^e, f ∈ [0.5, 1)
  int64_t m0 = std::llround(std::ldexp(f, 31));
  if (m0 == (int64_t(1) << 31)) {  // f rounded up to 1.0
    m0 >>= 1;
    ++e;
  }
  int s = 31 - e;  // M ≈ m0 · 2^−s
  if (s > 62) {    // tiny M: a denormal mantissa at the largest shift
    m0 = std::llround(std::ldexp(M, 62));
    s = 62;
  }
  MINIDL_CHECK(s >= 1, "quantize_multiplier: multiplier ", M, " is too large");
  return {int32_t(m0), s - 31};
}

void check_requant(const Requant& rq, int64_t n, const char* who) {
  MINIDL_CHECK(rq.bias.empty() || int64_t(rq.bias.size()) == n, who, ": bias has ", rq.bias.size(),
               " entries, the layer has ", n, " output channels");
  MINIDL_CHECK(int64_t(rq.multiplier.size()) == n || rq.multiplier.size() == 1, who, ": ",
               rq.multiplier.size(), " multipliers for ", n, " output channels (need ", n, " or 1)");
  MINIDL_CHECK(rq.bias_frac.empty() || int64_t(rq.bias_frac.size()) == n, who, ": bias_frac has ",
               rq.bias_frac.size(), " entries, the layer has ", n, " output channels");
  for (int32_t f : rq.bias_frac)
    MINIDL_CHECK(f >= -(1 << 30) && f <= (1 << 30), who, ": bias fraction ", f, " (Q31) is outside [-2^30, 2^30]");
  for (const QuantMultiplier& m : rq.multiplier)
    MINIDL_CHECK(m.m0 >= 0 && m.shift >= -30 && m.shift <= 31, who, ": bad multiplier (m0 ", m.m0, ", shift ",
                 m.shift, "); make it with quantize_multiplier");
  MINIDL_CHECK(rq.zero_point >= 0 && rq.zero_point <= 255, who, ": output zero point ", rq.zero_point,
               " is outside [0, 255]");
  MINIDL_CHECK(0 <= rq.qmin && rq.qmin <= rq.qmax && rq.qmax <= 255, who, ": clamp range [", rq.qmin, ", ",
               rq.qmax, "] must satisfy 0 <= qmin <= qmax <= 255");
}

// ---- packing
PackedWeights pack_weights(const int8_t* w, int64_t n, int64_t k, std::vector<int64_t> shape) {
  MINIDL_CHECK(w != nullptr, "pack_weights: null weights");
  MINIDL_CHECK(n >= 1 && k >= 1 && k <= 65536, "pack_weights: weight is [", n, ", ", k,
               "]; need n >= 1 and 1 <= k <= 65536 (int32 accumulators)");
  if (shape.empty()) shape = {n, k};
  int64_t prod = 1;
  for (int64_t d : shape) prod *= d;
  MINIDL_CHECK(prod == n * k && shape[0] == n, "pack_weights: shape ", to_string(shape), " is not [", n,
               ", ...] with ", n * k, " elements");
  PackedWeights p;
  p.n = n, p.k = k, p.shape = std::move(shape), p.kp = (k + 3) / 4 * 4;
  const int64_t kp = p.kp, np16 = (n + 15) / 16, np8 = (n + 7) / 8;
  p.col_sums.assign(size_t(n), 0);
  // rows are padded to a multiple of 16 zero rows, so a kernel's channel tile never reads past the end
  p.rows.assign(size_t(np16 * 16 * kp), 0);
  p.panels.assign(size_t(np16 * kp * 16), 0);
  p.panels16.assign(size_t(np8 * kp * 8), 0);
  p.tiles16.assign(size_t(np16 * 16 * kp), 0);
  for (int64_t c = 0; c < n; ++c)
    for (int64_t j = 0; j < k; ++j) {
      const int8_t v = w[c * k + j];
      p.col_sums[size_t(c)] += v;
      p.rows[size_t(c * kp + j)] = v;
      // panels: [c / 16][j / 4][c % 16][j % 4]; panels16: [c / 8][j / 2][c % 8][j % 2]
      p.panels[size_t(((c / 16) * (kp / 4) + j / 4) * 64 + (c % 16) * 4 + j % 4)] = v;
      p.panels16[size_t(((c / 8) * (kp / 2) + j / 2) * 16 + (c % 8) * 2 + j % 2)] = v;
      p.tiles16[size_t(((c / 4) * (kp / 2) + j / 2) * 8 + (c % 4) * 2 + j % 2)] = v;
    }
  if (p.shape.size() == 4) {  // a conv weight [Cout, C, KH, KW]: also in (kh, kw, c) order for NHWC images
    const int64_t C = p.shape[1], KH = p.shape[2], KW = p.shape[3], row = (KW * C + 3) / 4 * 4;
    p.kp_hwc = KH * row;
    p.panels_hwc.assign(size_t(np16 * p.kp_hwc * 16), 0);
    p.panels16_hwc.assign(size_t(np8 * p.kp_hwc * 8), 0);
    for (int64_t c = 0; c < n; ++c)
      for (int64_t j = 0; j < k; ++j) {  // j = (ci·KH + kh)·KW + kw  →  kh·row + kw·C + ci
        const int64_t ci = j / (KH * KW), kh = j / KW % KH, kw = j % KW, h = kh * row + kw * C + ci;
        p.panels_hwc[size_t(((c / 16) * (p.kp_hwc / 4) + h / 4) * 64 + (c % 16) * 4 + h % 4)] = w[c * k + j];
        p.panels16_hwc[size_t(((c / 8) * (p.kp_hwc / 2) + h / 2) * 16 + (c % 8) * 2 + h % 2)] = w[c * k + j];
      }
  }
  return p;
}

// ---- reference loops
namespace {
int32_t wrap32(int64_t v) { return int32_t(uint32_t(uint64_t(v))); }

void check_a(int64_t M, int64_t K, const void* A, int64_t lda, int32_t a_zp, const char* who) {
  MINIDL_CHECK(M >= 0 && K >= 1 && K <= 65536, who, ": M = ", M, ", K = ", K, " (need M >= 0, 1 <= K <= 65536)");
  MINIDL_CHECK(M == 0 || A != nullptr, who, ": null activations");
  MINIDL_CHECK(lda >= K, who, ": row stride ", lda, " is smaller than K = ", K);
  MINIDL_CHECK(a_zp >= 0 && a_zp <= 255, who, ": activation zero point ", a_zp, " is outside [0, 255]");
}
}  // namespace

void qgemm_reference_s32(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda, int32_t a_zp,
                         const int8_t* W, int64_t ldw, const int32_t* bias, int32_t* C, int64_t ldc) {
  check_a(M, K, A, lda, a_zp, "qgemm_reference_s32");
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      int64_t acc = bias ? bias[n] : 0;
      for (int64_t k = 0; k < K; ++k) acc += (int64_t(A[m * lda + k]) - a_zp) * W[n * ldw + k];
      C[m * ldc + n] = wrap32(acc);
    }
}

void qgemm_reference_u8(int64_t M, int64_t N, int64_t K, const uint8_t* A, int64_t lda, int32_t a_zp,
                        const int8_t* W, int64_t ldw, const Requant& rq, uint8_t* C, int64_t ldc) {
  check_requant(rq, N, "qgemm_reference_u8");
  std::vector<int32_t> acc(static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) {
    qgemm_reference_s32(1, N, K, A + m * lda, lda, a_zp, W, ldw, rq.bias.empty() ? nullptr : rq.bias.data(),
                        acc.data(), N);
    for (int64_t n = 0; n < N; ++n) {
      const QuantMultiplier& mu = rq.multiplier[rq.multiplier.size() == 1 ? 0 : size_t(n)];
      C[m * ldc + n] = uint8_t(requantize(acc[size_t(n)], mu, rq.zero_point, rq.qmin, rq.qmax,
                                          rq.bias_frac.empty() ? 0 : rq.bias_frac[size_t(n)]));
    }
  }
}

// ---- paths
const char* qisa_name(QIsa isa) {
  switch (isa) {
    case QIsa::Generic: return "generic";
    case QIsa::Avx2: return "avx2";
    case QIsa::AvxVnni: return "avxvnni";
    case QIsa::Avx512Vnni: return "avx512vnni";
  }
  return "?";
}

QIsa parse_qisa(const std::string& name) {
  for (QIsa i : {QIsa::Generic, QIsa::Avx2, QIsa::AvxVnni, QIsa::Avx512Vnni})
    if (name == qisa_name(i)) return i;
  detail::fail("MINIDL_ISA: unknown path '", name, "' (allowed: avx512vnni, avxvnni, avx2, generic)");
}

bool qisa_supported(QIsa isa) {
  const CpuFeatures& f = cpu_features();  // core/cpu_features.h: CPUID, with the OS's register saving checked
  switch (isa) {
    case QIsa::Generic: return true;
    case QIsa::Avx2: return f.avx2_fma;
    case QIsa::AvxVnni: return f.avx_vnni;
    case QIsa::Avx512Vnni: return f.avx512_vnni;
  }
  return false;
}

QIsa qgemm_best_isa() {
  for (QIsa i : {QIsa::Avx512Vnni, QIsa::AvxVnni, QIsa::Avx2})
    if (qisa_supported(i)) return i;
  return QIsa::Generic;
}

namespace {
std::atomic<int> g_isa{-1};  // -1: not chosen yet
std::mutex g_isa_mutex;

void force_isa(QIsa isa, const char* by) {
  MINIDL_CHECK(qisa_supported(isa), by, "=", qisa_name(isa), ": this CPU does not support the ", qisa_name(isa),
               " path (best supported: ", qisa_name(qgemm_best_isa()), ")");
  g_isa = int(isa);
}
}  // namespace

QIsa qgemm_isa() {
  int v = g_isa.load();
  if (v >= 0) return QIsa(v);
  std::lock_guard<std::mutex> lock(g_isa_mutex);
  if (g_isa.load() < 0) {
    const char* env = std::getenv("MINIDL_ISA");
    if (env && *env) force_isa(parse_qisa(env), "MINIDL_ISA");
    else g_isa = int(qgemm_best_isa());
  }
  return QIsa(g_isa.load());
}

void set_qgemm_isa(QIsa isa) { force_isa(isa, "set_qgemm_isa"); }

bool all_below_128(const uint8_t* p, int64_t rows, int64_t cols, int64_t ld) {
  if (rows <= 0 || cols <= 0) return true;
  uint8_t any = 0;  // an OR reduction the compiler vectorizes; one pass over M·K bytes against M·N·K MACs
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = p + r * ld;
    for (int64_t c = 0; c < cols; ++c) any = uint8_t(any | row[c]);
    if (any & 0x80) return false;
  }
  return true;
}

// ---- entry points
namespace {

struct Kernels {
  qkern::XwFn xw;
  qkern::WxFn wx;
};

// The AVX2 path has two kernel pairs: vpmaddubsw (core/qgemm_avx2_u7.cpp) when
// this call's activations are all < 128 — `seven_bit`, checked on the data
// by the caller — else the widening vpmaddwd kernels (core/qgemm_avx2.cpp).
Kernels kernels_for(QIsa isa, bool seven_bit) {
  if (isa == QIsa::Avx2 && seven_bit) return {qkern::xw_avx2_u7, qkern::wx_avx2_u7};
  switch (isa) {
    case QIsa::Avx512Vnni: return {qkern::xw_avx512vnni, qkern::wx_avx512vnni};
    case QIsa::AvxVnni: return {qkern::xw_avxvnni, qkern::wx_avxvnni};
    case QIsa::Avx2: return {qkern::xw_avx2, qkern::wx_avx2};
    case QIsa::Generic: break;
  }
  return {qkern::xw_generic, qkern::wx_generic};
}

// The channels-last (direct) convolution kernel of each path, the AVX2 one
// chosen from the data like kernels_for; none for the portable path.
qkern::HwcFn hwc_for(QIsa isa, bool seven_bit) {
  switch (isa) {
    case QIsa::Avx512Vnni: return qkern::hwc_avx512vnni;
    case QIsa::AvxVnni: return qkern::hwc_avxvnni;
    case QIsa::Avx2: return seven_bit ? qkern::hwc_avx2_u7 : qkern::hwc_avx2;
    case QIsa::Generic: break;
  }
  return nullptr;
}

std::atomic<qkern::XwFn> g_xw_test{nullptr};
std::atomic<qkern::WxFn> g_wx_test{nullptr};
std::atomic<qkern::HwcFn> g_hwc_test{nullptr};

// The per-call epilogue arrays: bias − z_a·colsum (mod 2^32), multipliers per channel.
struct Epi {
  std::vector<int32_t> bias, m0, rs;
  std::vector<int64_t> rnd, rnd_even, rnd_odd;
  qkern::Out out{};
};

Epi make_epi(const PackedWeights& W, int32_t a_zp, const int32_t* bias, const Requant* rq) {
  Epi e;
  const size_t n = size_t(W.n), padded = size_t((W.n + 63) / 64 * 64);  // kernels load whole vectors
  e.bias.assign(padded, 0), e.m0.assign(padded, 0), e.rs.assign(padded, 1), e.rnd.assign(padded, 1);
  for (size_t c = 0; c < n; ++c)
    e.bias[c] = wrap32(int64_t(bias ? bias[c] : 0) - int64_t(a_zp) * W.col_sums[c]);
  if (rq) {
    for (size_t c = 0; c < n; ++c) {
      const QuantMultiplier& m = rq->multiplier[rq->multiplier.size() == 1 ? 0 : c];
      e.m0[c] = m.m0, e.rs[c] = 31 + m.shift;
      e.rnd[c] = requant_offset(m, rq->bias_frac.empty() ? 0 : rq->bias_frac[c]);
    }
    e.out.lo = rq->qmin - rq->zero_point, e.out.hi = rq->qmax - rq->zero_point, e.out.zp = rq->zero_point;
    e.rnd_even.resize(padded / 2), e.rnd_odd.resize(padded / 2);
    for (size_t c = 0; c < padded / 2; ++c) e.rnd_even[c] = e.rnd[2 * c], e.rnd_odd[c] = e.rnd[2 * c + 1];
    e.out.m0 = e.m0.data(), e.out.rs = e.rs.data(), e.out.rnd = e.rnd.data();
    e.out.rnd_even = e.rnd_even.data(), e.out.rnd_odd = e.rnd_odd.data();
    e.out.rs_min = 62, e.out.rs_max = 1;
    for (size_t c = 0; c < n; ++c)
      e.out.rs_min = std::min(e.out.rs_min, e.rs[c]), e.out.rs_max = std::max(e.out.rs_max, e.rs[c]);
  }
  e.out.bias = e.bias.data();
  return e;
}

qkern::W view(const PackedWeights& W) {
  return {W.n,
          W.k,
          W.kp,
          W.rows.data(),
          W.panels.data(),
          W.panels16.data(),
          W.tiles16.data(),
          W.panels_hwc.empty() ? nullptr : W.panels_hwc.data(),
          W.kp_hwc,
          W.panels16_hwc.empty() ? nullptr : W.panels16_hwc.data()};
}

// Split [0, rows) over threads in blocks of `align` (a multiple of the
// kernels' tiles), on the calling thread inside a parallel region or for small work.
template <class F>
void split(int64_t rows, int64_t align, int64_t macs_per_row, F&& f) {
  const int64_t blocks = (rows + align - 1) / align;
  int threads = omp_in_parallel() || rows * macs_per_row < (int64_t(1) << 18) ? 1 : get_num_threads();
  if (threads > blocks) threads = int(blocks);
  parallel_range(blocks, threads, [&](int64_t lo, int64_t hi) {
    const int64_t r_hi = hi * align;
    f(lo * align, r_hi < rows ? r_hi : rows);
  });
}

void run_xw(int64_t M, const uint8_t* A, int64_t lda, int32_t a_zp, const PackedWeights& W, const int32_t* bias,
            const Requant* rq, int32_t* c32, uint8_t* c8, int64_t ldc, const char* who) {
  check_a(M, W.k, A, lda, a_zp, who);
  MINIDL_CHECK(W.n >= 1 && !W.rows.empty(), who, ": weights are not packed (use pack_weights)");
  MINIDL_CHECK(ldc >= W.n, who, ": output row stride ", ldc, " is smaller than N = ", W.n);
  if (rq) check_requant(*rq, W.n, who);
  Epi e = make_epi(W, a_zp, bias, rq);
  e.out.c32 = c32, e.out.c8 = c8, e.out.ldc = ldc;
  const qkern::W w = view(W);
  const QIsa isa = qgemm_isa();
  const qkern::XwFn fn = g_xw_test.load() ? g_xw_test.load()
                                          : kernels_for(isa, isa == QIsa::Avx2 && all_below_128(A, M, W.k, lda)).xw;
  split(M, qkern::kRowAlign, W.n * W.k, [&](int64_t lo, int64_t hi) { fn(lo, hi, A, lda, w, e.out); });
}

void run_wx(int64_t P, const uint8_t* X, int64_t ldx, int32_t x_zp, const PackedWeights& W, const int32_t* bias,
            const Requant* rq, int32_t* c32, uint8_t* c8, int64_t ldc, const char* who) {
  MINIDL_CHECK(P >= 0 && (P == 0 || X != nullptr), who, ": bad pixel count ", P, " or null input");
  MINIDL_CHECK(ldx >= P, who, ": input row stride ", ldx, " is smaller than P = ", P);
  MINIDL_CHECK(ldc >= P, who, ": output row stride ", ldc, " is smaller than P = ", P);
  MINIDL_CHECK(x_zp >= 0 && x_zp <= 255, who, ": input zero point ", x_zp, " is outside [0, 255]");
  MINIDL_CHECK(W.n >= 1 && !W.rows.empty(), who, ": weights are not packed (use pack_weights)");
  if (rq) check_requant(*rq, W.n, who);
  Epi e = make_epi(W, x_zp, bias, rq);
  e.out.c32 = c32, e.out.c8 = c8, e.out.ldc = ldc;
  const qkern::W w = view(W);
  const QIsa isa = qgemm_isa();
  const qkern::WxFn fn = g_wx_test.load() ? g_wx_test.load()
                                          : kernels_for(isa, isa == QIsa::Avx2 && all_below_128(X, W.k, P, ldx)).wx;
  qkern::XSrc xs{};
  xs.p = X, xs.ld = ldx;
  const int64_t align = isa == QIsa::Avx512Vnni ? qkern::kPixelAlign512 : qkern::kPixelAlign;
  split(P, align, W.n * W.k, [&](int64_t lo, int64_t hi) { fn(lo, hi, xs, w, e.out); });
}

}  // namespace

void qkern::set_kernels_for_testing(XwFn xw, WxFn wx, HwcFn hwc) {
  g_xw_test = xw;
  g_wx_test = wx;
  g_hwc_test = hwc;
}

namespace {
// d[j][i] = s[i][j] (rows × cols elements, strides in elements).
template <class T>
void transpose(const T* s, int64_t rows, int64_t cols, int64_t lds, T* d, int64_t ldd) {
  if (qisa_supported(QIsa::Avx512Vnni)) {
    if constexpr (sizeof(T) == 1) return qkern::transpose_u8_avx512(s, rows, cols, lds, d, ldd);
    else return qkern::transpose_s32_avx512(s, rows, cols, lds, d, ldd);
  }
  constexpr int64_t B = 32;  // blocks that stay in L1 both ways
  for (int64_t i0 = 0; i0 < rows; i0 += B)
    for (int64_t j0 = 0; j0 < cols; j0 += B)
      for (int64_t i = i0; i < std::min(rows, i0 + B); ++i)
        for (int64_t j = j0; j < std::min(cols, j0 + B); ++j) d[j * ldd + i] = s[i * lds + j];
}

// The channels-last convolution: x [C][H][W] → NHWC, the hwc
// kernels write [P][Cout], transposed back to [Cout][P]. Both transposes are
// ~1 byte moved per 64 (conv2) multiply-adds; the wx kernels' packing step,
// which they replace, moved about one per vpdpbusd and took as long as the products.
void run_conv_hwc(qkern::HwcFn fn, const uint8_t* x, int64_t C, int64_t H, int64_t Wd, int stride, int pad,
                  int32_t x_zp, const PackedWeights& W, qkern::Out out, int64_t OW, int64_t P, bool in_cl, bool out_cl) {
  thread_local std::vector<uint8_t> xh, y8;
  thread_local std::vector<int32_t> y32;
  if (!in_cl && C > 1) {  // one channel: NCHW is NHWC
    xh.resize(size_t(C * H * Wd));
    transpose(x, C, H * Wd, H * Wd, xh.data(), C);
    x = xh.data();
  }
  int32_t* c32 = out.c32;
  uint8_t* c8 = out.c8;
  if (!out_cl && c32) y32.resize(size_t(P * W.n)), out.c32 = y32.data();
  if (!out_cl && c8) y8.resize(size_t(P * W.n)), out.c8 = y8.data();
  out.ldc = W.n;
  const qkern::HwcSrc xs{x, C, H, Wd, OW, W.shape[2], W.shape[3], stride, pad, uint8_t(x_zp)};
  const qkern::W w = view(W);
  split(P, qkern::kHwcAlign, W.n * W.k, [&](int64_t lo, int64_t hi) { fn(lo, hi, xs, w, out); });
  if (out_cl) return;
  if (c32) transpose(y32.data(), P, W.n, W.n, c32, P);
  else transpose(y8.data(), P, W.n, W.n, c8, P);
}

void run_conv_planar(const uint8_t* x, int64_t C, int64_t H, int64_t Wd, int stride, int pad, int32_t x_zp,
                     const PackedWeights& W, const int32_t* bias, const Requant* rq, int32_t* c32, uint8_t* c8,
                     int64_t OW, int64_t P);

void run_conv(const uint8_t* x, int64_t C, int64_t H, int64_t Wd, int stride, int pad, int32_t x_zp,
              const PackedWeights& W, const int32_t* bias, const Requant* rq, int32_t* c32, uint8_t* c8,
              const char* who, bool in_cl = false, bool out_cl = false) {
  MINIDL_CHECK(W.shape.size() == 4 && W.shape[1] == C, who, ": weights ", to_string(W.shape),
               " are not [Cout, ", C, ", KH, KW]");
  MINIDL_CHECK(x != nullptr && stride >= 1 && pad >= 0, who, ": null input, stride < 1 or padding < 0");
  MINIDL_CHECK(x_zp >= 0 && x_zp <= 255, who, ": input zero point ", x_zp, " is outside [0, 255]");
  const int64_t KH = W.shape[2], KW = W.shape[3];
  MINIDL_CHECK(H + 2 * pad >= KH && Wd + 2 * pad >= KW, who, ": image ", H, "x", Wd, " with padding ", pad,
               " is smaller than the kernel ", KH, "x", KW);
  const int64_t OH = (H + 2 * pad - KH) / stride + 1, OW = (Wd + 2 * pad - KW) / stride + 1, P = OH * OW;
  if (rq) check_requant(*rq, W.n, who);
  const QIsa isa = qgemm_isa();
  // the padding holds x_zp: it is an activation too (the layout does not change which bytes are read)
  const bool seven_bit = isa == QIsa::Avx2 && (pad == 0 || x_zp < 128) && all_below_128(x, 1, C * H * Wd, C * H * Wd);
  const qkern::HwcFn hwc = g_wx_test.load() ? g_hwc_test.load() : hwc_for(isa, seven_bit);
  if (hwc) {
    Epi e = make_epi(W, x_zp, bias, rq);
    e.out.c32 = c32, e.out.c8 = c8;
    return run_conv_hwc(hwc, x, C, H, Wd, stride, pad, x_zp, W, e.out, OW, P, in_cl, out_cl);
  }
  // the planar kernels, with transposes around them for channels-last sides
  thread_local std::vector<uint8_t> xp, y8;
  thread_local std::vector<int32_t> y32;
  if (in_cl && C > 1) {
    xp.resize(size_t(C * H * Wd));
    transpose(x, H * Wd, C, C, xp.data(), H * Wd);
    x = xp.data();
  }
  if (!out_cl) return run_conv_planar(x, C, H, Wd, stride, pad, x_zp, W, bias, rq, c32, c8, OW, P);
  if (c32) y32.resize(size_t(P * W.n));
  else y8.resize(size_t(P * W.n));
  run_conv_planar(x, C, H, Wd, stride, pad, x_zp, W, bias, rq, c32 ? y32.data() : nullptr, c8 ? y8.data() : nullptr,
                  OW, P);
  if (c32) transpose(y32.data(), W.n, P, P, c32, W.n);
  else transpose(y8.data(), W.n, P, P, c8, W.n);
}

void run_conv_planar(const uint8_t* x, int64_t C, int64_t H, int64_t Wd, int stride, int pad, int32_t x_zp,
                     const PackedWeights& W, const int32_t* bias, const Requant* rq, int32_t* c32, uint8_t* c8,
                     int64_t OW, int64_t P) {
  const int64_t KH = W.shape[2], KW = W.shape[3];
  std::vector<int32_t> koff(size_t(W.k)), kh(size_t(W.k)), kw(size_t(W.k));
  for (int64_t k = 0; k < W.k; ++k) {
    const int64_t c = k / (KH * KW), i = k / KW % KH, j = k % KW;
    koff[size_t(k)] = int32_t(c * H * Wd + i * Wd + j), kh[size_t(k)] = int32_t(i), kw[size_t(k)] = int32_t(j);
  }
  qkern::XSrc xs{x, 0, true, H, Wd, OW, stride, pad, uint8_t(x_zp), koff.data(), kh.data(), kw.data()};
  Epi e = make_epi(W, x_zp, bias, rq);
  e.out.c32 = c32, e.out.c8 = c8, e.out.ldc = P;
  const qkern::W w = view(W);
  const QIsa isa = qgemm_isa();
  // the padding holds x_zp: it is an activation too
  const bool seven_bit = isa == QIsa::Avx2 && (pad == 0 || x_zp < 128) && all_below_128(x, C, H * Wd, H * Wd);
  const qkern::WxFn fn = g_wx_test.load() ? g_wx_test.load() : kernels_for(isa, seven_bit).wx;
  split(P, qkern::kPixelAlign, W.n * W.k, [&](int64_t lo, int64_t hi) { fn(lo, hi, xs, w, e.out); });
}
}  // namespace

bool qconv_prefers_channels_last() { return qgemm_isa() != QIsa::Generic; }

void qconv_image_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, int stride, int padding, int32_t x_zp,
                    const PackedWeights& w, const Requant& rq, uint8_t* out) {
  run_conv(x, C, H, W, stride, padding, x_zp, w, rq.bias.empty() ? nullptr : rq.bias.data(), &rq, nullptr, out,
           "qconv_image_u8");
}

void qconv_image_u8(const uint8_t* x, int64_t C, int64_t H, int64_t W, int stride, int padding, int32_t x_zp,
                    const PackedWeights& w, const Requant& rq, uint8_t* out, bool in_cl, bool out_cl) {
  run_conv(x, C, H, W, stride, padding, x_zp, w, rq.bias.empty() ? nullptr : rq.bias.data(), &rq, nullptr, out,
           "qconv_image_u8", in_cl, out_cl);
}

void qconv_image_s32(const uint8_t* x, int64_t C, int64_t H, int64_t W, int stride, int padding, int32_t x_zp,
                     const PackedWeights& w, const int32_t* bias, int32_t* out) {
  run_conv(x, C, H, W, stride, padding, x_zp, w, bias, nullptr, out, nullptr, "qconv_image_s32");
}

void qgemm_u8s8s32(int64_t M, const uint8_t* A, int64_t lda, int32_t a_zp, const PackedWeights& W,
                   const int32_t* bias, int32_t* C, int64_t ldc) {
  run_xw(M, A, lda, a_zp, W, bias, nullptr, C, nullptr, ldc, "qgemm_u8s8s32");
}

void qgemm_u8s8u8(int64_t M, const uint8_t* A, int64_t lda, int32_t a_zp, const PackedWeights& W,
                  const Requant& rq, uint8_t* C, int64_t ldc) {
  run_xw(M, A, lda, a_zp, W, rq.bias.empty() ? nullptr : rq.bias.data(), &rq, nullptr, C, ldc, "qgemm_u8s8u8");
}

void qgemm_wx_u8(int64_t P, const uint8_t* X, int64_t ldx, int32_t x_zp, const PackedWeights& W,
                 const Requant& rq, uint8_t* C, int64_t ldc) {
  run_wx(P, X, ldx, x_zp, W, rq.bias.empty() ? nullptr : rq.bias.data(), &rq, nullptr, C, ldc, "qgemm_wx_u8");
}

void qgemm_wx_s32(int64_t P, const uint8_t* X, int64_t ldx, int32_t x_zp, const PackedWeights& W,
                  const int32_t* bias, int32_t* C, int64_t ldc) {
  run_wx(P, X, ldx, x_zp, W, bias, nullptr, C, nullptr, ldc, "qgemm_wx_s32");
}

}  // namespace minidl
