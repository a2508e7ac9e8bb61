// Tests for cross-validating a pipeline (validate/cross_validate.h's
// FoldProcedure): what a procedure is given (parts, seed, recipe, transforms
// from the fit part), its model tested and its measurements summarised and
// written, the factory overload equal to dense_training, parallel folds equal
// to sequential ones, errors.
#include <doctest/doctest.h>

#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

// Two classes in 6 pixel-valued features: class c has mean 80 + 100·c in its first three.
datasets::DatasetPtr two_classes(int64_t n, uint64_t seed) {
  Generator g(seed);
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % 2;
    y.push_back(c);
    for (int f = 0; f < 6; ++f) x.push_back((f < 3 ? 80.f + 100.f * float(c) : 128.f) + 30.f * float(g.normal()));
  }
  return std::make_shared<datasets::TensorDataset>(Tensor::from_vector(x, {n, 6}), y, 2);
}

nn::ModulePtr small(uint64_t seed) {
  Generator g(seed);
  return nn::Sequential::named({{"fc1", nn::make<nn::Linear>(6, 16, true, g)},
                                {"relu", nn::make<nn::ReLU>()},
                                {"fc2", nn::make<nn::Linear>(16, 2, true, g)}});
}

validate::CVOptions options() {
  validate::CVOptions o;
  o.train.epochs = 3;
  o.train.batch_size = 16;
  o.train.sgd.lr = 0.05f;
  o.train.normalize = true;
  o.val_fraction = 0.25;
  o.seed = 9;
  return o;
}

// "train dense, then prune to 50%": the study shape a compression study runs.
validate::FoldOutcome train_then_prune(const validate::FoldData& f) {
  validate::FoldOutcome out = validate::dense_training(small)(f);
  datasets::DataLoader test(f.test, {.batch_size = f.recipe.eval_batch_size, .transforms = f.eval_transforms});
  out.measurements["dense_accuracy"] = nn::evaluate(*out.model, test).accuracy;
  auto targets = compress::prunable_weights(*out.model);
  compress::global_unstructured(targets, compress::Amount::fraction(0.5));
  out.measurements["sparsity"] = compress::sparsity(targets);
  return out;
}

}  // namespace

TEST_CASE("a fold procedure gets the fold's parts, seed, recipe and fit-part transforms") {
  auto data = two_classes(120, 1);
  std::mutex mu;
  std::vector<validate::FoldData> seen;
  auto procedure = [&](const validate::FoldData& f) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen.push_back(f);
    }
    return validate::dense_training(small)(f);
  };
  const auto r = validate::cross_validate(procedure, data, validate::StratifiedKFold(3, true, 2), options());
  REQUIRE(seen.size() == 3);
  for (const auto& f : seen) {
    const validate::FoldResult& fr = r.folds[size_t(f.index)];
    CHECK(f.seed == fr.seed);
    CHECK(f.seed == validate::fold_seed(9, 0, f.fold));
    CHECK(f.recipe.seed == f.seed);
    CHECK(f.recipe.epochs == 3);
    CHECK(f.fit->size() == fr.train_size);
    REQUIRE(f.val);
    CHECK(f.val->size() == fr.val_size);
    CHECK(f.test->size() == fr.test_size);
    CHECK(f.fit->size() + f.val->size() + f.test->size() == 120);
    // Normalize's statistics are the fit part's: the same as make_transforms(recipe, fit part).
    std::string names;
    for (const auto& t : f.eval_transforms) names += (names.empty() ? "" : " -> ") + t->name();
    CHECK(names == fr.preprocessing);
    CHECK(contains(names, "Normalize"));
    CHECK(f.train_transforms.size() == f.eval_transforms.size());  // no augmentation in this recipe
    CHECK(f.fit_options.early_stopping_patience == 0);
  }
}

TEST_CASE("train-then-prune per fold: the pruned model is tested, measurements summarised and written") {
  auto data = two_classes(120, 3);
  const validate::StratifiedKFold split(3, true, 4);
  const auto r = validate::cross_validate(validate::FoldProcedure(train_then_prune), data, split, options());
  REQUIRE(r.folds.size() == 3);
  for (const auto& f : r.folds) {
    CHECK(f.measurements.at("sparsity") == doctest::Approx(0.5).epsilon(0.01));
    CHECK(f.measurements.at("dense_accuracy") > 0.8);
    CHECK(f.epochs_run == 3);
  }
  REQUIRE(r.measurements.count("sparsity"));
  CHECK(r.measurements.at("sparsity").n == 3);
  CHECK(r.measurements.at("sparsity").mean == doctest::Approx(0.5).epsilon(0.01));
  CHECK(r.measurements.at("dense_accuracy").n == 3);
  CHECK(contains(validate::summary_text(r), "sparsity: "));
  const auto j = nlohmann::json::parse(validate::results_json(r));
  CHECK(j["folds"][0]["measurements"]["sparsity"].get<double>() == r.folds[0].measurements.at("sparsity"));
  CHECK(j["summary"]["measurements"]["sparsity"]["n"] == 3);
  const std::string csv = validate::results_csv(r);
  CHECK(contains(csv.substr(0, csv.find('\n')), ",seconds,dense_accuracy,sparsity"));

  // The dense model, tested the same way, is what dense_training alone gives.
  const auto dense = validate::cross_validate(small, data, split, options());
  for (size_t i = 0; i < 3; ++i) CHECK(dense.folds[i].accuracy == r.folds[i].measurements.at("dense_accuracy"));
  CHECK(dense.measurements.empty());
  CHECK(validate::results_csv(dense).find(",seconds\n") != std::string::npos);
}

TEST_CASE("pipelines: parallel folds equal sequential ones; errors") {
  auto data = two_classes(96, 5);
  const validate::KFold split(4, true, 6);
  auto o = options();
  o.threads = 1;  // the same per-fold thread count in both runs
  const auto seq = validate::cross_validate(validate::FoldProcedure(train_then_prune), data, split, o);
  o.jobs = 2;
  o.threads = 1;
  const auto par = validate::cross_validate(validate::FoldProcedure(train_then_prune), data, split, o);
  for (size_t i = 0; i < 4; ++i) {
    CHECK(seq.folds[i].accuracy == par.folds[i].accuracy);
    CHECK(seq.folds[i].measurements == par.folds[i].measurements);
  }
  auto null_model = [](const validate::FoldData&) { return validate::FoldOutcome{}; };
  CHECK(contains(error_of([&] { validate::cross_validate(null_model, data, split, options()); }),
                 "fold 1/4 (index 0): the fold procedure returned a null model"));
  CHECK(contains(error_of([&] { validate::cross_validate(validate::FoldProcedure(), data, split, options()); }),
                 "the fold procedure is empty"));
}
