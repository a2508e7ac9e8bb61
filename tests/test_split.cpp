// Tests for validate/split.h: structure (sizes, disjointness, coverage,
// stratification), seeded determinism, errors/warnings, and hand-worked folds.
// Exact parity with scikit-learn is checked separately by sklearn_split_parity.py.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "validate/split.h"
#include "test_util.h"

using minidl::validate::Fold;
using minidl::validate::Holdout;
using minidl::validate::KFold;
using minidl::validate::RepeatedKFold;
using minidl::validate::RepeatedStratifiedKFold;
using minidl::validate::Splitter;
using minidl::validate::StratifiedKFold;
using Idx = std::vector<int64_t>;

namespace {

using minidl::test::error_of;
using minidl::test::contains;

std::vector<std::string> g_warnings;
void capture_warning(const std::string& m) { g_warnings.push_back(m); }
struct WarningCapture {  // installs capture_warning for one scope
  minidl::WarningHandler prev;
  WarningCapture() : prev(minidl::set_warning_handler(&capture_warning)) { g_warnings.clear(); }
  ~WarningCapture() { minidl::set_warning_handler(prev); }
};

// Small deterministic label generator for property tests (independent of split.cpp).
std::vector<int64_t> make_labels(int64_t n, int n_classes, uint64_t seed) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  uint64_t s = seed * 2654435761ULL + 12345;
  for (auto& v : y) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    const int r = static_cast<int>((s >> 33) % 100);
    // imbalanced: class c gets roughly weight 1/(c+1)
    int c = 0;
    int acc = 0, total = 0;
    for (int i = 0; i < n_classes; ++i) total += 100 / (i + 1);
    const int t = r * total / 100;
    for (c = 0; c < n_classes - 1; ++c) {
      acc += 100 / (c + 1);
      if (t < acc) break;
    }
    v = 10 * (n_classes - c) - 3;  // label values unrelated to first-appearance order
  }
  return y;
}

// Every fold: train and test disjoint, together exactly 0..n-1, train ascending.
void check_fold(const Fold& f, int64_t n, bool test_sorted) {
  CHECK(std::is_sorted(f.train.begin(), f.train.end()));
  if (test_sorted) CHECK(std::is_sorted(f.test.begin(), f.test.end()));
  CHECK(!f.train.empty());
  CHECK(!f.test.empty());
  std::vector<int> seen(static_cast<size_t>(n), 0);
  for (int64_t i : f.train) ++seen.at(static_cast<size_t>(i));
  for (int64_t i : f.test) ++seen.at(static_cast<size_t>(i));
  CHECK(std::all_of(seen.begin(), seen.end(), [](int s) { return s == 1; }));
}

// folds[first, first+k) form a k-fold partition: each index in exactly one test
// set; test set i has n/k + (i < n%k) samples.
void check_partition(const std::vector<Fold>& folds, size_t first, int k, int64_t n) {
  REQUIRE(folds.size() >= first + static_cast<size_t>(k));
  std::vector<int> in_test(static_cast<size_t>(n), 0);
  for (int i = 0; i < k; ++i) {
    const Fold& f = folds[first + static_cast<size_t>(i)];
    check_fold(f, n, true);
    CHECK(static_cast<int64_t>(f.test.size()) == n / k + (i < n % k ? 1 : 0));
    for (int64_t j : f.test) ++in_test[static_cast<size_t>(j)];
  }
  CHECK(std::all_of(in_test.begin(), in_test.end(), [](int s) { return s == 1; }));
}

// Count of class `label` in each test fold lies in [floor(n_c/k), ceil(n_c/k)].
void check_stratified(const std::vector<Fold>& folds, size_t first, int k, const std::vector<int64_t>& y) {
  std::map<int64_t, int64_t> total;
  for (int64_t v : y) ++total[v];
  for (int i = 0; i < k; ++i) {
    std::map<int64_t, int64_t> cnt;
    for (int64_t j : folds[first + static_cast<size_t>(i)].test) ++cnt[y[static_cast<size_t>(j)]];
    for (auto [label, n_c] : total) {
      CHECK(cnt[label] >= n_c / k);
      CHECK(cnt[label] <= (n_c + k - 1) / k);
    }
  }
}

std::vector<Idx> tests_of(const std::vector<Fold>& folds) {
  std::vector<Idx> t;
  for (const auto& f : folds) t.push_back(f.test);
  return t;
}

}  // namespace

TEST_CASE("KFold without shuffle: consecutive blocks, first n % k folds one larger") {
  // By hand: n=10, k=3 -> sizes 10/3+1=4, 3, 3 -> {0..3}, {4,5,6}, {7,8,9}.
  const auto folds = KFold(3).split(10);
  REQUIRE(folds.size() == 3);
  CHECK(folds[0].test == Idx{0, 1, 2, 3});
  CHECK(folds[1].test == Idx{4, 5, 6});
  CHECK(folds[2].test == Idx{7, 8, 9});
  CHECK(folds[1].train == Idx{0, 1, 2, 3, 7, 8, 9});
  // By hand: n=5, k=5 -> leave-one-out.
  const auto loo = KFold(5).split(5);
  for (int i = 0; i < 5; ++i) CHECK(loo[static_cast<size_t>(i)].test == Idx{i});
  for (int64_t n : {2, 7, 10, 11, 99, 100}) {
    for (int k : {2, 3, 5}) {
      if (k > n) continue;
      check_partition(KFold(k).split(n), 0, k, n);
    }
  }
  // The labels overload only uses labels.size().
  CHECK(tests_of(KFold(3).split(Idx{7, 7, 1, 1, 1, 1, 1, 1, 1, 7})) == tests_of(folds));
}

TEST_CASE("KFold with shuffle: same sizes and coverage, seeded, sorted test sets") {
  const auto a = KFold(4, true, 1).split(23);
  check_partition(a, 0, 4, 23);
  CHECK(tests_of(a) == tests_of(KFold(4, true, 1).split(23)));   // deterministic
  CHECK(tests_of(a) != tests_of(KFold(4, true, 2).split(23)));   // seed matters
  CHECK(tests_of(a) != tests_of(KFold(4).split(23)));            // actually shuffled
  CHECK(tests_of(KFold(4, true, 0).split(23)) != tests_of(KFold(4).split(23)));
}

TEST_CASE("StratifiedKFold hand-worked folds") {
  SUBCASE("classes encoded by first appearance") {
    // labels {1,1,2,1,0,0,2,0,2}, k=2.
    // 1. first appearance: 1->0, 2->1, 0->2; codes {0,0,1,0,2,2,1,2,1};
    //    class 0 = samples {0,1,3}, class 1 = {2,6,8}, class 2 = {4,5,7}.
    // 2. sorted codes 0 0 0 1 1 1 2 2 2 at positions 0..8; fold 0 gets even
    //    positions (0,2,4,6,8 -> codes 0,0,1,2,2), fold 1 odd (1,3,5,7 -> 0,1,1,2):
    //    allocation fold0 = (2,1,2), fold1 = (1,2,1).
    // 3. class 0 blocks [0,0,1] -> 0,1 in fold 0, 3 in fold 1;
    //    class 1 blocks [0,1,1] -> 2 in fold 0, 6,8 in fold 1;
    //    class 2 blocks [0,0,1] -> 4,5 in fold 0, 7 in fold 1.
    // (Encoding by sorted label value instead would give {0,2,4,5,6}, {1,3,7,8}.)
    const auto f = StratifiedKFold(2).split(Idx{1, 1, 2, 1, 0, 0, 2, 0, 2});
    REQUIRE(f.size() == 2);
    CHECK(f[0].test == Idx{0, 1, 2, 4, 5});
    CHECK(f[1].test == Idx{3, 6, 7, 8});
    CHECK(f[0].train == Idx{3, 6, 7, 8});
    CHECK(f[1].train == Idx{0, 1, 2, 4, 5});
  }
  SUBCASE("uneven classes, k=3 (with the small-class warning)") {
    // labels {5,5,2,2,5,2,5,9,9,5}, k=3.
    // codes: 5->0 (samples 0,1,4,6,9), 2->1 (2,3,5), 9->2 (7,8).
    // sorted codes 0 0 0 0 0 1 1 1 2 2; fold i takes positions p = i mod 3:
    //   fold 0: p=0,3,6,9 -> 0,0,1,2 -> (2,1,1)
    //   fold 1: p=1,4,7   -> 0,0,1   -> (2,1,0)
    //   fold 2: p=2,5,8   -> 0,1,2   -> (1,1,1)
    // class 0 blocks [0,0,1,1,2] -> 0,1 | 4,6 | 9; class 1 [0,1,2] -> 2 | 3 | 5;
    // class 2 [0,2] -> 7 | - | 8.
    WarningCapture cap;
    const auto f = StratifiedKFold(3).split(Idx{5, 5, 2, 2, 5, 2, 5, 9, 9, 5});
    CHECK(f[0].test == Idx{0, 1, 2, 7});
    CHECK(f[1].test == Idx{3, 4, 6});
    CHECK(f[2].test == Idx{5, 8, 9});
    REQUIRE(g_warnings.size() == 1);
    CHECK(contains(g_warnings[0], "only 2 members, which is less than n_splits=3"));
  }
  SUBCASE("binary, blocks keep data order") {
    // labels {0,0,0,0,1,1,1,1}, k=4: codes 0 (0..3), 1 (4..7); sorted codes
    // 0 0 0 0 1 1 1 1 dealt round robin -> each fold gets one of each class;
    // blocks [0,1,2,3] for both classes -> fold i = {i, 4+i}.
    const auto f = StratifiedKFold(4).split(Idx{0, 0, 0, 0, 1, 1, 1, 1});
    for (int i = 0; i < 4; ++i) CHECK(f[static_cast<size_t>(i)].test == Idx{i, 4 + i});
  }
}

TEST_CASE("StratifiedKFold: partition, stratification, relabelling invariance") {
  WarningCapture cap;  // some random label vectors have small classes
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const int64_t n = 20 + static_cast<int64_t>(seed * 7 % 150);
    const int n_classes = 1 + static_cast<int>(seed % 5);
    const auto y = make_labels(n, n_classes, seed);
    for (int k : {2, 3, 5}) {
      for (bool shuffle : {false, true}) {
        const auto f = StratifiedKFold(k, shuffle, shuffle ? seed : 0).split(y);
        check_partition(f, 0, k, n);
        check_stratified(f, 0, k, y);
      }
    }
    // Relabelling with an order-preserving-of-appearance bijection (v -> 1000 - v
    // reverses sorted order) changes nothing.
    std::vector<int64_t> y2(y);
    for (auto& v : y2) v = 1000 - v;
    CHECK(tests_of(StratifiedKFold(3).split(y)) == tests_of(StratifiedKFold(3).split(y2)));
  }
}

TEST_CASE("StratifiedKFold with shuffle: same per-class counts, seeded") {
  WarningCapture cap;
  const auto y = make_labels(97, 4, 3);
  const auto plain = StratifiedKFold(5).split(y);
  const auto a = StratifiedKFold(5, true, 11).split(y);
  for (size_t i = 0; i < 5; ++i) {
    std::map<int64_t, int> cp, ca;
    for (int64_t j : plain[i].test) ++cp[y[static_cast<size_t>(j)]];
    for (int64_t j : a[i].test) ++ca[y[static_cast<size_t>(j)]];
    CHECK(cp == ca);  // the shuffle moves samples, not the allocation
  }
  CHECK(tests_of(a) == tests_of(StratifiedKFold(5, true, 11).split(y)));
  CHECK(tests_of(a) != tests_of(StratifiedKFold(5, true, 12).split(y)));
  CHECK(tests_of(a) != tests_of(plain));
}

TEST_CASE("RepeatedKFold and RepeatedStratifiedKFold") {
  const RepeatedKFold rk(3, 4, 7);
  CHECK(rk.n_splits() == 12);
  const auto f = rk.split(31);
  REQUIRE(f.size() == 12);
  std::set<std::vector<Idx>> distinct;
  for (int r = 0; r < 4; ++r) {
    check_partition(f, static_cast<size_t>(r) * 3, 3, 31);
    distinct.insert(tests_of(std::vector<Fold>(f.begin() + r * 3, f.begin() + r * 3 + 3)));
  }
  CHECK(distinct.size() == 4);  // repeats differ from each other
  CHECK(tests_of(f) == tests_of(RepeatedKFold(3, 4, 7).split(31)));
  CHECK(tests_of(f) != tests_of(RepeatedKFold(3, 4, 8).split(31)));
  CHECK(tests_of(RepeatedKFold(3, 2, 7).split(Idx(31, 0))) == tests_of(RepeatedKFold(3, 2, 7).split(31)));

  const auto y = make_labels(60, 3, 5);
  const RepeatedStratifiedKFold rs(4, 3, 1);
  CHECK(rs.n_splits() == 12);
  const auto g = rs.split(y);
  REQUIRE(g.size() == 12);
  std::set<std::vector<Idx>> distinct_s;
  for (int r = 0; r < 3; ++r) {
    check_partition(g, static_cast<size_t>(r) * 4, 4, 60);
    check_stratified(g, static_cast<size_t>(r) * 4, 4, y);
    distinct_s.insert(tests_of(std::vector<Fold>(g.begin() + r * 4, g.begin() + r * 4 + 4)));
  }
  CHECK(distinct_s.size() == 3);
  CHECK(tests_of(g) == tests_of(RepeatedStratifiedKFold(4, 3, 1).split(y)));
  CHECK(tests_of(g) != tests_of(RepeatedStratifiedKFold(4, 3, 2).split(y)));
}

TEST_CASE("Holdout: sizes like train_test_split, seeded, train sorted") {
  const Holdout h(0.25, false, 3);
  CHECK(h.n_splits() == 1);
  const Fold f = h.split_once(int64_t{10});
  CHECK(f.test.size() == 3);  // ceil(0.25 * 10) = 3
  CHECK(f.train.size() == 7);
  check_fold(f, 10, false);
  CHECK(h.split(int64_t{10}).size() == 1);
  CHECK(h.split(Idx(10, 4))[0].test == f.test);
  CHECK(f.test == Holdout(0.25, false, 3).split_once(int64_t{10}).test);
  CHECK(f.test != Holdout(0.25, false, 4).split_once(int64_t{10}).test);
  // sklearn rounds in double precision: 0.07 * 100 = 7.000000000000001 -> 8.
  CHECK(Holdout(0.07).split_once(int64_t{100}).test.size() == 8);
  CHECK(Holdout(0.5).split_once(int64_t{2}).test.size() == 1);
}

TEST_CASE("Holdout with stratify: per-class counts by approximate mode") {
  // By hand: counts {label 3: 6, label 8: 4}, n=10, test_fraction=0.5 -> n_test=5,
  // n_train=5; train shares 6*5/10 = 3 and 4*5/10 = 2 are whole, so test gets 3 + 2.
  const Idx y{3, 8, 3, 3, 8, 3, 8, 3, 8, 3};
  for (uint64_t seed = 0; seed < 5; ++seed) {
    const Fold f = Holdout(0.5, true, seed).split_once(y);
    check_fold(f, 10, false);
    int threes = 0;
    for (int64_t j : f.test) threes += y[static_cast<size_t>(j)] == 3;
    CHECK(threes == 3);
    CHECK(f.test.size() == 5);
  }
  // By hand: three classes of 3, test_fraction=0.5 -> n_test=ceil(4.5)=5, n_train=4;
  // train shares 4/3 = 1.33 each -> floor 1 each, one more to a random class
  // (equal remainders) -> train (2,1,1) in some order, test (1,2,2).
  const Idx z{0, 1, 2, 0, 1, 2, 0, 1, 2};
  std::set<int64_t> single;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    const Fold f = Holdout(0.5, true, seed).split_once(z);
    std::map<int64_t, int> cnt;
    for (int64_t j : f.test) ++cnt[z[static_cast<size_t>(j)]];
    std::vector<int> c{cnt[0], cnt[1], cnt[2]};
    std::sort(c.begin(), c.end());
    CHECK(c == std::vector<int>{1, 2, 2});
    for (auto [label, m] : cnt) if (m == 1) single.insert(label);
  }
  CHECK(single.size() == 3);  // ties are broken differently for different seeds
  // Property: totals exact, each class within one of its proportional share.
  for (uint64_t seed = 0; seed < 30; ++seed) {
    const auto yy = make_labels(50 + static_cast<int64_t>(seed) * 9, 4, seed);
    std::map<int64_t, int64_t> total;
    for (int64_t v : yy) ++total[v];
    bool ok = true;
    for (auto [l, c] : total) ok = ok && c >= 2;
    if (!ok) continue;
    const double frac = 0.1 + 0.025 * static_cast<double>(seed % 20);
    const Fold f = Holdout(frac, true, seed).split_once(yy);
    const double n = static_cast<double>(yy.size());
    CHECK(static_cast<double>(f.test.size()) == std::ceil(frac * n));
    check_fold(f, static_cast<int64_t>(yy.size()), false);
    std::map<int64_t, int64_t> cnt;
    for (int64_t j : f.test) ++cnt[yy[static_cast<size_t>(j)]];
    for (auto [l, c] : total) {
      const double share = static_cast<double>(c) * static_cast<double>(f.test.size()) / n;
      CHECK(std::abs(static_cast<double>(cnt[l]) - share) < 1.0 + 1e-9);
    }
  }
}

TEST_CASE("errors name the argument and its range") {
  CHECK(contains(error_of([] { KFold(1); }), "k must be >= 2"));
  CHECK(contains(error_of([] { KFold(0, true); }), "got k=0"));
  CHECK(contains(error_of([] { StratifiedKFold(1); }), "StratifiedKFold: k must be >= 2"));
  CHECK(contains(error_of([] { RepeatedKFold(1, 3); }), "k must be >= 2"));
  CHECK(contains(error_of([] { RepeatedKFold(3, 0); }), "repeats must be >= 1"));
  CHECK(contains(error_of([] { RepeatedStratifiedKFold(3, -1); }), "repeats must be >= 1"));
  CHECK(contains(error_of([] { KFold(3, false, 5); }), "has no effect since shuffle is false"));
  CHECK(contains(error_of([] { StratifiedKFold(3, false, 5); }), "has no effect"));

  CHECK(contains(error_of([] { KFold(3).split(0); }), "empty input"));
  CHECK(contains(error_of([] { KFold(3).split(-1); }), "n_samples must be >= 0"));
  CHECK(contains(error_of([] { StratifiedKFold(3).split(Idx{}); }), "empty input"));
  CHECK(contains(error_of([] { KFold(5).split(4); }), "cannot have k=5 folds greater than the number of samples n_samples=4"));
  CHECK(contains(error_of([] { RepeatedKFold(5, 2).split(4); }), "n_samples=4"));
  CHECK(contains(error_of([] { StratifiedKFold(5).split(Idx{1, 2, 3}); }), "n_samples=3"));
  // Every class smaller than k -> error; here classes have 4 and 3 members.
  CHECK(contains(error_of([] { StratifiedKFold(5).split(Idx{0, 0, 0, 0, 1, 1, 1}); }),
            "n_splits=5 cannot be greater than the number of members in each class"));
  CHECK(contains(error_of([] { RepeatedStratifiedKFold(5, 2).split(Idx{0, 0, 0, 0, 1, 1, 1}); }),
            "cannot be greater than the number of members in each class"));

  CHECK(contains(error_of([] { Holdout(0.0); }), "test_fraction must be in the open range (0, 1)"));
  CHECK(contains(error_of([] { Holdout(1.0); }), "(0, 1), got 1"));
  CHECK(contains(error_of([] { Holdout(-0.2); }), "(0, 1)"));
  CHECK(contains(error_of([] { (void)Holdout(std::numeric_limits<double>::quiet_NaN()); }), "(0, 1)"));
  CHECK(contains(error_of([] { Holdout(0.3).split_once(int64_t{0}); }), "empty input"));
  CHECK(contains(error_of([] { Holdout(0.5).split_once(int64_t{1}); }), "leaves the train set empty"));
  CHECK(contains(error_of([] { Holdout(0.95).split_once(int64_t{10}); }), "leaves the train set empty"));
  CHECK(contains(error_of([] { Holdout(0.3, true).split_once(Idx{0, 0, 1, 1, 2}); }),
            "(label 2) has only 1 member"));
  CHECK(contains(error_of([] { Holdout(0.2, true).split_once(Idx{0, 0, 1, 1, 2, 2, 0, 1, 2, 0}); }),
            "n_test=2 should be greater or equal to the number of classes = 3"));
  CHECK(contains(error_of([] { Holdout(0.8, true).split_once(Idx{0, 0, 1, 1, 2, 2, 0, 1, 2, 0}); }),
            "n_train=2 should be greater or equal to the number of classes = 3"));
  CHECK(contains(error_of([] { Holdout(0.3, true).split_once(int64_t{10}); }), "needs the labels"));
}

TEST_CASE("warning when only some class is smaller than k") {
  WarningCapture cap;
  // Classes of 5 and 2 members, k=3: allowed, with one warning.
  const auto f = StratifiedKFold(3).split(Idx{0, 0, 0, 0, 0, 1, 1});
  check_partition(f, 0, 3, 7);
  REQUIRE(g_warnings.size() == 1);
  CHECK(contains(g_warnings[0], "least populated class in labels has only 2 members, which is less than n_splits=3"));
  g_warnings.clear();
  StratifiedKFold(2).split(Idx{0, 0, 0, 0, 0, 1, 1});
  CHECK(g_warnings.empty());
}

namespace {
int64_t total_test(const Splitter& s, const std::vector<int64_t>& y) {
  int64_t t = 0;
  for (const auto& f : s.split(y)) t += static_cast<int64_t>(f.test.size());
  return t;
}
template <class S>
int generic_count(const S& s, const std::vector<int64_t>& y) {
  return static_cast<int>(s.split(y).size()) == s.n_splits() ? s.n_splits() : -1;
}
}  // namespace

TEST_CASE("uniform interface: split(labels), n_splits(), name()") {
  const auto y = make_labels(40, 2, 1);
  CHECK(total_test(KFold(4), y) == 40);
  CHECK(total_test(StratifiedKFold(4, true, 1), y) == 40);
  CHECK(total_test(RepeatedKFold(4, 2), y) == 80);
  CHECK(total_test(RepeatedStratifiedKFold(4, 2), y) == 80);
  CHECK(total_test(Holdout(0.25), y) == 10);
  CHECK(generic_count(KFold(4), y) == 4);
  CHECK(generic_count(RepeatedStratifiedKFold(2, 3), y) == 6);
  CHECK(generic_count(Holdout(0.3, true), y) == 1);

  CHECK(KFold(5).name() == "KFold(k=5, shuffle=false)");
  CHECK(StratifiedKFold(5, true, 1).name() == "StratifiedKFold(k=5, shuffle=true, seed=1)");
  CHECK(RepeatedKFold(3, 2, 9).name() == "RepeatedKFold(k=3, repeats=2, seed=9)");
  CHECK(RepeatedStratifiedKFold(3, 2).name() == "RepeatedStratifiedKFold(k=3, repeats=2, seed=0)");
  CHECK(Holdout(0.25, true, 2).name() == "Holdout(test_fraction=0.25, stratify=true, seed=2)");
}
