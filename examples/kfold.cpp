// kfold — K-fold cross-validation of the seed CNN on the Fashion-MNIST training set.
//
//   build/examples/kfold --folds 5 --epochs 1 --train-limit 5000 --out cv
//   build/examples/kfold --folds 5 --repeats 3 --stratified --jobs 2 --epochs 3 --out cv
//
// Every fold trains a fresh seed CNN (weights, shuffling and augmentation
// seeded per fold) on the fold's training part and evaluates it on the held-out
// part; normalisation statistics (--normalize) come from the training part
// only. Prints a line per fold as it finishes, then a per-fold table and
// "accuracy: mean ± std (95% CI [lo, hi], n=K)". With --out PREFIX the full
// results (per-fold confusion matrices, per-class P/R/F1, summaries) go to
// PREFIX.json and one row per fold to PREFIX.csv.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common_flags.h"
#include "minidl.h"
#include "validate/cross_validate.h"

using namespace minidl;

int main(int argc, char** argv) {
  CLI::App app{"K-fold cross-validation of the seed CNN on the Fashion-MNIST training set."};
  std::string data_dir = datasets::kFashionMnistDir, out;
  nn::TrainConfig c;
  validate::CVOptions o;
  int folds = 5, repeats = 1, threads = 0;
  bool stratified = false, bn = false;
  int64_t train_limit = 0;
  app.add_option("--data", data_dir, "directory with train-{images-idx3,labels-idx1}-ubyte[.gz]")->check(CLI::ExistingDirectory);
  app.add_option("--folds", folds, "number of folds K (default 5)")->check(CLI::Range(2, 1000));
  app.add_option("--repeats", repeats, "repeat K-fold this many times with different shuffles (default 1)")->check(CLI::Range(1, 1000));
  app.add_flag("--stratified", stratified, "keep the class proportions in every fold (StratifiedKFold)");
  app.add_option("--jobs", o.jobs, "folds trained in parallel; threads are split between them (default 1)")->check(CLI::Range(1, 1024));
  examples::add_recipe_flags(app, c);
  app.add_flag("--bn", bn, "BatchNorm after each convolution");
  app.add_option("--val-fraction", o.val_fraction, "carve this fraction out of each fold's training part for validation (best weights)")->check(CLI::Range(0.0, 0.9));
  app.add_option("--patience", o.patience, "early stopping after this many epochs without validation improvement (needs --val-fraction)")->check(CLI::Range(0, 100000));
  app.add_option("--seed", o.seed, "seed of the fold shuffling and of every fold's initialisation, shuffling and augmentation");
  app.add_option("--threads", threads, "total threads (default: all cores), split between --jobs")->check(CLI::Range(1, 1024));
  app.add_option("--train-limit", train_limit, "use only the first N training images")->check(CLI::Range(1, 1 << 30));
  app.add_option("--out", out, "write the results to PREFIX.json and PREFIX.csv");
  examples::one_line_errors(app, "kfold");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!out.empty()) {
      examples::check_output_path("--out", out + ".json");
      examples::check_output_path("--out", out + ".csv");
    }
    o.train = c;
    if (threads) set_num_threads(threads);
    auto data = std::make_shared<datasets::TensorDataset>(
        datasets::load_mnist(data_dir, true, train_limit ? std::optional<int64_t>(train_limit) : std::nullopt));
    std::unique_ptr<validate::Splitter> splitter;
    if (repeats > 1 && stratified) splitter = std::make_unique<validate::RepeatedStratifiedKFold>(folds, repeats, o.seed);
    else if (repeats > 1) splitter = std::make_unique<validate::RepeatedKFold>(folds, repeats, o.seed);
    else if (stratified) splitter = std::make_unique<validate::StratifiedKFold>(folds, true, o.seed);
    else splitter = std::make_unique<validate::KFold>(folds, true, o.seed);

    // A fresh seed CNN per fold, its weights drawn from the fold's seed.
    auto factory = [bn](uint64_t seed) -> nn::ModulePtr {
      Generator gen(seed);
      auto net = nn::seed_cnn({.batchnorm = bn}, gen);
      nn::fuse(*net);  // layer + ReLU as one module: the same values, faster
      return net;
    };
    std::cout << "data: " << data_dir << " (" << data->size() << " training images)\n"
              << "model: seed CNN" << (bn ? " with BatchNorm" : "") << std::endl;
    o.log = &std::cout;
    validate::CVResult r = validate::cross_validate(factory, data, *splitter, o);

    std::cout << "\n" << validate::fold_table(r) << "\n" << validate::summary_text(r)
              << "total time: " << r.seconds << " s" << std::endl;
    if (!out.empty()) {
      validate::write_results(r, out);
      std::cout << "wrote " << out << ".json and " << out << ".csv" << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "kfold: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
