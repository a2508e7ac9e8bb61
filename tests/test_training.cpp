// The training loop end to end: a short real run on Fashion-MNIST must learn,
// and fit()'s machinery (callbacks, history files, early stopping, best
// weights, determinism) must do what nn/trainer.h says.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minidl.h"

using namespace minidl;
namespace fs = std::filesystem;

namespace {

datasets::DatasetPtr fashion(bool train, int64_t n) {
  return std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, train, n));
}

// A tiny, fast model for the loop-mechanics tests.
nn::ModulePtr tiny(uint64_t seed) {
  Generator g(seed);
  return nn::Sequential::named({{"flatten", nn::make<nn::Flatten>()},
                                {"fc1", nn::make<nn::Linear>(784, 32, true, g)},
                                {"relu", nn::make<nn::ReLU>()},
                                {"fc2", nn::make<nn::Linear>(32, 10, true, g)}});
}

struct Counter : nn::Callback {
  int train_begin = 0, epochs_begun = 0, epochs_ended = 0;
  int64_t batches = 0, last_step = 0;
  void on_train_begin(nn::Module&) override { ++train_begin; }
  void on_epoch_begin(nn::Module&, int) override { ++epochs_begun; }
  void on_batch_end(nn::Module&, const nn::BatchInfo& b) override {
    ++batches;
    CHECK(b.global_step == last_step + 1);
    CHECK(b.optimizer != nullptr);
    last_step = b.global_step;
  }
  void on_epoch_end(nn::Module&, const nn::EpochStats&) override { ++epochs_ended; }
};

fs::path scratch() {
  fs::path d = fs::temp_directory_path() / ("minidl_training_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("the seed CNN learns Fashion-MNIST from a few thousand images") {
  manual_seed(1);
  auto train = fashion(true, 4000), test = fashion(false, 2000);
  Generator g(1);
  auto net = nn::seed_cnn({}, g);
  nn::TrainConfig c;
  c.epochs = 2;
  c.seed = 1;
  nn::History h = nn::train(*net, train, nullptr, test, c);
  REQUIRE(h.epochs.size() == 2);
  // Chance is 0.10; two short epochs reach ~0.75 here. 0.65 leaves room for
  // platform rounding while failing any real breakage of the loop.
  CHECK(h.epochs.back().test_accuracy > 0.65);
  CHECK(h.epochs.back().train_loss < h.epochs.front().train_loss);
  CHECK(h.epochs.front().samples_per_second > 0);
}

TEST_CASE("fit: callbacks, history files and the cosine schedule") {
  auto train = fashion(true, 640), test = fashion(false, 200);
  auto net = tiny(3);
  nn::TrainConfig c;
  c.epochs = 3;
  c.batch_size = 64;
  c.sgd.lr = 0.05f;
  c.schedule = nn::Schedule::Cosine;
  Counter counter;
  fs::path dir = scratch();
  nn::FitOptions fo;
  fo.callbacks = {&counter};
  fo.history_csv = (dir / "h.csv").string();
  fo.history_json = (dir / "h.json").string();
  nn::History h = nn::train(*net, train, nullptr, test, c, fo);
  CHECK(counter.train_begin == 1);
  CHECK(counter.epochs_begun == 3);
  CHECK(counter.epochs_ended == 3);
  CHECK(counter.batches == 3 * 10);
  // lr per epoch follows the cosine schedule from 0.05 to 0 over 3 epochs.
  CHECK(h.epochs[0].lr == doctest::Approx(0.05));
  CHECK(h.epochs[1].lr == doctest::Approx(0.05 * 0.75));
  CHECK(h.epochs[2].lr == doctest::Approx(0.05 * 0.25));
  std::ifstream csv(fo.history_csv);
  std::string line;
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  CHECK(rows == 4);  // header + 3 epochs
  std::ifstream js(fo.history_json);
  auto j = nlohmann::json::parse(js);
  CHECK(j["epochs"].size() == 3);
  CHECK(j["epochs"][2]["test_accuracy"].get<double>() == doctest::Approx(h.epochs[2].test_accuracy));
  fs::remove_all(dir);
}

TEST_CASE("fit: early stopping keeps the best validation weights") {
  auto train = fashion(true, 1000), val = fashion(false, 300);
  auto net = tiny(5);
  nn::TrainConfig c;
  c.epochs = 30;
  c.sgd.lr = 0.5f;  // deliberately unstable so that validation accuracy stops improving
  c.schedule = nn::Schedule::None;
  fs::path dir = scratch();
  nn::FitOptions fo;
  fo.early_stopping_patience = 2;
  fo.best_checkpoint = (dir / "best.safetensors").string();
  nn::History h = nn::train(*net, train, val, nullptr, c, fo);
  REQUIRE(h.best_epoch >= 1);
  if (h.stopped_early) CHECK(int(h.epochs.size()) == h.best_epoch + 2);
  double best = 0;
  for (const auto& e : h.epochs) best = std::max(best, e.val_accuracy);
  CHECK(h.best_val_accuracy == best);
  // The model ends with the best epoch's weights, which are also on disk.
  datasets::DataLoader vl(val, {.batch_size = 100, .transforms = {std::make_shared<datasets::ScalePixels>()}});
  CHECK(nn::evaluate(*net, vl).accuracy == doctest::Approx(best));
  auto other = tiny(99);
  nn::load(*other, fo.best_checkpoint);
  CHECK(nn::evaluate(*other, vl).accuracy == doctest::Approx(best));
  fs::remove_all(dir);
}

TEST_CASE("fit: the same seed and thread count give the same run") {
  auto train = fashion(true, 512);
  auto run = [&] {
    auto net = tiny(7);
    nn::TrainConfig c;
    c.epochs = 2;
    c.seed = 11;
    c.augment = true;
    nn::train(*net, train, nullptr, nullptr, c);
    return net->state_dict();
  };
  auto a = run(), b = run();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i)
    CHECK(std::memcmp(a[i].second.raw_data(), b[i].second.raw_data(), a[i].second.nbytes()) == 0);
}

TEST_CASE("fit: bad options and a diverging loss are clear errors") {
  auto train = fashion(true, 256);
  auto net = tiny(1);
  nn::TrainConfig c;
  c.epochs = 1;
  c.sgd.lr = -1.f;
  CHECK_THROWS_WITH_AS(nn::train(*net, train, nullptr, nullptr, c), doctest::Contains("learning rate"), Error);
  c.sgd.lr = 0.05f;
  CHECK_THROWS_WITH_AS(nn::parse_schedule("linear"),
                       doctest::Contains("schedule must be one of none, step, cosine, onecycle; got \"linear\""), Error);
  CHECK_THROWS_WITH_AS(nn::parse_optimizer("rmsprop"), doctest::Contains("optimizer must be one of sgd, adam, adamw"),
                       Error);
  CHECK(nn::parse_schedule(nn::schedule_name(nn::Schedule::OneCycle)) == nn::Schedule::OneCycle);
  CHECK(nn::parse_optimizer(nn::optimizer_name(nn::OptimizerKind::AdamW)) == nn::OptimizerKind::AdamW);
  nn::FitOptions fo;
  fo.early_stopping_patience = 1;  // without a validation set
  CHECK_THROWS_WITH_AS(nn::train(*net, train, nullptr, nullptr, c, fo), doctest::Contains("validation"), Error);
  c.sgd.lr = 1e4f;  // out of range
  CHECK_THROWS_AS(nn::train(*net, train, nullptr, nullptr, c), Error);
  c.sgd.lr = 0.05f;
  nn::FitOptions nan_loss;  // a loss that is not finite stops training with the epoch and batch named
  nan_loss.loss = [](const Tensor& logits, const Tensor& y) {
    return mul(cross_entropy(logits, y), std::numeric_limits<float>::quiet_NaN());
  };
  CHECK_THROWS_WITH_AS(nn::train(*net, train, nullptr, nullptr, c, nan_loss), doctest::Contains("loss became nan at epoch 1, batch 0"), Error);
}
