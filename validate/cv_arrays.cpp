#include "validate/cv_arrays.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace minidl::validate {

NamedArrays cv_arrays(const CVResult& r) {
  const bool train = !r.folds.empty() && !std::isnan(r.folds[0].train_accuracy);
  NamedArrays out;
  auto column = [&](const std::string& name, double (*get)(const FoldResult&)) {
    std::vector<double> v;
    for (const FoldResult& f : r.folds) v.push_back(get(f));
    out.emplace_back(name, std::move(v));
  };
  column("fit_time", [](const FoldResult& f) { return f.fit_seconds; });
  column("score_time", [](const FoldResult& f) { return f.score_seconds; });
  column("test_accuracy", [](const FoldResult& f) { return f.accuracy; });
  column("test_f1_macro", [](const FoldResult& f) { return f.macro_f1; });
  column("test_neg_log_loss", [](const FoldResult& f) { return -f.loss; });
  if (train) {
    column("train_accuracy", [](const FoldResult& f) { return f.train_accuracy; });
    column("train_f1_macro", [](const FoldResult& f) { return f.train_macro_f1; });
    column("train_neg_log_loss", [](const FoldResult& f) { return -f.train_loss; });
  }
  return out;
}

std::string cv_arrays_json(const NamedArrays& a) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [name, v] : a) {
    nlohmann::ordered_json arr = nlohmann::ordered_json::array();
    for (double x : v) arr.push_back(std::isfinite(x) ? nlohmann::ordered_json(x) : nlohmann::ordered_json());
    j[name] = arr;
  }
  return j.dump(2) + "\n";
}

const std::vector<double>& array_named(const NamedArrays& a, const std::string& name) {
  std::string names;
  for (const auto& [n, v] : a) {
    if (n == name) return v;
    names += (names.empty() ? "" : ", ") + n;
  }
  MINIDL_CHECK(false, "cv_arrays: no array named \"", name, "\" (have: ", names, ")");
  static const std::vector<double> none;
  return none;
}

}  // namespace minidl::validate
