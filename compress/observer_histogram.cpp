// minidl/compress/observer_histogram.cpp — HistogramObserver (see observer.h).
//
// The range search is PyTorch 1.13's HistogramObserver._non_linear_param_search and
// _compute_quantization_error, written from their math:
//   - the histogram has `bins` source bins of width w over [min_val, max_val];
//   - a candidate range is the bins [s, e]; quantizing to 2^8 destination bins of width
//     d = w·(e − s + 1)/256 maps every value to its destination bin's centre, so a source
//     bin of density ρ = count/w contributes ∫ρ·δ² dδ over its offsets δ from the centres of
//     the destination bins it overlaps: ρ·(δ_end³ − δ_begin³)/3 per piece (values outside
//     [s, e] are clamped to the first/last destination bin and pay their distance);
//   - the search narrows [s, e] from both ends by quantiles in steps of 1e-5, always moving
//     the end that frees more bins, and stops as soon as the error grows;
//   - unlike PyTorch, a result worse than the full range falls back to the full range.
// With 256 levels the L2 criterion clips little: the error it can save is at most the
// bulk's N·d²/12, while each clipped value costs its distance² — so it trims thin tails
// (a few isolated values just past a dense bulk), not far outliers.
// Where a new batch widens the range, the old counts are spread over the new bins in
// proportion to overlap (values assumed uniform within a bin, which is also what PyTorch's
// upsampling by 128 approximates); then the batch is added with torch.histc's binning.
#include <cmath>
#include <limits>

#include "compress/observer.h"

namespace minidl::compress {

namespace {
constexpr float kInf = std::numeric_limits<float>::infinity();

// torch.histc's bin of v in [lo, hi] with n bins (hi itself goes into the last bin).
int64_t bin_of(float v, float lo, float hi, int64_t n) {
  if (!(hi > lo)) return 0;
  const int64_t b = int64_t((double(v) - lo) / (double(hi) - lo) * double(n));
  return std::clamp<int64_t>(b, 0, n - 1);
}
}  // namespace

HistogramObserver::HistogramObserver(int b, QScheme scheme, QRange r) : Observer(scheme, r), bins(b) {
  MINIDL_CHECK(b >= 256, "HistogramObserver: bins must be >= 256, got ", b);
  MINIDL_CHECK(!is_per_channel(scheme), "HistogramObserver: per-tensor schemes only");
  register_buffer("histogram", Tensor::zeros({b}));
  register_buffer("min_val", Tensor::full({}, kInf));
  register_buffer("max_val", Tensor::full({}, -kInf));
}

void HistogramObserver::reset() {
  buffer("histogram").zero_();
  buffer("min_val").fill_(kInf);
  buffer("max_val").fill_(-kInf);
}

void HistogramObserver::observe(const Tensor& x) {
  if (x.numel() == 0) return;
  const float* p = x.data<float>();
  float lo = kInf, hi = -kInf;
  for (int64_t i = 0; i < x.numel(); ++i) {
    lo = std::min(lo, p[i]);
    hi = std::max(hi, p[i]);
  }
  float& mn = *buffer("min_val").data<float>();
  float& mx = *buffer("max_val").data<float>();
  float* h = buffer("histogram").data<float>();
  const int64_t n = bins;
  if (std::isfinite(mn) && (lo < mn || hi > mx)) {
    // widen: spread each old bin's count over the new bins it overlaps
    const float nlo = std::min(lo, mn), nhi = std::max(hi, mx);
    std::vector<double> fresh(size_t(n), 0.0);
    const double ow = (double(mx) - mn) / double(n), nw = (double(nhi) - nlo) / double(n);
    for (int64_t b = 0; b < n; ++b) {
      if (h[b] == 0.f) continue;
      if (ow == 0.0) {
        fresh[size_t(bin_of(mn, nlo, nhi, n))] += h[b];
        continue;
      }
      const double a = mn + ow * double(b), e = a + ow;
      int64_t j = std::clamp<int64_t>(int64_t((a - nlo) / nw), 0, n - 1);
      for (double cur = a; cur < e && j < n; ++j) {
        const double bin_end = j == n - 1 ? e : std::min(e, nlo + nw * double(j + 1));
        if (bin_end > cur) fresh[size_t(j)] += double(h[b]) * (bin_end - cur) / ow;
        cur = std::max(cur, bin_end);
      }
    }
    for (int64_t b = 0; b < n; ++b) h[b] = float(fresh[size_t(b)]);
    mn = nlo;
    mx = nhi;
  } else if (!std::isfinite(mn)) {
    mn = lo;
    mx = hi;
  }
  for (int64_t i = 0; i < x.numel(); ++i) h[bin_of(p[i], mn, mx, n)] += 1.f;
}

double HistogramObserver::quantization_error(int s, int e) const {
  auto* self = const_cast<HistogramObserver*>(this);
  const float* h = self->buffer("histogram").data<float>();
  const double mn = *self->buffer("min_val").data<float>(), mx = *self->buffer("max_val").data<float>();
  const double w = (mx - mn) / double(bins);
  const int64_t dst_bins = int64_t(range.qmax) - range.qmin + 1;
  const double d = w * double(e - s + 1) / double(dst_bins);
  if (d == 0.0) return 0.0;
  auto norm = [](double b, double en, double density) { return density * (en * en * en - b * b * b) / 3.0; };
  double total = 0;
  for (int64_t b = 0; b < bins; ++b) {
    if (h[b] == 0.f) continue;
    const double density = double(h[b]) / w;
    const double begin = double(b - s) * w, end = begin + w;
    const double db = std::clamp(std::floor(begin / d), 0.0, double(dst_bins - 1));
    const double de = std::clamp(std::floor(end / d), 0.0, double(dst_bins - 1));
    total += norm(begin - (db + 0.5) * d, d / 2, density);      // first destination bin
    total += (de - db - 1) * norm(-d / 2, d / 2, density);      // the ones it covers fully
    total += norm(-d / 2, end - (de * d + d / 2), density);      // the last one
  }
  return total;
}

std::pair<float, float> HistogramObserver::search_range() const {
  auto* self = const_cast<HistogramObserver*>(this);
  const float mn = *self->buffer("min_val").data<float>(), mx = *self->buffer("max_val").data<float>();
  const auto [start, end] = search_bins();
  const double bin_width = (double(mx) - mn) / bins;
  return {float(mn + bin_width * start), float(mn + bin_width * (end + 1))};
}

std::pair<int, int> HistogramObserver::search_bins() const {
  auto* self = const_cast<HistogramObserver*>(this);
  const float* h = self->buffer("histogram").data<float>();
  const float mn = *self->buffer("min_val").data<float>();
  MINIDL_CHECK(std::isfinite(mn), where.empty() ? label() : where,
               ": no data observed (calibrate with at least one batch before convert)");
  std::vector<double> csum(static_cast<size_t>(bins));
  double total = 0;
  for (int b = 0; b < bins; ++b) csum[size_t(b)] = total += h[b];
  const double step = 1e-5;
  double alpha = 0, beta = 1, norm_min = std::numeric_limits<double>::infinity();
  int start = 0, end = bins - 1;
  while (alpha < beta) {
    const double next_alpha = alpha + step, next_beta = beta - step;
    int l = start, r = end;
    while (l < end && csum[size_t(l)] < next_alpha * total) ++l;
    while (r > start && csum[size_t(r)] > next_beta * total) --r;
    int next_start = start, next_end = end;
    if (l - start > end - r) {
      next_start = l;
      alpha = next_alpha;
    } else {
      next_end = r;
      beta = next_beta;
    }
    if (next_start == start && next_end == end) continue;
    const double norm = quantization_error(next_start, next_end);
    if (norm > norm_min) break;
    norm_min = norm;
    start = next_start;
    end = next_end;
  }
  // PyTorch accepts the search's first step unconditionally, which can be worse than not
  // clipping at all (one far outlier clipped costs its whole distance²); minidl keeps the
  // full range in that case, so the result never quantizes worse than MinMax's range.
  if (quantization_error(start, end) > quantization_error(0, bins - 1)) return {0, bins - 1};
  return {start, end};
}

std::vector<float> HistogramObserver::range_min() const {
  if (!std::isfinite(*const_cast<HistogramObserver*>(this)->buffer("min_val").data<float>())) return {kInf};
  return {search_range().first};
}
std::vector<float> HistogramObserver::range_max() const {
  if (!std::isfinite(*const_cast<HistogramObserver*>(this)->buffer("min_val").data<float>())) return {-kInf};
  return {search_range().second};
}

QParams HistogramObserver::qparams() const {
  const auto [lo, hi] = search_range();
  return from_minmax({lo}, {hi}, -1);
}

}  // namespace minidl::compress
