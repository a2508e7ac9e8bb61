// bench_conv_algo — one 3x3 stride-1 convolution through each algorithm
// (im2col, Winograd F(2x2,3x3), F(4x4,3x3)): forward, and backward for dx
// (plus dW, db, which stay on im2col), in thread CPU time per call, best of
// --reps. Used to set core/winograd.cpp's rule (bench/README.md, "Winograd
// (issue 19)"); CPU time, not wall time, so a loaded machine shows the work,
// not the waiting. One thread (the rule is per layer; threads split samples).
//
//   build/bench/bench_conv_algo [--reps 7] [--algo im2col|F2|F4] [N C H W Cout pad] ...
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/winograd.h"
#include "minidl.h"

using namespace minidl;

namespace {

double cpu_now() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}
double best_ms(const std::function<void()>& f, int reps) {
  f();
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = cpu_now();
    f();
    best = std::min(best, cpu_now() - t0);
  }
  return best * 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 7;
  std::string only;  // --algo im2col|F2|F4: that one only (for perf)
  std::vector<std::vector<int64_t>> shapes;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--reps" && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else if (std::string(argv[i]) == "--algo" && i + 1 < argc) {
      only = argv[++i];
    } else if (i + 5 < argc) {
      std::vector<int64_t> s;
      for (int k = 0; k < 6; ++k) s.push_back(std::atoll(argv[i + k]));
      shapes.push_back(s), i += 5;
    } else {
      std::fprintf(stderr, "usage: bench_conv_algo [--reps R] [--algo im2col|F2|F4] [N C H W Cout pad]...\n");
      return 2;
    }
  }
  if (shapes.empty())  // the seed CNN's conv2 and conv1 at batch 64, conv2 at batch 1, small and wide layers
    shapes = {{64, 32, 26, 26, 64, 0}, {64, 1, 28, 28, 32, 0}, {1, 32, 26, 26, 64, 0}, {64, 8, 26, 26, 8, 0},
              {64, 16, 14, 14, 16, 1}, {64, 64, 8, 8, 64, 1}, {64, 64, 4, 4, 64, 1}, {16, 128, 28, 28, 128, 1}};
  set_num_threads(1);
  std::printf("%-28s %-9s %10s %10s %10s\n", "N C H W Cout pad", "algo", "fwd ms", "dx ms", "bwd ms");
  for (const auto& s : shapes) {
    Generator g(1);
    Tensor x = Tensor::uniform({s[0], s[1], s[2], s[3]}, 0.f, 1.f, g).requires_grad_();
    Tensor w = Tensor::normal({s[4], s[1], 3, 3}, 0.f, 0.1f, g).requires_grad_();
    Tensor b = Tensor::zeros({s[4]}).requires_grad_();
    char name[64];
    std::snprintf(name, sizeof name, "%lld %lld %lld %lld %lld %lld", (long long)s[0], (long long)s[1],
                  (long long)s[2], (long long)s[3], (long long)s[4], (long long)s[5]);
    for (int algo : {int(wino::kIm2col), int(wino::kWinograd2), int(wino::kWinograd4)}) {
      const char* an = algo == wino::kIm2col ? "im2col" : algo == wino::kWinograd2 ? "F2" : "F4";
      if (!only.empty() && only != an) continue;
      wino::set_algo(algo);
      const double fwd = best_ms([&] { NoGradGuard ng; conv2d(x, w, b, 1, int(s[5])); }, reps);
      Tensor y = conv2d(x, w, b, 1, int(s[5]));
      Tensor gy = Tensor::normal(y.shape(), 0.f, 1.f, g);
      Tensor xc = x.detach().requires_grad_();  // dx only: weights constant
      auto bwd = [&](const Tensor& xi, const Tensor& wi, const Tensor& bi) {
        return best_ms([&] { conv2d(xi, wi, bi, 1, int(s[5])).backward(gy); }, reps);
      };
      const double dx = bwd(xc, w.detach(), Tensor()) - fwd;
      const double all = bwd(x, w, b) - fwd;
      std::printf("%-28s %-9s %10.3f %10.3f %10.3f\n", name, an, fwd, dx, all);
    }
  }
  wino::set_algo(-1);
  return 0;
}
