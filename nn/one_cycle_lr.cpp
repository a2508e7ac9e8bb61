#include "nn/one_cycle_lr.h"

#include <algorithm>
#include <cmath>

namespace minidl::nn {

OneCycleLR::OneCycleLR(Optimizer& opt, const OneCycleOptions& o) : LRScheduler(opt), o_(o) {
  MINIDL_CHECK(o.total_steps >= 1, "OneCycleLR: total_steps must be >= 1 (epochs x batches per epoch), got ",
               o.total_steps);
  MINIDL_CHECK(o.pct_start >= 0 && o.pct_start <= 1, "OneCycleLR: pct_start must be in [0, 1], got ", o.pct_start);
  MINIDL_CHECK(std::isfinite(o.max_lr) && o.max_lr > 0, "OneCycleLR: max_lr must be a finite number > 0, got ",
               o.max_lr);
  MINIDL_CHECK(o.div_factor > 0 && o.final_div_factor > 0, "OneCycleLR: div_factor and final_div_factor must be > 0");
  MINIDL_CHECK(!o.cycle_momentum || opt.has_momentum(),
               "OneCycleLR: cycle_momentum needs an optimizer with a momentum (SGD, Adam, AdamW)");
  if (o.cycle_momentum)
    MINIDL_CHECK(o.base_momentum >= 0 && o.max_momentum < 1 && o.base_momentum <= o.max_momentum,
                 "OneCycleLR: momenta must satisfy 0 <= base_momentum <= max_momentum < 1, got ", o.base_momentum,
                 " and ", o.max_momentum);
  const double init = o.max_lr / o.div_factor, min = init / o.final_div_factor, T = o.total_steps;
  const double lo = o.base_momentum, hi = o.max_momentum;
  if (o.three_phase)
    phases_ = {{o.pct_start * T - 1, init, o.max_lr, hi, lo},
               {2 * o.pct_start * T - 2, o.max_lr, init, lo, hi},
               {T - 1, init, min, hi, hi}};
  else
    phases_ = {{o.pct_start * T - 1, init, o.max_lr, hi, lo}, {T - 1, o.max_lr, min, lo, hi}};
  apply(0);
}

// PyTorch's get_lr(): the first phase whose end_step >= step (or the last),
// annealed by the fraction of it done. A phase of zero length (pct·T = 1)
// gives 0/0 there as in PyTorch; a NaN lr is rejected by set_lr.
double OneCycleLR::value_at(int step, bool momentum) const {
  MINIDL_CHECK(step <= o_.total_steps, "OneCycleLR: tried to step ", step + 1, " times; total_steps is ",
               o_.total_steps);
  double start_step = 0;
  for (size_t i = 0; i < phases_.size(); ++i) {
    const Phase& p = phases_[i];
    if (step <= p.end_step || i + 1 == phases_.size()) {
      const double pct = (step - start_step) / (p.end_step - start_step);
      const double s = momentum ? p.start_momentum : p.start_lr, e = momentum ? p.end_momentum : p.end_lr;
      return o_.anneal_cos ? e + (s - e) / 2.0 * (std::cos(M_PI * pct) + 1) : (e - s) * pct + s;
    }
    start_step = p.end_step;
  }
  return 0;  // unreachable: the last phase always matches
}

void OneCycleLR::apply(int step) {
  opt_.set_lr(std::max(lr_at(step), 0.f));  // see the header: only step total_steps can be < 0
  if (o_.cycle_momentum) opt_.set_momentum(momentum_at(step));
}

}  // namespace minidl::nn
