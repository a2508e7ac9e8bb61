// study — the cross-validated compression study: every recipe runs inside every
// fold of a stratified K-fold cross-validation and is judged by its paired
// accuracy change with a corrected confidence interval, the bytes its file
// really takes and its measured speed. See validate/study.h for the method.
//
//   build/examples/study --folds 5 --epochs 10 --recipe prune:0.9 --recipe structured:0.5 --out study
//
// Killed midway (Ctrl-C, kill -9)? Run the same command again: finished
// (fold, recipe) results in DIR are kept and only the rest is trained.
//
//   mpirun -np 2 build/examples/study --threads 1 ... --out study
//
// deals fold i (its dense model and recipes) to rank i mod 2 (validate/deal.h);
// rank 0 writes the same results, bit-identical to one process running each
// fold on the same number of threads (timings aside).
#include <CLI/CLI.hpp>
#include <iostream>

#include "common_flags.h"
#include "common_world.h"
#include "minidl.h"
#include "validate/study.h"

using namespace minidl;

namespace {

const char* kExample = R"(
Worked example (a quick one; drop --train-limit and use --epochs 10 for the real thing):

  build/examples/study --folds 3 --epochs 2 --finetune-epochs 1 --train-limit 6000 \
      --recipe prune:0.9 --recipe prune:0.95 --recipe structured:0.5 --jobs 2 --out study

prints a line per finished (fold, recipe), then a table (accuracy, paired diff to the
fold's dense model with its corrected and naive 95% CI, stored bytes, compression,
nonzeros, MACs, latency) and one verdict per recipe, e.g.
  prune:0.9 costs 0.21 pt [-0.05, 0.47] at 9.1x smaller, 1.00x / 1.02x the dense speed (batch 1 / 256)
and writes study/results.json, study/results.csv, study/pareto.svg, study/curves.svg
(open the .svg files in a browser). Run it again with the same arguments: nothing is
retrained; add a --recipe and only that one runs.

Recipes (--recipe, repeatable):
)";

// The issue's default study; kinds this build cannot run are left out (and said so).
const std::vector<std::string> kDefaultRecipes = {"prune:0.5", "prune:0.8", "prune:0.9", "prune:0.95",
                                                  "structured:0.5", "int8", "prune:0.9+int8", "distill:0.25"};

// The command line's values; the defaults are the issue's default study.
struct Args {
  std::string data_dir = datasets::kFashionMnistDir;
  validate::StudyOptions o;
  std::vector<std::string> recipes;
  int folds = 5, repeats = 1, threads = 0;
  bool bn = true;
  int64_t train_limit = 0;

  Args() {
    o.train.epochs = 10;
    // Two fine-tuning epochs (cosine from 0.01 to 0): the default study's five folds,
    // 10 dense epochs and eight recipes then fit an hour on two cores (README).
    o.finetune.epochs = 2;
    o.finetune.set_lr(0.01f);
    o.finetune.schedule = nn::Schedule::Cosine;
  }
};

// The flags, bound to `a` (whose values are the defaults --help shows).
void add_flags(CLI::App& app, Args& a) {
  validate::StudyOptions& o = a.o;
  app.add_option("--data", a.data_dir, "MNIST-format data directory")->check(CLI::ExistingDirectory);
  app.add_option("--recipe", a.recipes, "compression recipe (repeatable; grammar below)");
  app.add_option("--folds", a.folds, "stratified folds K, at least 2")->capture_default_str()->check(CLI::Range(2, 1000));
  app.add_option("--repeats", a.repeats, "repeat the K folds with different shuffles")->capture_default_str()->check(CLI::Range(1, 100));
  examples::add_recipe_flags(app, o.train);
  app.add_flag("--bn,!--no-bn", a.bn, "BatchNorm after each convolution (default on)");
  app.add_option("--finetune-epochs", o.finetune.epochs, "fine-tuning epochs after pruning")->capture_default_str()->check(CLI::Range(0, 1000));
  examples::ranged<float>(app, "--finetune-lr", [&o](const float& v) { o.finetune.set_lr(v); }, "0.01",
                          "fine-tuning learning rate (cosine to 0)", 0, 10, "(]");
  app.add_option("--jobs", o.jobs, "folds run in parallel (threads are split between them)")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--threads", a.threads, "total threads (default: all cores)")->check(CLI::Range(1, 1024));
  app.add_option("--seed", o.seed, "seed of the folds and of every fold's training")->capture_default_str();
  app.add_option("--train-limit", a.train_limit, "use only the first N training images")->check(CLI::Range(1, 1 << 30));
  app.add_option("--latency-rounds", o.latency_rounds, "side-by-side timing rounds (0: no timing)")->capture_default_str()->check(CLI::Range(0, 1000));
  app.add_option("--out", o.out_dir, "study directory: results, pictures and resume state")->required();
}

// The study's options from the parsed flags: the recipes (without --recipe,
// the default ones this build can run; rank 0 names those left out), and the
// fine-tuning's batch and input settings those of the dense training.
void finish_options(Args& a, Communicator& world) {
  const bool root = world.rank() == 0;
  validate::StudyOptions& o = a.o;
  if (a.recipes.empty())
    for (const std::string& r : kDefaultRecipes) {
      std::string why;
      if (validate::recipe_runnable(validate::parse_recipe(r), &why)) a.recipes.push_back(r);
      else if (root) std::cout << "default recipe " << r << " left out: " << why << "\n";
    }
  o.recipes = validate::parse_recipes(a.recipes);
  o.model.batchnorm = a.bn;
  o.finetune.batch_size = o.train.batch_size;
  o.finetune.normalize = o.train.normalize;
  o.finetune.augment = o.train.augment;
  o.log = &std::cout;  // every rank prints a line per unit it finishes
  o.process_group = &world;
}

// Stratified K-fold, repeated with other shuffles when --repeats > 1.
std::unique_ptr<validate::Splitter> make_splitter(const Args& a) {
  if (a.repeats > 1) return std::make_unique<validate::RepeatedStratifiedKFold>(a.folds, a.repeats, a.o.seed);
  return std::make_unique<validate::StratifiedKFold>(a.folds, true, a.o.seed);
}

// Rank 0's end of the study: the result files, the table, the verdicts and what ran.
void write_and_print(const validate::StudyResult& r, const std::string& out_dir) {
  validate::write_study(r, out_dir);
  std::cout << "\n" << validate::study_table(r) << "\n" << validate::verdicts(r) << "\n"
            << r.trained << " units trained now, " << r.resumed << " loaded from " << out_dir << "; "
            << r.seconds << " s\nwrote " << out_dir << "/results.json, results.csv, pareto.svg, curves.svg"
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cross-validated compression study of the seed CNN on the Fashion-MNIST training set."};
  app.footer(std::string(kExample) + validate::recipe_grammar() +
             "\nWithout --recipe: " + "prune:0.5 prune:0.8 prune:0.9 prune:0.95 structured:0.5 int8 prune:0.9+int8 "
             "distill:0.25 (those this build can run).");
  Args a;
  add_flags(app, a);
  examples::one_line_errors(app, "study");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  std::unique_ptr<Communicator> world;
  try {
    world = examples::make_world();
    finish_options(a, *world);
    if (a.threads) set_num_threads(a.threads);
    auto data = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(
        a.data_dir, true, a.train_limit ? std::optional<int64_t>(a.train_limit) : std::nullopt));
    const std::unique_ptr<validate::Splitter> splitter = make_splitter(a);
    validate::check_study(*data, *splitter, a.o);  // every mistake surfaces here, before any training

    const validate::StudyResult r = validate::run_study(data, *splitter, a.o);
    if (world->rank() != 0) return 0;
    write_and_print(r, a.o.out_dir);
  } catch (const std::exception& e) {
    return examples::fail(world.get(), "study", e, examples::kRunError);
  }
  return 0;
}
