// cross_validate's outputs (validate/cross_validate.h): the per-fold table,
// the summary text, and the results as JSON and CSV.
#include <cmath>
#include <iomanip>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "nn/checkpoint.h"
#include "validate/cross_validate.h"

namespace minidl::validate {

namespace {

std::string fixed(double v, int prec) {
  if (std::isnan(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

nlohmann::json num(double v) { return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v); }

nlohmann::json summary_json(const Summary& s) {
  return {{"n", s.n}, {"mean", num(s.mean)}, {"std", num(s.std)}, {"ci95_half_width", num(s.ci95)},
          {"ci95_low", num(s.lo())}, {"ci95_high", num(s.hi())}, {"min", num(s.min)}, {"max", num(s.max)}};
}

nlohmann::json confusion_json(const ConfusionMatrix& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t i = 0; i < m.num_classes(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (int64_t j = 0; j < m.num_classes(); ++j) row.push_back(m.at(i, j));
    rows.push_back(row);
  }
  return rows;
}

nlohmann::json measurements_json(const std::map<std::string, double>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [n, v] : m) j[n] = num(v);
  return j;
}

// accuracy, macro_f1, then the summarised measurements by name.
nlohmann::json summary_all(const CVResult& r) {
  nlohmann::json j = {{"accuracy", summary_json(r.accuracy)}, {"macro_f1", summary_json(r.macro_f1)}};
  for (const auto& [n, s] : r.measurements) j["measurements"][n] = summary_json(s);
  return j;
}

}  // namespace

std::string fold_table(const CVResult& r) {
  std::ostringstream os;
  const bool rep = r.repeats > 1;
  const bool val = r.val_fraction > 0;
  os << std::right;
  if (rep) os << std::setw(6) << "repeat";
  os << std::setw(6) << "fold" << std::setw(8) << "train";
  if (val) os << std::setw(7) << "val";
  os << std::setw(7) << "test" << std::setw(8) << "epochs" << std::setw(10) << "accuracy" << std::setw(10) << "macro-F1"
     << std::setw(9) << "loss" << std::setw(9) << "seconds" << "\n";
  for (const FoldResult& f : r.folds) {
    if (rep) os << std::setw(6) << f.repeat + 1;
    os << std::setw(6) << f.fold + 1 << std::setw(8) << f.train_size;
    if (val) os << std::setw(7) << f.val_size;
    os << std::setw(7) << f.test_size << std::setw(8) << f.epochs_run << std::setw(10) << fixed(f.accuracy, 4)
       << std::setw(10) << fixed(f.macro_f1, 4) << std::setw(9) << fixed(f.loss, 4) << std::setw(9)
       << fixed(f.seconds, 1) << "\n";
  }
  return os.str();
}

std::string summary_text(const CVResult& r) {
  std::string s = "accuracy: " + r.accuracy.to_string() + "\nmacro-F1: " + r.macro_f1.to_string() + "\n";
  for (const auto& [n, m] : r.measurements) s += n + ": " + m.to_string() + "\n";
  return s;
}

std::string results_json(const CVResult& r) {
  using nlohmann::json;
  json folds = json::array();
  for (const FoldResult& f : r.folds)
    folds.push_back({{"index", f.index},
                     {"repeat", f.repeat},
                     {"fold", f.fold},
                     {"seed", f.seed},
                     {"train_size", f.train_size},
                     {"val_size", f.val_size},
                     {"test_size", f.test_size},
                     {"accuracy", num(f.accuracy)},
                     {"macro_f1", num(f.macro_f1)},
                     {"loss", num(f.loss)},
                     {"epochs_run", f.epochs_run},
                     {"best_epoch", f.best_epoch},
                     {"stopped_early", f.stopped_early},
                     {"best_val_accuracy", num(f.best_val_accuracy)},
                     {"precision", f.confusion.precisions()},
                     {"recall", f.confusion.recalls()},
                     {"f1", f.confusion.f1s()},
                     {"confusion_matrix", confusion_json(f.confusion)},
                     {"measurements", measurements_json(f.measurements)},
                     {"preprocessing", f.preprocessing},
                     {"threads", f.threads},
                     {"seconds", f.seconds}});
  json j = {{"splitter", r.splitter},
            {"dataset", r.dataset},
            {"recipe", r.recipe},
            {"class_names", r.class_names},
            {"seed", r.seed},
            {"val_fraction", r.val_fraction},
            {"patience", r.patience},
            {"repeats", r.repeats},
            {"folds_per_repeat", r.folds_per_repeat},
            {"world_size", r.world_size},
            {"jobs", r.jobs},
            {"threads_per_job", r.threads},
            {"seconds", r.seconds},
            {"summary", summary_all(r)},
            {"confusion_matrix", confusion_json(r.confusion)},
            {"folds", folds}};
  return j.dump(2) + "\n";
}

std::string results_csv(const CVResult& r) {
  std::ostringstream os;
  os << "index,repeat,fold,seed,train_size,val_size,test_size,epochs_run,best_epoch,accuracy,macro_f1,loss,seconds";
  for (const auto& [n, s] : r.measurements) os << "," << n;
  os << "\n";
  auto v = [](double x) {
    if (std::isnan(x)) return std::string();
    std::ostringstream s;
    s << std::setprecision(10) << x;
    return s.str();
  };
  for (const FoldResult& f : r.folds) {
    os << f.index << "," << f.repeat << "," << f.fold << "," << f.seed << "," << f.train_size << "," << f.val_size
       << "," << f.test_size << "," << f.epochs_run << "," << f.best_epoch << "," << v(f.accuracy) << ","
       << v(f.macro_f1) << "," << v(f.loss) << "," << fixed(f.seconds, 3);
    for (const auto& [n, s] : r.measurements) os << "," << v(f.measurements.at(n));
    os << "\n";
  }
  return os.str();
}

void write_results(const CVResult& r, const std::string& prefix) {
  MINIDL_CHECK(!prefix.empty(), "write_results: empty file prefix");
  nn::write_file_atomic(prefix + ".json", results_json(r));
  nn::write_file_atomic(prefix + ".csv", results_csv(r));
}

}  // namespace minidl::validate
