// bench_seed_cnn — minidl's side of the seed CNN benchmark.
//
//   build/bench/bench_seed_cnn --threads 2 [--reps 5] [--smoke]   # one JSON object
//   build/bench/bench_seed_cnn --threads 2 --peak-rss             # a training run's VmHWM only
//   build/bench/bench_seed_cnn --threads 1 --loop train 200       # just N iterations, for perf
//                                                                   (train | infer256 | infer1)
//
// bench/torch_bench_seed_cnn.py measures the same things in PyTorch and
// prints the same keys; bench/compare.py (bench/run.sh) runs both, alternately
// and repeatedly, and prints the table with the ratios. Measured here:
//   train_sps        training samples/s, batch 64, SGD momentum 0.9
//   infer256_sps     fp32 inference samples/s at batch 256 (eval, no graph)
//   infer1_sps       the same at batch 1 (and its latency)
//   <layer>_fwd_ms   one layer at the seed CNN's training shapes (batch 64),
//   <layer>_bwd_ms   forward recording the graph, backward alone
//   gemm_*           the GEMM-bound limit: only the OpenBLAS sgemm calls the
//                    same work needs (im2col products per sample, spread over
//                    the threads; the fc products per batch), timed alone.
//                    No convolution through sgemm can be faster than this.
//   mult_*           the multiplications-bound limit (issue 19): the same, but
//                    conv2's three im2col products (forward, dW, dcols) replaced
//                    by the multiplications Winograd F(4x4, 3x3) does for them
//                    (36 products of [tiles x Cin] · [Cin x Cout] per sample,
//                    ragged tiles included), at the rate sgemm reaches on
//                    conv2's im2col product. The work left once the
//                    multiplications are cut, at the machine's GEMM speed.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/blas.h"
#include "minidl.h"

using namespace minidl;
using Clock = std::chrono::steady_clock;

namespace {

struct Timing {
  double best, median;  // seconds per call
};

// Seconds per call of f: best and median over `reps` timings of `inner` calls, after one warm-up call.
Timing timed(const std::function<void()>& f, int reps, int inner = 1) {
  f();
  std::vector<double> ts;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) f();
    ts.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / inner);
  }
  std::sort(ts.begin(), ts.end());
  return {ts.front(), ts[ts.size() / 2]};
}

double vm_hwm_mb() {
  std::ifstream f("/proc/self/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return -1;
}

// A training loop over synthetic images (uniform pixels, random labels): the
// throughput does not depend on the values.
// Every model is fused (nn/fuse.h: conv + ReLU as ConvReLU2d, ...), as the
// examples run them.
std::shared_ptr<nn::Sequential> fused_seed_cnn() {
  auto net = nn::seed_cnn();
  nn::fuse(*net);
  return net;
}

struct Trainer {
  std::shared_ptr<nn::Sequential> net = fused_seed_cnn();
  nn::SGD opt{net->parameters(), {.lr = 0.01f, .momentum = 0.9f}};
  Tensor X, Y;
  int64_t batch, pos = 0;
  Trainer(int64_t batch_, int64_t n) : batch(batch_) {
    Generator g(0);
    X = Tensor::uniform({n, 1, 28, 28}, 0.f, 1.f, g);
    std::vector<int64_t> y(static_cast<size_t>(n));
    for (auto& v : y) v = int64_t(g.randint(10));
    Y = Tensor::from_vector(y, {n});
    net->train();
  }
  float step() {
    const int64_t i = pos;
    pos = (pos + batch) % (X.size(0) - batch + 1);
    opt.zero_grad();
    Tensor loss = cross_entropy(net->forward(X.narrow(i, batch)), Y.narrow(i, batch));
    loss.backward();
    opt.step();
    return loss.item();
  }
};

// ---- the GEMM-bound limit
struct Gemm {
  bool ta, tb;
  int64_t M, N, K;
  bool per_sample;  // once per sample (an im2col product) or once per batch (an fc product)
};

// The sgemm calls of the seed CNN for a batch of B: inference, or a training step.
std::vector<Gemm> seed_cnn_gemms(int64_t B, bool training) {
  std::vector<Gemm> v = {
      {false, false, 32, 676, 9, true},     // conv1: W[32,9] · cols[9,676]
      {false, false, 64, 576, 288, true},   // conv2: W[64,288] · cols[288,576]
      {false, true, B, 100, 2304, false},   // fc1: x · Wᵀ
      {false, true, B, 10, 100, false},     // fc2
  };
  if (training) {
    v.push_back({false, true, 32, 9, 676, true});      // conv1 dW = dy · colsᵀ (its input needs no gradient)
    v.push_back({false, true, 64, 288, 576, true});    // conv2 dW
    v.push_back({true, false, 288, 576, 64, true});    // conv2 dcols = Wᵀ · dy
    v.push_back({false, false, B, 2304, 100, false});  // fc1 dx = dy · W
    v.push_back({true, false, 100, 2304, B, false});   // fc1 dW = dyᵀ · x
    v.push_back({false, false, B, 100, 10, false});    // fc2 dx
    v.push_back({true, false, 10, 100, B, false});     // fc2 dW
  }
  return v;
}

// Multiply-adds of conv2 (32 -> 64, 3x3, 26x26 -> 24x24) per sample through
// Winograd F(4x4, 3x3): α² = 36 products of [tiles x K] · [K x N]. Forward and
// dW: 6 x 6 tiles of the 24x24 output; dx: 7 x 7 tiles of the 26x26 input.
double wino_conv2_flops(bool training) {
  const double fwd = 2.0 * 36 * 36 * 32 * 64, dx = 2.0 * 36 * 49 * 64 * 32;
  return training ? 2 * fwd + dx : fwd;
}
// The GEMMs of the seed CNN without conv2's (its forward, dW, dcols: the first
// three per-sample products with M = 64 or K = 64 of conv2's shapes).
std::vector<Gemm> without_conv2(std::vector<Gemm> v) {
  std::erase_if(v, [](const Gemm& g) { return g.per_sample && (g.K == 288 || g.N == 288 || g.M == 288); });
  return v;
}

// Seconds for the GEMMs alone: per-sample products spread over the threads
// (each thread its own operands, so they stay in its cache, as in minidl's
// conv2d; with fewer samples than threads, a sample's columns are split),
// batch products through minidl's threaded sgemm.
double gemm_seconds(const std::vector<Gemm>& gemms, int64_t B, int T, int reps) {
  struct Buf {
    std::vector<float> a, b, c;
  };
  std::vector<std::vector<Buf>> bufs(size_t(T), std::vector<Buf>(gemms.size()));
  for (auto& per_thread : bufs)
    for (size_t i = 0; i < gemms.size(); ++i) {
      const Gemm& g = gemms[i];
      per_thread[i] = {std::vector<float>(size_t(g.M * g.K), 0.5f), std::vector<float>(size_t(g.K * g.N), 0.25f),
                       std::vector<float>(size_t(g.M * g.N))};
    }
  const int64_t split = B >= T ? 1 : T;  // column blocks per sample
  auto run = [&] {
#pragma omp parallel num_threads(T)
    {
      const int t = omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t it = 0; it < B * split; ++it)
        for (size_t i = 0; i < gemms.size(); ++i) {
          const Gemm& g = gemms[i];
          if (!g.per_sample) continue;
          Buf& b = bufs[size_t(t)][i];
          const int64_t n = g.N / split;  // the column block (columns of C)
          sgemm_serial(g.ta, g.tb, g.M, n, g.K, 1.f, b.a.data(), g.ta ? g.M : g.K, b.b.data(), g.tb ? g.K : g.N, 0.f,
                       b.c.data(), g.N);
        }
    }
    for (size_t i = 0; i < gemms.size(); ++i) {
      const Gemm& g = gemms[i];
      if (g.per_sample) continue;
      Buf& b = bufs[0][i];
      sgemm(g.ta, g.tb, g.M, g.N, g.K, 1.f, b.a.data(), g.ta ? g.M : g.K, b.b.data(), g.tb ? g.K : g.N, 0.f,
            b.c.data(), g.N);
    }
  };
  return timed(run, reps).best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 5;
  bool smoke = false, peak_rss = false;
  std::string loop;
  int64_t iters = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--smoke") smoke = true;
    else if (a == "--peak-rss") peak_rss = true;
    else if (a == "--loop" && i + 2 < argc) loop = argv[++i], iters = std::atoll(argv[++i]);
    else {
      std::cerr << "usage: bench_seed_cnn [--threads N] [--reps R] [--smoke] [--peak-rss] [--loop WHAT N]\n";
      return 2;
    }
  }
  if (threads < 1 || reps < 1) {
    std::cerr << "bench_seed_cnn: --threads and --reps must be >= 1\n";
    return 2;
  }
  set_num_threads(threads);
  manual_seed(0);
  const int64_t B = smoke ? 4 : 64, B_INF = smoke ? 8 : 256;
  const int steps = smoke ? 2 : 10;
  nlohmann::json r = {{"impl", "minidl"}, {"threads", threads}, {"blas_core", blas_core_name()}};

  if (!loop.empty()) {  // a profiling target: one workload, nothing else
    const auto t0 = Clock::now();
    int64_t samples = 0;
    if (loop == "train") {
      Trainer tr(B, 100 * B);
      for (int64_t s = 0; s < iters; ++s, samples += B) tr.step();
    } else if (loop == "infer256" || loop == "infer1") {
      auto net = fused_seed_cnn();
      net->eval();
      NoGradGuard ng;
      Generator g(1);
      const int64_t b = loop == "infer1" ? 1 : B_INF;
      Tensor xb = Tensor::uniform({b, 1, 28, 28}, 0.f, 1.f, g);
      for (int64_t s = 0; s < iters; ++s, samples += b) net->forward(xb);
    } else {
      std::cerr << "bench_seed_cnn: --loop takes train, infer256 or infer1\n";
      return 2;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    r["loop"] = loop;
    r["samples_per_s"] = double(samples) / secs;
    std::cout << r.dump() << std::endl;
    return 0;
  }
  if (peak_rss) {  // a training run in its own process: 100 steps of batch 64 over 6,400 images
    Trainer tr(B, 100 * B);
    for (int s = 0; s < (smoke ? 5 : 100); ++s) tr.step();
    r["peak_rss_mb"] = vm_hwm_mb();
    std::cout << r.dump() << std::endl;
    return 0;
  }

  {  // training
    Trainer tr(B, 100 * B);
    for (int s = 0; s < 2; ++s) tr.step();
    const Timing t = timed([&] { for (int s = 0; s < steps; ++s) tr.step(); }, reps);
    r["train_sps"] = double(steps * B) / t.best;
    r["train_sps_median"] = double(steps * B) / t.median;
  }
  {  // inference
    auto net = fused_seed_cnn();
    net->eval();
    NoGradGuard ng;
    Generator g(1);
    Tensor xb = Tensor::uniform({B_INF, 1, 28, 28}, 0.f, 1.f, g);
    Tensor x1 = xb.narrow(0, 1).clone();
    Timing t = timed([&] { net->forward(xb); }, reps, 2);
    r["infer256_sps"] = double(B_INF) / t.best;
    r["infer256_sps_median"] = double(B_INF) / t.median;
    t = timed([&] { net->forward(x1); }, reps, smoke ? 20 : 200);
    r["infer1_sps"] = 1 / t.best;
    r["infer1_sps_median"] = 1 / t.median;
    r["infer1_latency_us"] = t.best * 1e6;
  }
  {  // single layers at the training shapes: forward recording the graph, backward alone
    Generator g(2);
    auto layer = [&](const std::string& name, nn::Module& m, Tensor x) {
      Tensor y = m.forward(x);
      Tensor gy = Tensor::normal(y.shape(), 0.f, 1.f, g);
      r[name + "_fwd_ms"] = timed([&] { m.forward(x); }, reps, 5).best * 1e3;
      double best = 1e30;
      for (int i = 0; i <= reps; ++i) {  // the first is a warm-up
        m.zero_grad();
        if (x.requires_grad()) x.zero_grad();
        Tensor out = m.forward(x);
        const auto t0 = Clock::now();
        out.backward(gy);
        if (i) best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
      }
      r[name + "_bwd_ms"] = best * 1e3;
    };
    nn::Conv2d conv1(1, 32, 3), conv2(32, 64, 3);
    nn::Linear fc1(2304, 100), fc2(100, 10);
    layer("conv1", conv1, Tensor::uniform({B, 1, 28, 28}, 0.f, 1.f, g));  // the input needs no gradient
    layer("conv2", conv2, Tensor::uniform({B, 32, 26, 26}, 0.f, 1.f, g).requires_grad_());
    layer("fc1", fc1, Tensor::uniform({B, 2304}, 0.f, 1.f, g).requires_grad_());
    layer("fc2", fc2, Tensor::uniform({B, 100}, 0.f, 1.f, g).requires_grad_());
  }
  {  // the GEMM-bound limit of the same work
    const int gr = std::max(reps, 3);
    r["gemm_train_sps"] = double(B) / gemm_seconds(seed_cnn_gemms(B, true), B, threads, gr);
    r["gemm_infer256_sps"] = double(B_INF) / gemm_seconds(seed_cnn_gemms(B_INF, false), B_INF, threads, gr);
    r["gemm_infer1_sps"] = 1.0 / gemm_seconds(seed_cnn_gemms(1, false), 1, threads, gr * 20);
    const Gemm c2{false, false, 64, 576, 288, true};
    const double s = gemm_seconds({c2}, B, threads, gr);
    r["gemm_conv2_fwd_ms"] = s * 1e3;
    r["gemm_conv2_gflops"] = 2.0 * 64 * 576 * 288 * double(B) / s / 1e9;
    // The multiplications-bound limit: conv2's Winograd multiplications at that rate.
    const double per_flop = s / (2.0 * 64 * 576 * 288 * double(B));
    auto mult = [&](int64_t b, bool training, int rr) {
      return gemm_seconds(without_conv2(seed_cnn_gemms(b, training)), b, threads, rr) +
             wino_conv2_flops(training) * double(b) * per_flop;
    };
    r["mult_train_sps"] = double(B) / mult(B, true, gr);
    r["mult_infer256_sps"] = double(B_INF) / mult(B_INF, false, gr);
    r["mult_conv2_fwd_ms"] = wino_conv2_flops(false) * double(B) * per_flop * 1e3;
  }
  std::cout << r.dump() << std::endl;
  return 0;
}
