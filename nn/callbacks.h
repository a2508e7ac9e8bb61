// minidl/nn/callbacks.h — the callbacks fit() builds from FitOptions, usable
// on their own too (nn/callback.h has the interface):
//
//   ProgressBar    a live "epoch 2/10 [####....] 300/938  00:12<00:20  loss 0.4123  acc 0.8521"
//                  line (nn/progress.h; FitOptions::progress_bar, when log is a terminal)
//   EpochLogger    one line per epoch: losses, accuracies ("*": best
//                  validation so far), lr, samples/s (FitOptions::log)
//   HistoryWriter  the history as CSV and/or JSON after every epoch, written
//                  atomically (FitOptions::history_csv / history_json)
//   BestWeights    a copy of the weights of the best validation epoch, saved
//                  to a checkpoint if asked and restored at the end
//                  (FitOptions::val, restore_best, best_checkpoint)
//   EarlyStopping  stops after `patience` epochs without a better validation
//                  accuracy (FitOptions::early_stopping_patience)
#pragma once

#include <iosfwd>
#include <string>

#include "nn/callback.h"

namespace minidl::nn {

class ProgressBar : public Callback {
 public:
  ProgressBar(std::ostream& out, int epochs, int64_t batches_per_epoch);
  void on_epoch_begin(TrainState& s) override;
  void on_batch_end(TrainState& s, const BatchInfo& b) override;  // redraws at most 5 times a second
  void on_epoch_end(TrainState& s, const EpochStats& e) override;  // clears the bar

 private:
  std::ostream& out_;
  int epochs_;
  int64_t batches_;
  double loss_sum_ = 0, start_ = 0, last_draw_ = 0;
  int64_t seen_ = 0, correct_ = 0;
};

class EpochLogger : public Callback {
 public:
  explicit EpochLogger(std::ostream& out) : out_(out) {}
  void on_epoch_end(TrainState& s, const EpochStats& e) override;

 private:
  std::ostream& out_;
};

class HistoryWriter : public Callback {
 public:
  HistoryWriter(std::string csv_path, std::string json_path);  // either may be empty
  void on_epoch_end(TrainState& s, const EpochStats& e) override;

 private:
  std::string csv_, json_;
};

class BestWeights : public Callback {
 public:
  explicit BestWeights(bool restore = true, std::string checkpoint = "");
  void on_epoch_end(TrainState& s, const EpochStats& e) override;  // copies (and saves) when s.improved
  void on_train_end(TrainState& s) override;                       // restores, if asked
  const StateDict& best() const { return best_; }

 private:
  bool restore_;
  std::string checkpoint_;
  StateDict best_;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(int patience, std::ostream* log = nullptr);  // patience >= 1
  void on_epoch_end(TrainState& s, const EpochStats& e) override;

 private:
  int patience_;
  std::ostream* log_;
};

// History as CSV (one row per epoch) and JSON (an array of objects).
std::string history_csv(const History& h);
std::string history_json(const History& h);

}  // namespace minidl::nn
