// Tests for the training loop's parts (nn/objective.h, nn/callback.h,
// nn/callbacks.h): an objective that sees the whole batch, fit's accuracy
// from the objective's logits, callbacks that stop training or fail it, the
// built-in callbacks on their own, TrainConfig's embedded optimizer options
// and the Schedule / OptimizerKind enums. (End-to-end training: tests/test_training.cpp.)
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "minidl.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;

namespace {

// 64 points of 4 features, label = whether the first feature is positive.
datasets::DatasetPtr toy(uint64_t seed, int64_t n = 64) {
  Generator g(seed);
  std::vector<float> x;
  std::vector<int64_t> y;
  for (int64_t i = 0; i < n; ++i) {
    for (int f = 0; f < 4; ++f) x.push_back(float(g.normal()));
    y.push_back(x[size_t(i * 4)] > 0.f ? 1 : 0);
  }
  return std::make_shared<datasets::TensorDataset>(Tensor::from_vector(x, {n, 4}), y, 2);
}

nn::ModulePtr linear_model(uint64_t seed) {
  Generator g(seed);
  return nn::Sequential::named({{"fc", nn::make<nn::Linear>(4, 2, true, g)}});
}

// Cross-entropy, recording every batch it saw; its logits come from the model.
struct Recording : nn::Objective {
  std::vector<Tensor> inputs;
  int64_t calls = 0;
  nn::StepOutput compute(nn::Module& model, const datasets::Batch& b) override {
    ++calls;
    inputs.push_back(b.x);
    Tensor logits = model(b.x);
    return {cross_entropy(logits, b.y), logits};
  }
};

// Stops training at a given global step.
struct StopAt : nn::Callback {
  int64_t at;
  explicit StopAt(int64_t s) : at(s) {}
  void on_batch_end(nn::TrainState& s, const nn::BatchInfo& b) override {
    if (b.global_step == at) s.stop_training("stopped at step " + std::to_string(at));
  }
  int ended = 0;
  void on_train_end(nn::TrainState&) override { ++ended; }
};

}  // namespace

TEST_CASE("the objective sees the model and every whole batch; fit counts accuracy from its logits") {
  auto data = toy(1);
  auto net = linear_model(2);
  datasets::DataLoader loader(data, {.batch_size = 16});
  nn::SGD opt(net->parameters(), {.lr = 0.1f});
  Recording obj;
  nn::FitOptions fo;
  fo.epochs = 2;
  fo.objective = &obj;
  fo.val = &loader;
  const nn::History h = nn::fit(*net, opt, loader, fo);
  // 4 training batches per epoch; validation is scored with the plain loss, not the objective
  CHECK(obj.calls == 2 * 4);
  REQUIRE(obj.inputs.size() == 8);
  CHECK(obj.inputs[0].shape() == Shape{16, 4});
  // the batch it got is the loader's (no shuffling here): the first 16 items
  const auto first = obj.inputs[0].to_vector<float>();
  const auto items = std::static_pointer_cast<const datasets::TensorDataset>(data)->items().to_vector<float>();
  CHECK(std::vector<float>(items.begin(), items.begin() + 64) == first);
  // The validation accuracy is evaluate's with the final weights.
  datasets::DataLoader eval(data, {.batch_size = 64});
  CHECK(h.epochs[1].val_accuracy == doctest::Approx(nn::evaluate(*net, eval).accuracy));
  // The training accuracy is counted from the objective's logits: an objective
  // returning negated logits (same loss) gets the complement of the accuracy.
  struct Flipped : nn::Objective {
    nn::StepOutput compute(nn::Module& m, const datasets::Batch& b) override {
      Tensor logits = m(b.x);
      return {cross_entropy(logits, b.y), neg(logits)};
    }
  } flipped;
  nn::SGD frozen(net->parameters(), {.lr = 1e-30f});  // a step that changes no weight
  const double acc = nn::evaluate(*net, eval).accuracy;
  nn::FitOptions one;
  one.epochs = 1;
  one.objective = &flipped;
  datasets::DataLoader all_at_once(data, {.batch_size = 64});
  const nn::History hf = nn::fit(*net, frozen, all_at_once, one);
  CHECK(hf.epochs[0].train_accuracy == doctest::Approx(1.0 - acc));

  // A distillation-like objective: the loss need not be cross-entropy of the logits.
  struct HalfLoss : nn::Objective {
    nn::StepOutput compute(nn::Module& m, const datasets::Batch& b) override {
      Tensor logits = m(b.x);
      return {mul(cross_entropy(logits, b.y), 0.5f), logits};
    }
  };
  HalfLoss half;
  nn::LossObjective ce;
  const datasets::Batch b = *all_at_once.begin();
  CHECK(half.compute(*net, b).loss.item() == doctest::Approx(0.5 * ce.compute(*net, b).loss.item()));
  CHECK(ce.compute(*net, b).loss.item() == doctest::Approx(nn::evaluate(*net, eval).loss));
}

TEST_CASE("objective errors: outputs of the wrong shape are named") {
  auto data = toy(3);
  auto net = linear_model(4);
  datasets::DataLoader loader(data, {.batch_size = 16});
  nn::SGD opt(net->parameters(), {.lr = 0.1f});
  struct NoLogits : nn::Objective {
    nn::StepOutput compute(nn::Module& m, const datasets::Batch& b) override {
      return {cross_entropy(m(b.x), b.y), Tensor()};
    }
  };
  struct VectorLoss : nn::Objective {
    nn::StepOutput compute(nn::Module& m, const datasets::Batch& b) override {
      Tensor l = m(b.x);
      return {l, l};
    }
  };
  nn::FitOptions fo;
  fo.epochs = 1;
  NoLogits no_logits;
  VectorLoss vector_loss;
  fo.objective = &no_logits;
  CHECK(contains(error_of([&] { nn::fit(*net, opt, loader, fo); }), "the objective's logits must be [16, classes]"));
  fo.objective = &vector_loss;
  CHECK(contains(error_of([&] { nn::fit(*net, opt, loader, fo); }), "the objective's loss must be a scalar, got [16, 2]"));
}

TEST_CASE("a callback stops training through the loop state; a throwing callback fails fit") {
  auto data = toy(5);
  auto net = linear_model(6);
  datasets::DataLoader loader(data, {.batch_size = 16});
  nn::SGD opt(net->parameters(), {.lr = 0.1f});
  StopAt stop(6);  // the second batch of epoch 2
  nn::FitOptions fo;
  fo.epochs = 5;
  fo.callbacks = {&stop};
  std::ostringstream log;
  fo.log = &log;
  const nn::History h = nn::fit(*net, opt, loader, fo);
  REQUIRE(h.epochs.size() == 2);  // epoch 2 is recorded as far as it got
  CHECK(h.stop_reason == "stopped at step 6");
  CHECK_FALSE(h.stopped_early);
  CHECK(stop.ended == 1);
  CHECK(contains(log.str(), "epoch 2/5"));
  CHECK_FALSE(contains(log.str(), "epoch 3/5"));
  CHECK(contains(nn::history_json(h), "\"stop_reason\": \"stopped at step 6\""));

  struct Diverged : nn::Callback {
    void on_batch_end(nn::TrainState& s, const nn::BatchInfo&) override {
      if (s.global_step == 3) throw Error("divergence guard: loss too high");
    }
  } guard;
  fo.callbacks = {&guard};
  CHECK(contains(error_of([&] { nn::fit(*net, opt, loader, fo); }), "divergence guard"));
}

TEST_CASE("built-in callbacks: EarlyStopping and BestWeights on their own") {
  auto data = toy(7);
  auto net = linear_model(8);
  datasets::DataLoader loader(data, {.batch_size = 16});
  nn::SGD opt(net->parameters(), {.lr = 0.1f});
  nn::FitOptions fo;
  nn::History h;
  nn::TrainState st{*net, opt, fo, h};
  h.best_epoch = 1;
  nn::EarlyStopping es(2);
  nn::EpochStats e;
  e.epoch = 2;
  es.on_epoch_end(st, e);
  CHECK_FALSE(st.stop);
  e.epoch = 3;
  es.on_epoch_end(st, e);
  CHECK(st.stop);
  CHECK(h.stopped_early);
  CHECK(h.stop_reason == "early stopping: no validation improvement for 2 epochs");
  CHECK(contains(error_of([] { nn::EarlyStopping bad(0); }), "patience must be >= 1"));

  nn::BestWeights best;
  st.improved = true;
  best.on_epoch_end(st, e);
  const auto saved = net->state_dict()[0].second.clone();
  net->get_submodule("fc")->parameter("weight").data<float>()[0] += 1.f;
  best.on_train_end(st);
  CHECK(net->state_dict()[0].second.to_vector<float>() == saved.to_vector<float>());
}

TEST_CASE("TrainConfig embeds each optimizer's options; schedule and optimizer are enums with names") {
  nn::TrainConfig c;
  CHECK(c.sgd.lr == 0.02f);
  CHECK(c.sgd.momentum == 0.9f);
  CHECK(c.sgd.weight_decay == 0.f);
  CHECK(c.adamw.weight_decay == nn::AdamWOptions{}.weight_decay);
  CHECK(c.optimizer == nn::OptimizerKind::SGD);
  CHECK(c.schedule == nn::Schedule::None);
  for (auto s : {nn::Schedule::None, nn::Schedule::Step, nn::Schedule::Cosine, nn::Schedule::OneCycle})
    CHECK(nn::parse_schedule(nn::schedule_name(s)) == s);
  CHECK(contains(error_of([] { nn::parse_schedule("linear"); }), "got \"linear\""));
  c.schedule = nn::Schedule::Step;
  c.step_size = 3;
  CHECK(contains(c.describe(), "step schedule (x0.1 every 3 epochs)"));
  // lr() is the chosen optimizer's; set_lr sets every optimizer's (the --lr flag)
  c.optimizer = nn::OptimizerKind::Adam;
  CHECK(c.lr() == c.adam.lr);
  c.set_lr(0.005f);
  CHECK((c.sgd.lr == 0.005f && c.adam.lr == 0.005f && c.adamw.lr == 0.005f));
  CHECK(contains(c.describe(), "Adam(lr=0.005"));
  // make_optimizer builds the chosen one with its own options
  Tensor w = Tensor::zeros({2}).requires_grad_(true);
  c.optimizer = nn::OptimizerKind::AdamW;
  c.adamw.weight_decay = 0.25f;
  auto opt = nn::make_optimizer(c, {w});
  REQUIRE(dynamic_cast<nn::AdamW*>(opt.get()) != nullptr);
  CHECK(static_cast<nn::AdamW*>(opt.get())->options().weight_decay == 0.25f);
  c.optimizer = nn::OptimizerKind::SGD;
  c.sgd.momentum = 0.f;
  c.sgd.nesterov = true;
  CHECK(contains(error_of([&] { c.validate(); }), "nesterov needs momentum > 0"));
}
