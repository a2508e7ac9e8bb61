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
#include <functional>
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

// "[0, 1)" for brackets "[)": the interval ranged() states and checks.
inline std::string interval_text(double lo, double hi, const char* brackets) {
  std::ostringstream os;
  os << brackets[0] << lo << ", " << hi << brackets[1];
  return os.str();
}

// The check of ranged(): a finite number in the interval, or a message naming it.
inline CLI::Validator in_interval(double lo, double hi, const char* brackets) {
  const std::string range = interval_text(lo, hi, brackets);
  const bool open_lo = brackets[0] == '(', open_hi = brackets[1] == ')';
  return CLI::Validator(
      [=](std::string& s) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(s.c_str(), &end);
        const bool number = !s.empty() && end && *end == '\0' && std::isfinite(x);
        const bool ok = number && (open_lo ? x > lo : x >= lo) && (open_hi ? x < hi : x <= hi);
        return ok ? std::string() : "must be " + std::string(number ? "" : "a number ") + "in " + range + ", got " + s;
      },
      "", "range");
}

// A numeric option whose --help text and out-of-range message state the same
// interval; `brackets` "[]", "(]", "[)" or "()" says which ends are included.
template <class T>
CLI::Option* ranged(CLI::App& app, const std::string& name, T& value, const std::string& help, double lo, double hi,
                    const char* brackets = "[]") {
  CLI::Option* o = app.add_option(name, value, help + ", in " + interval_text(lo, hi, brackets))->capture_default_str();
  return o->check(in_interval(lo, hi, brackets));
}

// The same for a value that sets several fields (`set` is called with it).
template <class T>
CLI::Option* ranged(CLI::App& app, const std::string& name, std::function<void(const T&)> set,
                    const std::string& default_text, const std::string& help, double lo, double hi,
                    const char* brackets = "[]") {
  CLI::Option* o = app.add_option_function<T>(name, std::move(set), help + ", in " + interval_text(lo, hi, brackets));
  return o->default_str(default_text)->check(in_interval(lo, hi, brackets));
}

// --epochs --batch-size --optimizer --lr --beta1 --beta2 --momentum --nesterov
// --weight-decay --schedule --step-size --warmup-epochs --input-scale
// --normalize --augment, each writing the TrainConfig field of the same name
// (--lr and --weight-decay: every optimizer's, --beta1/--beta2: Adam's and
// AdamW's, --momentum/--nesterov: c.sgd's), with its default and allowed range
// (those of TrainConfig::validate) in --help. (The seed and shuffling are
// left to each program.)
inline void add_recipe_flags(CLI::App& app, nn::TrainConfig& c) {
  ranged(app, "--epochs", c.epochs, "training epochs", 0, 100000);
  ranged(app, "--batch-size", c.batch_size, "training batch size", 1, 1 << 20);
  app.add_option_function<std::string>(
         "--optimizer", [&c](const std::string& v) { c.optimizer = nn::parse_optimizer(v); },
         "sgd, adam or adamw (torch.optim's update rules)")
      ->default_str(nn::optimizer_name(c.optimizer))
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  auto text = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  ranged<float>(app, "--lr", [&c](const float& v) { c.set_lr(v); },
                text(c.sgd.lr) + " (sgd), " + text(c.adam.lr) + " (adam, adamw)",
                "learning rate (initial, for schedules; onecycle's peak)", 0, 10, "(]");
  ranged<double>(app, "--beta1", [&c](const double& v) { c.adam.beta1 = c.adamw.beta1 = v; }, text(c.adam.beta1),
                 "Adam/AdamW beta1", 0, 1, "[)");
  ranged<double>(app, "--beta2", [&c](const double& v) { c.adam.beta2 = c.adamw.beta2 = v; }, text(c.adam.beta2),
                 "Adam/AdamW beta2", 0, 1, "[)");
  ranged(app, "--momentum", c.sgd.momentum, "SGD momentum", 0, 1, "[)");
  app.add_flag("--nesterov", c.sgd.nesterov, "Nesterov momentum (SGD)");
  ranged<float>(app, "--weight-decay", [&c](const float& v) { c.set_weight_decay(v); },
                text(c.sgd.weight_decay) + " (sgd, adam), " + text(c.adamw.weight_decay) + " (adamw)",
                "weight decay (SGD, Adam: L2 in the gradient; AdamW: decoupled)", 0, 1, "[)");
  app.add_option_function<std::string>(
         "--schedule", [&c](const std::string& v) { c.schedule = nn::parse_schedule(v); },
         "learning-rate schedule (onecycle: peaks at --lr, per batch)")
      ->default_str(nn::schedule_name(c.schedule))
      ->check(CLI::IsMember({"none", "step", "cosine", "onecycle"}));
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
