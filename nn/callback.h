// minidl/nn/callback.h — what fit() tells callbacks, and how they talk back.
//
//   struct StopOnNaNWeights : nn::Callback {
//     void on_batch_end(nn::TrainState& s, const nn::BatchInfo& b) override {
//       if (!weights_finite(s.model)) s.stop_training("weights became non-finite");
//       // or, to fail the run: throw minidl::Error(...) — fit lets it through
//     }
//   };
//   fo.callbacks = {&my_callback};
//
// (DivergenceGuard, compress::GradualPruner and compress::QATFreeze are
// callbacks too.)
//
// fit() (nn/trainer.h) is the epoch loop; everything else it does — the
// progress bar, the epoch lines, the history files, keeping the best weights,
// early stopping — is a callback (nn/callbacks.h) that fit builds from
// FitOptions and runs together with the user's, in the order progress bar,
// best weights, epoch line, the user's callbacks, history writer, early
// stopping: so the user's on_epoch_end sees the epoch already logged and the
// best weights already kept, and the history file and the decision to stop
// see whatever the user's callbacks changed.
//
// Every hook gets the loop's TrainState. The short forms (Module& only)
// are what the TrainState hooks call by default, so a callback overrides
// whichever it needs.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/optim.h"

namespace minidl::nn {

struct FitOptions;

struct BatchInfo {
  int epoch = 0;
  int64_t batch = 0;        // index within the epoch
  int64_t global_step = 0;  // optimizer steps taken so far, this one included
  float loss = 0.f;
  int64_t batch_size = 0;
  Optimizer* optimizer = nullptr;  // the optimizer that just stepped (e.g. to clear pruned momentum)
  int64_t correct = 0;             // examples of this batch the logits classified right
};

struct EpochStats {
  int epoch = 0;  // 1-based
  float lr = 0.f;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = std::numeric_limits<double>::quiet_NaN(), val_accuracy = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN(), test_accuracy = std::numeric_limits<double>::quiet_NaN();
  double train_seconds = 0, samples_per_second = 0;
};

struct History {
  std::vector<EpochStats> epochs;
  int best_epoch = 0;  // 1-based, 0 without a validation loader
  double best_val_accuracy = std::numeric_limits<double>::quiet_NaN();
  bool stopped_early = false;  // by early stopping
  std::string stop_reason;     // why training ended before its last epoch (TrainState::stop_training), else ""
};

// The loop's state, shared by fit and its callbacks.
struct TrainState {
  Module& model;
  Optimizer& optimizer;
  const FitOptions& options;
  History& history;
  int epoch = 0;            // 1-based, the current one
  int64_t global_step = 0;  // optimizer steps taken so far
  // In on_epoch_end: whether this epoch has the best validation accuracy so
  // far (fit has updated history.best_epoch / best_val_accuracy).
  bool improved = false;
  bool stop = false;
  // End training after the current batch: the epoch is evaluated and recorded
  // as far as it got, on_epoch_end and on_train_end still run, and the reason
  // goes to History::stop_reason. (To fail instead, throw minidl::Error.)
  void stop_training(std::string reason) {
    if (!stop) history.stop_reason = std::move(reason);
    stop = true;
  }
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(TrainState& s) { on_train_begin(s.model); }
  virtual void on_epoch_begin(TrainState& s) { on_epoch_begin(s.model, s.epoch); }
  virtual void on_batch_end(TrainState& s, const BatchInfo& b) { on_batch_end(s.model, b); }
  virtual void on_epoch_end(TrainState& s, const EpochStats& e) { on_epoch_end(s.model, e); }
  virtual void on_train_end(TrainState&) {}

  // The short forms.
  virtual void on_train_begin(Module&) {}
  virtual void on_epoch_begin(Module&, int /*epoch*/) {}
  virtual void on_batch_end(Module&, const BatchInfo&) {}
  virtual void on_epoch_end(Module&, const EpochStats&) {}
};

}  // namespace minidl::nn
