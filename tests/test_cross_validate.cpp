// Tests for validate/cross_validate.h: folds that really train (synthetic data
// and Fashion-MNIST), no leakage of test or validation data into the
// normalisation statistics, the validation carve-out, fold seeds, seeded
// determinism and parity of parallel with sequential folds, errors, and the
// JSON/CSV results.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "core/error.h"
#include "core/parallel.h"
#include "core/random.h"
#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "datasets/transforms.h"
#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/linear.h"
#include "nn/seed_cnn.h"
#include "nn/sequential.h"
#include "nn/train_config.h"
#include "validate/cross_validate.h"
#include "validate/cv_arrays.h"
#include "validate/group_kfold.h"
#include "validate/split.h"

using namespace minidl;
using validate::CVOptions;
using validate::CVResult;
using validate::Fold;
using validate::FoldResult;
using Idx = std::vector<int64_t>;
namespace fs = std::filesystem;

namespace {

bool throws_with(auto&& f, const std::string& part) {
  try {
    f();
  } catch (const minidl::Error& e) {
    if (std::string(e.what()).find(part) != std::string::npos) return true;
    MESSAGE("unexpected message: " << e.what());
    return false;
  }
  return false;
}

// n points in `features` dimensions from `classes` Gaussian blobs with centres
// in the pixel range (declared as pixels: input_scale 1/255), well separated.
datasets::DatasetPtr blobs(int64_t n, int64_t features, int64_t classes, uint64_t seed) {
  Generator g(seed);
  auto centre = std::vector<std::vector<float>>(size_t(classes), std::vector<float>(size_t(features)));
  for (auto& c : centre)
    for (auto& v : c) v = 40.f + 180.f * g.uniform01();
  std::vector<float> x;
  Idx y;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = int64_t(g.randint(uint64_t(classes)));
    y.push_back(c);
    for (int64_t f = 0; f < features; ++f) x.push_back(centre[size_t(c)][size_t(f)] + 25.f * float(g.normal()));
  }
  return std::make_shared<datasets::TensorDataset>(Tensor::from_vector(x, {n, features}), y, classes,
                                                  std::vector<std::string>{}, 1.f / 255.f);
}

// A small MLP built from the seed only. The Dropout draws from the thread's
// default generator, so parity between parallel and sequential folds also
// checks that cross_validate reseeds it per fold.
validate::ModelFactory mlp_factory(int64_t in, int64_t classes) {
  return [=](uint64_t seed) -> nn::ModulePtr {
    Generator gen(seed);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back("fc1", nn::make<nn::Linear>(in, 32, true, gen));
    net->push_back("relu", nn::make<nn::ReLU>());
    net->push_back("drop", nn::make<nn::Dropout>(0.1f));
    net->push_back("fc2", nn::make<nn::Linear>(32, classes, true, gen));
    return net;
  };
}

CVOptions quick_options() {
  CVOptions o;
  o.train.epochs = 3;
  o.train.batch_size = 32;
  o.train.sgd.lr = 0.05f;
  o.train.normalize = true;
  o.seed = 7;
  return o;
}

// A splitter with fixed folds, for hand-built scenarios.
class FixedSplitter : public validate::Splitter {
 public:
  explicit FixedSplitter(std::vector<Fold> folds) : folds_(std::move(folds)) {}
  std::vector<Fold> split(const Idx&) const override { return folds_; }
  int n_splits() const override { return int(folds_.size()); }
  std::string name() const override { return "FixedSplitter"; }

 private:
  std::vector<Fold> folds_;
};

// Wraps a module and records the per-feature mean of its inputs in training
// mode and, separately, in evaluation mode.
struct InputStats {
  std::vector<double> train_sum, eval_sum;
  int64_t train_rows = 0, eval_rows = 0;
};
class Probe : public nn::Module {
 public:
  Probe(nn::ModulePtr inner, std::shared_ptr<InputStats> stats) : inner_(register_module("inner", inner)), s_(stats) {}
  Tensor forward(const Tensor& x) override {
    const int64_t rows = x.size(0), f = x.size(1);
    auto& sum = is_training() ? s_->train_sum : s_->eval_sum;
    sum.resize(size_t(f), 0.0);
    const float* p = x.data<float>();
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < f; ++j) sum[size_t(j)] += p[r * f + j];
    (is_training() ? s_->train_rows : s_->eval_rows) += rows;
    return (*inner_)(x);
  }
  std::string type_name() const override { return "Probe"; }

 private:
  nn::ModulePtr inner_;
  std::shared_ptr<InputStats> s_;
};

std::string transform_names(const std::vector<datasets::TransformPtr>& t) {
  std::string s;
  for (const auto& x : t) s += (s.empty() ? "" : " -> ") + x->name();
  return s;
}

Idx minus(const Idx& a, const Idx& b) {  // a \ b, a's order
  std::set<int64_t> sb(b.begin(), b.end());
  Idx r;
  for (int64_t v : a)
    if (!sb.count(v)) r.push_back(v);
  return r;
}

}  // namespace

TEST_CASE("cross_validate trains every fold (synthetic blobs) and summarises") {
  auto data = blobs(600, 8, 3, 1);
  CVOptions o = quick_options();
  std::ostringstream log;
  o.log = &log;
  const validate::StratifiedKFold splitter(4, true, 3);
  CVResult r = validate::cross_validate(mlp_factory(8, 3), data, splitter, o);

  REQUIRE(r.folds.size() == 4);
  const auto folds = splitter.split(data->labels());
  std::vector<double> acc;
  for (size_t i = 0; i < r.folds.size(); ++i) {
    const FoldResult& f = r.folds[i];
    CAPTURE(i);
    CHECK(f.index == int(i));
    CHECK(f.repeat == 0);
    CHECK(f.fold == int(i));
    CHECK(f.seed == validate::fold_seed(7, 0, int(i)));
    CHECK(f.train_size == int64_t(folds[i].train.size()));
    CHECK(f.test_size == int64_t(folds[i].test.size()));
    CHECK(f.val_size == 0);
    CHECK(f.epochs_run == 3);
    CHECK(f.confusion.total() == f.test_size);
    CHECK(f.accuracy == doctest::Approx(f.confusion.accuracy()));
    CHECK(f.macro_f1 == doctest::Approx(f.confusion.macro_f1()));
    CHECK(f.accuracy > 0.9);  // chance is 1/3
    CHECK(f.threads == get_num_threads());
    acc.push_back(f.accuracy);
  }
  // the summary is summarize() of the fold accuracies; the pooled matrix covers every sample once
  const validate::Summary s = validate::summarize(acc);
  CHECK(r.accuracy.n == 4);
  CHECK(r.accuracy.mean == s.mean);
  CHECK(r.accuracy.std == s.std);
  CHECK(r.accuracy.ci95 == s.ci95);
  CHECK(r.macro_f1.n == 4);
  CHECK(r.confusion.total() == data->size());
  CHECK(r.splitter == splitter.name());
  CHECK(r.folds_per_repeat == 4);
  CHECK(r.repeats == 1);
  // one log line per fold, plus the header
  const std::string text = log.str();
  CHECK(text.find("cross-validation: StratifiedKFold") != std::string::npos);
  for (int k = 1; k <= 4; ++k) CHECK(text.find("fold " + std::to_string(k) + "/4: accuracy") != std::string::npos);
  CHECK(validate::fold_table(r).find("macro-F1") != std::string::npos);
  CHECK(validate::summary_text(r).find("accuracy: " + r.accuracy.to_string()) == 0);

  // corrected_ci: the same folds, the intervals by Nadeau-Bengio with n_test/n_train = 150/450.
  o.corrected_ci = true;
  o.log = nullptr;
  const CVResult c = validate::cross_validate(mlp_factory(8, 3), data, splitter, o);
  CHECK(c.folds[2].accuracy == r.folds[2].accuracy);
  CHECK(c.accuracy.mean == r.accuracy.mean);
  CHECK(c.accuracy.test_train_ratio == doctest::Approx(150.0 / 450.0));
  // By hand: t(0.975, 3) = 3.182446 · sqrt((1/4 + 1/3) · var), against the plain t(0.975, 3) · sqrt(var / 4).
  if (r.accuracy.std > 0) {
    const double var = r.accuracy.std * r.accuracy.std;
    CHECK(c.accuracy.ci95 == doctest::Approx(3.182446 * std::sqrt((0.25 + 1.0 / 3.0) * var)).epsilon(1e-6));
    CHECK(r.accuracy.ci95 == doctest::Approx(3.182446 * std::sqrt(var / 4)).epsilon(1e-6));
  }
  CHECK(c.accuracy.to_string().find("corrected 95% CI") != std::string::npos);
}

TEST_CASE("input scaling belongs to the data set: CSV features in [0, 1] are not divided by 255") {
  // A table as load_csv gives it: Float32 features already in [0, 1], three
  // classes around centres 0.25 apart. Before the scale came from the data
  // set, the recipe divided every input by 255 and this trained at chance.
  const int64_t n = 450, f = 4;
  Generator g(11);
  const std::vector<float> centre = {0.2f, 0.45f, 0.7f};
  std::vector<float> x;
  Idx y;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 3;
    y.push_back(c);
    for (int64_t j = 0; j < f; ++j)
      x.push_back(std::clamp(centre[size_t((c + j) % 3)] + 0.04f * float(g.normal()), 0.f, 1.f));
  }
  auto data = std::make_shared<datasets::TensorDataset>(Tensor::from_vector(x, {n, f}), y, 3);
  CHECK(data->input_scale() == 1.f);
  CHECK(datasets::Subset(data, {0, 1}).input_scale() == 1.f);
  nn::TrainConfig plain;
  CHECK(nn::make_transforms(plain, *data, true).empty());  // nothing to do to such features

  CVOptions o = quick_options();
  o.train.normalize = false;  // normalisation would hide the wrong scale
  o.train.epochs = 4;
  const validate::StratifiedKFold splitter(3, true, 2);
  CVResult r = validate::cross_validate(mlp_factory(f, 3), data, splitter, o);
  for (const FoldResult& fr : r.folds) {
    CHECK(fr.accuracy > 0.9);  // chance is 1/3
    CHECK(fr.preprocessing.empty());
  }
  // The recipe can still override the data set: forcing /255 reproduces the
  // old behaviour, and the folds fall to near chance.
  o.train.input_scale = 1.f / 255.f;
  CVResult forced = validate::cross_validate(mlp_factory(f, 3), data, splitter, o);
  for (const FoldResult& fr : forced.folds) {
    CHECK(fr.preprocessing == datasets::ScalePixels(1.f / 255.f).name());
    CHECK(fr.accuracy < 0.6);
  }
  // Pixels (UInt8 items) keep their /255.
  datasets::TensorDataset pixels(Tensor::zeros({2, 1, 2, 2}).to(DType::UInt8), {0, 1});
  CHECK(pixels.input_scale() == 1.f / 255.f);
  REQUIRE(nn::make_transforms(plain, pixels, false).size() == 1);
  CHECK(nn::recipe_metadata(plain, pixels).at("input_scale") == "0.00392156886");
  CHECK(nn::recipe_metadata(plain, *data).at("input_scale") == "1");
  CHECK(nn::transforms_from_metadata({{"input_scale", "1"}}).empty());
  CHECK(nn::transforms_from_metadata({}).size() == 1);  // older checkpoints: pixels
}

TEST_CASE("no leakage: normalisation statistics come from the fit part only") {
  // 200 samples, 4 features. The first 120 (training part) hold values in
  // [0, 50); the last 80 (test part) are far away, in [200, 255]. Of the
  // training part, a stratified 25% is carved out for validation.
  const int64_t n = 200, f = 4;
  Generator g(5);
  std::vector<float> x;
  Idx y;
  for (int64_t i = 0; i < n; ++i) {
    y.push_back(i % 2);
    for (int64_t j = 0; j < f; ++j) x.push_back(i < 120 ? 50.f * g.uniform01() : 200.f + 55.f * g.uniform01());
  }
  auto data = std::make_shared<datasets::TensorDataset>(Tensor::from_vector(x, {n, f}), y, 2,
                                                       std::vector<std::string>{}, 1.f / 255.f);
  Fold fold;
  for (int64_t i = 0; i < n; ++i) (i < 120 ? fold.train : fold.test).push_back(i);
  FixedSplitter splitter({fold});

  auto stats = std::make_shared<InputStats>();
  auto inner = mlp_factory(f, 2);
  validate::ModelFactory factory = [&](uint64_t seed) -> nn::ModulePtr {
    return std::make_shared<Probe>(inner(seed), stats);
  };
  CVOptions o = quick_options();
  o.train.epochs = 1;
  o.val_fraction = 0.25;
  CVResult r = validate::cross_validate(factory, data, splitter, o);
  REQUIRE(r.folds.size() == 1);
  const FoldResult& fr = r.folds[0];

  // carve-out: ceil(0.25 * 120) = 30 validation samples, all from the training part
  CHECK(fr.val_size == 30);
  CHECK(fr.train_size == 90);
  CHECK(fr.test_size == 80);
  REQUIRE(fr.val_indices.size() == 30);
  CHECK(std::is_sorted(fr.val_indices.begin(), fr.val_indices.end()));
  for (int64_t v : fr.val_indices) CHECK(v < 120);
  const Idx fit = minus(fold.train, fr.val_indices);
  REQUIRE(fit.size() == 90);

  // The evaluation transforms are exactly make_transforms() of the fit part...
  nn::TrainConfig c = o.train;
  datasets::Subset fit_part(data, fit);
  CHECK(fr.preprocessing == transform_names(nn::make_transforms(c, fit_part, false)));
  const auto fit_stats = datasets::channel_stats(fit_part, 1.f / 255.f);
  CHECK(fr.preprocessing == datasets::ScalePixels().name() + " -> " + datasets::Normalize(fit_stats).name());
  // ...which differ from statistics over the whole data set or the whole training part.
  const auto all_stats = datasets::channel_stats(*data, 1.f / 255.f);
  CHECK(fr.preprocessing.find(datasets::Normalize(all_stats).name()) == std::string::npos);
  datasets::Subset train_part(data, fold.train);
  CHECK(fr.preprocessing.find(datasets::Normalize(datasets::channel_stats(train_part, 1.f / 255.f)).name()) ==
        std::string::npos);

  // What the model saw in training: one epoch over the fit part, normalised
  // with the fit part's own statistics, so every feature has mean ~0.
  REQUIRE(stats->train_rows == 90);
  for (int64_t j = 0; j < f; ++j) CHECK(std::abs(stats->train_sum[size_t(j)] / 90.0) < 1e-4);
  // In evaluation (validation + test) the far-away test part stands out:
  // had the statistics included it, the mean would be far smaller.
  REQUIRE(stats->eval_rows == 30 + 80);
  for (int64_t j = 0; j < f; ++j) CHECK(stats->eval_sum[size_t(j)] / 110.0 > 3.0);
}

TEST_CASE("validation carve-out: stratified, inside the training part, disjoint from test") {
  auto data = blobs(300, 6, 3, 2);
  CVOptions o = quick_options();
  o.train.epochs = 2;
  o.val_fraction = 0.2;
  o.patience = 1;
  const validate::StratifiedKFold splitter(3, true, 1);
  CVResult r = validate::cross_validate(mlp_factory(6, 3), data, splitter, o);
  const auto folds = splitter.split(data->labels());
  const Idx labels = data->labels();
  for (size_t i = 0; i < folds.size(); ++i) {
    CAPTURE(i);
    const FoldResult& f = r.folds[i];
    const std::set<int64_t> train(folds[i].train.begin(), folds[i].train.end());
    const std::set<int64_t> test(folds[i].test.begin(), folds[i].test.end());
    const int64_t part = int64_t(folds[i].train.size());
    CHECK(f.val_size == int64_t(std::ceil(0.2 * double(part))));
    CHECK(f.train_size + f.val_size == part);
    CHECK(f.test_size == int64_t(test.size()));
    for (int64_t v : f.val_indices) {
      CHECK(train.count(v) == 1);
      CHECK(test.count(v) == 0);
    }
    // stratified: each class's share of the carve-out within one sample of its share of the part
    for (int64_t c = 0; c < 3; ++c) {
      int64_t in_part = 0, in_val = 0;
      for (int64_t t : folds[i].train) in_part += labels[size_t(t)] == c;
      for (int64_t v : f.val_indices) in_val += labels[size_t(v)] == c;
      CHECK(std::abs(double(in_val) - double(in_part) * double(f.val_size) / double(part)) <= 1.0);
    }
    CHECK(f.best_epoch >= 1);
    CHECK(f.epochs_run >= f.best_epoch);
    CHECK(!std::isnan(f.best_val_accuracy));
  }
}

TEST_CASE("fold seeds, repeats, determinism and parallel/sequential parity") {
  // fold seeds are distinct across (seed, repeat, fold)
  std::set<uint64_t> seeds;
  for (uint64_t s = 0; s < 3; ++s)
    for (int rep = 0; rep < 4; ++rep)
      for (int k = 0; k < 10; ++k) seeds.insert(validate::fold_seed(s, rep, k));
  CHECK(seeds.size() == 3 * 4 * 10);
  CHECK(validate::fold_seed(1, 2, 3) == validate::fold_seed(1, 2, 3));

  auto data = blobs(240, 6, 3, 3);
  const validate::RepeatedStratifiedKFold splitter(2, 2, 11);
  CVOptions o = quick_options();
  o.train.epochs = 1;
  o.threads = 1;
  o.jobs = 1;
  const int caller_threads = get_num_threads();
  const CVResult seq = validate::cross_validate(mlp_factory(6, 3), data, splitter, o);
  const CVResult again = validate::cross_validate(mlp_factory(6, 3), data, splitter, o);
  o.jobs = 2;
  std::ostringstream train_log;  // written from two threads: buffered per fold
  o.train_log = &train_log;
  const CVResult par = validate::cross_validate(mlp_factory(6, 3), data, splitter, o);
  o.train_log = nullptr;
  size_t epoch_lines = 0;
  for (size_t pos = 0; (pos = train_log.str().find("epoch 1/1", pos)) != std::string::npos; ++pos) ++epoch_lines;
  CHECK(epoch_lines == 4);
  o.jobs = 8;  // more jobs than folds, and than threads in the budget: clamped to both
  const CVResult par8 = validate::cross_validate(mlp_factory(6, 3), data, splitter, o);
  CHECK(par.jobs == std::min(2, caller_threads));
  CHECK(par8.jobs == std::min(4, caller_threads));
  CHECK(par.threads == 1);

  REQUIRE(seq.folds.size() == 4);
  CHECK(seq.repeats == 2);
  CHECK(seq.folds_per_repeat == 2);
  for (size_t i = 0; i < 4; ++i) {
    CAPTURE(i);
    CHECK(seq.folds[i].repeat == int(i / 2));
    CHECK(seq.folds[i].fold == int(i % 2));
    CHECK(seq.folds[i].seed == validate::fold_seed(7, int(i / 2), int(i % 2)));
    CHECK(seq.folds[i].threads == 1);
    CHECK(par.folds[i].threads == 1);
    for (const CVResult* other : {&again, &par, &par8}) {
      CHECK(other->folds[i].seed == seq.folds[i].seed);
      CHECK(other->folds[i].accuracy == seq.folds[i].accuracy);
      CHECK(other->folds[i].loss == seq.folds[i].loss);  // bit-identical
      CHECK(other->folds[i].confusion == seq.folds[i].confusion);
    }
  }
  // the thread setting of the caller is restored
  CHECK(get_num_threads() == caller_threads);

  // another seed: other fold seeds, other weights
  o.jobs = 1;
  o.seed = 8;
  const CVResult other = validate::cross_validate(mlp_factory(6, 3), data, splitter, o);
  CHECK(other.folds[0].seed != seq.folds[0].seed);
  CHECK(other.folds[0].loss != seq.folds[0].loss);
}

TEST_CASE("Holdout as splitter: one fold, a mean without spread") {
  auto data = blobs(150, 4, 2, 4);
  CVOptions o = quick_options();
  o.train.epochs = 2;
  CVResult r = validate::cross_validate(mlp_factory(4, 2), data, validate::Holdout(0.2, true, 1), o);
  REQUIRE(r.folds.size() == 1);
  CHECK(r.folds[0].test_size == 30);
  CHECK(r.accuracy.n == 1);
  CHECK(std::isnan(r.accuracy.std));
  CHECK(r.accuracy.to_string().find("no spread") != std::string::npos);
}

TEST_CASE("errors") {
  auto data = blobs(60, 4, 2, 5);
  const validate::KFold kf(3);
  auto ok = mlp_factory(4, 2);
  CVOptions o = quick_options();
  o.train.epochs = 1;
  CHECK(throws_with([&] { validate::cross_validate(validate::ModelFactory{}, data, kf, o); }, "model factory is empty"));
  CHECK(throws_with([&] { validate::cross_validate(ok, nullptr, kf, o); }, "data set is empty"));
  {
    CVOptions b = o;
    b.patience = 2;
    CHECK(throws_with([&] { validate::cross_validate(ok, data, kf, b); }, "needs a validation carve-out"));
    b.val_fraction = 1.0;
    CHECK(throws_with([&] { validate::cross_validate(ok, data, kf, b); }, "val_fraction must be in [0, 1)"));
    b = o;
    b.jobs = 0;
    CHECK(throws_with([&] { validate::cross_validate(ok, data, kf, b); }, "jobs must be in [1, 1024]"));
    b = o;
    b.train.sgd.lr = -1;
    CHECK(throws_with([&] { validate::cross_validate(ok, data, kf, b); }, "learning rate"));
  }
  auto null_factory = [](uint64_t) { return nn::ModulePtr(); };
  CHECK(throws_with([&] { validate::cross_validate(null_factory, data, kf, o); },
                    "cross_validate: fold 1/3 (index 0): the model factory returned a null model"));
  // a model with more outputs than the data set has classes
  CHECK(throws_with([&] { validate::cross_validate(mlp_factory(4, 5), data, kf, o); },
                    "but the data set has 2 classes"));
  // an exception in a fold running on a worker thread reaches the caller
  auto failing = [&](uint64_t seed) -> nn::ModulePtr {
    if (seed == validate::fold_seed(o.seed, 0, 2)) throw Error("factory failed");
    return ok(seed);
  };
  CVOptions par = o;
  par.jobs = 2;
  par.threads = 1;
  CHECK(throws_with([&] { validate::cross_validate(failing, data, kf, par); }, "cross_validate: fold 3/3 (index 2): factory failed"));
  // splitter errors pass through unchanged
  CHECK(throws_with([&] { validate::cross_validate(ok, data, validate::KFold(61), o); }, "61"));
}

TEST_CASE("results as JSON and CSV files") {
  auto data = blobs(90, 4, 3, 6);
  CVOptions o = quick_options();
  o.train.epochs = 1;
  CVResult r = validate::cross_validate(mlp_factory(4, 3), data, validate::KFold(3, true, 2), o);
  const fs::path dir = fs::temp_directory_path() / ("minidl_cv_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string prefix = (dir / "cv").string();
  validate::write_results(r, prefix);

  std::ifstream jf(prefix + ".json");
  const nlohmann::json j = nlohmann::json::parse(jf);
  CHECK(j["splitter"] == "KFold(k=3, shuffle=true, seed=2)");
  CHECK(j["folds"].size() == 3);
  CHECK(j["folds"][1]["fold"] == 1);
  CHECK(j["folds"][1]["accuracy"].get<double>() == r.folds[1].accuracy);
  CHECK(j["folds"][1]["confusion_matrix"].size() == 3);
  CHECK(j["folds"][1]["f1"].size() == 3);
  CHECK(j["folds"][0]["best_val_accuracy"].is_null());  // no validation: NaN -> null
  CHECK(j["summary"]["accuracy"]["mean"].get<double>() == r.accuracy.mean);
  CHECK(j["summary"]["accuracy"]["ci95_half_width"].get<double>() == r.accuracy.ci95);
  CHECK(j["summary"]["macro_f1"]["n"] == 3);

  std::ifstream cf(prefix + ".csv");
  std::vector<std::string> lines;
  for (std::string line; std::getline(cf, line);) lines.push_back(line);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].rfind("index,repeat,fold,seed,", 0) == 0);
  CHECK(lines[1].rfind("0,0,0," + std::to_string(r.folds[0].seed) + ",", 0) == 0);
  fs::remove_all(dir);
}

TEST_CASE("Fashion-MNIST: 3 stratified folds of 1500 images, every fold well above chance") {
  REQUIRE_MESSAGE(fs::is_directory(datasets::kFashionMnistDir),
                  "Fashion-MNIST not found in ", datasets::kFashionMnistDir);
  auto data = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, true, 1500));
  // A one-hidden-layer perceptron: fast, and as accurate as a small CNN after
  // a few hundred images (examples/kfold runs the seed CNN itself).
  validate::ModelFactory factory = [](uint64_t seed) -> nn::ModulePtr {
    Generator gen(seed);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back("flatten", nn::make<nn::Flatten>(1));
    net->push_back("fc1", nn::make<nn::Linear>(784, 128, true, gen));
    net->push_back("relu", nn::make<nn::ReLU>());
    net->push_back("fc2", nn::make<nn::Linear>(128, 10, true, gen));
    return net;
  };
  CVOptions o;
  o.train.epochs = 4;
  o.train.batch_size = 32;
  o.train.normalize = true;
  o.seed = 1;
  CVResult r = validate::cross_validate(factory, data, validate::StratifiedKFold(3, true, 1), o);
  REQUIRE(r.folds.size() == 3);
  for (const FoldResult& f : r.folds) {
    CAPTURE(f.fold);
    CHECK(f.test_size == 500);
    CHECK(f.accuracy > 0.6);  // chance is 0.1
    CHECK(f.macro_f1 > 0.5);
  }
  MESSAGE("Fashion-MNIST 3-fold: " << validate::summary_text(r) << validate::fold_table(r));
}

TEST_CASE("results as sklearn-style named arrays (cv_arrays), with and without return_train_score") {
  auto data = blobs(300, 6, 3, 5);
  CVOptions o = quick_options();
  o.return_train_score = true;
  const CVResult r = validate::cross_validate(mlp_factory(6, 3), data, validate::GroupKFold(3, [] {
    Idx g;  // 30 groups of 10 consecutive samples
    for (int64_t i = 0; i < 300; ++i) g.push_back(i / 10);
    return g;
  }()), o);
  const validate::NamedArrays a = validate::cv_arrays(r);
  std::vector<std::string> names;
  for (const auto& [n, v] : a) names.push_back(n);
  CHECK(names == std::vector<std::string>{"fit_time", "score_time", "test_accuracy", "test_f1_macro",
                                          "test_neg_log_loss", "train_accuracy", "train_f1_macro",
                                          "train_neg_log_loss"});
  for (size_t i = 0; i < r.folds.size(); ++i) {
    const FoldResult& f = r.folds[i];
    CAPTURE(i);
    CHECK(validate::array_named(a, "fit_time")[i] == f.fit_seconds);
    CHECK(f.fit_seconds > 0);
    CHECK(f.score_seconds > 0);
    CHECK(f.fit_seconds + f.score_seconds <= f.seconds);
    CHECK(validate::array_named(a, "test_accuracy")[i] == f.accuracy);
    CHECK(validate::array_named(a, "test_neg_log_loss")[i] == -f.loss);
    // the fit part, scored with the same transforms: learnt (chance is 1/3), and not the test numbers
    CHECK(f.train_accuracy > 0.7);
    CHECK(validate::array_named(a, "train_accuracy")[i] == f.train_accuracy);
    CHECK(validate::array_named(a, "train_neg_log_loss")[i] == -f.train_loss);
    CHECK(f.train_loss != f.loss);
  }
  CHECK(validate::cv_arrays_json(a).find("\"train_f1_macro\": [") != std::string::npos);
  CHECK(throws_with([&] { validate::array_named(a, "test_r2"); }, "have: fit_time, score_time"));

  o.return_train_score = false;
  const CVResult plain = validate::cross_validate(mlp_factory(6, 3), data, validate::KFold(3), o);
  CHECK(validate::cv_arrays(plain).size() == 5);  // no train_* arrays
  CHECK(std::isnan(plain.folds[0].train_accuracy));
}
