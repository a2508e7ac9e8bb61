// minidl/compress/observer.h — observers: modules that watch the tensors flowing through
// them during calibration and choose their quantization parameters (PyTorch's names and
// buffers: min_val, max_val, histogram).
//
//   MinMaxObserver               running min and max of everything seen.
//   MovingAverageMinMaxObserver  min/max ← min/max + c·(batch min/max − min/max), c = 0.01:
//                                less sensitive to one outlier batch (Jacob et al. 2018 §3.1
//                                use an EMA for activation ranges during training).
//   PerChannelMinMaxObserver     min and max per slice along ch_axis (weights: axis 0, the
//                                output channel).
//   HistogramObserver            a 2048-bin histogram of everything seen; qparams() picks the
//                                [min', max'] that minimises the L2 error of quantizing that
//                                histogram to 256 levels (PyTorch's _non_linear_param_search):
//                                clipping a few outliers buys resolution for the bulk.
//
// forward(x) records x and returns it unchanged, so an observer can sit in the model; a
// non-finite value in x is an error naming the observer's place (`where`).
#pragma once

#include <string>

#include "compress/qscheme.h"
#include "nn/module.h"

namespace minidl::compress {

class Observer : public nn::Module {
 public:
  Tensor forward(const Tensor& x) override;
  // The parameters for what has been seen so far; an error if nothing has.
  virtual QParams qparams() const = 0;
  // The range qparams() quantizes (per channel for per-channel observers).
  virtual std::vector<float> range_min() const;
  virtual std::vector<float> range_max() const;
  virtual void reset() = 0;
  bool has_data() const;
  std::string extra_repr() const override;

  QScheme qscheme;
  QRange range;
  bool enabled = true;  // false: forward passes x through without recording (frozen)
  std::string where;    // "conv1 output" — prefixes error messages

 protected:
  Observer(QScheme scheme, QRange range);
  virtual void observe(const Tensor& x) = 0;
  void check_finite(const Tensor& x) const;
  QParams from_minmax(const std::vector<float>& lo, const std::vector<float>& hi, int axis) const;
};

class MinMaxObserver : public Observer {
 public:
  explicit MinMaxObserver(QScheme scheme = QScheme::PerTensorAffine, QRange range = kActivationRange);
  QParams qparams() const override;
  void reset() override;
  std::string type_name() const override { return "MinMaxObserver"; }

 protected:
  void observe(const Tensor& x) override;
};

class MovingAverageMinMaxObserver : public Observer {
 public:
  explicit MovingAverageMinMaxObserver(float averaging_constant = 0.01f, QScheme scheme = QScheme::PerTensorAffine,
                                       QRange range = kActivationRange);
  QParams qparams() const override;
  void reset() override;
  std::string type_name() const override { return "MovingAverageMinMaxObserver"; }
  float averaging_constant;

 protected:
  void observe(const Tensor& x) override;
};

class PerChannelMinMaxObserver : public Observer {
 public:
  explicit PerChannelMinMaxObserver(int ch_axis = 0, QScheme scheme = QScheme::PerChannelSymmetric,
                                    QRange range = kWeightRange);
  QParams qparams() const override;
  std::vector<float> range_min() const override;
  std::vector<float> range_max() const override;
  void reset() override;
  std::string type_name() const override { return "PerChannelMinMaxObserver"; }
  int ch_axis;

 protected:
  void observe(const Tensor& x) override;
};

class HistogramObserver : public Observer {
 public:
  explicit HistogramObserver(int bins = 2048, QScheme scheme = QScheme::PerTensorAffine, QRange range = kActivationRange);
  QParams qparams() const override;
  std::vector<float> range_min() const override;
  std::vector<float> range_max() const override;
  void reset() override;
  std::string type_name() const override { return "HistogramObserver"; }
  int bins;
  // The search's result: the range that minimises the estimated quantization error.
  std::pair<float, float> search_range() const;
  std::pair<int, int> search_bins() const;  // the same as histogram bins [start, end]
  // The L2 error of quantizing the histogram's bins [start_bin, end_bin] to 2^8 levels.
  double quantization_error(int start_bin, int end_bin) const;

 protected:
  void observe(const Tensor& x) override;
};

// "minmax", "moving_average", "histogram" -> a per-tensor activation observer.
std::shared_ptr<Observer> make_activation_observer(const std::string& kind, QRange range = kActivationRange);

}  // namespace minidl::compress
