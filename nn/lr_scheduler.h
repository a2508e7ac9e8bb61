// minidl/nn/lr_scheduler.h — learning-rate schedules, stepped once per epoch.
//
//   StepLR:            lr_e = lr_0 · γ^⌊e / step_size⌋
//   CosineAnnealingLR: lr_e = η_min + (lr_0 − η_min)·(1 + cos(π·e / T_max))/2
//                      (Loshchilov & Hutter 2017, SGDR, without restarts;
//                      PyTorch's closed form)
// `e` counts calls to step(); the scheduler sets the optimizer's lr.
#pragma once

#include <cmath>

#include "nn/optim.h"

namespace minidl::nn {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt) : opt_(opt), base_lr_(opt.lr()) {}
  virtual ~LRScheduler() = default;
  void step() {
    ++epoch_;
    opt_.set_lr(lr_at(epoch_));
  }
  int epoch() const { return epoch_; }
  virtual float lr_at(int epoch) const = 0;

 protected:
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

}  // namespace minidl::nn
