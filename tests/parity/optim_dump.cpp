// Runs minidl's optimizers and schedules the way tests/parity/torch_optim_parity.py
// runs torch.optim's, and writes what they computed:
//
//   optim_dump step KIND LR BETA1 BETA2 EPS WD AMSGRAD SCHED IN OUT
//     KIND adam|adamw|sgd (sgd: BETA1 is the momentum), SCHED none|onecycle
//     (OneCycleLR with max_lr LR over the run's steps, momentum cycled).
//     IN holds "p<i>" (initial parameters), "steps" and "g<k>.<i>", the
//     gradient of parameter i at step k (absent: no gradient at that step).
//     OUT holds "p<i>.<k>" after every step k, the final state
//     ("exp_avg<i>", "exp_avg_sq<i>", "max_exp_avg_sq<i>", "momentum_buffer<i>")
//     and "lr" (the lr each step used).
//   optim_dump onecycle TOTAL MAX_LR PCT THREE_PHASE COS DIV FINAL_DIV OUT
//     OUT: "lr" and "momentum" at steps 0..TOTAL.
//   optim_dump linear START END ITERS STEPS OUT
//     OUT: "lr" at steps 0..STEPS (lr_0 = 0.1).
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include "minidl.h"

using namespace minidl;

namespace {

float num(const char* s) { return std::strtof(s, nullptr); }

std::unique_ptr<nn::Optimizer> make(const std::string& kind, char** a, std::vector<Tensor> params) {
  if (kind == "sgd") {
    nn::SGDOptions o;
    o.lr = num(a[0]);
    o.momentum = num(a[1]);
    o.weight_decay = num(a[4]);
    return std::make_unique<nn::SGD>(std::move(params), o);
  }
  auto dbl = [](const char* s) { return std::strtod(s, nullptr); };
  nn::AdamOptions o{num(a[0]), dbl(a[1]), dbl(a[2]), dbl(a[3]), num(a[4]), std::atoi(a[5]) != 0};
  if (kind == "adam") return std::make_unique<nn::Adam>(std::move(params), o);
  MINIDL_CHECK(kind == "adamw", "unknown optimizer ", kind);
  return std::make_unique<nn::AdamW>(std::move(params),
                                     nn::AdamWOptions{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.amsgrad});
}

int run_steps(char** a) {  // KIND LR BETA1 BETA2 EPS WD AMSGRAD SCHED IN OUT
  std::map<std::string, Tensor> in;
  for (auto& [n, t] : nn::load_safetensors(a[8])) in[n] = t;
  const int64_t steps = in.at("steps").to_vector<int64_t>().at(0);
  std::vector<Tensor> params;
  for (int i = 0; in.count("p" + std::to_string(i)); ++i) params.push_back(in["p" + std::to_string(i)].clone());
  for (auto& p : params) p.requires_grad_(true);
  auto opt = make(a[0], a + 1, params);
  std::unique_ptr<nn::LRScheduler> sched;
  if (std::string(a[7]) == "onecycle") {
    nn::OneCycleOptions oc;
    oc.max_lr = std::strtod(a[1], nullptr);
    oc.total_steps = int(steps);
    sched = std::make_unique<nn::OneCycleLR>(*opt, oc);
  }
  nn::StateDict out;
  std::vector<float> lrs;
  for (int64_t k = 0; k < steps; ++k) {
    for (size_t i = 0; i < params.size(); ++i) {
      auto g = in.find("g" + std::to_string(k) + "." + std::to_string(i));
      params[i].zero_grad();
      if (g != in.end()) params[i].set_grad(g->second.clone());
    }
    lrs.push_back(opt->lr());
    opt->step();
    if (sched) sched->step();
    for (size_t i = 0; i < params.size(); ++i)
      out.emplace_back("p" + std::to_string(i) + "." + std::to_string(k), params[i].detach().clone());
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string s = std::to_string(i);
    if (auto* adam = dynamic_cast<nn::Adam*>(opt.get())) {
      if (adam->exp_avg(i).defined()) out.emplace_back("exp_avg" + s, adam->exp_avg(i));
      if (adam->exp_avg_sq(i).defined()) out.emplace_back("exp_avg_sq" + s, adam->exp_avg_sq(i));
      if (adam->max_exp_avg_sq(i).defined()) out.emplace_back("max_exp_avg_sq" + s, adam->max_exp_avg_sq(i));
    } else if (auto* sgd = dynamic_cast<nn::SGD*>(opt.get()); sgd && sgd->momentum_buffer(i).defined()) {
      out.emplace_back("momentum_buffer" + s, sgd->momentum_buffer(i));
    }
  }
  out.emplace_back("lr", Tensor::from_vector(lrs));
  nn::save_safetensors(out, a[9]);
  return 0;
}

int run_onecycle(char** a) {  // TOTAL MAX_LR PCT THREE_PHASE COS DIV FINAL_DIV OUT
  Tensor p = Tensor::zeros({1});
  nn::SGD sgd({p}, nn::SGDOptions{0.1f, 0.9f});
  nn::OneCycleOptions o;
  o.total_steps = std::atoi(a[0]);
  o.max_lr = std::strtod(a[1], nullptr);
  o.pct_start = std::strtod(a[2], nullptr);
  o.three_phase = std::atoi(a[3]) != 0;
  o.anneal_cos = std::atoi(a[4]) != 0;
  o.div_factor = std::strtod(a[5], nullptr);
  o.final_div_factor = std::strtod(a[6], nullptr);
  nn::OneCycleLR s(sgd, o);
  std::vector<float> lr{sgd.lr()}, mom{float(sgd.momentum())};
  for (int t = 0; t < o.total_steps; ++t) {
    s.step();
    lr.push_back(sgd.lr());
    mom.push_back(float(sgd.momentum()));
  }
  nn::save_safetensors({{"lr", Tensor::from_vector(lr)}, {"momentum", Tensor::from_vector(mom)}}, a[7]);
  return 0;
}

int run_linear(char** a) {  // START END ITERS STEPS OUT
  Tensor p = Tensor::zeros({1});
  nn::SGD sgd({p}, nn::SGDOptions{0.1f});
  nn::LinearLR s(sgd, num(a[0]), num(a[1]), std::atoi(a[2]));
  std::vector<float> lr{sgd.lr()};
  for (int t = 0, n = std::atoi(a[3]); t < n; ++t) {
    s.step();
    lr.push_back(sgd.lr());
  }
  nn::save_safetensors({{"lr", Tensor::from_vector(lr)}}, a[4]);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if (mode == "step" && argc == 12) return run_steps(argv + 2);
    if (mode == "onecycle" && argc == 10) return run_onecycle(argv + 2);
    if (mode == "linear" && argc == 7) return run_linear(argv + 2);
  } catch (const std::exception& e) {
    std::cerr << "optim_dump: " << e.what() << "\n";
    return 1;
  }
  std::cerr << "usage: optim_dump step KIND LR BETA1 BETA2 EPS WD AMSGRAD SCHED IN OUT\n"
               "       optim_dump onecycle TOTAL MAX_LR PCT THREE_PHASE COS DIV FINAL_DIV OUT\n"
               "       optim_dump linear START END ITERS STEPS OUT\n";
  return 2;
}
