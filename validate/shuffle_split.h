// minidl/validate/shuffle_split.h — ShuffleSplit and StratifiedShuffleSplit
// with scikit-learn 1.2's semantics *and* its random numbers: for the same
// random_state they return exactly sklearn's splits, index for index (checked
// live by tests/sklearn_split_parity.py), because they draw from a
// reproduction of numpy.random.RandomState (validate/numpy_random.h) in the
// order sklearn's _split.py draws. (The k-fold splitters in split.h shuffle
// with minidl's own generator instead; see there.)
//
// Sizes follow sklearn's _validate_shuffle_split. A size is either a fraction
// of n in (0, 1) or a count in [1, n) — sklearn tells them apart by the
// Python type (0.5 vs 5), here by SplitSize::fraction / SplitSize::count:
//   n_test  = ceil(test_fraction · n)  or the count,
//   n_train = floor(train_fraction · n) or the count,
//   an unset one is n minus the other; neither set: test_size = 0.1.
//   n_train + n_test <= n and n_train >= 1, else an error naming the sizes.
//
// Both splitters return n_splits independent splits (the samples left out of
// n_train + n_test are in neither part). Unlike the k-fold splitters, train
// and test come in sklearn's (random) order, not sorted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "validate/split.h"

namespace minidl::validate {

struct SplitSize {
  static SplitSize fraction(double f) { return {true, false, f}; }
  static SplitSize count(int64_t n) { return {true, true, double(n)}; }
  static SplitSize none() { return {}; }  // sklearn's None
  bool given = false, is_count = false;
  double value = 0;
  bool set() const { return given; }
};

// {n_train, n_test} for n samples, or an error naming what is wrong.
std::pair<int64_t, int64_t> shuffle_split_sizes(int64_t n, SplitSize test, SplitSize train, const char* who);

// ShuffleSplit(n_splits, test_size, train_size, random_state): each split is
// permutation(n) (a fresh one per split, from one RandomState): its first
// n_test entries are the test set, the next n_train the train set.
class ShuffleSplit : public Splitter {
 public:
  explicit ShuffleSplit(int n_splits = 10, SplitSize test_size = SplitSize::none(),
                        SplitSize train_size = SplitSize::none(), uint32_t random_state = 0);
  std::vector<Fold> split(int64_t n_samples) const;
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  int n_splits() const override { return n_splits_; }
  std::string name() const override;

 private:
  int n_splits_;
  SplitSize test_, train_;
  uint32_t seed_;
};

// StratifiedShuffleSplit(n_splits, test_size, train_size, random_state):
// classes in ascending label order with counts n_c (each >= 2); per split,
//   t_c = approximate_mode(n_c, n_train), then s_c = approximate_mode(n_c − t_c, n_test)
// (sklearn.utils._approximate_mode: floor(n_c · draws / Σn) each, then the
// missing ones one each to the largest fractional remainders, ties broken by
// RandomState.choice); then per class a permutation of its samples (ascending
// index order first) gives its first t_c to train and the next s_c to test;
// finally train and test are each permuted. n_train and n_test must each be
// >= the number of classes.
class StratifiedShuffleSplit : public Splitter {
 public:
  explicit StratifiedShuffleSplit(int n_splits = 10, SplitSize test_size = SplitSize::none(),
                                  SplitSize train_size = SplitSize::none(), uint32_t random_state = 0);
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  int n_splits() const override { return n_splits_; }
  std::string name() const override;

 private:
  int n_splits_;
  SplitSize test_, train_;
  uint32_t seed_;
};

}  // namespace minidl::validate
