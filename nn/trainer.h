// minidl/nn/trainer.h — the training loop: fit() and evaluate().
//
//   nn::SGD opt(net->parameters(), {.lr = 0.01f, .momentum = 0.9f});
//   nn::FitOptions fo;
//   fo.epochs = 10;
//   fo.test = &test_loader;
//   fo.objective = &my_objective;  // optional, nn/objective.h; null: cross-entropy
//   fo.callbacks = {&my_callback}; // optional, nn/callback.h
//   nn::History h = nn::fit(*net, opt, train_loader, fo);
//
// fit() is the epoch loop. Each epoch: model.train(); for every batch:
// zero_grad, objective.compute(model, batch) (forward and loss), backward,
// step (exactly PyTorch's loop); then evaluation of the optional validation
// and test loaders in eval mode under NoGradGuard; then the LR scheduler
// steps (per_batch() schedulers: after every optimizer step instead) and the
// epoch is recorded. A loss that is not finite is an error naming the epoch
// and batch. Everything else — progress bar, epoch lines, history files,
// best weights, early stopping — is done by callbacks (nn/callbacks.h) that
// fit builds from these options and runs with the user's (order:
// nn/callback.h). Any callback may end training early
// (TrainState::stop_training) or fail it (throw). With FitOptions::process_group
// of several ranks the loop is data-parallel (nn/data_parallel.h).
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "datasets/loader.h"
#include "nn/callback.h"
#include "nn/callbacks.h"
#include "nn/lr_scheduler.h"
#include "nn/module.h"
#include "nn/objective.h"
#include "nn/optim.h"

namespace minidl::nn {

struct FitOptions {
  int epochs = 10;
  datasets::DataLoader* val = nullptr;   // early stopping and best weights
  datasets::DataLoader* test = nullptr;  // reported each epoch, never used for decisions
  LRScheduler* scheduler = nullptr;      // stepped after every epoch (per_batch(): every step)
  LossFn loss;                           // of (logits, labels); empty: cross_entropy. Scores val/test too.
  Objective* objective = nullptr;        // training steps (not owned); null: LossObjective(loss)
  std::vector<Callback*> callbacks;      // not owned
  int early_stopping_patience = 0;       // 0: off. Needs `val`.
  bool restore_best = true;              // with `val`: end with the best epoch's weights
  std::string best_checkpoint;           // with `val`: also save them here (safetensors)
  std::ostream* log = nullptr;           // progress and one line per epoch; nullptr: silent
  bool progress_bar = true;              // a live bar when `log` is a terminal
  std::string history_csv, history_json; // written (atomically) after every epoch if set
  // Data-parallel training over these ranks (nn/data_parallel.h): every rank
  // calls fit with the same loader and trains on its share of each batch;
  // null or a world of one: this process alone. Not owned.
  Communicator* process_group = nullptr;
};

History fit(Module& model, Optimizer& opt, datasets::DataLoader& train, const FitOptions& options);

struct EvalResult {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
  std::vector<int64_t> predictions, targets;  // per example, in loader order
};
// Eval mode, no graph; restores the model's previous mode afterwards. The
// loss is `loss` (cross-entropy when empty), averaged over examples.
EvalResult evaluate(Module& model, datasets::DataLoader& loader, const LossFn& loss = {});

}  // namespace minidl::nn
