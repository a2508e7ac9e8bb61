#include "validate/study.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/error.h"
#include "nn/checkpoint.h"
#include "validate/deal.h"
#include "validate/study_fold.h"
#include "validate/study_steps.h"

namespace minidl::validate {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using detail::read_text;

namespace {

std::string model_name(const nn::SeedCNNOptions& m) {
  return "seed CNN(conv " + std::to_string(m.conv1_channels) + "/" + std::to_string(m.conv2_channels) + ", hidden " +
         std::to_string(m.hidden) + (m.batchnorm ? ", BatchNorm" : "") + ")";
}

json manifest(const datasets::Dataset& data, const Splitter& splitter, const StudyOptions& o) {
  return {{"format", "minidl study 1"}, {"dataset", data.name()},       {"size", data.size()},
          {"splitter", splitter.name()}, {"train", o.train.describe()}, {"finetune", o.finetune.describe()},
          {"normalize", o.train.normalize}, {"model", model_name(o.model)}, {"seed", o.seed}};
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

// The study's description (what it runs, on what, the folds' numbering);
// jobs, threads and the results come later.
StudyResult describe_study(const datasets::Dataset& data, const Splitter& splitter, const StudyOptions& o, int n,
                           int world_size) {
  StudyResult res;
  res.splitter = splitter.name();
  res.dataset = data.name();
  res.train_recipe = o.train.describe();
  res.finetune_recipe = o.finetune.describe();
  res.model = model_name(o.model);
  res.seed = o.seed;
  res.repeats = std::max(1, splitter.n_repeats());
  res.folds_per_repeat = n / res.repeats;
  res.world_size = world_size;
  return res;
}

// The study's first lines on the log: the folds, where and on how many
// threads they run, the dense model, the recipes and DIR.
void log_start(std::ostream& log, const datasets::Dataset& data, const StudyOptions& o, const StudyResult& res,
               const detail::ThreadPlan& plan, int n, bool ranks) {
  log << "study: " << res.splitter << " on " << res.dataset << " (" << data.size() << " items), " << n
      << " folds, " << (ranks ? std::to_string(res.world_size) + " ranks (fold i on rank i mod " +
                                    std::to_string(res.world_size) + ") x "
                              : "")
      << res.jobs << (res.jobs == 1 ? " job" : " jobs") << " x " << res.threads << " thread"
      << (res.threads == 1 ? "" : "s")
      << (plan.tail_threads != res.threads ? " (the last " + std::to_string(plan.mine.size() - plan.full) + ": " +
                                                 std::to_string(plan.tail_threads) + " threads)"
                                           : std::string())
      << "\ndense model: " << res.model << ", " << res.train_recipe
      << "\nfine-tuning: " << res.finetune_recipe << "\nrecipes:";
  for (const Recipe& r : o.recipes) log << " " << r.name();
  log << "\nresults and resume state: " << o.out_dir << std::endl;
}

// Each recipe's summary over the n folds, its corrected interval with the
// folds' mean n_test / n_train.
void summarize_recipes(StudyResult& res, const std::vector<Recipe>& recipes, int n) {
  double ratio = 0;
  for (const RunResult& d : res.dense) ratio += double(d.test_size) / double(d.train_size);
  res.test_train_ratio = ratio / n;
  for (size_t k = 0; k < recipes.size(); ++k)
    res.summaries.push_back(summarize_recipe(recipes[k].name(), res.runs[k], res.dense, res.test_train_ratio));
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
  StudyResult res = describe_study(*data, splitter, o, n, group ? group->world_size() : 1);
  const detail::ThreadPlan plan = detail::plan_threads(o, dealt_jobs(n, rank, res.world_size));
  res.jobs = plan.jobs;
  res.threads = plan.threads;
  res.dense.resize(size_t(n));
  res.runs.assign(o.recipes.size(), std::vector<RunResult>(size_t(n)));
  if (o.log && rank == 0) log_start(*o.log, *data, o, res, plan, n, group != nullptr);

  const std::string who = group ? "rank " + std::to_string(rank) + " " : "";
  const detail::FoldsRun run = detail::run_folds(data, splits, o, plan, who, res);
  if (group) {  // every rank's units (or every rank's errors) on every rank
    exchange_units(res, run.finished, error_text(run.first_error), *group);
  } else if (run.first_error) {
    std::rethrow_exception(run.first_error);
  }

  summarize_recipes(res, o.recipes, n);
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

}  // namespace minidl::validate
