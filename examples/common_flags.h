// examples/common_flags.h — command-line flags shared by several examples.
//
//   nn::TrainConfig c;
//   examples::add_recipe_flags(app, c);   // --epochs --batch-size --lr ... bound to c
//   MINIDL_PARSE_FLAGS(app, argc, argv);  // exit codes: 0 ok, 1 run error, 2 flag error
//
// One definition of the training-recipe flags (names, help texts, ranges), so
// every program that trains with nn::TrainConfig accepts the same options.
#pragma once

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "nn/checkpoint.h"
#include "nn/train_config.h"

namespace minidl::examples {

// Exit codes of every example: 0 success (and --help), 1 the run failed (bad
// data, a checkpoint that does not fit, ...), 2 the command line is wrong (an
// unknown flag, a value out of range) — the convention of getopt/argparse tools.
inline constexpr int kRunError = 1, kFlagError = 2;

// Parses the command line (instead of CLI11_PARSE, whose exit codes vary with
// the kind of mistake): returns from main with 0 after --help, kFlagError
// after a flag error (one line on stderr, see one_line_errors).
#define MINIDL_PARSE_FLAGS(app, argc, argv)                                   \
  do {                                                                        \
    try {                                                                     \
      (app).parse((argc), (argv));                                            \
    } catch (const CLI::ParseError& e_) {                                     \
      return (app).exit(e_) == 0 ? 0 : ::minidl::examples::kFlagError;        \
    }                                                                         \
  } while (0)

// A numeric option whose --help text and out-of-range message state the same
// interval; `brackets` "[]", "(]", "[)" or "()" says which ends are included.
template <class T>
CLI::Option* ranged(CLI::App& app, const std::string& name, T& value, const std::string& help, double lo, double hi,
                    const char* brackets = "[]") {
  auto text = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  const std::string range = brackets[0] + text(lo) + ", " + text(hi) + brackets[1];
  const bool open_lo = brackets[0] == '(', open_hi = brackets[1] == ')';
  CLI::Option* o = app.add_option(name, value, help + ", in " + range)->capture_default_str();
  o->check(CLI::Validator(
      [=](std::string& s) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(s.c_str(), &end);
        const bool number = !s.empty() && end && *end == '\0' && std::isfinite(x);
        const bool ok = number && (open_lo ? x > lo : x >= lo) && (open_hi ? x < hi : x <= hi);
        return ok ? std::string() : "must be " + std::string(number ? "" : "a number ") + "in " + range + ", got " + s;
      },
      "", "range"));
  return o;
}

// --epochs --batch-size --optimizer --lr --beta1 --beta2 --momentum --nesterov
// --weight-decay --schedule --step-size --warmup-epochs --input-scale
// --normalize --augment, each writing the
// TrainConfig field of the same name, with its default and allowed range
// (those of TrainConfig::validate) in --help. (The seed and shuffling are
// left to each program.)
inline void add_recipe_flags(CLI::App& app, nn::TrainConfig& c) {
  ranged(app, "--epochs", c.epochs, "training epochs", 0, 100000);
  ranged(app, "--batch-size", c.batch_size, "training batch size", 1, 1 << 20);
  app.add_option("--optimizer", c.optimizer, "sgd, adam or adamw (torch.optim's update rules)")->capture_default_str()->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  ranged(app, "--lr", c.lr, "learning rate (initial, for schedules; onecycle's peak)", 0, 10, "(]");
  ranged(app, "--beta1", c.beta1, "Adam/AdamW beta1", 0, 1, "[)");
  ranged(app, "--beta2", c.beta2, "Adam/AdamW beta2", 0, 1, "[)");
  ranged(app, "--momentum", c.momentum, "SGD momentum", 0, 1, "[)");
  app.add_flag("--nesterov", c.nesterov, "Nesterov momentum");
  ranged(app, "--weight-decay", c.weight_decay, "L2 weight decay", 0, 1, "[)");
  app.add_option("--schedule", c.schedule, "learning-rate schedule (onecycle: peaks at --lr, per batch)")->capture_default_str()->check(CLI::IsMember({"none", "step", "cosine", "onecycle"}));
  ranged(app, "--step-size", c.step_size, "epochs between x0.1 steps (--schedule step)", 1, 100000);
  ranged(app, "--warmup-epochs", c.warmup_epochs, "linear warm-up from lr/10 over these epochs (--schedule none)", 0, 100000);
  ranged(app, "--input-scale", c.input_scale, "multiply inputs by this (0: as the data set says: pixels /255, CSV x1)", 0, 1e6);
  app.add_flag("--normalize", c.normalize, "standardise inputs with the training set's mean/std after scaling");
  app.add_flag("--augment", c.augment, "random crop (padding 2) and horizontal flip (images)");
}

// "h.csv" -> "h", "k.json" -> "k": a prefix flag given a full file name
// means that file, not h.csv.csv.
inline std::string output_prefix(const std::string& path, std::initializer_list<const char*> extensions) {
  for (const char* e : extensions) {
    const std::string ext = e;
    if (path.size() > ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0)
      return path.substr(0, path.size() - ext.size());
  }
  return path;
}

// An output path must be writable before hours of training are spent: not a
// directory, in an existing directory where a temporary file can be created,
// written and removed (read-only and full file systems fail here, not after
// training). The file itself is written atomically later.
inline void check_output_path(const std::string& flag, const std::string& path) {
  if (!path.empty()) nn::check_writable(path, flag);
}

// Command-line mistakes print one line, "<program>: error: <what> (see --help)",
// and exit with kFlagError (see MINIDL_PARSE_FLAGS).
inline void one_line_errors(CLI::App& app, const std::string& program) {
  app.failure_message([program](const CLI::App*, const CLI::Error& e) {
    return program + ": error: " + e.what() + " (see --help)\n";
  });
}

}  // namespace minidl::examples
