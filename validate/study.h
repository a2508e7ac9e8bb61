// minidl/validate/study.h — the cross-validated compression study: every
// compression recipe applied inside every fold of a K-fold cross-validation,
// judged by its *paired* accuracy change with a confidence interval, the bytes
// it really stores and its measured speed.
//
//   validate::StudyOptions o;
//   o.train.epochs = 10;                          // the dense model each fold trains
//   o.model.batchnorm = true;
//   o.recipes = validate::parse_recipes({"prune:0.9", "structured:0.5", "prune:0.9+int8"});
//   o.out_dir = "study";                          // results, and the state a restart resumes from
//   o.log = &std::cout;
//   validate::StudyResult r = validate::run_study(data, validate::StratifiedKFold(5, true, 1), o);
//   std::cout << validate::study_table(r) << validate::verdicts(r);
//   validate::write_study(r, o.out_dir);          // results.json/.csv, pareto.svg, curves.svg
//
// Why paired and why corrected. Blalock et al. 2020 ("What is the State of
// Neural Network Pruning?") found most pruning papers report one run with no
// error bars. Here every fold trains its own dense model and every recipe
// starts from that fold's dense model, so the per-fold difference
// acc(recipe) − acc(dense) cancels most of the fold-to-fold variation (the
// split, the initialisation). The K differences are not independent, though:
// the folds' training sets overlap, so the plain Student-t interval over them
// is too narrow. The verdict uses the corrected resampled t of Nadeau & Bengio
// 2003 (validate/metrics.h: summarize with test_train_ratio) and the naive one is printed
// beside it.
//
// Per fold (the same per-fold seeding and leak-free preprocessing as
// cross_validate, see cross_validate.h — a study's dense accuracies are
// bit-identical to cross_validate's with the same recipe, seed and threads):
//   1. seed = fold_seed(o.seed, repeat, fold); fit part = the fold's training
//      part, held-out part = its test part; input transforms (Normalize
//      statistics) from the fit part only.
//   2. dense: a seed CNN built from the seed and trained with o.train. The
//      held-out part is evaluated after every epoch for the curves only; no
//      decision uses it.
//   3. each recipe: a copy of the dense model, its steps applied in order
//      (fine-tuning on the fit part with o.finetune, seeded by the fold seed),
//      saved to DIR/fold-<i>/<recipe>.<ext> in its compressed format, read back
//      into a fresh model, and that re-read model is what is measured:
//      accuracy, macro-F1 and loss on the held-out part, the paired difference
//      to the fold's dense model, the file's bytes, parameters / nonzeros,
//      MACs (compress/report.h), and inference latency at batch 1 and 256
//      timed side by side with the dense model (rounds alternate between the
//      two models; each keeps its best round).
//
// Resuming. DIR/study.json records everything that decides the results (data,
// splitter, recipes for the dense model and fine-tuning, architecture, seed);
// a study started again in the same DIR with other settings is an error
// before anything trains. Each finished unit — a fold's dense model (its
// checkpoint and DIR/fold-<i>/dense.json) or a (fold, recipe) result
// (DIR/fold-<i>/<recipe>.json) — is written atomically (temporary file,
// fsync, rename) the moment it is done; a restarted study loads these and
// trains only what is missing, so a kill -9 loses at most the units that were
// running. Adding recipes to a finished study runs just the new ones. A lock
// (DIR/study.lock, flock) refuses a second study in the same directory while
// one runs.
//
// Parallel folds: jobs folds at a time (at most the thread budget), each on
// threads = budget / jobs threads, as in cross_validate. Latencies are then
// measured while other folds run; the side-by-side ratios stay meaningful,
// the absolute milliseconds less so (run with --jobs 1 for those).
//
// Distributed (StudyOptions::process_group of N > 1 ranks, under mpirun):
// fold i — its dense model, then its recipes — runs on rank i mod N, each
// rank with its own jobs x threads (validate/deal.h says why a static deal).
// Rank 0 takes DIR's lock and writes the manifest; every rank writes its
// units into DIR (one shared directory, or each machine's own: a restart with
// the same N deals every fold to the same rank). At the end the results are
// gathered and every rank returns the same StudyResult — bit-identical to a
// single process's with the same seed and threads per fold, timings aside.
// A failing unit stops its rank's remaining folds; the other ranks finish
// theirs, their units stay in DIR, and every rank then throws the same
// CollectiveError naming each failed (fold, recipe), its rank and why, so a
// restart redoes only what is missing.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include "core/communicator.h"
#include "datasets/dataset.h"
#include "nn/seed_cnn.h"
#include "nn/train_config.h"
#include "validate/metrics.h"
#include "validate/recipe.h"
#include "validate/split.h"

namespace minidl::validate {

struct StudyOptions {
  nn::TrainConfig train;       // the dense model's recipe; its seed is replaced by each fold's seed
  nn::TrainConfig finetune;    // fine-tuning after pruning (and QAT); its seed too
  nn::SeedCNNOptions model;    // the dense architecture (batchnorm etc.)
  std::vector<Recipe> recipes;
  std::string out_dir;         // required: results and the state a restart resumes from
  int jobs = 1;                // folds at a time (clamped to folds and the thread budget)
  int threads = 0;             // threads per fold; 0: budget / jobs
  uint64_t seed = 0;           // fold seeds derive from it (the splitter has its own)
  int latency_rounds = 5;      // side-by-side timing rounds; 0: no timing
  int latency_images = 32;     // images timed one by one (batch 1) per round
  std::ostream* log = nullptr;        // progress lines; nullptr: silent
  std::ostream* train_log = nullptr;  // per-epoch lines of every training run
  // The ranks of a distributed run (core/communicator.h): fold i and all its
  // units run on rank i mod world_size (validate/deal.h); every rank returns
  // the complete result. Null or a world of one: this process runs it all.
  Communicator* process_group = nullptr;
};

// One epoch of a training curve.
struct CurvePoint {
  double train_loss = 0, train_accuracy = 0, heldout_accuracy = 0;
};
// A training stage of a run ("dense", "prune fine-tuning", "distill student").
struct Curve {
  std::string stage;
  std::vector<CurvePoint> epochs;
};

// The dense model of a fold (recipe "dense") or one (fold, recipe) result.
struct RunResult {
  std::string recipe;  // "dense" or Recipe::name()
  int index = 0, repeat = 0, fold = 0;
  uint64_t seed = 0;
  int64_t train_size = 0, test_size = 0;
  double accuracy = 0, macro_f1 = 0, loss = 0;  // of the re-read model on the held-out part
  double diff = 0;                              // accuracy − the fold's dense accuracy (0 for dense)
  std::string file;                             // the stored model, relative to the study directory
  int64_t stored_bytes = 0;
  int64_t params = 0, nonzeros = 0, macs = 0, nonzero_macs = 0;
  // Milliseconds per forward pass (best round); the dense_ ones from the same rounds. NaN: not timed.
  double latency1_ms = 0, latency256_ms = 0, dense_latency1_ms = 0, dense_latency256_ms = 0;
  std::vector<Curve> curves;
  std::string details;  // what the steps did ("conv2: 32 of 64 filters kept; ...")
  // The stored seed CNN's sizes (a student's or a structured model's differ
  // from the dense one), so a longer recipe can continue from this file.
  int64_t conv1_channels = 0, conv2_channels = 0, hidden = 0;
  int threads = 0;
  double seconds = 0;   // training + measuring
};

struct RecipeSummary {
  std::string recipe;
  Summary accuracy, macro_f1;
  Summary diff;            // naive Student-t interval of the paired difference
  Summary diff_corrected;  // Nadeau–Bengio corrected interval (the verdict's)
  double stored_bytes = 0, dense_bytes = 0;   // means over folds
  double compression = 0;                     // dense_bytes / stored_bytes
  double nonzeros = 0, macs = 0;              // means over folds
  double speedup1 = 0, speedup256 = 0;        // mean over folds of dense latency / latency (NaN: untimed)
  std::string verdict;  // "prune:0.9 costs 0.21 pt [-0.05, 0.47] at 9.1x smaller, ..."
};

struct StudyResult {
  std::string splitter, dataset, train_recipe, finetune_recipe, model;
  uint64_t seed = 0;
  int folds_per_repeat = 0, repeats = 1, jobs = 1, threads = 0;
  int world_size = 1;  // ranks the folds were dealt to (jobs and threads are per rank)
  double test_train_ratio = 0;  // mean n_test / n_train over folds (the correction's)
  std::vector<RunResult> dense;                 // per fold, in splitter order
  std::vector<std::vector<RunResult>> runs;     // [recipe][fold]
  std::vector<RecipeSummary> summaries;         // per recipe, in option order
  int trained = 0, resumed = 0;                 // units run now / loaded from the study directory
  double seconds = 0;
};

// Everything run_study checks before it trains: the options, that every
// recipe can run in this build, the output directory (creatable, not a file)
// and, when it already holds a study, that it was made with the same
// settings. Throws minidl::Error with a one-line message.
// Whether this build can run every step of `r` (int8, qat and distill need
// the quantization and distillation modules); if not, `why` says what is missing.
bool recipe_runnable(const Recipe& r, std::string* why = nullptr);

void check_study(const datasets::Dataset& data, const Splitter& splitter, const StudyOptions& o);

StudyResult run_study(const datasets::DatasetPtr& data, const Splitter& splitter, const StudyOptions& o);

// Summaries of finished runs (used by run_study; exposed for tests).
RecipeSummary summarize_recipe(const std::string& recipe, const std::vector<RunResult>& runs,
                               const std::vector<RunResult>& dense, double test_train_ratio);

// ---- reports (validate/study_report.cpp)
std::string study_table(const StudyResult& r);  // one row per recipe (dense first)
std::string verdicts(const StudyResult& r);     // one verdict line per recipe, under a header
std::string study_json(const StudyResult& r);   // everything, NaN as null
std::string study_csv(const StudyResult& r);    // one row per (fold, recipe), dense included
std::string pareto_svg(const StudyResult& r);   // accuracy change (corrected CI) vs stored bytes, log x
std::string curves_svg(const StudyResult& r);   // per-fold training curves of every stage
// DIR/results.json, results.csv, pareto.svg, curves.svg (each atomically).
void write_study(const StudyResult& r, const std::string& dir);

// A RunResult as JSON and back (the unit files a restart reads).
std::string run_json(const RunResult& r);
RunResult run_from_json(const std::string& text, const std::string& source);

}  // namespace minidl::validate
