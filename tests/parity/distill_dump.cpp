// Writes the cases of tests/parity/torch_distill_parity.py into directory argv[1]
// (cases.safetensors): random student/teacher logits and labels, minidl's
// distillation_loss and its gradient w.r.t. the student logits for a grid of
// temperatures and alphas; and kl_div (batchmean, plain and log_target) with
// its gradients w.r.t. both inputs, including a zero target.
#include <iostream>
#include <string>

#include "compress/distill.h"
#include "minidl.h"

using namespace minidl;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: distill_dump DIR\n";
    return 2;
  }
  Generator g(2015);
  nn::StateDict out;
  int k = 0;
  for (float T : {1.f, 2.f, 4.f, 8.f, 20.f})
    for (float alpha : {0.f, 0.5f, 0.9f, 1.f}) {
      const int64_t N = k % 2 ? 64 : 7, C = k % 3 ? 10 : 3;
      const float scale = k % 4 ? 3.f : 8.f;  // logits ~ N(0, scale²): confident teachers too
      Tensor zs = Tensor::normal({N, C}, 0.f, scale, g).requires_grad_();
      Tensor zt = Tensor::normal({N, C}, 0.f, scale, g);
      std::vector<int64_t> y(static_cast<size_t>(N));
      for (auto& v : y) v = int64_t(g.randint(uint64_t(C)));
      Tensor labels = Tensor::from_vector(y, {N});
      Tensor loss = compress::distillation_loss(zs, zt, labels, T, alpha);
      loss.backward();
      const std::string p = "case" + std::to_string(k++) + ".";
      out.emplace_back(p + "zs", zs.detach());
      out.emplace_back(p + "zt", zt);
      out.emplace_back(p + "y", labels);
      out.emplace_back(p + "T", Tensor::scalar(T));
      out.emplace_back(p + "alpha", Tensor::scalar(alpha));
      out.emplace_back(p + "loss", loss.detach());
      out.emplace_back(p + "grad", zs.grad());
    }
  for (bool log_target : {false, true}) {
    Tensor x = log_softmax(Tensor::normal({5, 6}, 0.f, 2.f, g), 1).requires_grad_();
    Tensor t = softmax(Tensor::normal({5, 6}, 0.f, 2.f, g), 1);
    if (log_target) t = log(t);
    else t.data<float>()[7] = 0.f;  // 0·log 0 = 0, and its gradient is 0
    t.requires_grad_();
    Tensor l = kl_div(x, t, log_target);
    l.backward();
    const std::string p = std::string("kl") + (log_target ? "_log_target." : ".");
    out.emplace_back(p + "x", x.detach());
    out.emplace_back(p + "t", t.detach());
    out.emplace_back(p + "loss", l.detach());
    out.emplace_back(p + "grad_x", x.grad());
    out.emplace_back(p + "grad_t", t.grad());
  }
  nn::save_safetensors(out, std::string(argv[1]) + "/cases.safetensors");
  return 0;
}
