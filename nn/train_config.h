// minidl/nn/train_config.h — a complete training recipe as one value.
//
// Examples, cross-validation and compression studies all train the same way,
// so the recipe (optimizer, schedule, batching, input scaling, augmentation)
// lives in one struct and one function instead of being re-assembled in each
// program. train() builds the loaders and the optimizer, computes any
// normalisation statistics on the *training* data only, and calls fit().
//
//   nn::TrainConfig c;                   // the defaults below
//   c.epochs = 5;
//   c.sgd.lr = 0.05f;                    // the optimizer's own options: nn::SGDOptions
//   c.schedule = nn::Schedule::Cosine;   // or nn::parse_schedule("cosine") from a flag
//   nn::History h = nn::train(*net, train_set, nullptr, test_set, c);
#pragma once

#include <map>
#include <memory>
#include <string>

#include "datasets/dataset.h"
#include "nn/adam.h"
#include "nn/adamw.h"
#include "nn/optim.h"
#include "nn/trainer.h"

namespace minidl::nn {

// The optimizer a recipe trains with (torch.optim's update rules).
enum class OptimizerKind { SGD, Adam, AdamW };
// The learning-rate schedule: constant; StepLR (×0.1 every step_size
// epochs); CosineAnnealingLR (to 0 over `epochs`); OneCycleLR peaking at the
// optimizer's lr, stepped every batch, momentum / β₁ cycled 0.95 → 0.85 → 0.95
// (nn/one_cycle_lr.h).
enum class Schedule { None, Step, Cosine, OneCycle };

// "sgd", "adam", "adamw" and "none", "step", "cosine", "onecycle" — the
// --optimizer and --schedule flags' values; the parsers name the allowed
// values when given anything else.
std::string optimizer_name(OptimizerKind k);
OptimizerKind parse_optimizer(const std::string& name);
std::string schedule_name(Schedule s);
Schedule parse_schedule(const std::string& name);

// The defaults are plain SGD with momentum at a constant learning rate — no
// weight decay, no schedule, no normalisation, no augmentation — so that a run
// given only --lr/--momentum (plus --init and --no-shuffle) does exactly what
// the textbook PyTorch loop `SGD(params, lr, momentum)` over the same batches
// does. lr 0.02 is the rate that reaches the seed CNN's accuracy targets with
// and without BatchNorm at this setting (README.md quotes the runs).
struct TrainConfig {
  int epochs = 10;
  int64_t batch_size = 64;
  // The optimizer, and each one's settings (only the chosen one's are used).
  // SGD: no dampening (PyTorch's default); Adam: weight_decay as L2 in the
  // gradient; AdamW: decoupled weight decay (nn/adam.h, nn/adamw.h).
  OptimizerKind optimizer = OptimizerKind::SGD;
  SGDOptions sgd{.lr = 0.02f, .momentum = 0.9f};
  AdamOptions adam{};
  AdamWOptions adamw{};
  Schedule schedule = Schedule::None;
  int step_size = 5;
  int warmup_epochs = 0;  // > 0: linear warm-up from lr/10 over these epochs, per batch (schedule "none" only)
  bool shuffle = true;
  uint64_t seed = 0;       // shuffling and augmentation
  // Inputs are multiplied by this first; 0 means "as the data set says"
  // (Dataset::input_scale(): 1/255 for pixels, 1 for CSV features).
  float input_scale = 0.f;
  bool normalize = false;  // standardise inputs with the training set's per-channel mean/std
  bool augment = false;    // random crop (padding 2) and horizontal flip
  int64_t eval_batch_size = 256;

  // The chosen optimizer's learning rate and weight decay; the setters set
  // them for every optimizer (what a --lr / --weight-decay flag means).
  float lr() const;
  float weight_decay() const;
  void set_lr(float lr);
  void set_weight_decay(float weight_decay);

  // Throws minidl::Error naming the field and its allowed range.
  void validate() const;
  // One line, e.g. "SGD(lr=0.02, momentum=0.9, weight_decay=0), constant lr, 10 epochs, batch 64, ..."
  std::string describe() const;
};

// The recipe's optimizer over `params`, and its scheduler (null for a
// constant lr); batches_per_epoch sizes the per-batch schedules.
std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<Tensor> params);
std::unique_ptr<LRScheduler> make_scheduler(const TrainConfig& c, Optimizer& opt, int64_t batches_per_epoch);

// The scale the recipe applies to `data`: c.input_scale, or the data set's own.
float input_scale(const TrainConfig& c, const datasets::Dataset& data);
// Input transforms for this recipe: x * input_scale(c, train_data) (none when
// that is 1), then optional normalisation with statistics of `train_data`;
// augmentation only when `training`.
std::vector<datasets::TransformPtr> make_transforms(const TrainConfig& c, const datasets::Dataset& train_data,
                                                    bool training);

// What a checkpoint should record about the recipe so that the model can be
// used later: "recipe" (describe()), "input_scale" and, with normalize, the per-channel
// "normalize_mean" / "normalize_std" of the training data (comma-separated).
std::map<std::string, std::string> recipe_metadata(const TrainConfig& c, const datasets::Dataset& train_data);
// The evaluation transforms a checkpoint's metadata asks for: x * input_scale
// (1/255 for checkpoints older than that key), then Normalize if the metadata
// has normalize_mean/normalize_std.
std::vector<datasets::TransformPtr> transforms_from_metadata(const std::map<std::string, std::string>& metadata);

// Trains `model` on `train_data` with the recipe; `val` (early stopping / best
// weights) and `test` (reporting) may be null. `extra` supplies logging,
// callbacks, patience and history files; its loaders and scheduler are ignored.
// A DivergenceGuard (nn/divergence.h) watches every run: a diverging loss
// throws DivergenceError naming epoch and step, with the model back at its
// last healthy epoch's weights.
History train(Module& model, const datasets::DatasetPtr& train_data, const datasets::DatasetPtr& val,
              const datasets::DatasetPtr& test, const TrainConfig& c, FitOptions extra = {});

}  // namespace minidl::nn
