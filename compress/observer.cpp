// minidl/compress/observer.cpp — see observer.h.
#include "compress/observer.h"

#include <cmath>
#include <limits>
#include <sstream>

namespace minidl::compress {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

Tensor scalar_buffer(float v) { return Tensor::full({}, v); }

std::pair<float, float> minmax_of(const Tensor& x) {
  const float* p = x.data<float>();
  float lo = kInf, hi = -kInf;
  for (int64_t i = 0; i < x.numel(); ++i) {
    lo = std::min(lo, p[i]);
    hi = std::max(hi, p[i]);
  }
  return {lo, hi};
}
}  // namespace

// ---------------------------------------------------------------- Observer

Observer::Observer(QScheme scheme, QRange r) : qscheme(scheme), range(r) {
  MINIDL_CHECK(r.qmin < r.qmax, "Observer: quant range [", r.qmin, ", ", r.qmax, "] is empty");
}

Tensor Observer::forward(const Tensor& x) {
  if (!enabled) return x;
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, label(), ": observes float32 tensors");
  check_finite(x);
  observe(x.detach());
  return x;
}

void Observer::check_finite(const Tensor& x) const {
  const float* p = x.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(p[i])) {
      std::ostringstream os;
      os << (where.empty() ? label() : where) << ": non-finite value " << p[i] << " at element " << i << " of a "
         << to_string(x.shape()) << " tensor during calibration";
      throw Error(os.str());
    }
}

bool Observer::has_data() const {
  const auto lo = range_min();
  return !lo.empty() && std::isfinite(lo[0]);
}

std::vector<float> Observer::range_min() const {
  return const_cast<Observer*>(this)->buffer("min_val").to_vector<float>();
}
std::vector<float> Observer::range_max() const {
  return const_cast<Observer*>(this)->buffer("max_val").to_vector<float>();
}

std::string Observer::extra_repr() const {
  return std::string(qscheme_name(qscheme)) + ", quant_min=" + std::to_string(range.qmin) +
         ", quant_max=" + std::to_string(range.qmax);
}

QParams Observer::from_minmax(const std::vector<float>& lo, const std::vector<float>& hi, int axis) const {
  MINIDL_CHECK(!lo.empty() && std::isfinite(lo[0]), where.empty() ? label() : where,
               ": no data observed (calibrate with at least one batch before convert)");
  QParams q;
  q.range = range;
  q.axis = axis;
  q.scale.resize(lo.size());
  q.zero_point.resize(lo.size());
  for (size_t c = 0; c < lo.size(); ++c) calculate_qparams(lo[c], hi[c], qscheme, range, q.scale[c], q.zero_point[c]);
  return q;
}

// ---------------------------------------------------------------- MinMax

MinMaxObserver::MinMaxObserver(QScheme scheme, QRange r) : Observer(scheme, r) {
  MINIDL_CHECK(!is_per_channel(scheme), "MinMaxObserver: per-channel schemes need PerChannelMinMaxObserver");
  register_buffer("min_val", scalar_buffer(kInf));
  register_buffer("max_val", scalar_buffer(-kInf));
}
void MinMaxObserver::reset() {
  buffer("min_val").fill_(kInf);
  buffer("max_val").fill_(-kInf);
}
void MinMaxObserver::observe(const Tensor& x) {
  const auto [lo, hi] = minmax_of(x);
  float& mn = *buffer("min_val").data<float>();
  float& mx = *buffer("max_val").data<float>();
  mn = std::min(mn, lo);
  mx = std::max(mx, hi);
}
QParams MinMaxObserver::qparams() const { return from_minmax(range_min(), range_max(), -1); }

// ---------------------------------------------------------------- MovingAverage

MovingAverageMinMaxObserver::MovingAverageMinMaxObserver(float c, QScheme scheme, QRange r)
    : Observer(scheme, r), averaging_constant(c) {
  MINIDL_CHECK(c > 0.f && c <= 1.f, "MovingAverageMinMaxObserver: averaging_constant must be in (0, 1], got ", c);
  MINIDL_CHECK(!is_per_channel(scheme), "MovingAverageMinMaxObserver: per-tensor schemes only");
  register_buffer("min_val", scalar_buffer(kInf));
  register_buffer("max_val", scalar_buffer(-kInf));
}
void MovingAverageMinMaxObserver::reset() {
  buffer("min_val").fill_(kInf);
  buffer("max_val").fill_(-kInf);
}
void MovingAverageMinMaxObserver::observe(const Tensor& x) {
  const auto [lo, hi] = minmax_of(x);
  float& mn = *buffer("min_val").data<float>();
  float& mx = *buffer("max_val").data<float>();
  if (!std::isfinite(mn)) {  // the first batch sets the range (PyTorch)
    mn = lo;
    mx = hi;
    return;
  }
  mn = mn + averaging_constant * (lo - mn);
  mx = mx + averaging_constant * (hi - mx);
}
QParams MovingAverageMinMaxObserver::qparams() const { return from_minmax(range_min(), range_max(), -1); }

// ---------------------------------------------------------------- PerChannel

PerChannelMinMaxObserver::PerChannelMinMaxObserver(int axis, QScheme scheme, QRange r)
    : Observer(scheme, r), ch_axis(axis) {
  MINIDL_CHECK(axis >= 0, "PerChannelMinMaxObserver: ch_axis must be >= 0, got ", axis);
  MINIDL_CHECK(is_per_channel(scheme), "PerChannelMinMaxObserver: needs a per-channel scheme, got ", qscheme_name(scheme));
  register_buffer("min_val", Tensor::zeros({0}));
  register_buffer("max_val", Tensor::zeros({0}));
}
void PerChannelMinMaxObserver::reset() {
  buffer("min_val") = Tensor::zeros({0});
  buffer("max_val") = Tensor::zeros({0});
}
void PerChannelMinMaxObserver::observe(const Tensor& x) {
  MINIDL_CHECK(x.dim() > ch_axis, label(), ": input ", to_string(x.shape()), " has no dimension ", ch_axis);
  const int64_t C = x.size(ch_axis);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ch_axis; ++d) outer *= x.size(d);
  for (int64_t d = ch_axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  Tensor& mn = buffer("min_val");
  Tensor& mx = buffer("max_val");
  if (mn.numel() == 0) {
    mn = Tensor::full({C}, kInf);
    mx = Tensor::full({C}, -kInf);
  }
  MINIDL_CHECK(mn.numel() == C, label(), ": ", C, " channels, observed ", mn.numel(), " before");
  float *lo = mn.data<float>(), *hi = mx.data<float>();
  const float* p = x.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const float v = p[(o * C + c) * inner + i];
        lo[c] = std::min(lo[c], v);
        hi[c] = std::max(hi[c], v);
      }
}
std::vector<float> PerChannelMinMaxObserver::range_min() const {
  return const_cast<PerChannelMinMaxObserver*>(this)->buffer("min_val").to_vector<float>();
}
std::vector<float> PerChannelMinMaxObserver::range_max() const {
  return const_cast<PerChannelMinMaxObserver*>(this)->buffer("max_val").to_vector<float>();
}
QParams PerChannelMinMaxObserver::qparams() const {
  return from_minmax(range_min(), range_max(), ch_axis);
}

// ---------------------------------------------------------------- factory

std::shared_ptr<Observer> make_activation_observer(const std::string& kind, QRange r) {
  if (kind == "minmax") return std::make_shared<MinMaxObserver>(QScheme::PerTensorAffine, r);
  if (kind == "moving_average") return std::make_shared<MovingAverageMinMaxObserver>(0.01f, QScheme::PerTensorAffine, r);
  if (kind == "histogram") return std::make_shared<HistogramObserver>(2048, QScheme::PerTensorAffine, r);
  throw Error("unknown observer \"" + kind + "\" (allowed: minmax, moving_average, histogram)");
}

}  // namespace minidl::compress
