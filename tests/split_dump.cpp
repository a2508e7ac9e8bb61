// split_dump — prints the test indices of KFold / StratifiedKFold (shuffle=false)
// for tests/sklearn_split_parity.py to compare against scikit-learn.
//
//   split_dump kfold|stratified K  < labels     (labels: whitespace-separated integers)
//
// Output: one line per fold, the fold's test indices separated by spaces.
// Exit status: 0 success, 1 minidl::Error (message on stderr), 2 bad usage/input,
// 3 internal inconsistency (a train set that is not the sorted complement of its test set).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "core/error.h"
#include "validate/split.h"

int main(int argc, char** argv) {
  if (argc != 3 || (std::string(argv[1]) != "kfold" && std::string(argv[1]) != "stratified")) {
    std::fprintf(stderr, "usage: %s kfold|stratified K < labels\n", argv[0]);
    return 2;
  }
  const std::string kind = argv[1];
  char* end = nullptr;
  const long k = std::strtol(argv[2], &end, 10);
  if (*argv[2] == '\0' || *end != '\0') {
    std::fprintf(stderr, "split_dump: K must be an integer, got '%s'\n", argv[2]);
    return 2;
  }
  std::vector<int64_t> labels;
  long long v;
  while (std::cin >> v) labels.push_back(static_cast<int64_t>(v));
  if (!std::cin.eof()) {
    std::fprintf(stderr, "split_dump: labels must be integers\n");
    return 2;
  }
  try {
    std::vector<minidl::validate::Fold> folds;
    if (kind == "kfold")
      folds = minidl::validate::KFold(static_cast<int>(k)).split(static_cast<int64_t>(labels.size()));
    else
      folds = minidl::validate::StratifiedKFold(static_cast<int>(k)).split(labels);
    std::string out;
    for (const auto& f : folds) {
      // self-check: train is exactly the ascending complement of test
      size_t t = 0, r = 0;
      for (int64_t i = 0; i < static_cast<int64_t>(labels.size()); ++i) {
        if (t < f.test.size() && f.test[t] == i) ++t;
        else if (r < f.train.size() && f.train[r] == i) ++r;
        else return 3;
      }
      if (t != f.test.size() || r != f.train.size()) return 3;
      for (size_t i = 0; i < f.test.size(); ++i) out += (i ? " " : "") + std::to_string(f.test[i]);
      out += '\n';
    }
    std::fputs(out.c_str(), stdout);
  } catch (const minidl::Error& e) {
    std::fprintf(stderr, "split_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
