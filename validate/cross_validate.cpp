#include "validate/cross_validate.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <iomanip>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
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

uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

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
  manual_seed(mix64(r.seed ^ 0x5eedf01dULL));

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

nlohmann::json num(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json summary_json(const Summary& s) {
  return {{"n", s.n}, {"mean", num(s.mean)}, {"std", num(s.std)}, {"ci95_half_width", num(s.ci95)},
          {"ci95_low", num(s.lo())}, {"ci95_high", num(s.hi())}, {"min", num(s.min)}, {"max", num(s.max)}};
}

nlohmann::json confusion_json(const ConfusionMatrix& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < m.num_classes(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < m.num_classes(); ++j) row.push_back(m.at(i, j));
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json measurements_json(const std::map<std::string, double>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [n, v] : m) j[n] = num(v);
  return j;
}

// accuracy, macro_f1, then the summarised measurements by name.
nlohmann::json summary_all(const CVResult& r) {
  nlohmann::json j = {{"accuracy", summary_json(r.accuracy)}, {"macro_f1", summary_json(r.macro_f1)}};
  for (const auto& [n, s] : r.measurements) j["measurements"][n] = summary_json(s);
  return j;
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
  return mix64(mix64(mix64(seed) ^ uint64_t(uint32_t(repeat))) ^ uint64_t(uint32_t(fold)));
}

CVResult cross_validate(const FoldProcedure& procedure, const datasets::DatasetPtr& data, const Splitter& splitter,
                        const CVOptions& o) {
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

  const auto t0 = Clock::now();
  const std::vector<int64_t> labels = data->labels();
  const std::vector<Fold> splits = splitter.split(labels);
  const int n = int(splits.size());
  MINIDL_CHECK(n >= 1, "cross_validate: ", splitter.name(), " gave no folds");
  const int repeats = std::max(1, splitter.n_repeats());
  MINIDL_CHECK(n % repeats == 0, "cross_validate: ", splitter.name(), " gave ", n, " folds, not a multiple of its ",
               repeats, " repeats");

  CVResult res;
  res.splitter = splitter.name();
  res.recipe = o.train.describe();
  res.dataset = data->name();
  res.class_names = data->class_names();
  res.seed = o.seed;
  res.val_fraction = o.val_fraction;
  res.patience = o.patience;
  res.repeats = repeats;
  res.folds_per_repeat = n / repeats;
  // Never more concurrent folds than folds, nor than threads in the budget:
  // jobs x threads stays at the machine's thread count.
  // Under mpirun this rank runs the folds validate/deal.h deals it.
  Communicator* group = o.process_group && o.process_group->world_size() > 1 ? o.process_group : nullptr;
  res.world_size = group ? group->world_size() : 1;
  const int rank = group ? group->rank() : 0;
  const std::vector<int> mine = dealt_jobs(n, rank, res.world_size);
  const int budget = get_num_threads();
  res.jobs = std::min({o.jobs, std::max(1, int(mine.size())), o.threads > 0 ? std::max(1, budget / o.threads) : budget});
  if (res.jobs < o.jobs && o.log && rank == 0)
    *o.log << "cross-validation: running " << res.jobs << " jobs at a time (" << n << " folds, " << budget
           << " threads)" << std::endl;
  res.threads = o.threads > 0 ? o.threads : std::max(1, budget / res.jobs);
  res.folds.resize(size_t(n));

  std::vector<FoldTask> tasks;
  for (int i = 0; i < n; ++i)
    tasks.push_back({i, i / res.folds_per_repeat, i % res.folds_per_repeat, &splits[size_t(i)]});

  if (o.log && rank == 0)
    *o.log << "cross-validation: " << res.splitter << " on " << res.dataset << ", " << n << " folds, "
           << (group ? std::to_string(res.world_size) + " ranks (fold i on rank i mod " + std::to_string(res.world_size) +
                           ") x "
                     : "")
           << res.jobs << (res.jobs == 1 ? " job" : " jobs") << " x " << res.threads << " thread" << (res.threads == 1 ? "" : "s")
           << "\nrecipe: " << res.recipe
           << (o.val_fraction > 0 ? "; validation carve-out " + fixed(o.val_fraction, 3) + " of each training part" : "")
           << (o.patience > 0 ? ", patience " + std::to_string(o.patience) : "") << std::endl;

  CVOptions fold_opts = o;
  fold_opts.jobs = res.jobs;
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;  // guards first_error, done and the log
  std::exception_ptr first_error;
  int done = 0;
  std::vector<int> finished;  // indices of res.folds this rank completed
  const std::string who = group ? "rank " + std::to_string(rank) + " " : "";
  auto worker = [&](bool set_threads) {
    if (set_threads) set_num_threads(res.threads);
    for (;;) {
      if (failed.load()) return;
      const int k = next.fetch_add(1);
      if (k >= int(mine.size())) return;
      const int i = mine[size_t(k)];
      const FoldTask& t = tasks[size_t(i)];
      try {
        FoldResult fr;
        // In parallel, each fold's epoch lines are buffered and printed in one piece.
        std::ostringstream buffer;
        std::ostream* tlog = o.train_log && res.jobs > 1 ? &buffer : o.train_log;
        try {
          fr = run_fold(procedure, data, labels, t, fold_opts, tlog);
        } catch (const Error& e) {
          throw Error("cross_validate: " + fold_name(res, t.repeat, t.fold) + " (index " + std::to_string(i) +
                      "): " + e.what());
        }
        std::lock_guard<std::mutex> lock(mu);
        res.folds[size_t(i)] = std::move(fr);
        finished.push_back(i);
        ++done;
        if (tlog == &buffer) *o.train_log << buffer.str() << std::flush;
        if (o.log) {
          const FoldResult& f = res.folds[size_t(i)];
          *o.log << who << "[" << done << "/" << mine.size() << "] " << fold_name(res, f.repeat, f.fold) << ": accuracy "
                 << fixed(f.accuracy, 4) << "  macro-F1 " << fixed(f.macro_f1, 4) << "  loss " << fixed(f.loss, 4)
                 << "  (train " << f.train_size;
          if (f.val_size) *o.log << ", val " << f.val_size;
          *o.log << ", test " << f.test_size << "; " << f.epochs_run << (f.epochs_run == 1 ? " epoch" : " epochs")
                 << (f.stopped_early ? ", stopped early" : "") << "; " << fixed(f.seconds, 1) << " s)" << std::endl;
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = std::current_exception();
        failed = true;
        return;
      }
    }
  };

  if (res.jobs == 1) {
    const bool change = o.threads > 0 && o.threads != budget;
    if (change) set_num_threads(res.threads);
    worker(false);  // catches everything into first_error
    if (change) set_num_threads(budget);
  } else {
    // Set any process-wide part of the thread setting once, before the
    // workers start; each worker then sets its own (per-thread OpenMP) count.
    set_num_threads(res.threads);
    std::vector<std::thread> pool;
    for (int j = 0; j < res.jobs; ++j) pool.emplace_back(worker, true);
    for (auto& t : pool) t.join();
    set_num_threads(budget);
  }
  if (group) {  // every rank's folds (or every rank's errors) on every rank
    exchange_folds(res, finished, error_text(first_error), *group);
  } else if (first_error) {
    std::rethrow_exception(first_error);
  }

  std::vector<double> acc, f1;
  double ratio = 0;  // mean n_test / n_train, for the corrected interval
  for (const FoldResult& f : res.folds) {
    acc.push_back(f.accuracy);
    f1.push_back(f.macro_f1);
    res.confusion += f.confusion;
    ratio += double(f.test_size) / double(std::max<int64_t>(1, f.train_size)) / double(res.folds.size());
  }
  const double r = o.corrected_ci ? ratio : 0;
  res.accuracy = summarize(acc, r);
  res.macro_f1 = summarize(f1, r);
  for (const auto& [name, v] : res.folds[0].measurements) {  // the names every fold measured
    std::vector<double> vals;
    for (const FoldResult& f : res.folds)
      if (auto it = f.measurements.find(name); it != f.measurements.end()) vals.push_back(it->second);
    if (vals.size() == res.folds.size()) res.measurements[name] = summarize(vals, r);
  }
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

std::string fold_table(const CVResult& r) {
  std::ostringstream os;
  const bool rep = r.repeats > 1;
  const bool val = r.val_fraction > 0;
  os << std::right;
  if (rep) os << std::setw(6) << "repeat";
  os << std::setw(6) << "fold" << std::setw(8) << "train";
  if (val) os << std::setw(7) << "val";
  os << std::setw(7) << "test" << std::setw(8) << "epochs" << std::setw(10) << "accuracy" << std::setw(10) << "macro-F1"
     << std::setw(9) << "loss" << std::setw(9) << "seconds" << "\n";
  for (const FoldResult& f : r.folds) {
    if (rep) os << std::setw(6) << f.repeat + 1;
    os << std::setw(6) << f.fold + 1 << std::setw(8) << f.train_size;
    if (val) os << std::setw(7) << f.val_size;
    os << std::setw(7) << f.test_size << std::setw(8) << f.epochs_run << std::setw(10) << fixed(f.accuracy, 4)
       << std::setw(10) << fixed(f.macro_f1, 4) << std::setw(9) << fixed(f.loss, 4) << std::setw(9)
       << fixed(f.seconds, 1) << "\n";
  }
  return os.str();
}

std::string summary_text(const CVResult& r) {
  std::string s = "accuracy: " + r.accuracy.to_string() + "\nmacro-F1: " + r.macro_f1.to_string() + "\n";
  for (const auto& [n, m] : r.measurements) s += n + ": " + m.to_string() + "\n";
  return s;
}

std::string results_json(const CVResult& r) {
  using nlohmann::json;
  json folds = json::array();
  for (const FoldResult& f : r.folds)
    folds.push_back({{"index", f.index},
                     {"repeat", f.repeat},
                     {"fold", f.fold},
                     {"seed", f.seed},
                     {"train_size", f.train_size},
                     {"val_size", f.val_size},
                     {"test_size", f.test_size},
                     {"accuracy", num(f.accuracy)},
                     {"macro_f1", num(f.macro_f1)},
                     {"loss", num(f.loss)},
                     {"epochs_run", f.epochs_run},
                     {"best_epoch", f.best_epoch},
                     {"stopped_early", f.stopped_early},
                     {"best_val_accuracy", num(f.best_val_accuracy)},
                     {"precision", f.confusion.precisions()},
                     {"recall", f.confusion.recalls()},
                     {"f1", f.confusion.f1s()},
                     {"confusion_matrix", confusion_json(f.confusion)},
                     {"measurements", measurements_json(f.measurements)},
                     {"preprocessing", f.preprocessing},
                     {"threads", f.threads},
                     {"seconds", f.seconds}});
  json j = {{"splitter", r.splitter},
            {"dataset", r.dataset},
            {"recipe", r.recipe},
            {"class_names", r.class_names},
            {"seed", r.seed},
            {"val_fraction", r.val_fraction},
            {"patience", r.patience},
            {"repeats", r.repeats},
            {"folds_per_repeat", r.folds_per_repeat},
            {"world_size", r.world_size},
            {"jobs", r.jobs},
            {"threads_per_job", r.threads},
            {"seconds", r.seconds},
            {"summary", summary_all(r)},
            {"confusion_matrix", confusion_json(r.confusion)},
            {"folds", folds}};
  return j.dump(2) + "\n";
}

std::string results_csv(const CVResult& r) {
  std::ostringstream os;
  os << "index,repeat,fold,seed,train_size,val_size,test_size,epochs_run,best_epoch,accuracy,macro_f1,loss,seconds";
  for (const auto& [n, s] : r.measurements) os << "," << n;
  os << "\n";
  auto v = [](double x) {
    if (std::isnan(x)) return std::string();
    std::ostringstream s;
    s << std::setprecision(10) << x;
    return s.str();
  };
  for (const FoldResult& f : r.folds) {
    os << f.index << "," << f.repeat << "," << f.fold << "," << f.seed << "," << f.train_size << "," << f.val_size
       << "," << f.test_size << "," << f.epochs_run << "," << f.best_epoch << "," << v(f.accuracy) << ","
       << v(f.macro_f1) << "," << v(f.loss) << "," << fixed(f.seconds, 3);
    for (const auto& [n, s] : r.measurements) os << "," << v(f.measurements.at(n));
    os << "\n";
  }
  return os.str();
}

void write_results(const CVResult& r, const std::string& prefix) {
  MINIDL_CHECK(!prefix.empty(), "write_results: empty file prefix");
  nn::write_file_atomic(prefix + ".json", results_json(r));
  nn::write_file_atomic(prefix + ".csv", results_csv(r));
}

}  // namespace minidl::validate
