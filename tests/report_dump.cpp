// report_dump — minidl's classification report numbers for
// tests/sklearn_report_parity.py to compare against sklearn's classification_report.
//
//   report_dump K < "y_true... \n y_pred..."   (two lines of integers in [0, K))
//
// Output, one line each: "class C P R F1 SUPPORT" for every class, then
// "macro P R F1 SUPPORT", "weighted P R F1 SUPPORT", "accuracy A", then the
// text report's "macro avg" and "weighted avg" lines as printed.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "validate/metrics.h"

using minidl::validate::ConfusionMatrix;

static std::vector<int64_t> ints(const std::string& line) {
  std::istringstream is(line);
  std::vector<int64_t> v;
  long long x;
  while (is >> x) v.push_back(x);
  return v;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: report_dump K < y_true/y_pred lines\n");
    return 2;
  }
  std::string a, b;
  std::getline(std::cin, a);
  std::getline(std::cin, b);
  try {
    const ConfusionMatrix m(ints(b), ints(a), std::atoll(argv[1]));
    for (int64_t c = 0; c < m.num_classes(); ++c)
      std::printf("class %lld %.17g %.17g %.17g %lld\n", (long long)c, m.precision(c), m.recall(c), m.f1(c),
                  (long long)m.support(c));
    for (const auto& [name, v] : {std::pair{"macro", m.macro_avg()}, std::pair{"weighted", m.weighted_avg()}})
      std::printf("%s %.17g %.17g %.17g %lld\n", name, v.precision, v.recall, v.f1, (long long)v.support);
    std::printf("accuracy %.17g\n", m.accuracy());
    std::istringstream rep(m.report());
    for (std::string line; std::getline(rep, line);)
      if (line.find("avg") != std::string::npos) std::printf("report %s\n", line.c_str());
  } catch (const minidl::Error& e) {
    std::fprintf(stderr, "report_dump: %s\n", e.what());
    return 1;
  }
  return 0;
}
