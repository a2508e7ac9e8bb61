// minidl/validate/cross_validate.h — train and evaluate a model on every fold of a splitter.
//
//   validate::CVOptions o;
//   o.train.epochs = 2;
//   o.seed = 1;
//   o.log = &std::cout;
//   auto factory = [](uint64_t seed) {
//     Generator gen(seed);
//     return nn::ModulePtr(nn::seed_cnn({}, gen));
//   };
//   validate::CVResult r = validate::cross_validate(factory, data, validate::StratifiedKFold(5, true, 1), o);
//   std::cout << validate::fold_table(r) << "accuracy: " << r.accuracy.to_string() << "\n";
//   validate::write_results(r, "cv");   // cv.json, cv.csv
//
// Or cross-validate a whole pipeline: a FoldProcedure gets each fold's parts
// and returns the model to test (trained, or trained then compressed) with
// anything it measured on the way:
//
//   auto pipeline = [](const validate::FoldData& f) {
//     Generator gen(f.seed);
//     nn::ModulePtr model = nn::seed_cnn({}, gen);
//     validate::FoldOutcome out{model, nn::train(*model, f.fit, f.val, nullptr, f.recipe, f.fit_options), {}};
//     out.measurements["dense_test_accuracy"] = ...;   // measured with f.eval_transforms
//     compress::global_unstructured(compress::prunable_weights(*model), compress::Amount::fraction(0.9));
//     ...fine-tune...
//     out.measurements["sparsity"] = compress::sparsity(compress::prunable_weights(*model));
//     return out;
//   };
//   validate::CVResult r = validate::cross_validate(pipeline, data, validate::StratifiedKFold(5, true, 1), o);
//   r.measurements.at("sparsity").to_string();        // summarised over folds like accuracy
//
// For each Fold of `splitter.split(data->labels())`, in order:
//   1. seed = fold_seed(o.seed, repeat, fold).
//   2. Training part = Subset(data, fold.train), test part = Subset(data, fold.test).
//      With val_fraction > 0 a stratified Holdout(val_fraction, seed) of the
//      training part's labels is carved out as the validation set (early
//      stopping / best weights); the rest is the "fit" part. The test part is
//      never touched until the final evaluation.
//   3. The fold procedure runs with a FoldData: the fit, validation and test
//      parts, the seed, the recipe with recipe.seed = seed (shuffling and
//      augmentation differ per fold), the transforms built from the fit part
//      only (nn::make_transforms(recipe, fit, ...): every statistic computed
//      from data — the Normalize mean/std when recipe.normalize is set — comes
//      from it) and the FitOptions cross_validate would train with (log,
//      progress bar, patience). The default procedure, dense_training(factory):
//      model = factory(seed), a fresh, untrained model, then
//      nn::train(model, fit, val, nullptr, recipe, fit_options). The factory
//      (or any procedure) must build the model from the seed (e.g. Generator
//      gen(seed); nn::seed_cnn(opts, gen)), not from the default generator,
//      or folds running on different threads start from different weights
//      than sequential folds would; and it must not share mutable state
//      between folds, which may run at the same time.
//   4. The returned model is evaluated on the test part with
//      FoldData::eval_transforms (FoldResult::preprocessing records their
//      names, e.g. "ScalePixels(...) -> Normalize(mean=[..], std=[..])"):
//      accuracy, macro-F1, loss, confusion matrix. The History gives
//      epochs_run, best_epoch, ...; the measurements are copied to the
//      FoldResult and summarised over folds (CVResult::measurements) when
//      every fold reports them.
// The calling thread's default generator (core/random.h) is reseeded from the
// fold seed before steps 3–4 (for layers such as Dropout that draw from it)
// and restored afterwards.
//
// Parallel folds. With jobs > 1, `jobs` std::threads take folds from a shared
// queue. Each calls minidl::set_num_threads(threads) first, where threads =
// o.threads if set, else max(1, get_num_threads() / jobs) — so the total stays
// at the thread budget of the caller (by default the core count). Any
// process-wide part of that setting (OpenBLAS's count, in builds that let
// OpenBLAS thread) gets the same per-job value; the caller's setting is
// restored at the end. Results are identical to a sequential run
// with the same per-fold thread count: every fold depends only on its own
// seed and data (results are stored by fold position, not completion order).
// An exception in any fold stops the remaining folds from starting and is
// rethrown (prefixed with the fold) once running folds finish.
//
// Distributed folds. With process_group of N > 1 ranks (mpirun), fold i runs
// on rank i mod N (validate/deal.h says why static), each rank on its own
// jobs x threads; at the end the results are gathered and every rank returns
// the same CVResult, bit-identical to a single process's with the same seed
// and threads per fold (only the timings, jobs and world_size differ). A
// fold that fails stops that rank's remaining folds; the other ranks finish
// theirs, and then every rank throws the same CollectiveError naming each
// failed fold, its rank and why.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "datasets/dataset.h"
#include "nn/module.h"
#include "nn/train_config.h"
#include "validate/metrics.h"
#include "validate/split.h"

namespace minidl::validate {

// Builds a fresh model from a seed (see step 3 above).
using ModelFactory = std::function<nn::ModulePtr(uint64_t seed)>;

// What a fold procedure gets (step 3 above).
struct FoldData {
  int index = 0, repeat = 0, fold = 0;  // as in FoldResult
  uint64_t seed = 0;
  datasets::DatasetPtr fit, val, test;  // val is null without a validation carve-out
  nn::TrainConfig recipe;               // CVOptions::train with seed = this fold's seed
  std::vector<datasets::TransformPtr> train_transforms, eval_transforms;  // from the fit part
  nn::FitOptions fit_options;           // log, progress bar, patience (no loaders, no scheduler)
};
// What it returns.
struct FoldOutcome {
  nn::ModulePtr model;                          // to be tested (step 4)
  nn::History history;                          // of its (last) training
  std::map<std::string, double> measurements;  // anything else, by name ("sparsity", ...)
};
using FoldProcedure = std::function<FoldOutcome(const FoldData&)>;
// Today's dense training (step 3 above).
FoldProcedure dense_training(ModelFactory factory);

struct CVOptions {
  nn::TrainConfig train;     // the recipe; its seed is replaced by each fold's seed
  double val_fraction = 0;   // in [0, 1): validation carve-out from each fold's training part
  int patience = 0;          // early-stopping patience in epochs (0: off); needs val_fraction > 0
  int jobs = 1;              // folds trained at the same time (clamped to the number of folds)
  int threads = 0;           // threads per fold; 0: the caller's get_num_threads() / jobs (at least 1)
  uint64_t seed = 0;         // fold seeds derive from it (the splitter has its own seed)
  std::ostream* log = nullptr;        // one line per fold as it finishes; nullptr: silent
  std::ostream* train_log = nullptr;  // per-epoch lines of every fold (with jobs > 1: a fold's
                                      // lines appear together when it finishes)
  bool return_train_score = false;    // also score the fit part (FoldResult::train_*), as sklearn's flag
  // The summaries' 95% intervals: false, the plain Student t over the fold
  // results; true, Nadeau & Bengio's corrected resampled t (validate/metrics.h:
  // variance × (1/J + n_test/n_train), n_test/n_train the folds' mean), wider
  // because the folds' training sets overlap — the one to judge by.
  bool corrected_ci = false;
  // The ranks of a distributed run (core/communicator.h): fold i runs on rank
  // i mod world_size (validate/deal.h) and every rank returns the complete
  // result. Null or a world of one: this process runs every fold. Not owned.
  Communicator* process_group = nullptr;
};

struct FoldResult {
  int index = 0;   // position in splitter.split(...), 0-based
  int repeat = 0;  // 0-based; index = repeat * folds_per_repeat + fold
  int fold = 0;    // 0-based within the repeat
  uint64_t seed = 0;
  int64_t train_size = 0;  // fit part (training part minus the validation carve-out)
  int64_t val_size = 0;
  int64_t test_size = 0;
  std::vector<int64_t> val_indices;  // the carve-out, as indices into the data set (ascending)
  double accuracy = 0, macro_f1 = 0, loss = 0;  // on the test part
  ConfusionMatrix confusion;                    // on the test part
  int epochs_run = 0;    // fewer than recipe.epochs after early stopping
  int best_epoch = 0;    // 1-based epoch whose weights were kept (validation only), else 0
  bool stopped_early = false;
  double best_val_accuracy = 0;  // NaN without validation
  std::map<std::string, double> measurements;  // the fold procedure's
  std::string preprocessing;     // the evaluation transforms, built from the fit part
  int threads = 0;               // threads the fold ran with
  double seconds = 0;            // wall time of training + evaluation
  double fit_seconds = 0;        // training alone (sklearn's fit_time)
  double score_seconds = 0;      // scoring the test part alone (sklearn's score_time)
  // On the fit part, with return_train_score (else NaN).
  double train_accuracy = std::numeric_limits<double>::quiet_NaN();
  double train_macro_f1 = std::numeric_limits<double>::quiet_NaN();
  double train_loss = std::numeric_limits<double>::quiet_NaN();
};

struct CVResult {
  std::string splitter;  // splitter.name()
  std::string recipe;    // TrainConfig::describe()
  std::string dataset;   // Dataset::name()
  std::vector<std::string> class_names;
  uint64_t seed = 0;
  double val_fraction = 0;
  int patience = 0, jobs = 1, threads = 0, folds_per_repeat = 0, repeats = 1;
  int world_size = 1;             // ranks the folds were dealt to (jobs and threads are per rank)
  std::vector<FoldResult> folds;  // in splitter order
  Summary accuracy, macro_f1;     // over folds
  std::map<std::string, Summary> measurements;  // over folds, for names every fold measured
  ConfusionMatrix confusion;      // summed over folds (each sample counted once per repeat)
  double seconds = 0;             // wall time of the whole run
};

// Deterministic seed of fold `fold` of repeat `repeat` (a splitmix64 hash of
// the three numbers): distinct folds get unrelated seeds.
uint64_t fold_seed(uint64_t seed, int repeat, int fold);

CVResult cross_validate(const FoldProcedure& procedure, const datasets::DatasetPtr& data, const Splitter& splitter,
                        const CVOptions& options = {});
// cross_validate(dense_training(factory), ...)
CVResult cross_validate(const ModelFactory& factory, const datasets::DatasetPtr& data, const Splitter& splitter,
                        const CVOptions& options = {});

// One row per fold (repeat, fold, sizes, epochs, accuracy, macro-F1, loss,
// seconds) as an aligned text table. Text for people (this table and the log
// lines) numbers repeats and folds from 1; FoldResult, JSON and CSV from 0.
std::string fold_table(const CVResult& r);
// "accuracy: 0.8200 ± 0.0158 (95% CI [0.8004, 0.8396], n=5)\nmacro-F1: ...\n"
std::string summary_text(const CVResult& r);
// Everything in the result (including each fold's confusion matrix,
// per-class precision/recall/F1 and measurements, and the summaries) as
// JSON; NaN as null.
std::string results_json(const CVResult& r);
// One row per fold: index,repeat,fold,seed,train_size,val_size,test_size,
// epochs_run,best_epoch,accuracy,macro_f1,loss,seconds, then one column per
// summarised measurement (by name).
std::string results_csv(const CVResult& r);
// Writes PREFIX.json and PREFIX.csv (atomically).
void write_results(const CVResult& r, const std::string& prefix);

}  // namespace minidl::validate
