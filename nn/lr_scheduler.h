// minidl/nn/lr_scheduler.h — learning-rate schedules.
//
//   StepLR:            lr_e = lr_0 · γ^⌊e / step_size⌋
//   CosineAnnealingLR: lr_e = η_min + (lr_0 − η_min)·(1 + cos(π·e / T_max))/2
//                      (Loshchilov & Hutter 2017, SGDR, without restarts;
//                      PyTorch's closed form)
//   LinearLR:          lr_e = lr_0 · (s + (f − s)·min(e, T)/T)   (linear warm-up
//                      from s·lr_0 to f·lr_0 over T steps; Goyal et al. 2017,
//                      "Accurate, Large Minibatch SGD", Section 2.2)
//   OneCycleLR:        one_cycle_lr.h
// `e` counts calls to step(); the scheduler sets the optimizer's lr. nn::fit
// steps a scheduler after every epoch, or after every optimizer step when its
// per_batch() is true (OneCycleLR always; LinearLR when asked), which is where
// PyTorch's documentation puts scheduler.step() for those.
#pragma once

#include <algorithm>
#include <cmath>

#include "nn/optim.h"

namespace minidl::nn {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt) : opt_(opt), base_lr_(opt.lr()) {}
  virtual ~LRScheduler() = default;
  void step() {
    ++epoch_;
    apply(epoch_);
  }
  int epoch() const { return epoch_; }
  virtual float lr_at(int epoch) const = 0;
  virtual bool per_batch() const { return false; }

 protected:
  // Sets what the schedule prescribes for count `e` (OneCycleLR: also momentum).
  virtual void apply(int e) { opt_.set_lr(lr_at(e)); }

  Optimizer& opt_;
  float base_lr_;
  int epoch_ = 0;
};

class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, int step_size, float gamma = 0.1f) : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
    MINIDL_CHECK(step_size >= 1, "StepLR: step_size must be >= 1, got ", step_size);
    MINIDL_CHECK(gamma > 0.f, "StepLR: gamma must be > 0, got ", gamma);
  }
  float lr_at(int e) const override { return base_lr_ * std::pow(gamma_, float(e / step_size_)); }

 private:
  int step_size_;
  float gamma_;
};

class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& opt, int t_max, float eta_min = 0.f) : LRScheduler(opt), t_max_(t_max), eta_min_(eta_min) {
    MINIDL_CHECK(t_max >= 1, "CosineAnnealingLR: T_max must be >= 1, got ", t_max);
    MINIDL_CHECK(eta_min >= 0.f, "CosineAnnealingLR: eta_min must be >= 0, got ", eta_min);
  }
  float lr_at(int e) const override {
    return eta_min_ + (base_lr_ - eta_min_) * 0.5f * (1.f + std::cos(float(M_PI) * float(e) / float(t_max_)));
  }

 private:
  int t_max_;
  float eta_min_;
};

// torch.optim.lr_scheduler.LinearLR's closed form. Like PyTorch, constructing
// it already sets lr = s·lr_0 (step 0). s must be > 0: PyTorch 1.13 accepts 0
// but its recursive form then divides by zero on the first step (later
// releases reject it).
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& opt, float start_factor, float end_factor, int total_iters, bool per_batch = false)
      : LRScheduler(opt), start_(start_factor), end_(end_factor), total_(total_iters), per_batch_(per_batch) {
    MINIDL_CHECK(start_factor > 0.f && start_factor <= 1.f, "LinearLR: start_factor must be in (0, 1], got ",
                 start_factor);
    MINIDL_CHECK(end_factor >= 0.f && end_factor <= 1.f, "LinearLR: end_factor must be in [0, 1], got ", end_factor);
    MINIDL_CHECK(total_iters >= 1, "LinearLR: total_iters must be >= 1, got ", total_iters);
    opt_.set_lr(lr_at(0));
  }
  float lr_at(int e) const override {
    const double f = double(start_) + (double(end_) - double(start_)) * double(std::min(e, total_)) / double(total_);
    return float(double(base_lr_) * f);
  }
  bool per_batch() const override { return per_batch_; }

 private:
  float start_, end_;
  int total_;
  bool per_batch_;
};

}  // namespace minidl::nn
