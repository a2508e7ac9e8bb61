// Tests for validate/shuffle_split.h, validate/group_kfold.h and
// validate/numpy_random.h: numpy's known outputs, structural invariants
// (sizes, disjointness, stratification, groups never split), determinism and
// the errors. Index-for-index agreement with scikit-learn is checked live by
// tests/sklearn_split_parity.py.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "minidl.h"
#include "validate/numpy_random.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::validate;
using minidl::test::contains;
using minidl::test::error_of;
using Idx = std::vector<int64_t>;

TEST_CASE("RandomState reproduces numpy's legacy permutation; argsort numpy's quicksort") {
  // np.random.RandomState(0).permutation(10) and RandomState(42).permutation(5), numpy 1.24
  CHECK(RandomState(0).permutation(10) == Idx{2, 8, 4, 9, 1, 6, 7, 3, 0, 5});
  CHECK(RandomState(42).permutation(5) == Idx{1, 4, 2, 0, 3});
  RandomState r(7);
  for (int i = 0; i < 1000; ++i) CHECK(r.interval(6) <= 6);
  // argsort: a valid sorting permutation (tie order is numpy's, checked live)
  const Idx v{3, 1, 2, 1, 3, 0, 2, 2, 1, 0, 3, 3, 1, 2, 0, 1, 2, 3, 0, 1, 2, 2, 1};
  Idx o = argsort_quicksort(v);
  Idx sorted_o = o;
  std::sort(sorted_o.begin(), sorted_o.end());
  for (size_t i = 0; i < v.size(); ++i) CHECK(sorted_o[i] == int64_t(i));
  for (size_t i = 1; i < o.size(); ++i) CHECK(v[size_t(o[i - 1])] <= v[size_t(o[i])]);
}

TEST_CASE("ShuffleSplit: sklearn's sizes, disjoint parts, seeded, fresh permutation per split") {
  const auto folds = ShuffleSplit(5, SplitSize::fraction(0.25), SplitSize::none(), 3).split(int64_t(10));
  REQUIRE(folds.size() == 5);
  for (const Fold& f : folds) {
    CHECK(f.test.size() == 3);   // ceil(0.25·10)
    CHECK(f.train.size() == 7);  // the rest
    std::set<int64_t> all(f.test.begin(), f.test.end());
    all.insert(f.train.begin(), f.train.end());
    CHECK(all.size() == 10);
  }
  CHECK(folds[0].test != folds[1].test);
  CHECK(ShuffleSplit(5, SplitSize::fraction(0.25), SplitSize::none(), 3).split(int64_t(10))[4].test == folds[4].test);
  // the first split is numpy's permutation: test = its first n_test entries
  CHECK(ShuffleSplit(1, SplitSize::count(3), SplitSize::none(), 0).split(int64_t(10))[0].test == Idx{2, 8, 4});
  // both sizes: samples may be left out; floor for train fractions
  const Fold f = ShuffleSplit(1, SplitSize::count(2), SplitSize::fraction(0.55), 1).split(int64_t(10))[0];
  CHECK(f.test.size() == 2);
  CHECK(f.train.size() == 5);
  CHECK(ShuffleSplit().split(int64_t(20))[0].test.size() == 2);  // default test_size 0.1
  CHECK(ShuffleSplit().n_splits() == 10);
}

TEST_CASE("StratifiedShuffleSplit: per-class counts by approximate mode, every split stratified") {
  Idx y;
  for (int i = 0; i < 60; ++i) y.push_back(i < 30 ? 5 : i < 50 ? -1 : 9);  // 30 / 20 / 10
  const auto folds = StratifiedShuffleSplit(4, SplitSize::fraction(0.2), SplitSize::none(), 11).split(y);
  for (const Fold& f : folds) {
    std::map<int64_t, int> te, tr;
    for (int64_t i : f.test) ++te[y[size_t(i)]];
    for (int64_t i : f.train) ++tr[y[size_t(i)]];
    CHECK(te == std::map<int64_t, int>{{-1, 4}, {5, 6}, {9, 2}});  // 12 test samples, proportional
    CHECK(tr == std::map<int64_t, int>{{-1, 16}, {5, 24}, {9, 8}});
    std::set<int64_t> all(f.test.begin(), f.test.end());
    all.insert(f.train.begin(), f.train.end());
    CHECK(all.size() == 60);
  }
  CHECK(folds[0].test != folds[1].test);
}

TEST_CASE("shuffle splitters' errors name the size and its range") {
  const Idx y{0, 0, 1, 1, 2, 2};
  CHECK(contains(error_of([&] { ShuffleSplit(2, SplitSize::fraction(1.0)).split(int64_t(10)); }),
                 "test_size=1 should be either positive and smaller than the number of samples 10"));
  CHECK(contains(error_of([&] { ShuffleSplit(2, SplitSize::count(10)).split(int64_t(10)); }), "test_size=10"));
  CHECK(contains(error_of([&] { ShuffleSplit(2, SplitSize::fraction(0.6), SplitSize::fraction(0.6)).split(int64_t(10)); }),
                 "sum of test_size and train_size"));
  CHECK(contains(error_of([&] { ShuffleSplit(2, SplitSize::count(6), SplitSize::count(5)).split(int64_t(10)); }),
                 "should be smaller than the number of samples 10"));
  CHECK(contains(error_of([&] { ShuffleSplit(0); }), "n_splits must be >= 1"));
  CHECK(contains(error_of([&] { StratifiedShuffleSplit(2, SplitSize::count(2)).split(y); }),
                 "test_size = 2 should be greater or equal to the number of classes = 3"));
  CHECK(contains(error_of([&] { StratifiedShuffleSplit(2, SplitSize::count(3)).split(Idx{0, 0, 1, 1, 2, 3, 3}); }),
                 "only 1 member"));
}

TEST_CASE("GroupKFold: hand-worked folds, groups never split, balanced by size") {
  // sizes 3 (group 7), 2 (group 4), 1 (group 9): 7 → fold 0, 4 → fold 1, 9 → fold 1 (the lighter)
  const auto f = GroupKFold(2).split(Idx(6, 0), Idx{7, 7, 7, 4, 4, 9});
  REQUIRE(f.size() == 2);
  CHECK(f[0].test == Idx{0, 1, 2});
  CHECK(f[1].test == Idx{3, 4, 5});
  CHECK(f[0].train == Idx{3, 4, 5});
  Idx groups;
  for (int i = 0; i < 100; ++i) groups.push_back((i * 37) % 23);
  const auto folds = GroupKFold(4, groups).split(Idx(100, 0));  // groups given to the constructor
  std::set<int64_t> seen;
  for (const Fold& fold : folds) {
    std::set<int64_t> tg, rg;
    for (int64_t i : fold.test) tg.insert(groups[size_t(i)]), seen.insert(i);
    for (int64_t i : fold.train) rg.insert(groups[size_t(i)]);
    for (int64_t g : tg) CHECK(rg.count(g) == 0);  // no group on both sides
    CHECK(fold.test.size() + fold.train.size() == 100);
    CHECK(fold.test.size() >= 20);  // 23 groups of 4–5 over 4 folds: 25 ± 5
    CHECK(fold.test.size() <= 30);
  }
  CHECK(seen.size() == 100);
  CHECK(contains(error_of([&] { GroupKFold(4).split(Idx(6, 0), Idx{1, 1, 2, 2, 3, 3}); }),
                 "cannot have k=4 folds greater than the number of groups: 3"));
  CHECK(contains(error_of([&] { GroupKFold(2).split(Idx(6, 0)); }), "needs a group label per sample"));
  CHECK(contains(error_of([&] { GroupKFold(2).split(Idx(6, 0), Idx{1, 2}); }), "2 group labels for 6 samples"));
  CHECK(contains(error_of([&] { GroupKFold(1); }), "k must be >= 2"));
}

TEST_CASE("LeaveOneOut: n folds of one test sample") {
  const auto f = LeaveOneOut().split(int64_t(4));
  REQUIRE(f.size() == 4);
  CHECK(f[2].test == Idx{2});
  CHECK(f[2].train == Idx{0, 1, 3});
  CHECK(contains(error_of([&] { LeaveOneOut().split(int64_t(1)); }), "n_samples=1"));
  CHECK(LeaveOneOut().name() == "LeaveOneOut()");
}
