// bench/bench_int8_gemm.cpp — minidl's int8 GEMM against oneDNN's
// dnnl_gemm_u8s8s32, minidl's fp32 GEMM and OpenBLAS sgemm, at the seed CNN's
// shapes, 1 and 2 threads, plus the machine's int8 peak measured here.
//   bench/run_int8.sh                 (builds, then runs this)
//   build/bench/bench_int8_gemm [--reps N] [--threads T] [--act-bits 7|8] [--quick]
// oneDNN is a benchmark-only dependency (libdnnl-dev): only this program links it.
//
// Orientation: every row is C = A·B with A the uint8 activations. conv2 is the
// convolution's own product (64 channels × 288 taps × 576 pixels per image).
// oneDNN (and the fp32 contenders) multiply pixels × taps by taps × channels;
// the plain conv2 rows give minidl those same operands (qgemm_u8s8*: the xw
// kernel), the "wx" rows minidl's NCHW orientation (qgemm_wx: output channels
// as rows, X [taps][pixels], packed per call), and "as the layer" the
// convolution as minidl runs it. "minidl s32" stores int32 like oneDNN;
// "minidl u8" is the fused requantizing epilogue.
#include <cblas.h>
#include <dnnl.h>
#include <immintrin.h>
#pragma GCC diagnostic ignored "-Wpsabi"
#include <omp.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/blas.h"
#include "core/ops.h"
#include "core/parallel.h"
#include "core/qgemm.h"
#include "core/qops.h"

extern "C" void openblas_set_num_threads(int);

using namespace minidl;

namespace {

// Timing on a shared machine: the wall clock of a 50 ms product includes
// other processes' time slices (this machine ran at a load of ~20 on 2 cores
// while these figures were taken), so each run is timed by the process's CPU
// time divided by the threads it runs on — the seconds it would take with the
// cores to itself. OpenMP threads that spin while waiting count as busy, so
// load imbalance still costs. Best of `reps` after a warm-up.
int g_timing_threads = 1;

double cpu_now() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

template <class F>
double best_seconds(F&& f, int reps) {
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t = cpu_now();
    f();
    best = std::min(best, (cpu_now() - t) / g_timing_threads);
  }
  return best;
}

// Clock: a chain of dependent adds retires one per cycle.
double measure_ghz() {
  const int64_t n = 200000000;
  const double s = best_seconds([&] {
    int64_t x = 0;
    for (int64_t i = 0; i < n; ++i) __asm__ volatile("add $1, %0" : "+r"(x));
  }, 3);
  return double(n) / s / 1e9;
}

// Multiply-adds per cycle of one core's int8 instruction stream, in asm so
// nothing is hoisted: independent accumulators, operands in registers, no
// loads — the ceiling no GEMM reaches. AVX2: 8 × (vpmaddwd ymm = 16 MACs, +
// vpaddd) per iteration; AVX-512 VNNI: 16 × vpdpbusd zmm (64 MACs).
#define MADD(t, acc) "vpmaddwd %%ymm14, %%ymm15, %%ymm" #t "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
__attribute__((target("avx2"))) void avx2_loop(int64_t n) {
  __asm__ volatile(
      "vpxor %%ymm0, %%ymm0, %%ymm0\n\tvpcmpeqd %%ymm14, %%ymm14, %%ymm14\n\tvpcmpeqd %%ymm15, %%ymm15, %%ymm15\n\t"
      "1:\n\t" MADD(8, 0) MADD(9, 1) MADD(10, 2) MADD(11, 3) MADD(12, 4) MADD(13, 5) MADD(8, 6) MADD(9, 7)
      "dec %0\n\tjnz 1b"
      : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "cc");
}
#undef MADD
constexpr int kAvx2MacsPerIter = 8 * 16;

// The 7-bit kernel's instruction stream (core/qgemm_avx2_u7.cpp, and oneDNN's
// AVX2 one): vpmaddubsw (32 u8×s8 MACs into int16 pairs) + vpmaddwd by ones +
// vpaddd, 6 independent chains.
#define MADDUBS(t, acc) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #t "\n\tvpmaddwd %%ymm13, %%ymm" #t ", %%ymm" #t \
  "\n\tvpaddd %%ymm" #t ", %%ymm" #acc ", %%ymm" #acc "\n\t"
__attribute__((target("avx2"))) void avx2_u7_loop(int64_t n) {
  __asm__ volatile(
      "vpxor %%ymm0, %%ymm0, %%ymm0\n\tvpxor %%ymm14, %%ymm14, %%ymm14\n\tvpxor %%ymm15, %%ymm15, %%ymm15\n\t"
      "vpxor %%ymm13, %%ymm13, %%ymm13\n\t"
      "1:\n\t" MADDUBS(8, 0) MADDUBS(9, 1) MADDUBS(10, 2) MADDUBS(11, 3) MADDUBS(12, 4) MADDUBS(7, 5)
      "dec %0\n\tjnz 1b"
      : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "cc");
}
#undef MADDUBS
constexpr int kAvx2U7MacsPerIter = 6 * 32;

#define DP(acc) "vpdpbusd %%zmm30, %%zmm31, %%zmm" #acc "\n\t"
__attribute__((target("avx512f,avx512vnni"))) void vnni512_loop(int64_t n) {
  __asm__ volatile(
      "vpxord %%zmm30, %%zmm30, %%zmm30\n\tvpxord %%zmm31, %%zmm31, %%zmm31\n\t"
      "1:\n\t" DP(0) DP(1) DP(2) DP(3) DP(4) DP(5) DP(6) DP(7) DP(8) DP(9) DP(10) DP(11) DP(12) DP(13) DP(14) DP(15)
      "dec %0\n\tjnz 1b"
      : "+r"(n)::"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",
        "xmm12", "xmm13", "xmm14", "xmm15", "xmm30", "xmm31", "cc");
}
#undef DP
constexpr int kVnniMacsPerIter = 16 * 64;

// loop: 0 vpmaddwd (exact, 8-bit), 1 vpmaddubsw (7-bit), 2 vpdpbusd zmm.
double macs_per_cycle(int loop, double ghz) {
  const int64_t n = 20000000;
  const double s = best_seconds([&] { loop == 2 ? vnni512_loop(n) : loop == 1 ? avx2_u7_loop(n) : avx2_loop(n); }, 3);
  return double(n) * (loop == 2 ? kVnniMacsPerIter : loop == 1 ? kAvx2U7MacsPerIter : kAvx2MacsPerIter) /
         (s * ghz * 1e9);
}

struct Shape3 {
  const char* name;
  int64_t M, N, K;  // C[M][N] = A[M][K] · B[K][N], A uint8
  bool conv;        // run minidl's conv orientation (qgemm_wx)
  // > 0: the product is the seed's conv2 layer on this many [32, 26, 26]
  // images; minidl runs it as that layer runs (quantized_conv2d: implicit GEMM,
  // images split over threads), the others multiply its im2col matrix (built
  // from the same images, untimed: in oneDNN's favour). Same multiply-adds.
  int64_t images = 0;
};

struct Row {
  double s32, u8, dnnl, fp32, blas;  // GOP/s (fp32: GFLOP/s)
};

// act_max: activations uniform in [0, act_max] — 255 (8-bit) or 127 (7-bit,
// e.g. reduce_range: minidl's avx2 path then runs its vpmaddubsw kernel).
Row run_shape(const Shape3& s, int threads, int reps, int act_max) {
  std::mt19937 g(1);
  std::vector<uint8_t> a(size_t(s.M * s.K));
  std::vector<int8_t> w(size_t(s.N * s.K)), bt(size_t(s.K * s.N));  // w [N][K] (minidl), bt [K][N] (oneDNN)
  for (auto& v : a) v = uint8_t(g() % unsigned(act_max + 1));
  for (auto& v : w) v = int8_t(int(g() % 255) - 127);
  Tensor img;  // images mode: x [images, 32, 26, 26], a = its im2col [images·576][288]
  if (s.images) {
    img = Tensor::empty({s.images, 32, 26, 26}, DType::UInt8);
    uint8_t* px = img.data<uint8_t>();
    for (int64_t i = 0; i < img.numel(); ++i) px[i] = uint8_t(g() % unsigned(act_max + 1));
    for (int64_t n = 0; n < s.images; ++n)
      for (int64_t p = 0; p < 576; ++p)
        for (int64_t k = 0; k < 288; ++k) {
          const int64_t c = k / 9, i = k / 3 % 3, j = k % 3, oy = p / 24, ox = p % 24;
          a[size_t((n * 576 + p) * 288 + k)] = px[((n * 32 + c) * 26 + oy + i) * 26 + ox + j];
        }
  }
  // the u8 layer as the network runs it: channels-last in and out where the path computes so
  // (conv1 hands conv2 NHWC codes); the s32 variant has no layout option (NCHW, transposed)
  const Tensor img_cl = s.images && qconv_prefers_channels_last() ? permute(img, {0, 2, 3, 1}) : Tensor();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t k = 0; k < s.K; ++k) bt[size_t(k * s.N + n)] = w[size_t(n * s.K + k)];
  std::vector<float> af(a.begin(), a.end()), bf(bt.begin(), bt.end()), cf(size_t(s.M * s.N));
  std::vector<int32_t> c32(size_t(s.M * s.N));
  std::vector<uint8_t> c8(size_t(s.M * s.N));
  const PackedWeights pw = s.images ? pack_weights(w.data(), s.N, s.K, {64, 32, 3, 3}) : pack_weights(w.data(), s.N, s.K);
  Requant rq;
  rq.multiplier = {quantize_multiplier(1.0 / (1 << 16))};
  rq.zero_point = 3;
  std::vector<uint8_t> xt;  // conv orientation: X [K][M pixels]
  if (s.conv && !s.images) {
    xt.resize(a.size());
    for (int64_t m = 0; m < s.M; ++m)
      for (int64_t k = 0; k < s.K; ++k) xt[size_t(k * s.M + m)] = a[size_t(m * s.K + k)];
  }
  set_num_threads(threads);
  omp_set_num_threads(threads);
  g_timing_threads = threads;
  const double ops = 2.0 * double(s.M) * double(s.N) * double(s.K);
  const int32_t co = 0;
  // The five contenders in rounds (each timed once per round, best of `reps` rounds),
  // so that a slow spell of this shared machine hits all of them, not one.
  const std::vector<std::function<void()>> runs = {
      [&] {
        if (s.images) quantized_conv2d_s32(img, 7, pw, {});
        else if (s.conv) qgemm_wx_s32(s.M, xt.data(), s.M, 7, pw, nullptr, c32.data(), s.M);
        else qgemm_u8s8s32(s.M, a.data(), s.K, 7, pw, nullptr, c32.data(), s.N);
      },
      [&] {
        if (s.images) quantized_conv2d(img_cl.defined() ? img_cl : img, 7, pw, rq, 1, 0, {img_cl.defined(), img_cl.defined()});
        else if (s.conv) qgemm_wx_u8(s.M, xt.data(), s.M, 7, pw, rq, c8.data(), s.M);
        else qgemm_u8s8u8(s.M, a.data(), s.K, 7, pw, rq, c8.data(), s.N);
      },
      [&] {
        dnnl_gemm_u8s8s32('N', 'N', 'F', s.M, s.N, s.K, 1.f, a.data(), s.K, 7, bt.data(), s.N, 0, 0.f, c32.data(), s.N,
                          &co);
      },
      [&] { sgemm(false, false, s.M, s.N, s.K, 1.f, af.data(), s.K, bf.data(), s.N, 0.f, cf.data(), s.N); },
      [&] {
        openblas_set_num_threads(threads);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(s.M), int(s.N), int(s.K), 1.f, af.data(), int(s.K),
                    bf.data(), int(s.N), 0.f, cf.data(), int(s.N));
        openblas_set_num_threads(1);
      }};
  std::vector<double> best(runs.size(), 1e30);
  for (int round = 0; round <= reps; ++round)  // round 0 warms up
    for (size_t i = 0; i < runs.size(); ++i) {
      const double t = cpu_now();
      runs[i]();
      if (round > 0) best[i] = std::min(best[i], (cpu_now() - t) / g_timing_threads);
    }
  const Row r{ops / best[0] / 1e9, ops / best[1] / 1e9, ops / best[2] / 1e9, ops / best[3] / 1e9, ops / best[4] / 1e9};
  openblas_set_num_threads(1);
  return r;
}

// oneDNN without VNNI multiplies with vpmaddubsw, whose int16 pair sums
// saturate: with all activations 255 and weights −127 the exact K·255·(−127)
// is not what it returns. Printed so the comparison is honest.
void saturation_check() {
  const int64_t M = 4, N = 16, K = 64;
  std::vector<uint8_t> a(size_t(M * K), 255);
  std::vector<int8_t> b(size_t(K * N), -127);
  std::vector<int32_t> c(size_t(M * N));
  const int32_t co = 0;
  dnnl_gemm_u8s8s32('N', 'N', 'F', M, N, K, 1.f, a.data(), K, 0, b.data(), N, 0, 0.f, c.data(), N, &co);
  const PackedWeights pw = pack_weights(b.data(), N, K);  // all equal, so [N][K] = [K][N]
  std::vector<int32_t> m(size_t(M * N));
  qgemm_u8s8s32(M, a.data(), K, 0, pw, nullptr, m.data(), N);
  std::printf("worst case 255 x -127, K = 64: exact %d | minidl %d | oneDNN %d%s\n", int(K * 255 * -127), m[0], c[0],
              c[0] == K * 255 * -127 ? "" : "  (oneDNN saturates: vpmaddubsw)");
}

}  // namespace

int run(int argc, char** argv) {
  int reps = 7, only_threads = 0, act_bits = 0;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) only_threads = std::atoi(argv[++i]);
    else if (a == "--quick") quick = true;
    else if (a == "--act-bits" && i + 1 < argc && (std::atoi(argv[i + 1]) == 7 || std::atoi(argv[i + 1]) == 8))
      act_bits = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "bench_int8_gemm: unknown argument '%s' (--reps N, --threads T, --act-bits 7|8, --quick)\n", a.c_str());
      return 2;
    }
  }
  const QIsa isa = qgemm_isa();
  g_timing_threads = 1;
  const double ghz = measure_ghz();
  const bool vnni = isa == QIsa::Avx512Vnni;
  const double mpc = macs_per_cycle(vnni ? 2 : 0, ghz), mpc7 = vnni ? mpc : macs_per_cycle(1, ghz);
  std::printf("minidl int8 path: %s (best on this CPU: %s); OpenBLAS kernels: %s\n", qisa_name(isa),
              qisa_name(qgemm_best_isa()), blas_core_name());
  if (vnni)
    std::printf("clock (dependent adds): %.2f GHz; vpdpbusd zmm (64 MACs): %.1f MACs/cycle/core measured\n", ghz, mpc);
  else
    std::printf("clock (dependent adds): %.2f GHz; MACs/cycle/core measured: vpmaddwd ymm (16 MACs) + vpaddd %.1f;"
                " vpmaddubsw ymm (32 MACs) + vpmaddwd + vpaddd %.1f\n", ghz, mpc, mpc7);
  saturation_check();
  std::vector<Shape3> shapes = {{"conv2 bs64  (36864x288 . 288x64)", 576 * 64, 64, 288, false},
                                {"conv2 bs256 (147456x288 . 288x64)", 576 * 256, 64, 288, false},
                                {"conv2 bs64  wx (64x288 . 288x36864)", 576 * 64, 64, 288, true},
                                {"conv2 bs256 wx (64x288 . 288x147456)", 576 * 256, 64, 288, true},
                                {"conv2 bs64 as the layer (implicit)", 576 * 64, 64, 288, true, 64},
                                {"fc1 bs64    (64x2304 . 2304x100)", 64, 100, 2304, false},
                                {"fc1 bs256   (256x2304 . 2304x100)", 256, 100, 2304, false},
                                {"square 1024", 1024, 1024, 1024, false}};
  if (quick) shapes = {{"conv2 bs1", 576, 64, 288, true}, {"fc1 bs8", 8, 100, 2304, false}}, reps = 1;
  for (int t : {2, 1}) {
    if (only_threads && t != only_threads) continue;
    for (int act_max : {255, 127}) {
      if (act_bits && act_max != (act_bits == 7 ? 127 : 255)) continue;
      // the peak of the instruction stream this data allows: exact 8-bit needs vpmaddwd on AVX2
      const double m = act_max == 127 ? mpc7 : mpc, peak = t * ghz * m * 2;
      std::printf("\n%d thread%s, %s activations (0..%d; minidl %s) — int8 peak %.0f GOP/s (= %d cores x %.2f GHz x "
                  "%.1f MACs/cycle x 2 ops)\n", t, t > 1 ? "s" : "", act_max == 127 ? "7-bit" : "8-bit", act_max,
                  vnni || isa == QIsa::AvxVnni ? "vpdpbusd" : isa == QIsa::Generic ? "generic"
                  : act_max == 127 ? "vpmaddubsw kernel" : "widening vpmaddwd kernel", peak, t, ghz, m);
      std::printf("%-36s %9s %9s %9s %9s %9s | %7s %7s %7s %6s\n", "shape", "minidl-s32", "minidl-u8", "oneDNN",
                  "minidl-f32", "OpenBLAS", "s32/dnn", "u8/dnn", "u8/f32", "%peak");
      for (const Shape3& s : shapes) {
        const Row r = run_shape(s, t, reps, act_max);
        std::printf("%-36s %9.0f %9.0f %9.0f %9.0f %9.0f | %6.2fx %6.2fx %6.2fx %5.0f%%\n", s.name, r.s32, r.u8,
                    r.dnnl, r.fp32, r.blas, r.s32 / r.dnnl, r.u8 / r.dnnl, r.u8 / r.fp32,
                    100 * std::max(r.s32, r.u8) / peak);
      }
    }
  }
  std::printf("\n(GOP/s; fp32 columns GFLOP/s. Process CPU time / threads, best of %d after a warm-up. Quote ratios from one run.)\n",
              reps);
  return 0;
}

// A bad MINIDL_ISA (unknown, or a path this CPU lacks) or any other minidl
// error: one line and a non-zero exit.
int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const minidl::Error& e) {
    std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
    return 1;
  }
}
