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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Cross-validated compression study of the seed CNN on the Fashion-MNIST training set."};
  app.footer(std::string(kExample) + validate::recipe_grammar() +
             "\nWithout --recipe: " + "prune:0.5 prune:0.8 prune:0.9 prune:0.95 structured:0.5 int8 prune:0.9+int8 "
             "distill:0.25 (those this build can run).");
  std::string data_dir = datasets::kFashionMnistDir;
  validate::StudyOptions o;
  o.train.epochs = 10;
  // Two fine-tuning epochs (cosine from 0.01 to 0): the default study's five folds,
  // 10 dense epochs and eight recipes then fit an hour on two cores (README).
  o.finetune.epochs = 2;
  o.finetune.set_lr(0.01f);
  o.finetune.schedule = nn::Schedule::Cosine;
  std::vector<std::string> recipes;
  int folds = 5, repeats = 1, threads = 0;
  bool bn = true;
  int64_t train_limit = 0;
  app.add_option("--data", data_dir, "MNIST-format data directory")->check(CLI::ExistingDirectory);
  app.add_option("--recipe", recipes, "compression recipe (repeatable; grammar below)");
  app.add_option("--folds", folds, "stratified folds K, at least 2")->capture_default_str()->check(CLI::Range(2, 1000));
  app.add_option("--repeats", repeats, "repeat the K folds with different shuffles")->capture_default_str()->check(CLI::Range(1, 100));
  examples::add_recipe_flags(app, o.train);
  app.add_flag("--bn,!--no-bn", bn, "BatchNorm after each convolution (default on)");
  app.add_option("--finetune-epochs", o.finetune.epochs, "fine-tuning epochs after pruning")->capture_default_str()->check(CLI::Range(0, 1000));
  examples::ranged<float>(app, "--finetune-lr", [&o](const float& v) { o.finetune.set_lr(v); }, "0.01",
                          "fine-tuning learning rate (cosine to 0)", 0, 10, "(]");
  app.add_option("--jobs", o.jobs, "folds run in parallel (threads are split between them)")->capture_default_str()->check(CLI::Range(1, 1024));
  app.add_option("--threads", threads, "total threads (default: all cores)")->check(CLI::Range(1, 1024));
  app.add_option("--seed", o.seed, "seed of the folds and of every fold's training")->capture_default_str();
  app.add_option("--train-limit", train_limit, "use only the first N training images")->check(CLI::Range(1, 1 << 30));
  app.add_option("--latency-rounds", o.latency_rounds, "side-by-side timing rounds (0: no timing)")->capture_default_str()->check(CLI::Range(0, 1000));
  app.add_option("--out", o.out_dir, "study directory: results, pictures and resume state")->required();
  examples::one_line_errors(app, "study");
  CLI11_PARSE(app, argc, argv);

  std::unique_ptr<Communicator> world;
  try {
    world = examples::make_world();
    const bool root = world->rank() == 0;
    if (recipes.empty())
      for (const std::string& r : kDefaultRecipes) {
        std::string why;
        if (validate::recipe_runnable(validate::parse_recipe(r), &why)) recipes.push_back(r);
        else if (root) std::cout << "default recipe " << r << " left out: " << why << "\n";
      }
    o.recipes = validate::parse_recipes(recipes);
    o.model.batchnorm = bn;
    o.finetune.batch_size = o.train.batch_size;
    o.finetune.normalize = o.train.normalize;
    o.finetune.augment = o.train.augment;
    o.log = &std::cout;  // every rank prints a line per unit it finishes
    o.process_group = world.get();
    if (threads) set_num_threads(threads);
    auto data = std::make_shared<datasets::TensorDataset>(
        datasets::load_mnist(data_dir, true, train_limit ? std::optional<int64_t>(train_limit) : std::nullopt));
    std::unique_ptr<validate::Splitter> splitter;
    if (repeats > 1) splitter = std::make_unique<validate::RepeatedStratifiedKFold>(folds, repeats, o.seed);
    else splitter = std::make_unique<validate::StratifiedKFold>(folds, true, o.seed);
    validate::check_study(*data, *splitter, o);  // every mistake surfaces here, before any training

    const validate::StudyResult r = validate::run_study(data, *splitter, o);
    if (!root) return 0;
    validate::write_study(r, o.out_dir);
    std::cout << "\n" << validate::study_table(r) << "\n" << validate::verdicts(r) << "\n"
              << r.trained << " units trained now, " << r.resumed << " loaded from " << o.out_dir << "; "
              << r.seconds << " s\nwrote " << o.out_dir << "/results.json, results.csv, pareto.svg, curves.svg"
              << std::endl;
  } catch (const std::exception& e) {
    return examples::fail(world.get(), "study", e, 1);
  }
  return 0;
}
