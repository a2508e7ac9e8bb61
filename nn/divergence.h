// minidl/nn/divergence.h — stop training that diverges, keep the last good weights.
//
// fit() refuses a NaN/inf loss, but a run with too high a learning rate (e.g.
// --lr 10 --momentum 0.99) can also explode without ever reaching inf: the
// loss climbs to 1e18, accuracy falls to chance, and the weights saved at the
// end are ~1e15. DivergenceGuard watches every batch's loss:
//   * the starting value L0 is the lowest loss of the first `warmup` batches
//     (a far too high learning rate can explode the loss within a few steps);
//   * the run has diverged when the loss is not finite, or when its moving
//     average (weight `smoothing` per batch) stays above
//     max(factor x L0, L0 + margin) for `patience` batches in a row (a bad
//     batch is noise; a long stretch that high is not training);
//   * then the model gets back the weights and buffers of the last epoch
//     that ended healthy (or the initial ones), and training stops with
//     DivergenceError naming the epoch, the step and the losses.
// The example programs add it to every run and exit non-zero on it, without
// writing --out.
#pragma once

#include <cstdint>
#include <string>

#include "nn/trainer.h"

namespace minidl::nn {

class DivergenceError : public Error {
 public:
  using Error::Error;
};

struct DivergenceOptions {
  int64_t warmup = 5;      // batches whose lowest loss is the starting value
  double factor = 10.0;    // "far above": more than factor x the starting value
  double margin = 5.0;     // ... and more than starting value + margin
  int64_t patience = 50;   // for this many consecutive batches
  double smoothing = 0.1;  // moving average: smooth += smoothing x (loss - smooth)
};

class DivergenceGuard : public Callback {
 public:
  explicit DivergenceGuard(DivergenceOptions o = {}) : o_(o) {}
  void on_train_begin(Module& model) override;
  void on_batch_end(Module& model, const BatchInfo& b) override;
  void on_epoch_end(Module& model, const EpochStats& s) override;

  // The last healthy weights back into `model` (for a caller that caught
  // fit's own NaN error); the epoch they are from (0: before training).
  void restore(Module& model) const;
  int good_epoch() const { return good_epoch_; }

 private:
  DivergenceOptions o_;
  StateDict good_;
  int good_epoch_ = 0;
  int64_t seen_ = 0, above_ = 0;
  double start_ = 0, smooth_ = 0;
  bool unhealthy_epoch_ = false;
};

}  // namespace minidl::nn
