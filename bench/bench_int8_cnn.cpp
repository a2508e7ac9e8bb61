// bench/bench_int8_cnn.cpp — the seed CNN's inference on minidl's integer ops
// (core/qops.h) against the same network in fp32, batch 256 and 1, with the
// time per layer. The int8 network is built here directly from the fp32
// weights (per-channel symmetric int8 weights, per-tensor uint8 activations
// calibrated by min/max on the timed batch) — a kernel pipeline measurement;
// the quantization modules (compress/, prepare/convert) own accuracy.
//   build/bench/bench_int8_cnn [--reps N] [--threads T] [--act-bits 7|8] [--unfused]
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/parallel.h"
#include "core/qops.h"
#include "core/random.h"

using namespace minidl;

namespace {

// Process CPU time / threads (see bench_int8_gemm.cpp: the machine is shared).
int g_threads = 1;
double cpu_now() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

struct QParam {
  float scale;
  int32_t zp;
};

// The activations' code range: 255, or 127 with --act-bits 7 (PyTorch's
// reduce_range: the observed range maps to [0, 127], so minidl's avx2 path
// runs its vpmaddubsw kernels; outputs still clamp at 255, as PyTorch's).
float g_qmax = 255.f;
bool g_unfused = false;  // --unfused: conv2 and the pooling as two ops

// Asymmetric uint8 parameters covering [min(lo, 0), max(hi, 0)] (0 exact).
QParam choose(float lo, float hi) {
  lo = std::min(lo, 0.f), hi = std::max(hi, 0.f);
  const float scale = std::max((hi - lo) / g_qmax, 1e-8f);
  return {scale, int32_t(std::clamp(std::nearbyint(-lo / scale), 0.f, g_qmax))};
}
QParam observe(const Tensor& t) {
  const auto v = t.to_vector<float>();
  return choose(*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end()));
}

struct QLayer {
  PackedWeights w;
  Requant rq;
  std::vector<float> w_scale;
};

// Per-channel symmetric int8 weights, int32 bias at s_x·s_w, multipliers to s_y.
QLayer quantize_layer(const Tensor& w, const Tensor& b, QParam x, QParam y, bool relu) {
  const int64_t n = w.size(0), k = w.numel() / n;
  const float* pw = w.data<float>();
  std::vector<int8_t> q(size_t(w.numel()));
  QLayer L;
  for (int64_t c = 0; c < n; ++c) {
    float mx = 1e-8f;
    for (int64_t i = 0; i < k; ++i) mx = std::max(mx, std::abs(pw[c * k + i]));
    const float s = mx / 127.f;
    L.w_scale.push_back(s);
    for (int64_t i = 0; i < k; ++i) q[size_t(c * k + i)] = int8_t(std::clamp(std::nearbyint(pw[c * k + i] / s), -127.f, 127.f));
    L.rq.bias.push_back(int32_t(std::nearbyint(b.data<float>()[c] / (x.scale * s))));
    L.rq.multiplier.push_back(quantize_multiplier(double(x.scale) * s / y.scale));
  }
  L.rq.zero_point = y.zp;
  if (relu) L.rq.qmin = y.zp;
  L.w = pack_weights(q.data(), n, k, w.shape());
  return L;
}

struct Net {
  Tensor w1, b1, w2, b2, w3, b3, w4, b4;
};

Tensor fp32_forward(const Net& n, const Tensor& x, std::vector<Tensor>* acts = nullptr) {
  Tensor a1 = conv2d_relu(x, n.w1, n.b1), a2 = conv2d_relu(a1, n.w2, n.b2);
  Tensor p = avg_pool2d(a2, 4).flatten(1);
  Tensor f1 = relu(linear(p, n.w3, n.b3)), f2 = linear(f1, n.w4, n.b4);
  if (acts) *acts = {x, a1, a2, p, f1, f2};
  return f2;
}

struct QNet {
  QParam in, a1, a2, f1, out;
  QLayer c1, c2, l1, l2;
};

QNet build_qnet(const Net& n, const Tensor& calib) {
  std::vector<Tensor> a;
  fp32_forward(n, calib, &a);
  QNet q;
  q.in = observe(a[0]), q.a1 = observe(a[1]), q.a2 = observe(a[2]), q.f1 = observe(a[4]), q.out = observe(a[5]);
  q.c1 = quantize_layer(n.w1, n.b1, q.in, q.a1, true);
  q.c2 = quantize_layer(n.w2, n.b2, q.a1, q.a2, true);
  q.l1 = quantize_layer(n.w3, n.b3, q.a2, q.f1, true);  // the pool keeps a2's (scale, zp)
  q.l2 = quantize_layer(n.w4, n.b4, q.f1, q.out, false);
  return q;
}

// The integer network; `t` (if given) keeps each stage's fastest seconds.
Tensor int8_forward(const QNet& q, const Tensor& x, double* t = nullptr) {
  double c = t ? cpu_now() : 0;
  auto lap = [&](int i) {
    if (!t) return;
    const double now = cpu_now();
    t[i] = std::min(t[i], (now - c) / g_threads);
    c = now;
  };
  Tensor v = quantize_per_tensor(x, q.in.scale, q.in.zp);
  lap(0);
  // as compress::convert() runs them (fuse_conv_pool): conv1 hands conv2 a channels-last
  // tensor where the path computes so, conv2 and the pooling fused; g_unfused: the
  // plain sequence (the "avgpool" stage then has its own time)
  const bool cl = !g_unfused && qconv_prefers_channels_last();
  v = quantized_conv2d(v, q.in.zp, q.c1.w, q.c1.rq, 1, 0, {false, cl});
  lap(1);
  if (g_unfused) {
    v = quantized_conv2d(v, q.a1.zp, q.c2.w, q.c2.rq);
    lap(2);
    v = quantized_avg_pool2d(v, q.a2.zp, 4, 4).flatten(1);
  } else {
    v = quantized_conv2d_avg_pool2d(v, q.a1.zp, q.c2.w, q.c2.rq, 1, 0, 4, 4, cl).flatten(1);
    lap(2);
  }
  lap(3);
  v = quantized_linear(v, q.a2.zp, q.l1.w, q.l1.rq);
  lap(4);
  v = quantized_linear(v, q.f1.zp, q.l2.w, q.l2.rq);
  lap(5);
  Tensor y = dequantize(v, q.out.scale, q.out.zp);
  lap(6);
  return y;
}

}  // namespace

int run(int argc, char** argv) {
  int reps = 5, only = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--reps" && i + 1 < argc) reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--threads" && i + 1 < argc) only = std::atoi(argv[++i]);
    else if (a == "--unfused") g_unfused = true;
    else if (a == "--act-bits" && i + 1 < argc && (std::string(argv[i + 1]) == "7" || std::string(argv[i + 1]) == "8"))
      g_qmax = std::string(argv[++i]) == "7" ? 127.f : 255.f;
    else {
      std::fprintf(stderr, "bench_int8_cnn: unknown argument '%s' (--reps N, --threads T, --act-bits 7|8, --unfused)\n", a.c_str());
      return 2;
    }
  }
  Generator gen(1);
  auto he = [&](const Shape& s, int64_t fan_in) { return Tensor::normal(s, 0.f, std::sqrt(2.f / float(fan_in)), gen); };
  Net n{he({32, 1, 3, 3}, 9), Tensor::uniform({32}, -0.1f, 0.1f, gen), he({64, 32, 3, 3}, 288),
        Tensor::uniform({64}, -0.1f, 0.1f, gen), he({100, 2304}, 2304), Tensor::uniform({100}, -0.1f, 0.1f, gen),
        he({10, 100}, 100), Tensor::uniform({10}, -0.1f, 0.1f, gen)};
  const Tensor x256 = Tensor::uniform({256, 1, 28, 28}, 0.f, 1.f, gen);
  const QNet q = build_qnet(n, x256);
  std::printf("minidl int8 path: %s, %d-bit activations. Seed CNN inference, random weights, images/s (CPU time / "
              "threads).\n", qisa_name(qgemm_isa()), g_qmax == 127.f ? 7 : 8);
  const char* stages[] = {"quantize", "conv1", g_unfused ? "conv2" : "conv2+avgpool", "avgpool", "fc1", "fc2", "dequantize"};
  for (int threads : {2, 1}) {
    if (only && threads != only) continue;
    set_num_threads(threads);
    omp_set_num_threads(threads);
    g_threads = threads;
    for (int64_t batch : {int64_t(256), int64_t(1)}) {
      const Tensor x = batch == 256 ? x256 : x256.narrow(0, 1).clone();
      const int r = batch == 1 ? reps * 20 : reps;
      // fp32 and int8 alternate, one run each per round (best of r rounds): a slow spell
      // of this shared machine hits both
      double tf = 1e30, tq = 1e30;
      for (int round = 0; round <= r; ++round) {  // round 0 warms up
        const double t0 = cpu_now();
        fp32_forward(n, x);
        const double t1 = cpu_now();
        int8_forward(q, x);
        const double t2 = cpu_now();
        if (round > 0) tf = std::min(tf, (t1 - t0) / g_threads), tq = std::min(tq, (t2 - t1) / g_threads);
      }
      std::printf("minidl fp32 bs%lld t%d: %.0f img/s %.1f us\n", (long long)batch, threads, double(batch) / tf, tf * 1e6);
      std::printf("minidl int8 bs%lld t%d: %.0f img/s %.1f us\n", (long long)batch, threads, double(batch) / tq, tq * 1e6);
      double t[7];
      std::fill(t, t + 7, 1e30);
      for (int i = 0; i < r; ++i) int8_forward(q, x, t);
      std::printf("    int8 stages (best us):");
      for (int i = 0; i < 7; ++i) std::printf(" %s %.1f", stages[i], t[i] * 1e6);
      std::printf("\n");
    }
  }
  // the int8 logits track the fp32 ones (a sanity check, not accuracy)
  const Tensor yf = fp32_forward(n, x256), yq = int8_forward(q, x256);
  int agree = 0;
  for (int64_t i = 0; i < 256; ++i) {
    const float* a = yf.data<float>() + i * 10;
    const float* b = yq.data<float>() + i * 10;
    agree += std::max_element(a, a + 10) - a == std::max_element(b, b + 10) - b;
  }
  std::printf("argmax agreement int8 vs fp32 on the timed batch: %d / 256\n", agree);
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
