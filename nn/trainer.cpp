#include "nn/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <tuple>

#include "core/ops.h"
#include "nn/data_parallel.h"

namespace minidl::nn {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t count_correct(const Tensor& logits, const Tensor& y, std::vector<int64_t>* preds = nullptr) {
  Tensor p = argmax(logits, 1);
  const int64_t* pp = p.data<int64_t>();
  const int64_t* py = y.data<int64_t>();
  int64_t c = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    c += pp[i] == py[i];
    if (preds) preds->push_back(pp[i]);
  }
  return c;
}

bool is_terminal(std::ostream* os) {
  return os == &std::cout ? ::isatty(STDOUT_FILENO) : os == &std::cerr ? ::isatty(STDERR_FILENO) : false;
}

// One pass over the training batches; the training half of the epoch's stats.
// With a data-parallel `bucket` (nn/data_parallel.h) each rank trains on its
// shard of every batch and the bucket averages the gradients; the loss,
// counts and stats are then the global batch's on every rank.
EpochStats train_epoch(TrainState& st, datasets::DataLoader& train, Objective& objective,
                       const std::vector<Callback*>& callbacks, GradientBucket* bucket) {
  const FitOptions& o = st.options;
  EpochStats s;
  s.epoch = st.epoch;
  s.lr = st.optimizer.lr();
  st.model.train();
  double loss_sum = 0;
  int64_t correct = 0, seen = 0;
  const auto t0 = Clock::now();
  for (auto it = train.begin(); !(it == train.end()); ++it) {
    st.optimizer.zero_grad();
    const datasets::Batch& whole = *it;
    const datasets::Batch b = bucket ? shard(whole, o.process_group->rank(), o.process_group->world_size()) : whole;
    float lv = 0.f;
    int64_t n = b.y.numel(), c = 0;
    if (n > 0) {  // a rank's shard of a batch smaller than the world is empty
      const StepOutput out = checked_step(objective, st.model, b);
      lv = out.loss.item();
      out.loss.backward();
      c = count_correct(out.logits, b.y);
    }
    if (bucket) {
      const GlobalStep g = bucket->allreduce(lv, n, c);
      lv = g.loss, n = g.count, c = g.correct;
    }
    MINIDL_CHECK(std::isfinite(lv), "fit: the loss became ", lv, " at epoch ", st.epoch, ", batch ", it.index(),
                 " (learning rate ", st.optimizer.lr(), " too high?)");
    st.optimizer.step();
    if (o.scheduler && o.scheduler->per_batch()) o.scheduler->step();  // OneCycleLR, warm-up
    ++st.global_step;
    loss_sum += double(lv) * double(n);
    correct += c;
    seen += n;
    const BatchInfo bi{st.epoch, it.index(), st.global_step, lv, n, &st.optimizer, c};
    for (Callback* cb : callbacks) cb->on_batch_end(st, bi);
    if (st.stop) break;
  }
  s.train_seconds = seconds_since(t0);
  s.samples_per_second = double(seen) / std::max(s.train_seconds, 1e-9);
  s.train_loss = loss_sum / double(std::max<int64_t>(seen, 1));
  s.train_accuracy = double(correct) / double(std::max<int64_t>(seen, 1));
  return s;
}

// Loss and accuracy on `loader`: the whole of it, or each rank's share summed over ranks.
std::pair<double, double> score(Module& model, datasets::DataLoader& loader, const FitOptions& o, bool distributed) {
  if (distributed) {
    const DistributedEval e = evaluate_distributed(model, loader, o.loss, *o.process_group);
    return {e.loss, e.accuracy};
  }
  const EvalResult e = evaluate(model, loader, o.loss);
  return {e.loss, e.accuracy};
}

// The built-in callbacks around the user's, in the order nn/callback.h gives.
std::vector<std::unique_ptr<Callback>> builtin_callbacks(const FitOptions& o, int64_t batches,
                                                         std::vector<Callback*>& all) {
  std::vector<std::unique_ptr<Callback>> own;
  auto add = [&](std::unique_ptr<Callback> c) { all.push_back(own.emplace_back(std::move(c)).get()); };
  if (o.log && o.progress_bar && is_terminal(o.log)) add(std::make_unique<ProgressBar>(*o.log, o.epochs, batches));
  if (o.val) add(std::make_unique<BestWeights>(o.restore_best, o.best_checkpoint));
  if (o.log) add(std::make_unique<EpochLogger>(*o.log));
  all.insert(all.end(), o.callbacks.begin(), o.callbacks.end());
  if (!o.history_csv.empty() || !o.history_json.empty())
    add(std::make_unique<HistoryWriter>(o.history_csv, o.history_json));
  if (o.early_stopping_patience > 0) add(std::make_unique<EarlyStopping>(o.early_stopping_patience, o.log));
  return own;
}

}  // namespace

EvalResult evaluate(Module& model, datasets::DataLoader& loader, const LossFn& loss) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  LossObjective objective(loss);
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (const datasets::Batch& b : loader) {
    const StepOutput out = checked_step(objective, model, b);
    const int64_t n = b.y.numel();
    loss_sum += double(out.loss.item()) * double(n);
    correct += count_correct(out.logits, b.y, &r.predictions);
    const int64_t* py = b.y.data<int64_t>();
    r.targets.insert(r.targets.end(), py, py + n);
    r.count += n;
  }
  model.train(was_training);
  if (r.count > 0) {
    r.loss = loss_sum / double(r.count);
    r.accuracy = double(correct) / double(r.count);
  }
  return r;
}

History fit(Module& model, Optimizer& opt, datasets::DataLoader& train, const FitOptions& o) {
  MINIDL_CHECK(o.epochs >= 0, "fit: epochs must be >= 0, got ", o.epochs);
  MINIDL_CHECK(o.early_stopping_patience >= 0, "fit: early_stopping_patience must be >= 0, got ",
               o.early_stopping_patience);
  MINIDL_CHECK(o.val || (o.early_stopping_patience == 0 && o.best_checkpoint.empty()),
               "fit: early stopping and best_checkpoint need a validation loader");
  MINIDL_CHECK(train.size() > 0, "fit: the training loader yields no batches");
  LossObjective plain(o.loss);
  Objective& objective = o.objective ? *o.objective : plain;
  History h;
  TrainState st{model, opt, o, h};
  std::vector<Callback*> all;
  const auto own = builtin_callbacks(o, train.size(), all);

  const bool distributed = o.process_group && o.process_group->world_size() > 1;
  std::unique_ptr<GradientBucket> bucket;
  if (distributed) {  // every rank starts from rank 0's weights (DDP's initial broadcast)
    broadcast_state(model, *o.process_group);
    bucket = std::make_unique<GradientBucket>(*o.process_group, opt.params());
  }
  for (Callback* c : all) c->on_train_begin(st);
  for (int epoch = 1; epoch <= o.epochs && !st.stop; ++epoch) {
    st.epoch = epoch;
    for (Callback* c : all) c->on_epoch_begin(st);
    EpochStats s = train_epoch(st, train, objective, all, bucket.get());
    if (distributed) broadcast_buffers(model, *o.process_group);  // rank 0's BatchNorm running statistics
    if (o.val) std::tie(s.val_loss, s.val_accuracy) = score(model, *o.val, o, distributed);
    if (o.test) std::tie(s.test_loss, s.test_accuracy) = score(model, *o.test, o, distributed);
    if (o.scheduler && !o.scheduler->per_batch()) o.scheduler->step();
    h.epochs.push_back(s);
    st.improved = o.val && (h.best_epoch == 0 || s.val_accuracy > h.best_val_accuracy);
    if (st.improved) {
      h.best_epoch = epoch;
      h.best_val_accuracy = s.val_accuracy;
    }
    for (Callback* c : all) c->on_epoch_end(st, s);
  }
  for (Callback* c : all) c->on_train_end(st);
  return h;
}

}  // namespace minidl::nn
