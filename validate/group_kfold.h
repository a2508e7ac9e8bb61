// minidl/validate/group_kfold.h — GroupKFold and LeaveOneOut, scikit-learn 1.2's.
//
// GroupKFold(k): samples of one group (a patient, a recording session, a
// photographer...) are never split between train and test, so a model cannot
// score by recognising the group. sklearn's greedy balancing, step by step:
//  1. Groups are numbered in ascending group-label order; w_g = size of group g.
//  2. Order the groups by decreasing size: the reverse of np.argsort(w)
//     (NumPy's unstable introsort; how equal sizes end up ordered is part of
//     the result, so validate/numpy_random.h reproduces that sort exactly).
//  3. Give each group, in that order, to the fold with the fewest samples so
//     far (the first such fold on ties).
//  4. Test set of fold i = the samples of its groups, ascending; train = the
//     rest, ascending.
// Not randomised (sklearn 1.2's GroupKFold has no shuffle). Requires
// 2 <= k <= number of distinct groups and one group label per sample.
//
//   GroupKFold(2).split(labels, groups {0,0,0,1,1,2}): sizes 3,2,1 → group 0
//   to fold 0, group 1 to fold 1, group 2 to fold 1: tests {0,1,2}, {3,4,5}.
//
// LeaveOneOut(): n folds; fold i tests sample i alone and trains on the other
// n − 1 (ascending). Requires n >= 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "validate/split.h"

namespace minidl::validate {

class GroupKFold : public Splitter {
 public:
  // `groups` (one per sample) may also be given to split() instead.
  explicit GroupKFold(int k = 5, std::vector<int64_t> groups = {});
  std::vector<Fold> split(const std::vector<int64_t>& labels, const std::vector<int64_t>& groups) const;
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override { return split(labels, groups_); }
  int n_splits() const override { return k_; }
  std::string name() const override { return "GroupKFold(k=" + std::to_string(k_) + ")"; }

 private:
  int k_;
  std::vector<int64_t> groups_;
};

class LeaveOneOut : public Splitter {
 public:
  // As many folds as samples, so the count depends on the data (sklearn's
  // get_n_splits needs X for the same reason): n_splits() returns -1;
  // split(...).size() is the count.
  std::vector<Fold> split(int64_t n_samples) const;
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override {
    return split(int64_t(labels.size()));
  }
  int n_splits() const override { return -1; }
  std::string name() const override { return "LeaveOneOut()"; }
};

}  // namespace minidl::validate
