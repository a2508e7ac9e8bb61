// How a study runs its folds (validate/study_fold.h): a fold's data and
// measurements, its dense model and recipes (FoldRunner: trained now, or
// loaded from DIR when done before), the order of its recipes, and the
// workers that run this rank's folds `jobs` at a time.
#include "validate/study_fold.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

#include "compress/report.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/random.h"
#include "datasets/loader.h"
#include "nn/checkpoint.h"
#include "nn/trainer.h"
#include "validate/cross_validate.h"
#include "validate/study_steps.h"

namespace minidl::validate::detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

uint64_t name_hash(const std::string& s) {  // FNV-1a: a recipe's own generator stream
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

struct FoldTask {
  int index, repeat, fold;
  const Fold* split;
};

// The fold's parts and transforms (cross_validate's steps 1, 2 and 4, without a validation carve-out).
FoldData fold_data(const datasets::DatasetPtr& data, const FoldTask& t, const StudyOptions& o) {
  MINIDL_CHECK(!t.split->train.empty() && !t.split->test.empty(), "the splitter gave an empty part");
  FoldData f;
  f.index = t.index;
  f.repeat = t.repeat;
  f.fold = t.fold;
  f.seed = fold_seed(o.seed, t.repeat, t.fold);
  f.fit = std::make_shared<datasets::Subset>(data, t.split->train);
  f.test = std::make_shared<datasets::Subset>(data, t.split->test);
  f.recipe = o.train;
  f.recipe.seed = f.seed;
  f.train_transforms = nn::make_transforms(o.train, *f.fit, true);
  f.eval_transforms = nn::make_transforms(o.train, *f.fit, false);
  return f;
}

// Accuracy, macro-F1 and loss of `m` on the held-out part; parameters and
// MACs (`stats`, when given, instead of tracing `m`).
void measure(nn::Module& m, const FoldData& f, int64_t num_classes, RunResult& r,
             const compress::LayerStats* stats = nullptr) {
  datasets::DataLoader l(f.test, {.batch_size = 256, .transforms = f.eval_transforms});
  const nn::EvalResult e = nn::evaluate(m, l);
  const ConfusionMatrix cm(e.predictions, e.targets, num_classes);
  r.accuracy = cm.accuracy();
  r.macro_f1 = cm.macro_f1();
  r.loss = e.loss;
  const compress::LayerStats t =
      stats ? *stats : compress::report(m, {1, f.fit->item_shape()[0], f.fit->item_shape()[1], f.fit->item_shape()[2]}).total;
  r.params = t.params;
  r.nonzeros = t.nonzeros;
  r.macs = t.macs;
  r.nonzero_macs = t.nonzero_macs;
}

RunResult new_run(const std::string& recipe, const FoldTask& t, const FoldData& f) {
  RunResult r;
  r.recipe = recipe;
  r.index = t.index;
  r.repeat = t.repeat;
  r.fold = t.fold;
  r.seed = f.seed;
  r.train_size = f.fit->size();
  r.test_size = f.test->size();
  r.threads = get_num_threads();
  return r;
}

// Runs (or loads) one fold's units: the dense model, then every recipe.
class FoldRunner {
 public:
  FoldRunner(const datasets::DatasetPtr& data, const StudyOptions& o, const FoldTask& t, std::ostream* train_log)
      : data_(data), o_(o), t_(t), f_(fold_data(data, t, o)), train_log_(train_log),
        dir_(fs::path(o.out_dir) / ("fold-" + std::to_string(t.index))) {
    fs::create_directories(dir_);
  }

  // Returns the unit's result and whether it was trained now (false: loaded).
  std::pair<RunResult, bool> dense() {
    const std::string js = (dir_ / "dense.json").string(), ckpt = (dir_ / "dense.safetensors").string();
    Generator gen(f_.seed);  // as cross_validate's factories build a fold's model
    model_ = detail::fused_seed_cnn(o_.model, gen);
    if (fs::exists(js)) {
      RunResult r = run_from_json(read_text(js), js);
      nn::load(*model_, ckpt);
      dense_ = r;
      return {r, false};
    }
    const auto t0 = Clock::now();
    RunResult r = new_run("dense", t_, f_);
    {
      const Generator saved = default_generator();
      // the default generator's per-fold seed, exactly as cross_validate derives it, so the dense models match
      manual_seed(splitmix64(f_.seed ^ 0x5eedf01dULL));
      nn::TrainConfig c = o_.train;
      c.seed = f_.seed;
      nn::FitOptions fo;
      fo.log = train_log_;
      fo.progress_bar = false;
      const nn::History h = nn::train(*model_, f_.fit, nullptr, f_.test, c, fo);
      default_generator() = saved;
      r.curves.push_back(detail::curve_of("dense", h));
    }
    nn::save(*model_, ckpt, nn::recipe_metadata(o_.train, *f_.fit));
    r.file = "fold-" + std::to_string(t_.index) + "/dense.safetensors";
    r.stored_bytes = int64_t(fs::file_size(ckpt));
    Generator zero(0);  // every weight is overwritten by the file
    nn::ModulePtr reread = detail::fused_seed_cnn(o_.model, zero);
    nn::load(*reread, ckpt);
    measure(*reread, f_, data_->num_classes(), r);
    const auto lat = detail::time_side_by_side({reread.get()}, f_, o_.latency_rounds, o_.latency_images);
    r.latency1_ms = r.dense_latency1_ms = lat[0].first;
    r.latency256_ms = r.dense_latency256_ms = lat[0].second;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    nn::write_file_atomic(js, run_json(r));
    dense_ = r;
    return {r, true};
  }

  // Recipes run in a fold in the order of run_order(), so a composition comes
  // after any recipe of the study that is its leading steps.
  std::pair<RunResult, bool> recipe(const Recipe& rc) {
    const std::string stem = (dir_ / rc.file_stem()).string(), js = stem + ".json";
    if (fs::exists(js)) return {done_[rc.name()] = run_from_json(read_text(js), js), false};
    const auto t0 = Clock::now();
    RunResult r = new_run(rc.name(), t_, f_);
    detail::Candidate c;
    const size_t start = continue_from(rc, c);
    {
      const Generator saved = default_generator();
      manual_seed(splitmix64(f_.seed ^ name_hash(rc.name())));
      for (size_t k = start; k < rc.steps.size(); ++k) detail::apply_step(rc.steps[k], c, f_, *model_, o_, train_log_);
      default_generator() = saved;
    }
    const nn::SeedCNNOptions sizes = nn::scaled(c.arch);
    r.conv1_channels = sizes.conv1_channels, r.conv2_channels = sizes.conv2_channels, r.hidden = sizes.hidden;
    const std::string path = detail::save_candidate(c, stem);
    r.file = fs::relative(path, o_.out_dir).string();
    r.stored_bytes = int64_t(fs::file_size(path));
    nn::ModulePtr reread = detail::load_candidate(c, path);
    measure(*reread, f_, data_->num_classes(), r, c.has_stats ? &c.stats : nullptr);
    r.diff = r.accuracy - dense_.accuracy;
    const auto lat = detail::time_side_by_side({model_.get(), reread.get()}, f_, o_.latency_rounds, o_.latency_images);
    r.dense_latency1_ms = lat[0].first;
    r.dense_latency256_ms = lat[0].second;
    r.latency1_ms = lat[1].first;
    r.latency256_ms = lat[1].second;
    r.curves = std::move(c.curves);
    r.details = c.details;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    nn::write_file_atomic(js, run_json(r));
    return {done_[rc.name()] = r, true};
  }

 private:
  // Sets c to where `rc` starts and returns the index of its first step to
  // apply. A composition whose leading steps are a recipe this fold has done
  // (prune:0.9+int8 after prune:0.9) continues from that recipe's stored file,
  // the model the study measured for it, instead of training it again: less
  // time, and the two rows then differ by the last step alone. Otherwise: a
  // copy of the fold's dense model, from step 0.
  size_t continue_from(const Recipe& rc, detail::Candidate& c) const {
    for (size_t k = rc.steps.size() - 1; k >= 1; --k) {
      Recipe head;
      head.steps.assign(rc.steps.begin(), rc.steps.begin() + std::ptrdiff_t(k));
      const auto it = done_.find(head.name());
      if (it == done_.end() || !it->second.conv1_channels) continue;
      const RunResult& d = it->second;
      const std::string file = (fs::path(o_.out_dir) / d.file).string();
      if (file.ends_with(".int8.safetensors")) continue;  // integer modules: nothing follows them
      c.arch = o_.model;
      c.arch.width = 1.0;
      c.arch.conv1_channels = d.conv1_channels, c.arch.conv2_channels = d.conv2_channels, c.arch.hidden = d.hidden;
      c.format = fs::path(file).extension() == ".sparse" ? detail::Format::sparse : detail::Format::safetensors;
      c.model = detail::load_candidate(c, file);
      c.curves = d.curves;
      c.details = d.details;
      return k;
    }
    c.arch = o_.model;
    Generator zero(0);
    c.model = detail::fused_seed_cnn(c.arch, zero);
    c.model->load_state_dict(model_->state_dict());
    return 0;
  }

  datasets::DatasetPtr data_;
  const StudyOptions& o_;
  FoldTask t_;
  FoldData f_;
  std::ostream* train_log_;
  fs::path dir_;
  nn::ModulePtr model_;  // the fold's dense model
  RunResult dense_;
  std::map<std::string, RunResult> done_;  // this fold's finished recipes, by name
};

// The order a fold runs its recipes in: by number of steps (stable), so every
// recipe a composition could continue from (FoldRunner::continue_from) is done
// before it, whatever order the user listed them in — and a resumed study
// makes the same models as an uninterrupted one.
std::vector<size_t> run_order(const std::vector<Recipe>& recipes) {
  std::vector<size_t> order(recipes.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return recipes[a].steps.size() < recipes[b].steps.size(); });
  return order;
}

std::string fixed(double v, int prec) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

std::string progress_line(const StudyResult& res, const RunResult& r, bool trained) {
  std::ostringstream os;
  os << "[fold " << r.index + 1 << "/" << res.folds_per_repeat * res.repeats << "] " << r.recipe << ": accuracy "
     << fixed(r.accuracy, 4);
  if (r.recipe != "dense") os << " (" << (r.diff >= 0 ? "+" : "") << fixed(r.diff * 100, 2) << " pt)";
  os << ", " << r.stored_bytes << " bytes";
  if (r.details.size()) os << "; " << r.details;
  os << (trained ? "; " + fixed(r.seconds, 1) + " s" : "; done before, loaded from " + r.file.substr(0, r.file.find('/')));
  return os.str();
}


// The workers of run_folds: each takes the next of this rank's folds no
// worker has taken yet and runs it; the first error stops them all.
class FoldPool {
 public:
  FoldPool(const datasets::DatasetPtr& data, const std::vector<Fold>& splits, const StudyOptions& o,
           const ThreadPlan& plan, const std::string& who, StudyResult& res)
      : data_(data), splits_(splits), o_(o), plan_(plan), who_(who), res_(res), order_(run_order(o.recipes)) {}

  // One worker on the calling thread, or plan.jobs workers on threads of their own.
  FoldsRun run() {
    if (plan_.jobs == 1) {
      const bool change = plan_.threads != plan_.budget;
      if (change) set_num_threads(plan_.threads);
      work(false);
      if (change) set_num_threads(plan_.budget);
    } else {
      set_num_threads(plan_.threads);
      std::vector<std::thread> pool;
      for (int j = 0; j < plan_.jobs; ++j) pool.emplace_back(&FoldPool::work, this, true);
      for (auto& th : pool) th.join();
      set_num_threads(plan_.budget);
    }
    return {std::move(finished_), first_error_};
  }

 private:
  // Takes folds until none is left or one has failed; with `set_threads`,
  // sets each fold's thread count (ThreadPlan::threads_of) first.
  void work(bool set_threads) {
    for (int j; !failed_.load() && (j = next_.fetch_add(1)) < int(plan_.mine.size());) {
      const int i = plan_.mine[size_t(j)];
      if (set_threads) set_num_threads(plan_.threads_of(size_t(j)));
      const FoldTask t{i, i / res_.folds_per_repeat, i % res_.folds_per_repeat, &splits_[size_t(i)]};
      std::string unit = "dense";
      try {
        run_fold(t, unit);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!first_error_)
          first_error_ = std::make_exception_ptr(Error("study: fold " + std::to_string(i + 1) + ", " + unit + ": " + e.what()));
        failed_ = true;
      }
    }
  }

  // Fold t's dense model, then its recipes in run_order(); `unit` names the
  // one running, for the error if it fails. In parallel, the fold's epoch
  // lines are buffered and printed a unit at a time.
  void run_fold(const FoldTask& t, std::string& unit) {
    const int i = t.index;
    std::ostringstream buffer;
    std::ostringstream* buf = plan_.jobs > 1 && o_.train_log ? &buffer : nullptr;
    FoldRunner fr(data_, o_, t, buf ? buf : o_.train_log);
    auto [d, trained] = fr.dense();
    res_.dense[size_t(i)] = d;
    report(d, trained, buf, -1);
    for (size_t u = 0; u < order_.size() && !failed_.load(); ++u) {
      const size_t k = order_[u];
      unit = o_.recipes[k].name();
      auto [r, tr] = fr.recipe(o_.recipes[k]);
      res_.runs[k][size_t(i)] = r;
      report(r, tr, buf, int(k));
    }
  }

  // A finished unit (k: its recipe, -1 for dense): counted, recorded as this
  // rank's, its buffered epoch lines and its progress line printed.
  void report(const RunResult& r, bool trained, std::ostringstream* buffer, int k) {
    std::lock_guard<std::mutex> lock(mu_);
    (trained ? res_.trained : res_.resumed)++;
    finished_.emplace_back(k, r.index);
    if (buffer && o_.train_log) *o_.train_log << buffer->str() << std::flush, buffer->str("");
    if (o_.log) *o_.log << who_ << progress_line(res_, r, trained) << std::endl;
  }

  const datasets::DatasetPtr& data_;
  const std::vector<Fold>& splits_;
  const StudyOptions& o_;
  const ThreadPlan& plan_;
  const std::string& who_;
  StudyResult& res_;
  const std::vector<size_t> order_;
  std::atomic<int> next_{0};
  std::atomic<bool> failed_{false};
  std::mutex mu_;  // guards res_'s counts, finished_, first_error_ and the logs
  std::exception_ptr first_error_;
  std::vector<std::pair<int, int>> finished_;  // (recipe or -1 for dense, fold) units this rank has
};

}  // namespace

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MINIDL_CHECK(in, "cannot read ", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

ThreadPlan plan_threads(const StudyOptions& o, std::vector<int> mine) {
  ThreadPlan p;
  p.budget = get_num_threads();
  p.jobs = std::min({o.jobs, std::max(1, int(mine.size())), o.threads > 0 ? std::max(1, p.budget / o.threads) : p.budget});
  p.threads = o.threads > 0 ? o.threads : std::max(1, p.budget / p.jobs);
  // Folds run `jobs` at a time; when the folds do not divide evenly, the last
  // ones (fewer than `jobs`) would leave cores idle, so they split the whole
  // budget between them instead (5 folds, 2 jobs on 2 cores: four folds at
  // 1 thread in pairs, the fifth at 2). Decided by position, not by timing,
  // so a fold's thread count — and with it its bits — is the same every run.
  p.full = mine.size() / size_t(p.jobs) * size_t(p.jobs);
  p.tail_threads = o.threads > 0 || p.full == mine.size() ? p.threads : std::max(1, p.budget / int(mine.size() - p.full));
  p.mine = std::move(mine);
  return p;
}

FoldsRun run_folds(const datasets::DatasetPtr& data, const std::vector<Fold>& splits, const StudyOptions& o,
                   const ThreadPlan& plan, const std::string& who, StudyResult& res) {
  return FoldPool(data, splits, o, plan, who, res).run();
}

}  // namespace minidl::validate::detail
