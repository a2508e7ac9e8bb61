// minidl/nn/trainer.h — the training loop: fit() and evaluate().
//
//   nn::SGD opt(net->parameters(), {.lr = 0.01f, .momentum = 0.9f});
//   nn::FitOptions fo;
//   fo.epochs = 10;
//   fo.test = &test_loader;
//   nn::History h = nn::fit(*net, opt, train_loader, fo);
//
// Each epoch: model.train(); for every batch: zero_grad, forward, loss,
// backward, step (exactly PyTorch's loop); then evaluation of the optional
// validation and test loaders in eval mode under NoGradGuard; then the LR
// scheduler steps. Callbacks see every batch and epoch (pruning schedules and
// distillation hook in there). With a validation loader, fit keeps the best
// weights by validation accuracy (optionally also writing them to a
// checkpoint) and can stop early after `early_stopping_patience` epochs
// without improvement.
#pragma once

#include <functional>
#include <iosfwd>
#include <limits>
#include <string>
#include <vector>

#include "datasets/loader.h"
#include "nn/lr_scheduler.h"
#include "nn/module.h"
#include "nn/optim.h"

namespace minidl::nn {

struct BatchInfo {
  int epoch = 0;
  int64_t batch = 0;        // index within the epoch
  int64_t global_step = 0;  // optimizer steps taken so far, this one included
  float loss = 0.f;
  int64_t batch_size = 0;
  Optimizer* optimizer = nullptr;  // the optimizer that just stepped (e.g. to clear pruned momentum)
};

struct EpochStats {
  int epoch = 0;  // 1-based
  float lr = 0.f;
  double train_loss = 0, train_accuracy = 0;
  double val_loss = std::numeric_limits<double>::quiet_NaN(), val_accuracy = std::numeric_limits<double>::quiet_NaN();
  double test_loss = std::numeric_limits<double>::quiet_NaN(), test_accuracy = std::numeric_limits<double>::quiet_NaN();
  double train_seconds = 0, samples_per_second = 0;
};

class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Module&) {}
  virtual void on_epoch_begin(Module&, int /*epoch*/) {}
  virtual void on_batch_end(Module&, const BatchInfo&) {}
  virtual void on_epoch_end(Module&, const EpochStats&) {}
};

// The training objective: logits, labels -> scalar loss. Default cross_entropy.
using LossFn = std::function<Tensor(const Tensor& logits, const Tensor& labels)>;

// An objective that sees the model and the whole batch (distillation runs a
// teacher on batch.x). Interim form of the groundwork's objective API.
struct StepOutput {
  Tensor loss, logits;
};
class Objective {
 public:
  virtual ~Objective() = default;
  virtual StepOutput compute(Module& model, const datasets::Batch& batch) = 0;
};

struct FitOptions {
  int epochs = 10;
  datasets::DataLoader* val = nullptr;   // early stopping and best weights
  datasets::DataLoader* test = nullptr;  // reported each epoch, never used for decisions
  LRScheduler* scheduler = nullptr;      // stepped after every epoch (per_batch(): every step)
  LossFn loss;                           // empty: cross_entropy
  Objective* objective = nullptr;        // training steps only (evaluation uses `loss`); overrides `loss`
  std::vector<Callback*> callbacks;
  int early_stopping_patience = 0;       // 0: off. Needs `val`.
  bool restore_best = true;              // with `val`: end with the best epoch's weights
  std::string best_checkpoint;           // with `val`: also save them here (safetensors)
  std::ostream* log = nullptr;           // progress and one line per epoch; nullptr: silent
  bool progress_bar = true;              // a live bar when `log` is a terminal
  std::string history_csv, history_json; // written (atomically) after every epoch if set
};

struct History {
  std::vector<EpochStats> epochs;
  int best_epoch = 0;  // 1-based, 0 without a validation loader
  double best_val_accuracy = std::numeric_limits<double>::quiet_NaN();
  bool stopped_early = false;
};

History fit(Module& model, Optimizer& opt, datasets::DataLoader& train, const FitOptions& options);

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
  std::vector<int64_t> predictions, targets;  // per example, in loader order
};
// Eval mode, no graph; restores the model's previous mode afterwards.
EvalResult evaluate(Module& model, datasets::DataLoader& loader, const LossFn& loss = {});

// History as CSV (one row per epoch) and JSON (an array of objects).
std::string history_csv(const History& h);
std::string history_json(const History& h);

}  // namespace minidl::nn
