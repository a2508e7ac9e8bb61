// The study's outputs: each recipe's summary and verdict, the terminal
// table, JSON, CSV, SVG pictures, and the per-unit JSON files a restarted
// study reads back.
#include <cmath>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "nn/checkpoint.h"
#include "validate/study.h"
#include "validate/svg.h"

namespace minidl::validate {

using nlohmann::json;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* kColors[] = {"#000000", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                         "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string fixed(double v, int prec) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

json num(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
double get(const json& j, const char* key) { return j.at(key).is_null() ? kNaN : j.at(key).get<double>(); }

json summary_json(const Summary& s) {
  return {{"n", s.n}, {"mean", num(s.mean)}, {"std", num(s.std)}, {"ci95_half_width", num(s.ci95)},
          {"ci95_low", num(s.lo())}, {"ci95_high", num(s.hi())}, {"min", num(s.min)}, {"max", num(s.max)}};
}

json run_to(const RunResult& r) {
  json curves = json::array();
  for (const Curve& c : r.curves) {
    json e = json::array();
    for (const CurvePoint& p : c.epochs)
      e.push_back({{"train_loss", num(p.train_loss)}, {"train_accuracy", num(p.train_accuracy)},
                   {"heldout_accuracy", num(p.heldout_accuracy)}});
    curves.push_back({{"stage", c.stage}, {"epochs", e}});
  }
  return {{"recipe", r.recipe}, {"index", r.index}, {"repeat", r.repeat}, {"fold", r.fold}, {"seed", r.seed},
          {"train_size", r.train_size}, {"test_size", r.test_size}, {"accuracy", num(r.accuracy)},
          {"macro_f1", num(r.macro_f1)}, {"loss", num(r.loss)}, {"diff", num(r.diff)}, {"file", r.file},
          {"stored_bytes", r.stored_bytes}, {"params", r.params}, {"nonzeros", r.nonzeros}, {"macs", r.macs},
          {"nonzero_macs", r.nonzero_macs}, {"latency1_ms", num(r.latency1_ms)},
          {"latency256_ms", num(r.latency256_ms)}, {"dense_latency1_ms", num(r.dense_latency1_ms)},
          {"dense_latency256_ms", num(r.dense_latency256_ms)}, {"details", r.details},
          {"sizes", json::array({r.conv1_channels, r.conv2_channels, r.hidden})}, {"threads", r.threads},
          {"seconds", num(r.seconds)}, {"curves", curves}};
}

// Means over folds of a RunResult field.
template <class F>
double mean_of(const std::vector<RunResult>& v, F f) {
  double s = 0;
  for (const RunResult& r : v) s += double(f(r));
  return v.empty() ? kNaN : s / double(v.size());
}

std::string ci(const Summary& s) {  // of a difference, in points
  return "[" + fixed(s.lo() * 100, 2) + ", " + fixed(s.hi() * 100, 2) + "]";
}

}  // namespace

std::string run_json(const RunResult& r) { return run_to(r).dump(1) + "\n"; }

RunResult run_from_json(const std::string& text, const std::string& source) {
  try {
    const json j = json::parse(text);
    RunResult r;
    r.recipe = j.at("recipe");
    r.index = j.at("index");
    r.repeat = j.at("repeat");
    r.fold = j.at("fold");
    r.seed = j.at("seed");
    r.train_size = j.at("train_size");
    r.test_size = j.at("test_size");
    r.accuracy = get(j, "accuracy");
    r.macro_f1 = get(j, "macro_f1");
    r.loss = get(j, "loss");
    r.diff = get(j, "diff");
    r.file = j.at("file");
    r.stored_bytes = j.at("stored_bytes");
    r.params = j.at("params");
    r.nonzeros = j.at("nonzeros");
    r.macs = j.at("macs");
    r.nonzero_macs = j.at("nonzero_macs");
    r.latency1_ms = get(j, "latency1_ms");
    r.latency256_ms = get(j, "latency256_ms");
    r.dense_latency1_ms = get(j, "dense_latency1_ms");
    r.dense_latency256_ms = get(j, "dense_latency256_ms");
    r.details = j.at("details");
    if (j.contains("sizes")) {  // absent in units written before it was recorded
      const json& z = j.at("sizes");
      r.conv1_channels = z.at(0), r.conv2_channels = z.at(1), r.hidden = z.at(2);
    }
    r.threads = j.at("threads");
    r.seconds = get(j, "seconds");
    for (const json& c : j.at("curves")) {
      Curve cv;
      cv.stage = c.at("stage");
      for (const json& e : c.at("epochs"))
        cv.epochs.push_back({get(e, "train_loss"), get(e, "train_accuracy"), get(e, "heldout_accuracy")});
      r.curves.push_back(cv);
    }
    return r;
  } catch (const json::exception& e) {
    throw Error(source + ": not a study result (" + e.what() + "); delete it to run that unit again");
  }
}

RecipeSummary summarize_recipe(const std::string& recipe, const std::vector<RunResult>& runs,
                               const std::vector<RunResult>& dense, double test_train_ratio) {
  MINIDL_CHECK(!runs.empty() && runs.size() == dense.size(), "summarize_recipe: ", runs.size(), " runs for ",
               dense.size(), " folds");
  RecipeSummary s;
  s.recipe = recipe;
  std::vector<double> acc, f1, diff;
  double sp1 = 0, sp256 = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunResult& r = runs[i];
    acc.push_back(r.accuracy);
    f1.push_back(r.macro_f1);
    diff.push_back(r.accuracy - dense[i].accuracy);
    s.stored_bytes += double(r.stored_bytes) / double(runs.size());
    s.dense_bytes += double(dense[i].stored_bytes) / double(runs.size());
    s.nonzeros += double(r.nonzeros) / double(runs.size());
    s.macs += double(r.macs) / double(runs.size());
    sp1 += r.dense_latency1_ms / r.latency1_ms / double(runs.size());
    sp256 += r.dense_latency256_ms / r.latency256_ms / double(runs.size());
  }
  s.accuracy = summarize(acc);
  s.macro_f1 = summarize(f1);
  s.diff = summarize(diff);
  s.diff_corrected = summarize(diff, test_train_ratio);
  s.compression = s.dense_bytes / s.stored_bytes;
  s.speedup1 = sp1;
  s.speedup256 = sp256;
  // The verdict speaks of the cost in points: cost = −diff, its interval [−hi, −lo].
  const Summary& c = s.diff_corrected;
  const bool gain = c.mean > 0;
  const double m = std::fabs(c.mean) * 100, lo = (gain ? c.lo() : -c.hi()) * 100, hi = (gain ? c.hi() : -c.lo()) * 100;
  std::ostringstream v;
  v << recipe << (gain ? " gains " : " costs ") << fixed(m, 2) << " pt [" << fixed(lo, 2) << ", " << fixed(hi, 2)
    << "] at " << fixed(s.compression, 1) << "x smaller";
  if (std::isfinite(s.speedup256))
    v << ", " << fixed(s.speedup1, 2) << "x / " << fixed(s.speedup256, 2) << "x the dense speed (batch 1 / 256)";
  s.verdict = v.str();
  return s;
}

std::string study_table(const StudyResult& r) {
  std::ostringstream os;
  const int j = int(r.dense.size());
  os << "Accuracy on each fold's held-out part; diff = the recipe's accuracy minus the same fold's dense model's, in\n"
        "points. 95% CIs of the mean diff over J = "
     << j << " folds: corrected = Nadeau & Bengio 2003 (variance x (1/J + n_test/n_train),\nn_test/n_train = "
     << fixed(r.test_train_ratio, 3)
     << "; the verdict's), naive = plain Student t (too narrow: the folds share training data).\n"
        "bytes: the stored file; speedup: dense latency / latency, timed side by side (batch 1 / 256).\n\n";
  os << std::left << std::setw(20) << "recipe" << std::right << std::setw(16) << "accuracy" << std::setw(9) << "diff"
     << std::setw(20) << "corrected CI" << std::setw(20) << "naive CI" << std::setw(10) << "macro-F1" << std::setw(10)
     << "bytes" << std::setw(8) << "ratio" << std::setw(10) << "nonzeros" << std::setw(11) << "MACs" << std::setw(9)
     << "ms b1" << std::setw(9) << "ms b256" << std::setw(14) << "speedup" << "\n";
  const std::vector<RunResult>& d = r.dense;
  std::vector<double> dacc, df1;
  for (const RunResult& x : d) dacc.push_back(x.accuracy), df1.push_back(x.macro_f1);
  const Summary da = summarize(dacc), dm = summarize(df1);
  os << std::left << std::setw(20) << "dense" << std::right << std::setw(16)
     << (fixed(da.mean, 4) + " ± " + fixed(da.std, 4)) << std::setw(9) << "" << std::setw(20) << "" << std::setw(20)
     << "" << std::setw(10) << fixed(dm.mean, 4) << std::setw(10)
     << int64_t(mean_of(d, [](auto& x) { return x.stored_bytes; })) << std::setw(8) << "1.0x" << std::setw(10)
     << int64_t(mean_of(d, [](auto& x) { return x.nonzeros; })) << std::setw(11)
     << int64_t(mean_of(d, [](auto& x) { return x.macs; })) << std::setw(9)
     << fixed(mean_of(d, [](auto& x) { return x.latency1_ms; }), 3) << std::setw(9)
     << fixed(mean_of(d, [](auto& x) { return x.latency256_ms; }), 2) << std::setw(14) << "1.00/1.00" << "\n";
  for (size_t k = 0; k < r.summaries.size(); ++k) {
    const RecipeSummary& s = r.summaries[k];
    const std::vector<RunResult>& v = r.runs[k];
    os << std::left << std::setw(20) << s.recipe << std::right << std::setw(16)
       << (fixed(s.accuracy.mean, 4) + " ± " + fixed(s.accuracy.std, 4)) << std::setw(9)
       << fixed(s.diff.mean * 100, 2) << std::setw(20) << ci(s.diff_corrected) << std::setw(20) << ci(s.diff)
       << std::setw(10) << fixed(s.macro_f1.mean, 4) << std::setw(10) << int64_t(s.stored_bytes) << std::setw(8)
       << (fixed(s.compression, 1) + "x") << std::setw(10) << int64_t(s.nonzeros) << std::setw(11) << int64_t(s.macs)
       << std::setw(9) << fixed(mean_of(v, [](auto& x) { return x.latency1_ms; }), 3) << std::setw(9)
       << fixed(mean_of(v, [](auto& x) { return x.latency256_ms; }), 2) << std::setw(14)
       << (fixed(s.speedup1, 2) + "/" + fixed(s.speedup256, 2)) << "\n";
  }
  return os.str();
}

std::string verdicts(const StudyResult& r) {
  std::string s = "verdicts (corrected 95% CI of the accuracy change, " + std::to_string(r.dense.size()) + " folds):\n";
  for (const RecipeSummary& x : r.summaries) s += "  " + x.verdict + "\n";
  return s;
}

std::string study_json(const StudyResult& r) {
  json recipes = json::array(), runs = json::array();
  for (const RecipeSummary& s : r.summaries)
    recipes.push_back({{"recipe", s.recipe}, {"accuracy", summary_json(s.accuracy)},
                       {"macro_f1", summary_json(s.macro_f1)}, {"diff_naive", summary_json(s.diff)},
                       {"diff_corrected", summary_json(s.diff_corrected)}, {"stored_bytes", num(s.stored_bytes)},
                       {"dense_bytes", num(s.dense_bytes)}, {"compression", num(s.compression)},
                       {"nonzeros", num(s.nonzeros)}, {"macs", num(s.macs)}, {"speedup_batch1", num(s.speedup1)},
                       {"speedup_batch256", num(s.speedup256)}, {"verdict", s.verdict}});
  for (const RunResult& d : r.dense) runs.push_back(run_to(d));
  for (const auto& v : r.runs)
    for (const RunResult& x : v) runs.push_back(run_to(x));
  const json j = {{"splitter", r.splitter}, {"dataset", r.dataset}, {"model", r.model},
                  {"train_recipe", r.train_recipe}, {"finetune_recipe", r.finetune_recipe}, {"seed", r.seed},
                  {"folds_per_repeat", r.folds_per_repeat}, {"repeats", r.repeats},
                  {"world_size", r.world_size}, {"jobs", r.jobs},
                  {"threads_per_job", r.threads}, {"test_train_ratio", num(r.test_train_ratio)},
                  {"interval", "diff_corrected: corrected resampled t (Nadeau & Bengio 2003); diff_naive: Student t"},
                  {"units_trained", r.trained}, {"units_resumed", r.resumed}, {"seconds", num(r.seconds)},
                  {"recipes", recipes}, {"runs", runs}};
  return j.dump(2) + "\n";
}

std::string study_csv(const StudyResult& r) {
  std::ostringstream os;
  os << "recipe,index,repeat,fold,seed,train_size,test_size,accuracy,macro_f1,loss,diff,stored_bytes,params,"
        "nonzeros,macs,nonzero_macs,latency1_ms,latency256_ms,dense_latency1_ms,dense_latency256_ms,threads,seconds\n";
  auto v = [](double x) {
    if (!std::isfinite(x)) return std::string();
    std::ostringstream s;
    s << std::setprecision(10) << x;
    return s.str();
  };
  auto row = [&](const RunResult& x) {
    os << x.recipe << "," << x.index << "," << x.repeat << "," << x.fold << "," << x.seed << "," << x.train_size << ","
       << x.test_size << "," << v(x.accuracy) << "," << v(x.macro_f1) << "," << v(x.loss) << "," << v(x.diff) << ","
       << x.stored_bytes << "," << x.params << "," << x.nonzeros << "," << x.macs << "," << x.nonzero_macs << ","
       << v(x.latency1_ms) << "," << v(x.latency256_ms) << "," << v(x.dense_latency1_ms) << ","
       << v(x.dense_latency256_ms) << "," << x.threads << "," << v(x.seconds) << "\n";
  };
  for (const RunResult& d : r.dense) row(d);
  for (const auto& runs : r.runs)
    for (const RunResult& x : runs) row(x);
  return os.str();
}

std::string pareto_svg(const StudyResult& r) {
  Chart c;
  c.title = "accuracy change vs stored size (" + std::to_string(r.dense.size()) + " folds)";
  c.xlabel = "stored bytes (log scale)";
  c.ylabel = "accuracy change vs dense (points)";
  c.log_x = true;
  c.hlines = {0};
  Series dense;
  dense.markers = true;
  dense.color = kColors[0];
  dense.label = "dense";
  dense.x = {mean_of(r.dense, [](auto& x) { return x.stored_bytes; })};
  dense.y = {0};
  dense.point_labels = {"dense"};
  c.series.push_back(dense);
  for (size_t k = 0; k < r.summaries.size(); ++k) {
    const RecipeSummary& s = r.summaries[k];
    Series p;
    p.markers = true;
    p.color = kColors[(k + 1) % 11];
    p.label = s.recipe;
    p.x = {s.stored_bytes};
    p.y = {s.diff_corrected.mean * 100};
    p.ylo = {s.diff_corrected.lo() * 100};
    p.yhi = {s.diff_corrected.hi() * 100};
    p.point_labels = {s.recipe + " (" + fixed(s.compression, 1) + "x)"};
    c.series.push_back(p);
  }
  return svg_charts({c}, 760, 480,
                    "error bars: corrected resampled t 95% CI (Nadeau & Bengio 2003) of the paired per-fold change");
}

std::string curves_svg(const StudyResult& r) {
  Chart loss, acc;
  loss.title = "training loss";
  acc.title = "held-out accuracy";
  loss.xlabel = acc.xlabel = "epoch (fine-tuning after the dense epochs)";
  loss.ylabel = "cross-entropy";
  acc.ylabel = "accuracy";
  // A fine-tuning curve starts at the end of the fold's dense curve, so the two connect.
  auto add = [&](const RunResult& x, size_t color, bool label, double offset, const CurvePoint* start) {
    for (const Curve& cv : x.curves) {
      Series l, a;
      l.color = a.color = kColors[color % 11];
      l.dashed = a.dashed = x.recipe != "dense";
      if (label) l.label = a.label = x.recipe, label = false;
      if (start) {
        l.x.push_back(offset);
        a.x.push_back(offset);
        l.y.push_back(start->train_loss);
        a.y.push_back(start->heldout_accuracy);
      }
      for (size_t e = 0; e < cv.epochs.size(); ++e) {
        l.x.push_back(offset + double(e) + 1);
        a.x.push_back(offset + double(e) + 1);
        l.y.push_back(cv.epochs[e].train_loss);
        a.y.push_back(cv.epochs[e].heldout_accuracy);
      }
      offset += double(cv.epochs.size());
      if (!cv.epochs.empty()) start = &cv.epochs.back();
      loss.series.push_back(l);
      acc.series.push_back(a);
    }
  };
  for (size_t i = 0; i < r.dense.size(); ++i) {
    const Curve* dc = r.dense[i].curves.empty() ? nullptr : &r.dense[i].curves[0];
    const CurvePoint* last = dc && !dc->epochs.empty() ? &dc->epochs.back() : nullptr;
    add(r.dense[i], 0, i == 0, 0, nullptr);
    for (size_t k = 0; k < r.runs.size(); ++k) add(r.runs[k][i], k + 1, i == 0, dc ? double(dc->epochs.size()) : 0, last);
  }
  return svg_charts({loss, acc}, 620, 420, "per-fold training curves (one line per fold and stage)");
}

void write_study(const StudyResult& r, const std::string& dir) {
  namespace fs = std::filesystem;
  MINIDL_CHECK(fs::is_directory(dir), "write_study: ", dir, " is not a directory");
  nn::write_file_atomic((fs::path(dir) / "results.json").string(), study_json(r));
  nn::write_file_atomic((fs::path(dir) / "results.csv").string(), study_csv(r));
  nn::write_file_atomic((fs::path(dir) / "pareto.svg").string(), pareto_svg(r));
  nn::write_file_atomic((fs::path(dir) / "curves.svg").string(), curves_svg(r));
}

}  // namespace minidl::validate
