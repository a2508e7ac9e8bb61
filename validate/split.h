// minidl/validate/split.h — train/test splitters with scikit-learn 1.2's semantics.
//
// Modelled on sklearn/model_selection/_split.py: each splitter is a small value
// object configured in its constructor, with one `split` method that turns a
// data set (given by its labels, or just its size) into a list of Folds. A Fold
// holds indices into the data set, never data.
//
// Common shape (so generic code such as a cross_validate(...) can take any
// splitter, either as a template parameter or as `const Splitter&`):
//
//   std::vector<Fold> split(const std::vector<int64_t>& labels) const;
//       Non-stratified splitters only look at labels.size().
//   int n_splits() const;            number of Folds split() returns
//   std::string name() const;        e.g. "StratifiedKFold(k=5, shuffle=true, seed=1)"
//
// Index order inside a Fold:
//   * train is always ascending.
//   * test follows scikit-learn: ascending for every k-fold splitter (sklearn
//     builds k-fold test sets from boolean masks, so even a shuffled KFold
//     yields sorted test indices); in random order for Holdout (sklearn's
//     train_test_split / ShuffleSplit return a permutation).
//
// Determinism. Without shuffling, KFold and StratifiedKFold return exactly the
// folds scikit-learn 1.2.1 returns (checked by tests/sklearn_split_parity.py).
// With shuffling we use our own seeded generator (xoshiro256** seeded through
// splitmix64, Lemire's unbiased bounded integers, Fisher–Yates), not numpy's,
// so shuffled folds differ from sklearn's but keep every structural guarantee
// below. A given (configuration, seed, input) always gives the same folds on
// every platform and standard library; different seeds give different folds.
//
// Errors throw minidl::Error naming the argument and its allowed range:
//   * k < 2 (constructor), repeats < 1 (constructor), test_fraction not in (0, 1);
//   * shuffle == false with seed != 0 (sklearn: "Setting a random_state has no
//     effect since shuffle is False");
//   * empty input; k > n_samples;
//   * StratifiedKFold when every class has fewer than k members.
// When only some class has fewer than k members, StratifiedKFold calls
// minidl::warn(...) (see core/error.h) and continues, exactly like sklearn.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl::validate {

// One train/test split: indices into the data set.
struct Fold {
  std::vector<int64_t> train, test;
};

// Runtime-polymorphic view of every splitter below.
class Splitter {
 public:
  virtual ~Splitter() = default;
  virtual std::vector<Fold> split(const std::vector<int64_t>& labels) const = 0;
  virtual int n_splits() const = 0;
  virtual std::string name() const = 0;
  // How many complete passes over the data split() makes: the Repeated*
  // splitters return `repeats` (their Folds come in n_repeats() groups of
  // n_splits() / n_repeats()), every other splitter 1. cross_validate uses it
  // to number folds as (repeat, fold).
  virtual int n_repeats() const { return 1; }
};

// ---------------------------------------------------------------------------
// KFold(k, shuffle=false, seed=0) — sklearn.model_selection.KFold.
//
// Take the indices 0..n-1 (permuted by Fisher–Yates when shuffle is true) and
// cut them into k consecutive blocks. The first n % k blocks have n/k + 1
// samples, the remaining ones n/k (integer division), so fold sizes differ by
// at most one. Block i is the test set of fold i, sorted ascending; the train
// set is everything else, ascending. Each index is in exactly one test set.
//
//   KFold(3).split(10): test sets {0,1,2,3}, {4,5,6}, {7,8,9}.
//
// Requires 2 <= k <= n_samples.
class KFold : public Splitter {
 public:
  explicit KFold(int k, bool shuffle = false, uint64_t seed = 0);
  std::vector<Fold> split(int64_t n_samples) const;
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  int n_splits() const override { return k_; }
  std::string name() const override;

 private:
  int k_;
  bool shuffle_;
  uint64_t seed_;
};

// ---------------------------------------------------------------------------
// StratifiedKFold(k, shuffle=false, seed=0) — sklearn.model_selection.
// StratifiedKFold, reproducing sklearn 1.2's `_make_test_folds` step by step:
//
//  1. Encode classes in order of FIRST APPEARANCE in `labels`: the label of
//     sample 0 is class 0, the next unseen label is class 1, and so on. (sklearn
//     does this with np.unique(return_index, return_inverse) so that relabelling
//     classes never changes the folds.) Let n_c be the number of samples of c.
//  2. Allocation by round robin over the SORTED codes: write the codes in
//     ascending order (n_0 zeros, then n_1 ones, ...) and deal position p to
//     fold p % k. allocation[i][c] = how many class-c positions fold i got.
//     Hence fold i gets floor(n_c/k) or ceil(n_c/k) samples of class c, and
//     total fold sizes differ by at most one (the first n % k folds have n/k+1).
//  3. For each class c, build the block list [0]*allocation[0][c] +
//     [1]*allocation[1][c] + ... + [k-1]*allocation[k-1][c] (shuffled with the
//     generator, one class after another, when shuffle is true) and hand it
//     out to the class-c samples in ascending index order: without shuffling,
//     the first samples of each class go to fold 0, the next to fold 1, ...
//  4. Test set of fold i = all samples assigned to fold i, ascending; train =
//     the rest, ascending.
//
//   labels {1,1,2,1,0,0,2,0,2}, k=2  ->  test sets {0,1,2,4,5}, {3,6,7,8}
//   (worked by hand in tests/test_split.cpp).
//
// Requires 2 <= k <= n_samples and at least one class with >= k members;
// warns (minidl::warn) if the smallest class has fewer than k members.
class StratifiedKFold : public Splitter {
 public:
  explicit StratifiedKFold(int k, bool shuffle = false, uint64_t seed = 0);
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  int n_splits() const override { return k_; }
  std::string name() const override;

 private:
  int k_;
  bool shuffle_;
  uint64_t seed_;
};

// ---------------------------------------------------------------------------
// RepeatedKFold(k, repeats, seed=0) — sklearn.model_selection.RepeatedKFold.
//
// `repeats` shuffled KFold(k) runs, one after another: k * repeats Folds, the
// folds of repeat r at positions [r*k, (r+1)*k). Like sklearn (which passes one
// RandomState through all repeats), one generator seeded with `seed` draws a
// fresh 64-bit seed for each repeat, so repeats differ from each other. Every
// repeat on its own is a complete KFold partition of 0..n-1.
class RepeatedKFold : public Splitter {
 public:
  RepeatedKFold(int k, int repeats, uint64_t seed = 0);
  std::vector<Fold> split(int64_t n_samples) const;
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  int n_splits() const override { return k_ * repeats_; }
  int n_repeats() const override { return repeats_; }
  std::string name() const override;

 private:
  int k_, repeats_;
  uint64_t seed_;
};

// ---------------------------------------------------------------------------
// RepeatedStratifiedKFold(k, repeats, seed=0) — likewise with shuffled
// StratifiedKFold(k) runs: k * repeats Folds, each repeat a stratified
// partition (same per-class fold counts as the unshuffled version, different
// samples).
class RepeatedStratifiedKFold : public Splitter {
 public:
  RepeatedStratifiedKFold(int k, int repeats, uint64_t seed = 0);
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  int n_splits() const override { return k_ * repeats_; }
  int n_repeats() const override { return repeats_; }
  std::string name() const override;

 private:
  int k_, repeats_;
  uint64_t seed_;
};

// ---------------------------------------------------------------------------
// Holdout(test_fraction, stratify=false, seed=0) — sklearn's
// train_test_split(test_size=test_fraction, shuffle=True, stratify=...).
//
// Sizes (sklearn's _validate_shuffle_split): n_test = ceil(test_fraction * n),
// n_train = n - n_test; both must be non-empty. The product is rounded like
// Python's float, so e.g. test_fraction=0.07, n=100 gives 7.000000000000001
// -> n_test = 8, exactly as sklearn.
//
// Not stratified (ShuffleSplit): permute 0..n-1; the first n_test indices of
// the permutation are the test set (kept in that random order), the rest the
// train set (sorted).
//
// Stratified (StratifiedShuffleSplit): classes in ascending label order with
// counts n_c. Per-class train counts t_c = approximate_mode(n_c, n_train):
// floor(n_c * n_train / n) each, then the samples still missing go one each to
// the classes with the largest fractional remainders (ties broken at random).
// The test count of class c is n_c - t_c, so both parts have exactly their
// size and each class's test count is within one of n_c * n_test / n. Inside
// each class a random permutation picks which samples go to train. Requires
// every class to have >= 2 members and n_train, n_test >= number of classes.
//
// split() returns a vector with the single Fold; split_once() the Fold itself.
class Holdout : public Splitter {
 public:
  explicit Holdout(double test_fraction, bool stratify = false, uint64_t seed = 0);
  Fold split_once(const std::vector<int64_t>& labels) const;
  Fold split_once(int64_t n_samples) const;  // not allowed when stratify is true
  std::vector<Fold> split(const std::vector<int64_t>& labels) const override;
  std::vector<Fold> split(int64_t n_samples) const;
  int n_splits() const override { return 1; }
  std::string name() const override;

 private:
  double test_fraction_;
  bool stratify_;
  uint64_t seed_;
};

}  // namespace minidl::validate
