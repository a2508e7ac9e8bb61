// minidl/nn/one_cycle_lr.h — the 1cycle policy (Smith & Topin 2017,
// "Super-Convergence"; Smith 2018, "A disciplined approach to neural network
// hyper-parameters") with exactly torch.optim.lr_scheduler.OneCycleLR's
// schedule (PyTorch 1.13), stepped after every optimizer step.
//
// With T = total_steps, lr_init = max_lr / div_factor and
// lr_min = lr_init / final_div_factor, the lr goes, over the phases
//
//   two phases (default):  0 … pct·T − 1:      lr_init → max_lr
//                          … T − 1:            max_lr  → lr_min
//   three_phase:           0 … pct·T − 1:      lr_init → max_lr
//                          … 2·pct·T − 2:      max_lr  → lr_init
//                          … T − 1:            lr_init → lr_min
//
// each annealed by cos: a(s, e, x) = e + (s − e)/2 · (1 + cos(π·x)), x the
// fraction of the phase done (or linearly: s + (e − s)·x). Phase boundaries are
// PyTorch's (pct·T − 1, as floats), so step counts where pct·T is not an
// integer give the same lrs. With cycle_momentum the optimizer's momentum
// (SGD's momentum, Adam's β₁) runs inversely, max_momentum → base_momentum →
// max_momentum, overriding the optimizer's own value as PyTorch does.
//
// Constructing the scheduler sets step 0's lr (lr_init) and momentum; step t
// sets step t's. Stepping more than total_steps times is an error, as in
// PyTorch. At step total_steps (after the last optimizer step, so never used)
// PyTorch extrapolates the last phase past lr_min; with linear annealing that
// is negative, which Optimizer::set_lr rejects, so the lr is set to max(·, 0).
#pragma once

#include "nn/lr_scheduler.h"

namespace minidl::nn {

struct OneCycleOptions {
  double max_lr = 0.1;
  int total_steps = 0;  // required: epochs × batches per epoch
  double pct_start = 0.3;
  bool anneal_cos = true;  // false: linear ("linear" anneal_strategy)
  bool cycle_momentum = true;
  double base_momentum = 0.85, max_momentum = 0.95;
  double div_factor = 25, final_div_factor = 1e4;
  bool three_phase = false;
};

class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, const OneCycleOptions& options);
  float lr_at(int step) const override { return float(value_at(step, false)); }
  double momentum_at(int step) const { return value_at(step, true); }
  bool per_batch() const override { return true; }
  const OneCycleOptions& options() const { return o_; }

 protected:
  void apply(int step) override;

 private:
  struct Phase {
    double end_step, start_lr, end_lr, start_momentum, end_momentum;
  };
  double value_at(int step, bool momentum) const;
  OneCycleOptions o_;
  std::vector<Phase> phases_;
};

}  // namespace minidl::nn
