// kfold — K-fold cross-validation of the seed CNN (or any model spec) on any data set.
//
//   build/examples/kfold --folds 5 --epochs 1 --train-limit 5000 --out cv
//   build/examples/kfold --folds 5 --repeats 3 --stratified --jobs 2 --epochs 3 --out cv
//   build/examples/kfold --data table.csv --model "linear:32,relu,linear:3" --folds 10 --stratified
//
// Every fold trains a fresh model (weights, shuffling and augmentation
// seeded per fold) on the fold's training part and evaluates it on the held-out
// part; normalisation statistics (--normalize) come from the training part
// only. The folds split the training split of the data (an MNIST/CIFAR-10
// folder's train files, an image folder's train/) or, for sources without
// one, all of it (a CSV file, an image folder of class folders). Prints each epoch of each fold (with
// --jobs 1), a line per fold as it finishes, then a per-fold table and
// "accuracy: mean ± std (95% CI [lo, hi], n=K)". With --out PREFIX the full
// results (per-fold confusion matrices, per-class P/R/F1, summaries) go to
// PREFIX.json, one row per fold to PREFIX.csv and the fold accuracies with
// their mean and 95% CI to PREFIX.svg.
//
//   mpirun -np 2 build/examples/kfold --folds 5 --threads 1 --out cv
//
// deals fold i to rank i mod 2 (validate/deal.h); rank 0 prints the table and
// writes the same files, bit-identical to one process running each fold on
// the same number of threads.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common_data.h"
#include "common_flags.h"
#include "common_world.h"
#include "minidl.h"
#include "validate/cross_validate.h"

using namespace minidl;

namespace {

struct Args {
  examples::DataFlags data;
  examples::ModelFlags model;
  validate::CVOptions cv;
  std::string out;
  int folds = 5, repeats = 1, threads = 0;
  bool stratified = false, quiet = false;
};

std::unique_ptr<validate::Splitter> make_splitter(const Args& a) {
  const uint64_t s = a.cv.seed;
  if (a.repeats > 1 && a.stratified) return std::make_unique<validate::RepeatedStratifiedKFold>(a.folds, a.repeats, s);
  if (a.repeats > 1) return std::make_unique<validate::RepeatedKFold>(a.folds, a.repeats, s);
  if (a.stratified) return std::make_unique<validate::StratifiedKFold>(a.folds, true, s);
  return std::make_unique<validate::KFold>(a.folds, true, s);
}

// Fold accuracies as points, their mean with the 95% CI as an error bar.
std::string folds_svg(const validate::CVResult& r) {
  plot::Axes ax{.title = "cross-validation: " + r.splitter, .x_label = "fold", .y_label = "test accuracy"};
  plot::Series pts{.label = "folds", .markers = true};
  for (const auto& f : r.folds) pts.x.push_back(f.index + 1), pts.y.push_back(f.accuracy);
  ax.series.push_back(pts);
  const double mid = (1.0 + double(r.folds.size())) / 2;
  ax.series.push_back({.label = "mean ± 95% CI", .x = {mid}, .y = {r.accuracy.mean},
                       .err = {std::isnan(r.accuracy.ci95) ? 0.0 : r.accuracy.ci95}});
  ax.series[0].color = "#7f7f7f";
  return plot::line_plots({ax});
}

int run(Args& a, Communicator& world) {
  const bool root = world.rank() == 0;
  const std::string prefix = examples::output_prefix(a.out, {".json", ".csv", ".svg"});
  if (!prefix.empty())
    for (const char* ext : {".json", ".csv", ".svg"}) examples::check_output_path("--out", prefix + ext);
  if (a.threads) set_num_threads(a.threads);
  a.data.whole_set = true;
  const examples::Data d = examples::load_data(a.data);
  const std::string spec = examples::model_spec(a.model, *d.train);
  // A fresh model per fold, its weights drawn from the fold's seed.
  auto factory = [&](uint64_t seed) -> nn::ModulePtr {
    Generator gen(seed);
    return examples::make_model(spec, *d.train, gen);
  };
  if (root) std::cout << "data: " << d.description << "\nmodel: " << spec << " (" << nn::parameter_count(*factory(0))
            << " parameters)" << std::endl;
  a.cv.log = &std::cout;  // every rank prints a line per fold it finishes
  if (!a.quiet && root) a.cv.train_log = &std::cout;  // epoch lines inside each fold (together per fold with --jobs > 1)
  a.cv.process_group = &world;
  validate::CVResult r = validate::cross_validate(factory, d.train, *make_splitter(a), a.cv);
  if (!root) return 0;
  std::cout << "\n" << validate::fold_table(r) << "\n" << validate::summary_text(r) << "total time: " << r.seconds
            << " s" << std::endl;
  if (!prefix.empty()) {
    validate::write_results(r, prefix);
    plot::write_svg(prefix + ".svg", folds_svg(r));
    std::cout << "wrote " << prefix << ".json, " << prefix << ".csv and " << prefix << ".svg" << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"K-fold cross-validation of a model (by default the seed CNN) on any data set minidl reads."};
  Args a;
  examples::add_data_flags(app, a.data);
  examples::add_model_flags(app, a.model);
  examples::ranged(app, "--folds", a.folds, "number of folds K", 2, 1000);
  examples::ranged(app, "--repeats", a.repeats, "repeat K-fold this many times with different shuffles", 1, 1000);
  app.add_flag("--stratified", a.stratified, "keep the class proportions in every fold (StratifiedKFold)");
  examples::ranged(app, "--jobs", a.cv.jobs, "folds trained in parallel; threads are split between them", 1, 1024);
  examples::add_recipe_flags(app, a.cv.train);
  examples::ranged(app, "--val-fraction", a.cv.val_fraction, "carve this share out of each fold's training part for validation (best weights)", 0, 0.9);
  examples::ranged(app, "--patience", a.cv.patience, "early stopping after this many epochs without validation improvement (needs --val-fraction)", 0, 100000);
  app.add_option("--seed", a.cv.seed, "seed of the fold shuffling and of every fold's initialisation, shuffling and augmentation");
  examples::ranged(app, "--threads", a.threads, "total threads (0: all cores), split between --jobs", 0, 1024);
  app.add_flag("--corrected-ci", a.cv.corrected_ci,
               "95% intervals by Nadeau & Bengio's corrected resampled t (the folds' training sets overlap, so the plain t is too narrow)");
  app.add_flag("--quiet", a.quiet, "no per-epoch lines, only one line per fold");
  app.add_option("--out", a.out, "write the results to PREFIX.json, PREFIX.csv and PREFIX.svg");
  examples::one_line_errors(app, "kfold");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  std::unique_ptr<Communicator> world;
  try {
    world = examples::make_world();
    return run(a, *world);
  } catch (const std::exception& e) {
    return examples::fail(world.get(), "kfold", e, examples::kRunError);
  }
}
