#include "validate/study.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "compress/report.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/random.h"
#include "datasets/loader.h"
#include "nn/checkpoint.h"
#include "nn/trainer.h"
#include "validate/cross_validate.h"
#include "validate/deal.h"
#include "validate/study_steps.h"

namespace minidl::validate {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// The default generator's per-fold seed, exactly as cross_validate derives it
// (splitmix64's finaliser of seed ^ 0x5eedf01d), so the dense models match.
uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t name_hash(const std::string& s) {  // FNV-1a: a recipe's own generator stream
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char ch : s) h = (h ^ ch) * 0x100000001b3ULL;
  return h;
}

std::string model_name(const nn::SeedCNNOptions& m) {
  return "seed CNN(conv " + std::to_string(m.conv1_channels) + "/" + std::to_string(m.conv2_channels) + ", hidden " +
         std::to_string(m.hidden) + (m.batchnorm ? ", BatchNorm" : "") + ")";
}

json manifest(const datasets::Dataset& data, const Splitter& splitter, const StudyOptions& o) {
  return {{"format", "minidl study 1"}, {"dataset", data.name()},       {"size", data.size()},
          {"splitter", splitter.name()}, {"train", o.train.describe()}, {"finetune", o.finetune.describe()},
          {"normalize", o.train.normalize}, {"model", model_name(o.model)}, {"seed", o.seed}};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  MINIDL_CHECK(in, "cannot read ", path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void check_manifest(const std::string& dir, const json& want) {
  const std::string path = (fs::path(dir) / "study.json").string();
  if (!fs::exists(path)) return;
  json have;
  try {
    have = json::parse(read_text(path));
  } catch (const json::exception& e) {
    throw Error(path + ": not a study manifest (" + e.what() + ")");
  }
  for (const auto& [key, value] : want.items())
    MINIDL_CHECK(have.contains(key) && have[key] == value, "--out ", dir,
                 " holds a study made with other settings: ", key, " was ",
                 have.contains(key) ? have[key].dump() : "missing", ", now ", value.dump(),
                 "; use the same settings to resume it, or another --out");
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
      manual_seed(mix64(f_.seed ^ 0x5eedf01dULL));
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
      manual_seed(mix64(f_.seed ^ name_hash(rc.name())));
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

// Holds an exclusive flock on DIR/study.lock while a study runs there: a second
// study in the same directory is refused (the kernel drops the lock when the
// process dies, even by kill -9). With it held, temporaries left by a killed
// run (write_file_atomic's "<file>.tmp.<pid>.<n>") can be deleted safely.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) {
    const std::string path = (dir / "study.lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    MINIDL_CHECK(fd_ >= 0, "cannot open ", path);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error("--out " + dir.string() + ": another study is running in this directory");
    }
    for (const auto& e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename().string().find(".tmp.") != std::string::npos)
        fs::remove(e.path());
  }
  ~DirLock() { ::close(fd_); }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

// The checks (check_study), DIR created and, on rank 0, its lock taken and the manifest
// written. Under mpirun every rank's checks must pass before any trains:
// raise_if_any_failed lets all or none go on.
void open_study_dir(std::optional<DirLock>& lock, const datasets::Dataset& data, const Splitter& splitter,
                    const StudyOptions& o, Communicator* group) {
  std::string error;
  try {
    check_study(data, splitter, o);
    fs::create_directories(o.out_dir);
    if (!group || group->rank() == 0) {
      lock.emplace(o.out_dir);
      nn::write_file_atomic((fs::path(o.out_dir) / "study.json").string(), manifest(data, splitter, o).dump(2) + "\n");
    }
  } catch (const std::exception& e) {
    if (!group) throw;
    error = e.what();
  }
  if (group) raise_if_any_failed(*group, error, "study");
}

}  // namespace

bool recipe_runnable(const Recipe& r, std::string* why) {
  for (const RecipeStep& s : r.steps)
    if (!detail::step_available(s.kind, why)) return false;
  return true;
}

void check_study(const datasets::Dataset& data, const Splitter& splitter, const StudyOptions& o) {
  o.train.validate();
  o.finetune.validate();
  MINIDL_CHECK(data.size() > 0, "study: the data set is empty");
  MINIDL_CHECK(splitter.n_splits() >= 2, "study: ", splitter.name(), " gives ", splitter.n_splits(),
               " fold(s); a study needs at least 2");
  MINIDL_CHECK(o.jobs >= 1 && o.jobs <= 1024, "study: jobs must be in [1, 1024], got ", o.jobs);
  MINIDL_CHECK(o.threads >= 0 && o.threads <= 1024, "study: threads must be in [0, 1024], got ", o.threads);
  MINIDL_CHECK(o.latency_rounds >= 0 && o.latency_images >= 1, "study: latency rounds must be >= 0 and images >= 1");
  MINIDL_CHECK(data.item_shape().size() == 3, "study: the seed CNN needs [C, H, W] images, the data set has items of ",
               data.item_shape().size(), " dimensions");
  for (const Recipe& r : o.recipes) {
    std::string why;
    MINIDL_CHECK(recipe_runnable(r, &why), "recipe '", r.name(), "': ", why);
  }
  MINIDL_CHECK(!o.out_dir.empty(), "study: an output directory is required (--out DIR)");
  const fs::path dir = fs::absolute(o.out_dir);
  MINIDL_CHECK(!fs::exists(dir) || fs::is_directory(dir), "--out ", o.out_dir,
               " is a file, not a directory (the study writes several files into it)");
  MINIDL_CHECK(fs::is_directory(dir.parent_path()), "--out ", o.out_dir, ": its parent directory ",
               dir.parent_path().string(), " does not exist");
  check_manifest(o.out_dir, manifest(data, splitter, o));
}

StudyResult run_study(const datasets::DatasetPtr& data, const Splitter& splitter, const StudyOptions& o) {
  MINIDL_CHECK(data, "study: no data set");
  // Under mpirun this rank runs the folds validate/deal.h deals it.
  Communicator* group = o.process_group && o.process_group->world_size() > 1 ? o.process_group : nullptr;
  const int rank = group ? group->rank() : 0;
  const auto t0 = Clock::now();
  std::optional<DirLock> lock;
  open_study_dir(lock, *data, splitter, o, group);

  const std::vector<Fold> splits = splitter.split(data->labels());
  const int n = int(splits.size());
  StudyResult res;
  res.splitter = splitter.name();
  res.dataset = data->name();
  res.train_recipe = o.train.describe();
  res.finetune_recipe = o.finetune.describe();
  res.model = model_name(o.model);
  res.seed = o.seed;
  res.repeats = std::max(1, splitter.n_repeats());
  res.folds_per_repeat = n / res.repeats;
  res.world_size = group ? group->world_size() : 1;
  const std::vector<int> mine = dealt_jobs(n, rank, res.world_size);
  const int budget = get_num_threads();
  res.jobs = std::min({o.jobs, std::max(1, int(mine.size())), o.threads > 0 ? std::max(1, budget / o.threads) : budget});
  res.threads = o.threads > 0 ? o.threads : std::max(1, budget / res.jobs);
  // Folds run `jobs` at a time; when the folds do not divide evenly, the last
  // ones (fewer than `jobs`) would leave cores idle, so they split the whole
  // budget between them instead (5 folds, 2 jobs on 2 cores: four folds at
  // 1 thread in pairs, the fifth at 2). Decided by position, not by timing,
  // so a fold's thread count — and with it its bits — is the same every run.
  const size_t full = mine.size() / size_t(res.jobs) * size_t(res.jobs);
  const int tail_threads = o.threads > 0 || full == mine.size()
                               ? res.threads
                               : std::max(1, budget / int(mine.size() - full));
  auto threads_of = [&](size_t j) { return j < full ? res.threads : tail_threads; };
  res.dense.resize(size_t(n));
  res.runs.assign(o.recipes.size(), std::vector<RunResult>(size_t(n)));
  if (o.log && rank == 0)
    *o.log << "study: " << res.splitter << " on " << res.dataset << " (" << data->size() << " items), " << n
           << " folds, " << (group ? std::to_string(res.world_size) + " ranks (fold i on rank i mod " +
                                        std::to_string(res.world_size) + ") x "
                                  : "")
           << res.jobs << (res.jobs == 1 ? " job" : " jobs") << " x " << res.threads << " thread"
           << (res.threads == 1 ? "" : "s")
           << (tail_threads != res.threads ? " (the last " + std::to_string(mine.size() - full) + ": " +
                                                 std::to_string(tail_threads) + " threads)"
                                           : std::string())
           << "\ndense model: " << res.model << ", " << res.train_recipe
           << "\nfine-tuning: " << res.finetune_recipe << "\nrecipes:";
  if (o.log && rank == 0) {
    for (const Recipe& r : o.recipes) *o.log << " " << r.name();
    *o.log << "\nresults and resume state: " << o.out_dir << std::endl;
  }

  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::exception_ptr first_error;
  std::vector<std::pair<int, int>> finished;  // (recipe or -1 for dense, fold) units this rank has
  const std::string who = group ? "rank " + std::to_string(rank) + " " : "";
  auto report = [&](const RunResult& r, bool trained, std::ostringstream* buffer, int k) {
    std::lock_guard<std::mutex> lock(mu);
    (trained ? res.trained : res.resumed)++;
    finished.emplace_back(k, r.index);
    if (buffer && o.train_log) *o.train_log << buffer->str() << std::flush, buffer->str("");
    if (o.log) *o.log << who << progress_line(res, r, trained) << std::endl;
  };
  const std::vector<size_t> order = run_order(o.recipes);
  auto worker = [&](bool set_threads) {
    for (int j; !failed.load() && (j = next.fetch_add(1)) < int(mine.size());) {
      const int i = mine[size_t(j)];
      if (set_threads) set_num_threads(threads_of(size_t(j)));
      const FoldTask t{i, i / res.folds_per_repeat, i % res.folds_per_repeat, &splits[size_t(i)]};
      std::string unit = "dense";
      try {
        std::ostringstream buffer;
        std::ostringstream* buf = res.jobs > 1 && o.train_log ? &buffer : nullptr;
        FoldRunner fr(data, o, t, buf ? buf : o.train_log);
        auto [d, trained] = fr.dense();
        res.dense[size_t(i)] = d;
        report(d, trained, buf, -1);
        for (size_t u = 0; u < order.size() && !failed.load(); ++u) {
          const size_t k = order[u];
          unit = o.recipes[k].name();
          auto [r, tr] = fr.recipe(o.recipes[k]);
          res.runs[k][size_t(i)] = r;
          report(r, tr, buf, int(k));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error)
          first_error = std::make_exception_ptr(Error("study: fold " + std::to_string(i + 1) + ", " + unit + ": " + e.what()));
        failed = true;
      }
    }
  };
  if (res.jobs == 1) {
    const bool change = res.threads != budget;
    if (change) set_num_threads(res.threads);
    worker(false);
    if (change) set_num_threads(budget);
  } else {
    set_num_threads(res.threads);
    std::vector<std::thread> pool;
    for (int j = 0; j < res.jobs; ++j) pool.emplace_back(worker, true);
    for (auto& th : pool) th.join();
    set_num_threads(budget);
  }
  if (group) {  // every rank's units (or every rank's errors) on every rank
    exchange_units(res, finished, error_text(first_error), *group);
  } else if (first_error) {
    std::rethrow_exception(first_error);
  }

  double ratio = 0;
  for (const RunResult& d : res.dense) ratio += double(d.test_size) / double(d.train_size);
  res.test_train_ratio = ratio / n;
  for (size_t k = 0; k < o.recipes.size(); ++k)
    res.summaries.push_back(summarize_recipe(o.recipes[k].name(), res.runs[k], res.dense, res.test_train_ratio));
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

RecipeSummary summarize_recipe(const std::string& recipe, const std::vector<RunResult>& runs,
                               const std::vector<RunResult>& dense, double test_train_ratio) {
  MINIDL_CHECK(!runs.empty() && runs.size() == dense.size(), "summarize_recipe: ", runs.size(), " runs for ",
               dense.size(), " folds");
  RecipeSummary s;
  s.recipe = recipe;
  std::vector<double> acc, f1, diff;
  double sp1 = 0, sp256 = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    acc.push_back(r.accuracy);
    f1.push_back(r.macro_f1);
    diff.push_back(r.accuracy - dense[i].accuracy);
    s.stored_bytes += double(r.stored_bytes) / double(runs.size());
    s.dense_bytes += double(dense[i].stored_bytes) / double(runs.size());
    s.nonzeros += double(r.nonzeros) / double(runs.size());
    s.macs += double(r.macs) / double(runs.size());
    sp1 += r.dense_latency1_ms / r.latency1_ms / double(runs.size());
    sp256 += r.dense_latency256_ms / r.latency256_ms / double(runs.size());
  }
  s.accuracy = summarize(acc);
  s.macro_f1 = summarize(f1);
  s.diff = summarize(diff);
  s.diff_corrected = summarize(diff, test_train_ratio);
  s.compression = s.dense_bytes / s.stored_bytes;
  s.speedup1 = sp1;
  s.speedup256 = sp256;
  // The verdict speaks of the cost in points: cost = −diff, its interval [−hi, −lo].
  const Summary& c = s.diff_corrected;
  const bool gain = c.mean > 0;
  const double m = std::fabs(c.mean) * 100, lo = (gain ? c.lo() : -c.hi()) * 100, hi = (gain ? c.hi() : -c.lo()) * 100;
  std::ostringstream v;
  v << recipe << (gain ? " gains " : " costs ") << fixed(m, 2) << " pt [" << fixed(lo, 2) << ", " << fixed(hi, 2)
    << "] at " << fixed(s.compression, 1) << "x smaller";
  if (std::isfinite(s.speedup256))
    v << ", " << fixed(s.speedup1, 2) << "x / " << fixed(s.speedup256, 2) << "x the dense speed (batch 1 / 256)";
  s.verdict = v.str();
  return s;
}

}  // namespace minidl::validate
