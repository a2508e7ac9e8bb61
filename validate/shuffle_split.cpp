#include "validate/shuffle_split.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "core/error.h"
#include "validate/numpy_random.h"

namespace minidl::validate {

namespace {

void check_size(SplitSize s, int64_t n, const char* what, const char* who) {
  if (!s.set()) return;
  if (s.is_count)
    MINIDL_CHECK(s.value > 0 && s.value < double(n), who, ": ", what, "=", int64_t(s.value),
                 " should be either positive and smaller than the number of samples ", n,
                 " or a fraction in (0, 1)");
  else
    MINIDL_CHECK(s.value > 0 && s.value < 1, who, ": ", what, "=", s.value,
                 " should be either positive and smaller than the number of samples ", n,
                 " or a fraction in (0, 1)");
}

std::string size_str(SplitSize s) {
  if (!s.set()) return "None";
  std::ostringstream os;
  if (s.is_count) os << int64_t(s.value);
  else os << s.value;
  return os.str();
}

std::string shuffle_name(const char* cls, int n_splits, SplitSize test, SplitSize train, uint32_t seed) {
  std::ostringstream os;
  os << cls << "(n_splits=" << n_splits << ", test_size=" << size_str(test) << ", train_size=" << size_str(train)
     << ", random_state=" << seed << ")";
  return os.str();
}

// sklearn.utils.extmath._approximate_mode, drawing ties with rng as it does.
std::vector<int64_t> approximate_mode(const std::vector<int64_t>& counts, int64_t n_draws, RandomState& rng) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  const size_t k = counts.size();
  std::vector<double> continuous(k), remainder(k);
  std::vector<int64_t> floored(k);
  double floored_sum = 0;
  for (size_t i = 0; i < k; ++i) {
    continuous[i] = double(counts[i]) / double(total) * double(n_draws);
    const double f = std::floor(continuous[i]);
    floored[i] = int64_t(f);
    floored_sum += f;
    remainder[i] = continuous[i] - f;
  }
  int64_t need = int64_t(double(n_draws) - floored_sum);
  if (need <= 0) return floored;
  std::vector<double> values = remainder;  // np.sort(np.unique(remainder))[::-1]
  std::sort(values.begin(), values.end(), std::greater<>());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (double value : values) {
    std::vector<int64_t> inds;
    for (size_t i = 0; i < k; ++i)
      if (remainder[i] == value) inds.push_back(int64_t(i));
    const int64_t add_now = std::min<int64_t>(int64_t(inds.size()), need);
    const std::vector<int64_t> pick = rng.permutation(int64_t(inds.size()));  // rng.choice(inds, add_now, replace=False)
    for (int64_t j = 0; j < add_now; ++j) ++floored[size_t(inds[size_t(pick[size_t(j)])])];
    need -= add_now;
    if (need == 0) break;
  }
  return floored;
}

void check_splits(int n_splits, const char* who) {
  MINIDL_CHECK(n_splits >= 1, who, ": n_splits must be >= 1, got ", n_splits);
}

}  // namespace

std::pair<int64_t, int64_t> shuffle_split_sizes(int64_t n, SplitSize test, SplitSize train, const char* who) {
  MINIDL_CHECK(n >= 1, who, ": empty input (n_samples=0)");
  if (!test.set() && !train.set()) test = SplitSize::fraction(0.1);
  check_size(test, n, "test_size", who);
  check_size(train, n, "train_size", who);
  MINIDL_CHECK(!(test.set() && train.set() && !test.is_count && !train.is_count && test.value + train.value > 1), who,
               ": the sum of test_size and train_size = ", test.value + train.value,
               " should be in the (0, 1) range; reduce test_size and/or train_size");
  double n_test = 0, n_train = 0;
  if (test.set()) n_test = test.is_count ? test.value : std::ceil(test.value * double(n));
  if (train.set()) n_train = train.is_count ? train.value : std::floor(train.value * double(n));
  if (!train.set()) n_train = double(n) - n_test;
  else if (!test.set()) n_test = double(n) - n_train;
  MINIDL_CHECK(n_train + n_test <= double(n), who, ": the sum of train_size and test_size = ", int64_t(n_train + n_test),
               " should be smaller than the number of samples ", n, "; reduce test_size and/or train_size");
  MINIDL_CHECK(int64_t(n_train) > 0, who, ": with n_samples=", n, ", test_size=", size_str(test),
               " and train_size=", size_str(train), " the train set would be empty");
  return {int64_t(n_train), int64_t(n_test)};
}

ShuffleSplit::ShuffleSplit(int n_splits, SplitSize test, SplitSize train, uint32_t seed)
    : n_splits_(n_splits), test_(test), train_(train), seed_(seed) {
  check_splits(n_splits, "ShuffleSplit");
}

std::vector<Fold> ShuffleSplit::split(int64_t n) const {
  const auto [n_train, n_test] = shuffle_split_sizes(n, test_, train_, "ShuffleSplit");
  RandomState rng(seed_);
  std::vector<Fold> out(static_cast<size_t>(n_splits_));
  for (Fold& f : out) {
    const std::vector<int64_t> p = rng.permutation(n);
    f.test.assign(p.begin(), p.begin() + n_test);
    f.train.assign(p.begin() + n_test, p.begin() + n_test + n_train);
  }
  return out;
}

std::vector<Fold> ShuffleSplit::split(const std::vector<int64_t>& labels) const {
  return split(int64_t(labels.size()));
}

std::string ShuffleSplit::name() const { return shuffle_name("ShuffleSplit", n_splits_, test_, train_, seed_); }

StratifiedShuffleSplit::StratifiedShuffleSplit(int n_splits, SplitSize test, SplitSize train, uint32_t seed)
    : n_splits_(n_splits), test_(test), train_(train), seed_(seed) {
  check_splits(n_splits, "StratifiedShuffleSplit");
}

std::vector<Fold> StratifiedShuffleSplit::split(const std::vector<int64_t>& labels) const {
  const char* who = "StratifiedShuffleSplit";
  const auto [n_train, n_test] = shuffle_split_sizes(int64_t(labels.size()), test_, train_, who);
  std::map<int64_t, std::vector<int64_t>> by_class;  // ascending labels, each class's samples ascending
  for (size_t i = 0; i < labels.size(); ++i) by_class[labels[i]].push_back(int64_t(i));
  std::vector<std::vector<int64_t>> members;
  std::vector<int64_t> counts;
  for (auto& [label, idx] : by_class) {
    MINIDL_CHECK(idx.size() >= 2, who, ": the least populated class in y (label ", label,
                 ") has only 1 member, which is too few; every class needs at least 2");
    counts.push_back(int64_t(idx.size()));
    members.push_back(std::move(idx));
  }
  const int64_t n_classes = int64_t(counts.size());
  MINIDL_CHECK(n_train >= n_classes, who, ": the train_size = ", n_train,
               " should be greater or equal to the number of classes = ", n_classes);
  MINIDL_CHECK(n_test >= n_classes, who, ": the test_size = ", n_test,
               " should be greater or equal to the number of classes = ", n_classes);
  RandomState rng(seed_);
  std::vector<Fold> out(static_cast<size_t>(n_splits_));
  for (Fold& f : out) {
    const std::vector<int64_t> n_i = approximate_mode(counts, n_train, rng);
    std::vector<int64_t> remaining(counts.size());
    for (size_t c = 0; c < counts.size(); ++c) remaining[c] = counts[c] - n_i[c];
    const std::vector<int64_t> t_i = approximate_mode(remaining, n_test, rng);
    for (size_t c = 0; c < counts.size(); ++c) {
      const std::vector<int64_t> p = rng.permutation(counts[c]);
      for (int64_t j = 0; j < n_i[c]; ++j) f.train.push_back(members[c][size_t(p[size_t(j)])]);
      for (int64_t j = n_i[c]; j < n_i[c] + t_i[c]; ++j) f.test.push_back(members[c][size_t(p[size_t(j)])]);
    }
    rng.shuffle(f.train);
    rng.shuffle(f.test);
  }
  return out;
}

std::string StratifiedShuffleSplit::name() const {
  return shuffle_name("StratifiedShuffleSplit", n_splits_, test_, train_, seed_);
}

}  // namespace minidl::validate
