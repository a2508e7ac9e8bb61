// examples/common_flags.h — command-line flags shared by several examples.
//
//   nn::TrainConfig c;
//   examples::add_recipe_flags(app, c);   // --epochs --batch-size --lr ... bound to c
//
// One definition of the training-recipe flags (names, help texts, ranges), so
// every program that trains with nn::TrainConfig accepts the same options.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>

#include "nn/checkpoint.h"
#include "nn/train_config.h"

namespace minidl::examples {

// --epochs --batch-size --optimizer --lr --beta1 --beta2 --momentum --nesterov
// --weight-decay --schedule --step-size --warmup-epochs --normalize --augment, each writing the TrainConfig field of
// the same name, with its default shown in --help. (The seed and shuffling
// are left to each program.)
inline void add_recipe_flags(CLI::App& app, nn::TrainConfig& c) {
  app.add_option("--epochs", c.epochs, "training epochs")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--batch-size", c.batch_size, "training batch size")->capture_default_str()->check(CLI::Range(1, 1 << 20));
  app.add_option("--optimizer", c.optimizer, "sgd, adam or adamw (torch.optim's update rules)")->capture_default_str()->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  app.add_option("--lr", c.lr, "learning rate (initial, for schedules)")->capture_default_str()->check(CLI::Range(1e-8, 10.0));
  app.add_option("--beta1", c.beta1, "Adam/AdamW beta1")->capture_default_str()->check(CLI::Range(0.0, 0.9999));
  app.add_option("--beta2", c.beta2, "Adam/AdamW beta2")->capture_default_str()->check(CLI::Range(0.0, 0.99999));
  app.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str()->check(CLI::Range(0.0, 0.999));
  app.add_flag("--nesterov", c.nesterov, "Nesterov momentum");
  app.add_option("--weight-decay", c.weight_decay, "L2 weight decay")->capture_default_str()->check(CLI::Range(0.0, 0.5));
  app.add_option("--schedule", c.schedule, "learning-rate schedule (onecycle: peaks at --lr, per batch)")->capture_default_str()->check(CLI::IsMember({"none", "step", "cosine", "onecycle"}));
  app.add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up from lr/10 over these epochs (--schedule none)")->capture_default_str()->check(CLI::Range(0, 100000));
  app.add_option("--step-size", c.step_size, "epochs between x0.1 steps (--schedule step)")->capture_default_str()->check(CLI::Range(1, 100000));
  app.add_flag("--normalize", c.normalize, "standardise inputs with the training set's mean/std (default: pixel/255 only)");
  app.add_flag("--augment", c.augment, "random crop (padding 2) and horizontal flip");
}

// An output path must be writable before hours of training are spent: not a
// directory, in an existing directory where a temporary file can be created,
// written and removed (read-only and full file systems fail here, not after
// training). The file itself is written atomically later.
inline void check_output_path(const std::string& flag, const std::string& path) {
  if (!path.empty()) nn::check_writable(path, flag);
}

// Command-line mistakes print one line, "<program>: error: <what> (see --help)",
// and exit non-zero, like every other error of the examples.
inline void one_line_errors(CLI::App& app, const std::string& program) {
  app.failure_message([program](const CLI::App*, const CLI::Error& e) {
    return program + ": error: " + e.what() + " (see --help)\n";
  });
}

}  // namespace minidl::examples
