// minidl/validate/study_fold.h — how a study runs its folds: each fold's
// dense model and recipes, trained now or loaded from the study directory,
// `jobs` folds at a time (internal to validate/study.cpp; the code is in
// validate/study_fold.cpp).
#pragma once

#include <cstddef>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "datasets/dataset.h"
#include "validate/split.h"
#include "validate/study.h"

namespace minidl::validate::detail {

// The whole contents of the file at `path`.
std::string read_text(const std::string& path);

// How this rank's folds share the thread budget (plan_threads).
struct ThreadPlan {
  std::vector<int> mine;  // the folds this rank runs (validate/deal.h), in the order it runs them
  int budget = 1;         // the thread count when the study started, restored at the end
  int jobs = 1;           // folds at a time
  int threads = 1;        // threads of each of the first `full` folds
  size_t full = 0;        // mine[0, full) run `jobs` at a time; the rest at tail_threads each
  int tail_threads = 1;
  int threads_of(size_t j) const { return j < full ? threads : tail_threads; }  // of mine[j]
};

// The plan for running the folds `mine` with o.jobs and o.threads on the
// current thread count.
ThreadPlan plan_threads(const StudyOptions& o, std::vector<int> mine);

// What run_folds leaves for the ranks' exchange: the (recipe or -1 for
// dense, fold) units this rank has, and the first error (null: none).
struct FoldsRun {
  std::vector<std::pair<int, int>> finished;
  std::exception_ptr first_error;
};

// Runs this rank's folds (plan.mine) of `splits`, plan.jobs at a time: each
// fold's dense model, then its recipes (trained, or loaded when done
// before). Fills res.dense and res.runs, counts res.trained / res.resumed and
// prints a line per unit on o.log, `who` first. The first error stops every
// worker; it is returned, not thrown.
FoldsRun run_folds(const datasets::DatasetPtr& data, const std::vector<Fold>& splits, const StudyOptions& o,
                   const ThreadPlan& plan, const std::string& who, StudyResult& res);

}  // namespace minidl::validate::detail
