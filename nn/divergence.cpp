#include "nn/divergence.h"

#include <cmath>
#include <sstream>

namespace minidl::nn {

namespace {
StateDict snapshot(const Module& model) {
  StateDict s = model.state_dict();
  for (auto& [name, t] : s) t = t.clone();  // the live tensors keep changing
  return s;
}
}  // namespace

void DivergenceGuard::on_train_begin(Module& model) {
  good_ = snapshot(model);
  good_epoch_ = 0;
  seen_ = above_ = 0;
  start_ = smooth_ = 0;
  unhealthy_epoch_ = false;
}

void DivergenceGuard::restore(Module& model) const {
  if (!good_.empty()) model.load_state_dict(good_, true);
}

void DivergenceGuard::on_batch_end(Module& model, const BatchInfo& b) {
  const double loss = b.loss;
  std::ostringstream why;
  if (!std::isfinite(loss)) {
    why << "the loss became " << loss;
  } else if (seen_ < o_.warmup) {
    // The minimum, not the mean: with a learning rate far too high the loss
    // can explode within the first few steps, and must not inflate L0.
    start_ = seen_++ == 0 ? loss : std::min(start_, loss);
    smooth_ = start_;
    return;
  } else {
    // The smoothed loss (exponential moving average): a diverged network's
    // per-batch loss swings between ~0 and huge, which a per-batch test misses.
    smooth_ += o_.smoothing * (loss - smooth_);
    const double limit = std::max(o_.factor * start_, start_ + o_.margin);
    above_ = smooth_ > limit ? above_ + 1 : 0;
    if (above_ > 0) unhealthy_epoch_ = true;
    if (above_ < o_.patience) return;
    why << "the smoothed loss stayed above " << limit << " (starting value " << start_ << ") for " << above_
        << " batches, now " << smooth_;
  }
  restore(model);
  throw DivergenceError("training diverged at epoch " + std::to_string(b.epoch) + ", step " +
                        std::to_string(b.global_step) + " (batch " + std::to_string(b.batch) + " of the epoch): " +
                        why.str() + "; the model is back to its weights " +
                        (good_epoch_ ? "at the end of epoch " + std::to_string(good_epoch_) : std::string("from before training")) +
                        " (lower the learning rate or momentum)");
}

void DivergenceGuard::on_epoch_end(Module& model, const EpochStats& s) {
  if (!unhealthy_epoch_ && above_ == 0) {
    good_ = snapshot(model);
    good_epoch_ = s.epoch;
  }
  unhealthy_epoch_ = false;
}

}  // namespace minidl::nn
