#include "nn/callbacks.h"

#include <chrono>
#include <cmath>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <sstream>

#include "nn/checkpoint.h"
#include "nn/progress.h"
#include "nn/trainer.h"

namespace minidl::nn {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string fmt(double v, int prec = 4) {
  if (std::isnan(v)) return "-";
  std::ostringstream s;
  s << std::fixed << std::setprecision(prec) << v;
  return s.str();
}

}  // namespace

// ---------------------------------------------------------------- ProgressBar

ProgressBar::ProgressBar(std::ostream& out, int epochs, int64_t batches) : out_(out), epochs_(epochs), batches_(batches) {}

void ProgressBar::on_epoch_begin(TrainState&) {
  loss_sum_ = 0;
  seen_ = correct_ = 0;
  start_ = last_draw_ = now_seconds();
}

void ProgressBar::on_batch_end(TrainState& s, const BatchInfo& b) {
  loss_sum_ += double(b.loss) * double(b.batch_size);
  seen_ += b.batch_size;
  correct_ += b.correct;
  const double t = now_seconds();
  if (t - last_draw_ <= 0.2 && b.batch + 1 != batches_) return;  // at most 5 redraws a second, and the last batch
  last_draw_ = t;
  const double n = double(std::max<int64_t>(seen_, 1));
  out_ << "\r" << progress_bar({s.epoch, epochs_, b.batch + 1, batches_, t - start_, loss_sum_ / n, double(correct_) / n})
       << std::flush;
}

void ProgressBar::on_epoch_end(TrainState&, const EpochStats&) { out_ << "\r" << std::string(100, ' ') << "\r"; }

// ---------------------------------------------------------------- EpochLogger

void EpochLogger::on_epoch_end(TrainState& st, const EpochStats& s) {
  const FitOptions& o = st.options;
  out_ << "epoch " << s.epoch << "/" << o.epochs << "  loss " << fmt(s.train_loss) << "  train_acc "
       << fmt(s.train_accuracy);
  if (o.val) out_ << "  val_acc " << fmt(s.val_accuracy) << (st.improved ? " *" : "");
  if (o.test) out_ << "  test_acc " << fmt(s.test_accuracy);
  out_ << "  lr " << s.lr << "  " << fmt(s.samples_per_second, 0) << " samples/s" << std::endl;
}

// ---------------------------------------------------------------- HistoryWriter

HistoryWriter::HistoryWriter(std::string csv, std::string json) : csv_(std::move(csv)), json_(std::move(json)) {}

void HistoryWriter::on_epoch_end(TrainState& s, const EpochStats&) {
  if (!csv_.empty()) write_file_atomic(csv_, history_csv(s.history));
  if (!json_.empty()) write_file_atomic(json_, history_json(s.history));
}

// ---------------------------------------------------------------- BestWeights

BestWeights::BestWeights(bool restore, std::string checkpoint) : restore_(restore), checkpoint_(std::move(checkpoint)) {}

void BestWeights::on_epoch_end(TrainState& s, const EpochStats& e) {
  if (!s.improved) return;
  best_.clear();
  for (auto& [n, t] : s.model.state_dict()) best_.emplace_back(n, t.clone());
  if (!checkpoint_.empty())
    save_safetensors(best_, checkpoint_, {{"format", "pt"}, {"epoch", std::to_string(e.epoch)}});
}

void BestWeights::on_train_end(TrainState& s) {
  if (restore_ && !best_.empty()) s.model.load_state_dict(best_);
}

// ---------------------------------------------------------------- EarlyStopping

EarlyStopping::EarlyStopping(int patience, std::ostream* log) : patience_(patience), log_(log) {
  MINIDL_CHECK(patience >= 1, "EarlyStopping: patience must be >= 1, got ", patience);
}

void EarlyStopping::on_epoch_end(TrainState& s, const EpochStats& e) {
  const int since_best = e.epoch - s.history.best_epoch;
  if (s.history.best_epoch == 0 || since_best < patience_) return;
  const std::string why = "early stopping: no validation improvement for " + std::to_string(since_best) + " epochs";
  s.history.stopped_early = true;
  s.stop_training(why);
  if (log_) *log_ << why << std::endl;
}

// ---------------------------------------------------------------- history files

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
  if (!h.stop_reason.empty()) j["stop_reason"] = h.stop_reason;
  return j.dump(2) + "\n";
}

}  // namespace minidl::nn
