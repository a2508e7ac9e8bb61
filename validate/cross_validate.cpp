#include "validate/cross_validate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <iomanip>
#include <limits>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/parallel.h"
#include "core/random.h"
#include "datasets/loader.h"
#include "nn/checkpoint.h"
#include "nn/trainer.h"
#include "validate/deal.h"

namespace minidl::validate {

namespace {

using Clock = std::chrono::steady_clock;

std::string fixed(double v, int prec) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

std::string join_names(const std::vector<datasets::TransformPtr>& t) {
  std::string s;
  for (const auto& x : t) s += (s.empty() ? "" : " -> ") + x->name();
  return s;
}

struct FoldTask {
  int index, repeat, fold;
  const Fold* split;
};

// The fit part and the validation carve-out (a stratified Holdout of the
// training part's labels), as ascending indices into the data set.
std::pair<std::vector<int64_t>, std::vector<int64_t>> carve(const Fold& f, const std::vector<int64_t>& labels,
                                                            double val_fraction, uint64_t seed) {
  std::vector<int64_t> fit_idx = f.train, val_idx;
  if (val_fraction <= 0) return {fit_idx, val_idx};
  std::vector<int64_t> part_labels;
  part_labels.reserve(f.train.size());
  for (int64_t i : f.train) part_labels.push_back(labels[size_t(i)]);
  const Fold h = Holdout(val_fraction, /*stratify=*/true, seed).split_once(part_labels);
  fit_idx.clear();
  for (int64_t p : h.train) fit_idx.push_back(f.train[size_t(p)]);
  for (int64_t p : h.test) val_idx.push_back(f.train[size_t(p)]);
  std::sort(val_idx.begin(), val_idx.end());
  return {fit_idx, val_idx};
}

// The procedure's input for one fold (step 3 of the header).
FoldData fold_data(const datasets::DatasetPtr& data, const std::vector<int64_t>& labels, const FoldTask& task,
                   const CVOptions& o, std::ostream* train_log) {
  using namespace datasets;
  const Fold& f = *task.split;
  MINIDL_CHECK(!f.train.empty() && !f.test.empty(), "the splitter gave an empty ", f.train.empty() ? "train" : "test",
               " part");
  FoldData fd;
  fd.index = task.index;
  fd.repeat = task.repeat;
  fd.fold = task.fold;
  fd.seed = fold_seed(o.seed, task.repeat, task.fold);
  auto [fit_idx, val_idx] = carve(f, labels, o.val_fraction, fd.seed);
  fd.fit = std::make_shared<Subset>(data, fit_idx);
  fd.val = val_idx.empty() ? nullptr : std::make_shared<Subset>(data, val_idx);
  fd.test = std::make_shared<Subset>(data, f.test);
  fd.recipe = o.train;
  fd.recipe.seed = fd.seed;
  fd.train_transforms = nn::make_transforms(fd.recipe, *fd.fit, true);
  fd.eval_transforms = nn::make_transforms(fd.recipe, *fd.fit, false);
  fd.fit_options.log = train_log;
  // (mpirun gives ranks a pseudo-terminal even when their output goes to a file: no bar there)
  fd.fit_options.progress_bar = o.jobs <= 1 && !(o.process_group && o.process_group->world_size() > 1);
  fd.fit_options.early_stopping_patience = o.patience;
  fd.fit_options.restore_best = true;
  return fd;
}

// Loss, accuracy, macro-F1 and confusion matrix of `model` on `part`, with the fold's evaluation transforms.
struct Score {
  ConfusionMatrix confusion;
  double loss = 0;
};
Score score(nn::Module& model, const datasets::DatasetPtr& part, const FoldData& fd, int64_t classes) {
  datasets::DataLoader loader(part, {.batch_size = fd.recipe.eval_batch_size, .transforms = fd.eval_transforms});
  const nn::EvalResult e = nn::evaluate(model, loader);
  for (int64_t p : e.predictions)
    MINIDL_CHECK(p >= 0 && p < classes, "the model predicted class ", p, " but the data set has ", classes, " classes");
  return {ConfusionMatrix(e.predictions, e.targets, classes), e.loss};
}

// `train_log`: where fit() writes its epoch lines (o.train_log, or a private
// buffer when folds run in parallel).
FoldResult run_fold(const FoldProcedure& procedure, const datasets::DatasetPtr& data,
                    const std::vector<int64_t>& labels, const FoldTask& task, const CVOptions& o,
                    std::ostream* train_log) {
  const auto t0 = Clock::now();
  const FoldData fd = fold_data(data, labels, task, o, train_log);
  FoldResult r;
  r.index = fd.index;
  r.repeat = fd.repeat;
  r.fold = fd.fold;
  r.seed = fd.seed;
  r.threads = get_num_threads();
  r.train_size = fd.fit->size();
  r.val_size = fd.val ? fd.val->size() : 0;
  r.test_size = fd.test->size();
  if (fd.val) r.val_indices = static_cast<const datasets::Subset&>(*fd.val).indices();
  r.preprocessing = join_names(fd.eval_transforms);

  // The thread's default generator follows the fold seed during the fold.
  const Generator saved = default_generator();
  struct Restore {
    const Generator& g;
    ~Restore() { default_generator() = g; }
  } restore{saved};
  manual_seed(splitmix64(r.seed ^ 0x5eedf01dULL));

  const auto fit_t0 = Clock::now();
  const FoldOutcome out = procedure(fd);
  MINIDL_CHECK(out.model, "the fold procedure returned a null model");
  r.fit_seconds = std::chrono::duration<double>(Clock::now() - fit_t0).count();
  r.epochs_run = int(out.history.epochs.size());
  r.best_epoch = out.history.best_epoch;
  r.stopped_early = out.history.stopped_early;
  r.best_val_accuracy = out.history.best_val_accuracy;
  r.measurements = out.measurements;

  const int64_t k = data->num_classes();
  const auto score_t0 = Clock::now();
  const Score test = score(*out.model, fd.test, fd, k);
  r.confusion = test.confusion;
  r.accuracy = r.confusion.accuracy();
  r.macro_f1 = r.confusion.macro_f1();
  r.loss = test.loss;
  r.score_seconds = std::chrono::duration<double>(Clock::now() - score_t0).count();
  if (o.return_train_score) {  // after the timing, as sklearn's _fit_and_score
    const Score t = score(*out.model, fd.fit, fd, k);
    r.train_accuracy = t.confusion.accuracy();
    r.train_macro_f1 = t.confusion.macro_f1();
    r.train_loss = t.loss;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

// "fold 2/5" or "repeat 1/3 fold 2/5" (numbered from 1, for people).
std::string fold_name(const CVResult& r, int repeat, int fold) {
  std::string s = "fold " + std::to_string(fold + 1) + "/" + std::to_string(r.folds_per_repeat);
  if (r.repeats > 1) s = "repeat " + std::to_string(repeat + 1) + "/" + std::to_string(r.repeats) + " " + s;
  return s;
}

// Never more concurrent folds than folds, nor than threads in the budget:
// jobs x threads stays at the machine's thread count. `folds_here`: the
// folds this rank runs; `root`: whether this rank logs.
void plan_jobs(CVResult& res, const CVOptions& o, int n, size_t folds_here, int budget, bool root) {
  res.jobs = std::min({o.jobs, std::max(1, int(folds_here)), o.threads > 0 ? std::max(1, budget / o.threads) : budget});
  if (res.jobs < o.jobs && o.log && root)
    *o.log << "cross-validation: running " << res.jobs << " jobs at a time (" << n << " folds, " << budget
           << " threads)" << std::endl;
  res.threads = o.threads > 0 ? o.threads : std::max(1, budget / res.jobs);
}

// The first lines on the log: the folds, where and on how many threads they
// run, the recipe and the validation carve-out.
void log_start(std::ostream& log, const CVResult& res, const CVOptions& o, int n, bool ranks) {
  log << "cross-validation: " << res.splitter << " on " << res.dataset << ", " << n << " folds, "
      << (ranks ? std::to_string(res.world_size) + " ranks (fold i on rank i mod " + std::to_string(res.world_size) +
                      ") x "
                : "")
      << res.jobs << (res.jobs == 1 ? " job" : " jobs") << " x " << res.threads << " thread" << (res.threads == 1 ? "" : "s")
      << "\nrecipe: " << res.recipe
      << (o.val_fraction > 0 ? "; validation carve-out " + fixed(o.val_fraction, 3) + " of each training part" : "")
      << (o.patience > 0 ? ", patience " + std::to_string(o.patience) : "") << std::endl;
}

// The workers of cross_validate: each takes the next of this rank's folds
// (`mine`) no worker has taken yet, runs it (run_fold) and prints its line;
// the first error stops them all.
class FoldPool {
 public:
  FoldPool(const FoldProcedure& procedure, const datasets::DatasetPtr& data, const std::vector<int64_t>& labels,
           const std::vector<FoldTask>& tasks, const std::vector<int>& mine, const CVOptions& o,
           const std::string& who, CVResult& res)
      : procedure_(procedure), data_(data), labels_(labels), tasks_(tasks), mine_(mine), o_(o), who_(who), res_(res),
        fold_opts_(o) {
    fold_opts_.jobs = res.jobs;
  }

  // One worker on the calling thread, or res.jobs workers on threads of their
  // own; `budget`: the thread count to restore afterwards.
  void run(int budget) {
    if (res_.jobs == 1) {
      const bool change = o_.threads > 0 && o_.threads != budget;
      if (change) set_num_threads(res_.threads);
      work(false);  // catches everything into first_error
      if (change) set_num_threads(budget);
    } else {
      // Set any process-wide part of the thread setting once, before the
      // workers start; each worker then sets its own (per-thread OpenMP) count.
      set_num_threads(res_.threads);
      std::vector<std::thread> pool;
      for (int j = 0; j < res_.jobs; ++j) pool.emplace_back(&FoldPool::work, this, true);
      for (auto& t : pool) t.join();
      set_num_threads(budget);
    }
  }

  std::vector<int> finished;  // indices of res.folds this rank completed
  std::exception_ptr first_error;

 private:
  // Takes folds until none is left or one has failed.
  void work(bool set_threads) {
    if (set_threads) set_num_threads(res_.threads);
    for (;;) {
      if (failed_.load()) return;
      const int k = next_.fetch_add(1);
      if (k >= int(mine_.size())) return;
      try {
        run_one(mine_[size_t(k)]);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!first_error) first_error = std::current_exception();
        failed_ = true;
        return;
      }
    }
  }

  // Fold i: run, stored in res.folds[i] and logged.
  void run_one(int i) {
    const FoldTask& t = tasks_[size_t(i)];
    FoldResult fr;
    // In parallel, each fold's epoch lines are buffered and printed in one piece.
    std::ostringstream buffer;
    std::ostream* tlog = o_.train_log && res_.jobs > 1 ? &buffer : o_.train_log;
    try {
      fr = run_fold(procedure_, data_, labels_, t, fold_opts_, tlog);
    } catch (const Error& e) {
      throw Error("cross_validate: " + fold_name(res_, t.repeat, t.fold) + " (index " + std::to_string(i) +
                  "): " + e.what());
    }
    std::lock_guard<std::mutex> lock(mu_);
    res_.folds[size_t(i)] = std::move(fr);
    finished.push_back(i);
    ++done_;
    if (tlog == &buffer) *o_.train_log << buffer.str() << std::flush;
    if (o_.log) log_fold(res_.folds[size_t(i)]);
  }

  // The fold's line on o.log (under mu_).
  void log_fold(const FoldResult& f) {
    *o_.log << who_ << "[" << done_ << "/" << mine_.size() << "] " << fold_name(res_, f.repeat, f.fold) << ": accuracy "
            << fixed(f.accuracy, 4) << "  macro-F1 " << fixed(f.macro_f1, 4) << "  loss " << fixed(f.loss, 4)
            << "  (train " << f.train_size;
    if (f.val_size) *o_.log << ", val " << f.val_size;
    *o_.log << ", test " << f.test_size << "; " << f.epochs_run << (f.epochs_run == 1 ? " epoch" : " epochs")
            << (f.stopped_early ? ", stopped early" : "") << "; " << fixed(f.seconds, 1) << " s)" << std::endl;
  }

  const FoldProcedure& procedure_;
  const datasets::DatasetPtr& data_;
  const std::vector<int64_t>& labels_;
  const std::vector<FoldTask>& tasks_;
  const std::vector<int>& mine_;
  const CVOptions& o_;
  const std::string& who_;
  CVResult& res_;
  CVOptions fold_opts_;  // o with the jobs that really run
  std::atomic<int> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;  // guards first_error, done_ and the log
  int done_ = 0;
};

// The summaries over the folds (the corrected interval when `corrected`) and
// the summed confusion matrix.
void summarize_folds(CVResult& res, bool corrected) {
  std::vector<double> acc, f1;
  double ratio = 0;  // mean n_test / n_train, for the corrected interval
  for (const FoldResult& f : res.folds) {
    acc.push_back(f.accuracy);
    f1.push_back(f.macro_f1);
    res.confusion += f.confusion;
    ratio += double(f.test_size) / double(std::max<int64_t>(1, f.train_size)) / double(res.folds.size());
  }
  const double r = corrected ? ratio : 0;
  res.accuracy = summarize(acc, r);
  res.macro_f1 = summarize(f1, r);
  for (const auto& [name, v] : res.folds[0].measurements) {  // the names every fold measured
    std::vector<double> vals;
    for (const FoldResult& f : res.folds)
      if (auto it = f.measurements.find(name); it != f.measurements.end()) vals.push_back(it->second);
    if (vals.size() == res.folds.size()) res.measurements[name] = summarize(vals, r);
  }
}

// The checks of cross_validate's arguments, before anything runs.
void check_cv(const FoldProcedure& procedure, const datasets::DatasetPtr& data, const CVOptions& o) {
  MINIDL_CHECK(procedure, "cross_validate: the fold procedure is empty");
  MINIDL_CHECK(data && data->size() > 0, "cross_validate: the data set is empty");
  MINIDL_CHECK(o.val_fraction >= 0 && o.val_fraction < 1, "cross_validate: val_fraction must be in [0, 1), got ",
               o.val_fraction);
  MINIDL_CHECK(o.patience >= 0, "cross_validate: patience must be >= 0, got ", o.patience);
  MINIDL_CHECK(o.patience == 0 || o.val_fraction > 0,
               "cross_validate: early stopping (patience ", o.patience,
               ") needs a validation carve-out (val_fraction > 0)");
  MINIDL_CHECK(o.jobs >= 1 && o.jobs <= 1024, "cross_validate: jobs must be in [1, 1024], got ", o.jobs);
  MINIDL_CHECK(o.threads >= 0 && o.threads <= 1024, "cross_validate: threads must be in [0, 1024], got ", o.threads);
  o.train.validate();
}

// The result's description (what runs, on what, the folds' numbering); the
// folds and their summaries come later.
CVResult describe_cv(const datasets::Dataset& data, const Splitter& splitter, const CVOptions& o, int n, int repeats) {
  CVResult res;
  res.splitter = splitter.name();
  res.recipe = o.train.describe();
  res.dataset = data.name();
  res.class_names = data.class_names();
  res.seed = o.seed;
  res.val_fraction = o.val_fraction;
  res.patience = o.patience;
  res.repeats = repeats;
  res.folds_per_repeat = n / repeats;
  return res;
}

}  // namespace

FoldProcedure dense_training(ModelFactory factory) {
  MINIDL_CHECK(factory, "dense_training: the model factory is empty");
  return [factory = std::move(factory)](const FoldData& f) {
    FoldOutcome out;
    out.model = factory(f.seed);
    MINIDL_CHECK(out.model, "the model factory returned a null model");
    out.history = nn::train(*out.model, f.fit, f.val, nullptr, f.recipe, f.fit_options);
    return out;
  };
}

CVResult cross_validate(const ModelFactory& factory, const datasets::DatasetPtr& data, const Splitter& splitter,
                        const CVOptions& o) {
  MINIDL_CHECK(factory, "cross_validate: the model factory is empty");
  return cross_validate(dense_training(factory), data, splitter, o);
}

uint64_t fold_seed(uint64_t seed, int repeat, int fold) {
  return splitmix64(splitmix64(splitmix64(seed) ^ uint64_t(uint32_t(repeat))) ^ uint64_t(uint32_t(fold)));
}

CVResult cross_validate(const FoldProcedure& procedure, const datasets::DatasetPtr& data, const Splitter& splitter,
                        const CVOptions& o) {
  check_cv(procedure, data, o);

  const auto t0 = Clock::now();
  const std::vector<int64_t> labels = data->labels();
  const std::vector<Fold> splits = splitter.split(labels);
  const int n = int(splits.size());
  MINIDL_CHECK(n >= 1, "cross_validate: ", splitter.name(), " gave no folds");
  const int repeats = std::max(1, splitter.n_repeats());
  MINIDL_CHECK(n % repeats == 0, "cross_validate: ", splitter.name(), " gave ", n, " folds, not a multiple of its ",
               repeats, " repeats");

  CVResult res = describe_cv(*data, splitter, o, n, repeats);
  // Under mpirun this rank runs the folds validate/deal.h deals it.
  Communicator* group = o.process_group && o.process_group->world_size() > 1 ? o.process_group : nullptr;
  res.world_size = group ? group->world_size() : 1;
  const int rank = group ? group->rank() : 0;
  const std::vector<int> mine = dealt_jobs(n, rank, res.world_size);
  const int budget = get_num_threads();
  plan_jobs(res, o, n, mine.size(), budget, rank == 0);
  res.folds.resize(size_t(n));

  std::vector<FoldTask> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back({i, i / res.folds_per_repeat, i % res.folds_per_repeat, &splits[size_t(i)]});
  if (o.log && rank == 0) log_start(*o.log, res, o, n, group != nullptr);

  const std::string who = group ? "rank " + std::to_string(rank) + " " : "";
  FoldPool pool(procedure, data, labels, tasks, mine, o, who, res);
  pool.run(budget);
  if (group) {  // every rank's folds (or every rank's errors) on every rank
    exchange_folds(res, pool.finished, error_text(pool.first_error), *group);
  } else if (pool.first_error) {
    std::rethrow_exception(pool.first_error);
  }

  summarize_folds(res, o.corrected_ci);
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

}  // namespace minidl::validate
