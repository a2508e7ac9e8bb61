#include "nn/trainer.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/progress.h"

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

std::string fmt(double v, int prec = 4) {
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

}  // namespace

EvalResult evaluate(Module& model, datasets::DataLoader& loader, const LossFn& loss_fn) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  EvalResult r;
  double loss_sum = 0;
  int64_t correct = 0;
  for (const datasets::Batch& b : loader) {
    Tensor logits = model(b.x);
    Tensor l = loss_fn ? loss_fn(logits, b.y) : cross_entropy(logits, b.y);
    const int64_t n = b.y.numel();
    loss_sum += double(l.item()) * double(n);
    correct += count_correct(logits, b.y, &r.predictions);
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
  History h;
  StateDict best;  // a copy of the best weights, when validating
  int since_best = 0;
  int64_t step = 0;
  const bool bar = o.log && o.progress_bar && is_terminal(o.log);
  for (Callback* c : o.callbacks) c->on_train_begin(model);

  for (int epoch = 1; epoch <= o.epochs; ++epoch) {
    for (Callback* c : o.callbacks) c->on_epoch_begin(model, epoch);
    EpochStats s;
    s.epoch = epoch;
    s.lr = opt.lr();
    model.train();
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
    const int64_t nb = train.size();
    const auto t0 = Clock::now();
    auto last_draw = t0;
    for (auto it = train.begin(); !(it == train.end()); ++it) {
      const datasets::Batch& b = *it;
      opt.zero_grad();
      StepOutput out;
      if (o.objective) out = o.objective->compute(model, b);
      else out.logits = model(b.x), out.loss = o.loss ? o.loss(out.logits, b.y) : cross_entropy(out.logits, b.y);
      Tensor logits = out.logits, loss = out.loss;
      const float lv = loss.item();
      MINIDL_CHECK(std::isfinite(lv), "fit: the loss became ", lv, " at epoch ", epoch, ", batch ", it.index(),
                   " (learning rate ", opt.lr(), " too high?)");
      loss.backward();
      opt.step();
      if (o.scheduler && o.scheduler->per_batch()) o.scheduler->step();  // OneCycleLR, warm-up
      ++step;
      const int64_t n = b.y.numel();
      loss_sum += double(lv) * double(n);
      correct += count_correct(logits, b.y);
      seen += n;
      BatchInfo bi{epoch, it.index(), step, lv, n, &opt};
      for (Callback* c : o.callbacks) c->on_batch_end(model, bi);
      if (bar && (seconds_since(last_draw) > 0.2 || it.index() + 1 == nb)) {  // nn/progress.h
        last_draw = Clock::now();
        *o.log << "\r" << progress_bar({epoch, o.epochs, it.index() + 1, nb, seconds_since(t0), loss_sum / double(seen),
                                       double(correct) / double(seen)}) << std::flush;
      }
    }
    if (bar) *o.log << "\r" << std::string(100, ' ') << "\r";
    s.train_seconds = seconds_since(t0);
    s.samples_per_second = double(seen) / std::max(s.train_seconds, 1e-9);
    s.train_loss = loss_sum / double(std::max<int64_t>(seen, 1));
    s.train_accuracy = double(correct) / double(std::max<int64_t>(seen, 1));
    if (o.val) {
      EvalResult v = evaluate(model, *o.val, o.loss);
      s.val_loss = v.loss;
      s.val_accuracy = v.accuracy;
    }
    if (o.test) {
      EvalResult t = evaluate(model, *o.test, o.loss);
      s.test_loss = t.loss;
      s.test_accuracy = t.accuracy;
    }
    if (o.scheduler && !o.scheduler->per_batch()) o.scheduler->step();
    h.epochs.push_back(s);

    bool improved = false;
    if (o.val && (h.best_epoch == 0 || s.val_accuracy > h.best_val_accuracy)) {
      improved = true;
      h.best_epoch = epoch;
      h.best_val_accuracy = s.val_accuracy;
      since_best = 0;
      best.clear();
      for (auto& [n, t] : model.state_dict()) best.emplace_back(n, t.clone());
      if (!o.best_checkpoint.empty()) save_safetensors(best, o.best_checkpoint, {{"format", "pt"}, {"epoch", std::to_string(epoch)}});
    } else if (o.val) {
      ++since_best;
    }
    if (o.log) {
      *o.log << "epoch " << epoch << "/" << o.epochs << "  loss " << fmt(s.train_loss) << "  train_acc "
             << fmt(s.train_accuracy);
      if (o.val) *o.log << "  val_acc " << fmt(s.val_accuracy) << (improved ? " *" : "");
      if (o.test) *o.log << "  test_acc " << fmt(s.test_accuracy);
      *o.log << "  lr " << s.lr << "  " << fmt(s.samples_per_second, 0) << " samples/s" << std::endl;
    }
    for (Callback* c : o.callbacks) c->on_epoch_end(model, s);
    if (!o.history_csv.empty()) write_file_atomic(o.history_csv, history_csv(h));
    if (!o.history_json.empty()) write_file_atomic(o.history_json, history_json(h));
    if (o.early_stopping_patience > 0 && since_best >= o.early_stopping_patience) {
      h.stopped_early = true;
      if (o.log) *o.log << "early stopping: no validation improvement for " << since_best << " epochs" << std::endl;
      break;
    }
  }
  if (o.val && o.restore_best && !best.empty()) model.load_state_dict(best);
  return h;
}

std::string history_csv(const History& h) {
  std::ostringstream os;
  os << "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,test_loss,test_accuracy,train_seconds,samples_per_second\n";
  auto v = [](double x) { return std::isnan(x) ? std::string() : fmt(x, 6); };
  for (const auto& e : h.epochs)
    os << e.epoch << "," << e.lr << "," << v(e.train_loss) << "," << v(e.train_accuracy) << "," << v(e.val_loss)
       << "," << v(e.val_accuracy) << "," << v(e.test_loss) << "," << v(e.test_accuracy) << ","
       << fmt(e.train_seconds, 3) << "," << fmt(e.samples_per_second, 1) << "\n";
  return os.str();
}

std::string history_json(const History& h) {
  nlohmann::json arr = nlohmann::json::array();
  auto v = [](double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); };
  for (const auto& e : h.epochs)
    arr.push_back({{"epoch", e.epoch}, {"lr", e.lr}, {"train_loss", v(e.train_loss)},
                   {"train_accuracy", v(e.train_accuracy)}, {"val_loss", v(e.val_loss)},
                   {"val_accuracy", v(e.val_accuracy)}, {"test_loss", v(e.test_loss)},
                   {"test_accuracy", v(e.test_accuracy)}, {"train_seconds", e.train_seconds},
                   {"samples_per_second", e.samples_per_second}});
  nlohmann::json j = {{"epochs", arr}, {"best_epoch", h.best_epoch}, {"stopped_early", h.stopped_early}};
  if (!std::isnan(h.best_val_accuracy)) j["best_val_accuracy"] = h.best_val_accuracy;
  return j.dump(2) + "\n";
}

}  // namespace minidl::nn
