// split_dump — prints the folds of minidl's splitters for
// tests/sklearn_split_parity.py to compare against scikit-learn.
//
//   split_dump kfold|stratified K                     < labels
//   split_dump group K                                < groups
//   split_dump loo                                    < labels
//   split_dump shuffle|stratified_shuffle N TEST TRAIN SEED < labels
//
// (labels/groups: whitespace-separated integers; TEST/TRAIN: "none", a count
// such as 7, or a fraction such as 0.25 — a '.' makes it a fraction, as
// Python's float vs int does for sklearn.)
// Output: one line per fold, the fold's test indices separated by spaces; for
// group, loo, shuffle and stratified_shuffle the line is "test | train".
// Exit status: 0 success, 1 minidl::Error (message on stderr), 2 bad usage/input,
// 3 internal inconsistency (k-fold family: a train set that is not the sorted
// complement of its test set; others: an index in both parts or out of range).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "validate/group_kfold.h"
#include "validate/shuffle_split.h"
#include "validate/split.h"

using namespace minidl::validate;

namespace {

bool sorted_complement(const Fold& f, int64_t n) {
  size_t t = 0, r = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (t < f.test.size() && f.test[t] == i) ++t;
    else if (r < f.train.size() && f.train[r] == i) ++r;
    else return false;
  }
  return t == f.test.size() && r == f.train.size();
}

bool disjoint(const Fold& f, int64_t n) {
  std::set<int64_t> seen;
  for (const auto* part : {&f.test, &f.train})
    for (int64_t i : *part)
      if (i < 0 || i >= n || !seen.insert(i).second) return false;
  return true;
}

SplitSize size_arg(const std::string& s) {
  if (s == "none") return SplitSize::none();
  if (s.find('.') != std::string::npos) return SplitSize::fraction(std::strtod(s.c_str(), nullptr));
  return SplitSize::count(std::strtoll(s.c_str(), nullptr, 10));
}

std::string join(const std::vector<int64_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + std::to_string(v[i]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string kind = argc > 1 ? argv[1] : "";
  const bool kfolds = kind == "kfold" || kind == "stratified" || kind == "group";
  const bool shuffles = kind == "shuffle" || kind == "stratified_shuffle";
  if (!((kfolds && argc == 3) || (kind == "loo" && argc == 2) || (shuffles && argc == 6))) {
    std::fprintf(stderr, "usage: %s kfold|stratified|group K | loo | shuffle|stratified_shuffle N TEST TRAIN SEED"
                 " < labels\n", argv[0]);
    return 2;
  }
  std::vector<int64_t> labels;
  long long v;
  while (std::cin >> v) labels.push_back(static_cast<int64_t>(v));
  if (!std::cin.eof()) {
    std::fprintf(stderr, "split_dump: labels must be integers\n");
    return 2;
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  try {
    std::vector<Fold> folds;
    const int k = kfolds || shuffles ? std::atoi(argv[2]) : 0;
    if (kind == "kfold") folds = KFold(k).split(n);
    else if (kind == "stratified") folds = StratifiedKFold(k).split(labels);
    else if (kind == "group") folds = GroupKFold(k).split(std::vector<int64_t>(labels.size(), 0), labels);
    else if (kind == "loo") folds = LeaveOneOut().split(n);
    else {
      const SplitSize test = size_arg(argv[3]), train = size_arg(argv[4]);
      const auto seed = static_cast<uint32_t>(std::strtoul(argv[5], nullptr, 10));
      if (kind == "shuffle") folds = ShuffleSplit(k, test, train, seed).split(n);
      else folds = StratifiedShuffleSplit(k, test, train, seed).split(labels);
    }
    std::string out;
    for (const auto& f : folds) {
      if (!(shuffles ? disjoint(f, n) : sorted_complement(f, n))) return 3;
      out += join(f.test);
      if (kind != "kfold" && kind != "stratified") out += " | " + join(f.train);
      out += '\n';
    }
    std::fputs(out.c_str(), stdout);
  } catch (const minidl::Error& e) {
    std::fprintf(stderr, "split_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
