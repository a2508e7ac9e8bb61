// minidl/validate/split.cpp — see split.h for the exact semantics of each splitter.
#include "validate/split.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <functional>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "core/random.h"

namespace minidl::validate {
namespace {

// Shuffling uses minidl's own seeded Generator and shuffle() (core/random.h:
// xoshiro256**, Lemire's unbiased bounded integers, Fisher–Yates), identical
// on every platform and standard library.

// ---- argument checks shared by the k-fold family.

void check_k(const char* who, int k) {
  MINIDL_CHECK(k >= 2, who, ": k must be >= 2 (k-fold cross-validation needs at least one "
               "train/test split), got k=", k);
}

void check_no_seed(const char* who, bool shuffle, uint64_t seed) {
  MINIDL_CHECK(shuffle || seed == 0, who, ": seed=", seed, " has no effect since shuffle is "
               "false; leave seed at 0 or set shuffle=true");
}

void check_repeats(const char* who, int k, int repeats) {
  check_k(who, k);
  MINIDL_CHECK(repeats >= 1, who, ": repeats must be >= 1, got repeats=", repeats);
  MINIDL_CHECK(repeats <= INT_MAX / k, who, ": k*repeats overflows int (k=", k,
               ", repeats=", repeats, ")");
}

void check_n(const char* who, int k, int64_t n) {
  MINIDL_CHECK(n >= 0, who, ": n_samples must be >= 0, got ", n);
  MINIDL_CHECK(n > 0, who, ": empty input (n_samples=0); need at least k=", k, " samples");
  MINIDL_CHECK(k <= n, who, ": cannot have k=", k, " folds greater than the number of samples "
               "n_samples=", n, " (need 2 <= k <= n_samples)");
}

std::string bool_str(bool b) { return b ? "true" : "false"; }

std::string kfold_name(const char* cls, int k, bool shuffle, uint64_t seed) {
  std::ostringstream os;
  os << cls << "(k=" << k << ", shuffle=" << bool_str(shuffle);
  if (shuffle) os << ", seed=" << seed;
  os << ")";
  return os.str();
}

std::string repeated_name(const char* cls, int k, int repeats, uint64_t seed) {
  std::ostringstream os;
  os << cls << "(k=" << k << ", repeats=" << repeats << ", seed=" << seed << ")";
  return os.str();
}

// test_fold[j] = the fold whose test set holds sample j. Builds k Folds with
// ascending test and train indices (sklearn's mask-based order).
std::vector<Fold> folds_from_assignment(const std::vector<int>& test_fold, int k) {
  std::vector<Fold> folds(static_cast<size_t>(k));
  const int64_t n = static_cast<int64_t>(test_fold.size());
  std::vector<int64_t> sizes(static_cast<size_t>(k), 0);
  for (int f : test_fold) ++sizes[static_cast<size_t>(f)];
  for (int i = 0; i < k; ++i) {
    folds[static_cast<size_t>(i)].test.reserve(static_cast<size_t>(sizes[static_cast<size_t>(i)]));
    folds[static_cast<size_t>(i)].train.reserve(static_cast<size_t>(n - sizes[static_cast<size_t>(i)]));
  }
  for (int64_t j = 0; j < n; ++j) {
    const int f = test_fold[static_cast<size_t>(j)];
    for (int i = 0; i < k; ++i)
      (i == f ? folds[static_cast<size_t>(i)].test : folds[static_cast<size_t>(i)].train).push_back(j);
  }
  return folds;
}

// KFold: consecutive blocks of (optionally shuffled) 0..n-1; the first n % k
// blocks get one extra sample.
std::vector<Fold> kfold(const char* who, int k, int64_t n, Generator* rng) {
  check_n(who, k, n);
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (rng) shuffle(order, *rng);
  std::vector<int> test_fold(static_cast<size_t>(n));
  int64_t pos = 0;
  for (int i = 0; i < k; ++i) {
    const int64_t size = n / k + (i < n % k ? 1 : 0);
    for (int64_t p = pos; p < pos + size; ++p) test_fold[static_cast<size_t>(order[static_cast<size_t>(p)])] = i;
    pos += size;
  }
  return folds_from_assignment(test_fold, k);
}

// StratifiedKFold: sklearn 1.2's _make_test_folds, step by step (see split.h).
std::vector<Fold> stratified_kfold(const char* who, int k, const std::vector<int64_t>& labels, Generator* rng) {
  const int64_t n = static_cast<int64_t>(labels.size());
  check_n(who, k, n);

  // 1. codes in order of first appearance; counts per class.
  std::unordered_map<int64_t, int> code_of;
  std::vector<int> code(static_cast<size_t>(n));
  std::vector<int64_t> count;
  for (int64_t j = 0; j < n; ++j) {
    auto [it, inserted] = code_of.try_emplace(labels[static_cast<size_t>(j)], static_cast<int>(count.size()));
    if (inserted) count.push_back(0);
    code[static_cast<size_t>(j)] = it->second;
    ++count[static_cast<size_t>(it->second)];
  }
  const int64_t max_count = *std::max_element(count.begin(), count.end());
  const int64_t min_count = *std::min_element(count.begin(), count.end());
  MINIDL_CHECK(max_count >= k, who, ": n_splits=", k, " cannot be greater than the number of "
               "members in each class (the largest class has ", max_count, " members; need k <= ",
               max_count, ")");
  if (min_count < k) {
    std::ostringstream os;
    os << who << ": the least populated class in labels has only " << min_count
       << " members, which is less than n_splits=" << k;
    warn(os.str());
  }

  // Members of each class, ascending: a stable counting sort by code. Class c
  // occupies positions [start[c], start[c] + count[c]) -- the same positions its
  // code occupies in the sorted code list y_order used for the round robin.
  const size_t n_classes = count.size();
  std::vector<int64_t> start(n_classes + 1, 0);
  for (size_t c = 0; c < n_classes; ++c) start[c + 1] = start[c] + count[c];
  std::vector<int64_t> members(static_cast<size_t>(n));
  {
    std::vector<int64_t> cursor(start.begin(), start.end() - 1);
    for (int64_t j = 0; j < n; ++j) members[static_cast<size_t>(cursor[static_cast<size_t>(code[static_cast<size_t>(j)])]++)] = j;
  }

  std::vector<int> test_fold(static_cast<size_t>(n));
  std::vector<int> blocks;
  for (size_t c = 0; c < n_classes; ++c) {
    // 2. Round robin: sorted position p goes to fold p % k; fold i's share of
    //    class c (allocation[i][c]) is how many p in the class's range have p % k == i.
    // 3. Block list [0]*alloc[0][c] + [1]*alloc[1][c] + ..., handed to the
    //    class members in index order (shuffled first when requested).
    std::vector<int64_t> alloc(static_cast<size_t>(k), 0);
    for (int64_t p = start[c]; p < start[c + 1]; ++p) ++alloc[static_cast<size_t>(p % k)];
    blocks.clear();
    for (int i = 0; i < k; ++i) blocks.insert(blocks.end(), static_cast<size_t>(alloc[static_cast<size_t>(i)]), i);
    if (rng) shuffle(blocks, *rng);
    for (int64_t p = start[c]; p < start[c + 1]; ++p)
      test_fold[static_cast<size_t>(members[static_cast<size_t>(p)])] = blocks[static_cast<size_t>(p - start[c])];
  }
  // 4. test set of fold i = samples assigned to i, ascending.
  return folds_from_assignment(test_fold, k);
}

// sklearn.utils._approximate_mode: floor(count * n_draws / total) per class,
// then one extra draw each to the largest fractional remainders (exact ties in
// random order) until n_draws is reached.
std::vector<int64_t> approximate_mode(const std::vector<int64_t>& counts, int64_t n_draws, Generator& rng) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<int64_t> floored(counts.size());
  std::vector<double> remainder(counts.size());
  int64_t need = n_draws;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double continuous = static_cast<double>(counts[i]) / static_cast<double>(total) * static_cast<double>(n_draws);
    const double fl = std::floor(continuous);
    floored[i] = static_cast<int64_t>(fl);
    remainder[i] = continuous - fl;
    need -= floored[i];
  }
  std::vector<double> values(remainder);
  std::sort(values.begin(), values.end(), std::greater<>());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (size_t v = 0; v < values.size() && need > 0; ++v) {
    std::vector<size_t> inds;
    for (size_t i = 0; i < remainder.size(); ++i)
      if (remainder[i] == values[v]) inds.push_back(i);
    const size_t add_now = std::min(inds.size(), static_cast<size_t>(need));
    for (size_t a = 0; a < add_now; ++a) {  // partial Fisher–Yates: a random add_now-subset
      std::swap(inds[a], inds[a + rng.randint(inds.size() - a)]);
      ++floored[inds[a]];
    }
    need -= static_cast<int64_t>(add_now);
  }
  return floored;
}

}  // namespace

// ---------------------------------------------------------------------------
KFold::KFold(int k, bool shuffle, uint64_t seed) : k_(k), shuffle_(shuffle), seed_(seed) {
  check_k("KFold", k);
  check_no_seed("KFold", shuffle, seed);
}

std::vector<Fold> KFold::split(int64_t n_samples) const {
  Generator rng(seed_);
  return kfold("KFold", k_, n_samples, shuffle_ ? &rng : nullptr);
}

std::vector<Fold> KFold::split(const std::vector<int64_t>& labels) const {
  return split(static_cast<int64_t>(labels.size()));
}

std::string KFold::name() const { return kfold_name("KFold", k_, shuffle_, seed_); }

// ---------------------------------------------------------------------------
StratifiedKFold::StratifiedKFold(int k, bool shuffle, uint64_t seed) : k_(k), shuffle_(shuffle), seed_(seed) {
  check_k("StratifiedKFold", k);
  check_no_seed("StratifiedKFold", shuffle, seed);
}

std::vector<Fold> StratifiedKFold::split(const std::vector<int64_t>& labels) const {
  Generator rng(seed_);
  return stratified_kfold("StratifiedKFold", k_, labels, shuffle_ ? &rng : nullptr);
}

std::string StratifiedKFold::name() const { return kfold_name("StratifiedKFold", k_, shuffle_, seed_); }

// ---------------------------------------------------------------------------
RepeatedKFold::RepeatedKFold(int k, int repeats, uint64_t seed) : k_(k), repeats_(repeats), seed_(seed) {
  check_repeats("RepeatedKFold", k, repeats);
}

std::vector<Fold> RepeatedKFold::split(int64_t n_samples) const {
  Generator seeds(seed_);
  std::vector<Fold> all;
  all.reserve(static_cast<size_t>(n_splits()));
  for (int r = 0; r < repeats_; ++r) {
    Generator rng(seeds.next_u64());
    for (auto& f : kfold("RepeatedKFold", k_, n_samples, &rng)) all.push_back(std::move(f));
  }
  return all;
}

std::vector<Fold> RepeatedKFold::split(const std::vector<int64_t>& labels) const {
  return split(static_cast<int64_t>(labels.size()));
}

std::string RepeatedKFold::name() const { return repeated_name("RepeatedKFold", k_, repeats_, seed_); }

// ---------------------------------------------------------------------------
RepeatedStratifiedKFold::RepeatedStratifiedKFold(int k, int repeats, uint64_t seed)
    : k_(k), repeats_(repeats), seed_(seed) {
  check_repeats("RepeatedStratifiedKFold", k, repeats);
}

std::vector<Fold> RepeatedStratifiedKFold::split(const std::vector<int64_t>& labels) const {
  Generator seeds(seed_);
  std::vector<Fold> all;
  all.reserve(static_cast<size_t>(n_splits()));
  for (int r = 0; r < repeats_; ++r) {
    Generator rng(seeds.next_u64());
    // Like sklearn, each repeat re-validates (and re-warns about) the labels.
    for (auto& f : stratified_kfold("RepeatedStratifiedKFold", k_, labels, &rng)) all.push_back(std::move(f));
  }
  return all;
}

std::string RepeatedStratifiedKFold::name() const {
  return repeated_name("RepeatedStratifiedKFold", k_, repeats_, seed_);
}

// ---------------------------------------------------------------------------
Holdout::Holdout(double test_fraction, bool stratify, uint64_t seed)
    : test_fraction_(test_fraction), stratify_(stratify), seed_(seed) {
  MINIDL_CHECK(test_fraction > 0.0 && test_fraction < 1.0,  // also rejects NaN
               "Holdout: test_fraction must be in the open range (0, 1), got ", test_fraction);
}

Fold Holdout::split_once(int64_t n_samples) const {
  MINIDL_CHECK(!stratify_, "Holdout: stratify=true needs the labels; call split_once(labels)");
  MINIDL_CHECK(n_samples >= 0, "Holdout: n_samples must be >= 0, got ", n_samples);
  return split_once(std::vector<int64_t>(static_cast<size_t>(std::max<int64_t>(n_samples, 0)), 0));
}

Fold Holdout::split_once(const std::vector<int64_t>& labels) const {
  const int64_t n = static_cast<int64_t>(labels.size());
  MINIDL_CHECK(n > 0, "Holdout: empty input (n_samples=0)");
  // sklearn: n_test = ceil(test_size * n_samples) in double precision.
  const int64_t n_test = static_cast<int64_t>(std::ceil(test_fraction_ * static_cast<double>(n)));
  const int64_t n_train = n - n_test;
  MINIDL_CHECK(n_train > 0, "Holdout: with n_samples=", n, " and test_fraction=", test_fraction_,
               ", n_test=ceil(test_fraction*n_samples)=", n_test,
               " leaves the train set empty; use more samples or a smaller test_fraction");
  Generator rng(seed_);
  Fold fold;
  if (!stratify_) {
    std::vector<int64_t> perm(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) perm[static_cast<size_t>(i)] = i;
    shuffle(perm, rng);
    fold.test.assign(perm.begin(), perm.begin() + n_test);
    fold.train.assign(perm.begin() + n_test, perm.end());
    std::sort(fold.train.begin(), fold.train.end());
    return fold;
  }

  // Stratified (sklearn's StratifiedShuffleSplit): classes in ascending label order.
  std::vector<int64_t> classes(labels);
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  const int64_t n_classes = static_cast<int64_t>(classes.size());
  std::vector<std::vector<int64_t>> members(classes.size());
  for (int64_t j = 0; j < n; ++j) {
    const auto c = std::lower_bound(classes.begin(), classes.end(), labels[static_cast<size_t>(j)]) - classes.begin();
    members[static_cast<size_t>(c)].push_back(j);
  }
  std::vector<int64_t> counts(classes.size());
  for (size_t c = 0; c < classes.size(); ++c) {
    counts[c] = static_cast<int64_t>(members[c].size());
    MINIDL_CHECK(counts[c] >= 2, "Holdout(stratify=true): the least populated class in labels (label ",
                 classes[c], ") has only 1 member, which is too few; every class needs >= 2 members");
  }
  MINIDL_CHECK(n_train >= n_classes, "Holdout(stratify=true): the train size n_train=", n_train,
               " should be greater or equal to the number of classes = ", n_classes);
  MINIDL_CHECK(n_test >= n_classes, "Holdout(stratify=true): the test size n_test=", n_test,
               " should be greater or equal to the number of classes = ", n_classes);

  // Train counts by approximate mode; test takes the rest of each class (sklearn
  // computes the test counts as the approximate mode of the remaining counts
  // with n_test draws, which is exactly the remainder since n_train + n_test = n).
  const std::vector<int64_t> n_i = approximate_mode(counts, n_train, rng);
  for (size_t c = 0; c < classes.size(); ++c) {
    std::vector<int64_t>& m = members[c];
    shuffle(m, rng);
    fold.train.insert(fold.train.end(), m.begin(), m.begin() + n_i[c]);
    fold.test.insert(fold.test.end(), m.begin() + n_i[c], m.end());
  }
  std::sort(fold.train.begin(), fold.train.end());
  shuffle(fold.test, rng);
  return fold;
}

std::vector<Fold> Holdout::split(const std::vector<int64_t>& labels) const { return {split_once(labels)}; }

std::vector<Fold> Holdout::split(int64_t n_samples) const { return {split_once(n_samples)}; }

std::string Holdout::name() const {
  std::ostringstream os;
  os << "Holdout(test_fraction=" << test_fraction_ << ", stratify=" << bool_str(stratify_)
     << ", seed=" << seed_ << ")";
  return os.str();
}

}  // namespace minidl::validate
