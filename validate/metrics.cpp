#include "validate/metrics.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>

#include "core/error.h"

namespace minidl::validate {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double ratio0(int64_t num, int64_t den) { return den == 0 ? 0.0 : double(num) / double(den); }

std::string fixed(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

// Continued fraction of the regularized incomplete beta function
// (modified Lentz's method; DLMF 8.17.22).
double beta_cf(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-16;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 100000; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));  // even step
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));  // odd step
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double del = d * c;
    h *= del;
    if (std::fabs(del - 1.0) < eps) break;
  }
  return h;
}

// I_x(a, b), with y = 1 - x passed separately to keep precision near x = 1.
double inc_beta(double a, double b, double x, double y) {
  if (x <= 0) return 0;
  if (y <= 0) return 1;
  const double log_front = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log(y);
  if (x < (a + 1.0) / (a + b + 2.0)) return std::exp(log_front) * beta_cf(a, b, x) / a;
  return 1.0 - std::exp(log_front) * beta_cf(b, a, y) / b;
}

// P(T > t) for t >= 0: ½·I_{df/(df+t²)}(df/2, ½).
double t_upper_tail(double t, double df) {
  if (std::isinf(df)) return 0.5 * std::erfc(t / std::sqrt(2.0));
  const double t2 = t * t;
  return 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t2), t2 / (df + t2));
}

}  // namespace

// ---------------------------------------------------------------------------
// ConfusionMatrix

ConfusionMatrix::ConfusionMatrix(int64_t num_classes) : k_(num_classes) {
  MINIDL_CHECK(num_classes >= 1 && num_classes <= (int64_t(1) << 16),
               "ConfusionMatrix: num_classes must be in [1, 65536], got ", num_classes);
  m_.assign(size_t(k_ * k_), 0);
}

ConfusionMatrix::ConfusionMatrix(const std::vector<int64_t>& predictions, const std::vector<int64_t>& targets,
                                 int64_t num_classes)
    : ConfusionMatrix(num_classes) {
  MINIDL_CHECK(predictions.size() == targets.size(), "ConfusionMatrix: ", predictions.size(),
               " predictions but ", targets.size(), " targets");
  for (size_t i = 0; i < targets.size(); ++i) add(targets[i], predictions[i]);
}

void ConfusionMatrix::check_class(int64_t c, const char* what) const {
  MINIDL_CHECK(c >= 0 && c < k_, "ConfusionMatrix: ", what, " ", c, " is out of range [0, ", k_, ")");
}

void ConfusionMatrix::add(int64_t target, int64_t prediction, int64_t count) {
  check_class(target, "target class");
  check_class(prediction, "predicted class");
  MINIDL_CHECK(count >= 0, "ConfusionMatrix: count must be >= 0, got ", count);
  m_[size_t(target * k_ + prediction)] += count;
}

ConfusionMatrix& ConfusionMatrix::operator+=(const ConfusionMatrix& o) {
  if (k_ == 0) return *this = o;
  MINIDL_CHECK(o.k_ == k_, "ConfusionMatrix: cannot add a ", o.k_, "-class matrix to a ", k_, "-class one");
  for (size_t i = 0; i < m_.size(); ++i) m_[i] += o.m_[i];
  return *this;
}

int64_t ConfusionMatrix::at(int64_t t, int64_t p) const {
  check_class(t, "true class");
  check_class(p, "predicted class");
  return m_[size_t(t * k_ + p)];
}

int64_t ConfusionMatrix::total() const {
  int64_t s = 0;
  for (int64_t v : m_) s += v;
  return s;
}

int64_t ConfusionMatrix::correct() const {
  int64_t s = 0;
  for (int64_t c = 0; c < k_; ++c) s += m_[size_t(c * k_ + c)];
  return s;
}

int64_t ConfusionMatrix::support(int64_t c) const {
  check_class(c, "class");
  int64_t s = 0;
  for (int64_t j = 0; j < k_; ++j) s += m_[size_t(c * k_ + j)];
  return s;
}

int64_t ConfusionMatrix::predicted(int64_t c) const {
  check_class(c, "class");
  int64_t s = 0;
  for (int64_t i = 0; i < k_; ++i) s += m_[size_t(i * k_ + c)];
  return s;
}

double ConfusionMatrix::accuracy() const {
  const int64_t n = total();
  return n == 0 ? kNaN : double(correct()) / double(n);
}

double ConfusionMatrix::precision(int64_t c) const { return ratio0(at(c, c), predicted(c)); }
double ConfusionMatrix::recall(int64_t c) const { return ratio0(at(c, c), support(c)); }
double ConfusionMatrix::f1(int64_t c) const {
  // 2·tp / (2·tp + fp + fn), equal to 2PR/(P+R) and 0 when tp = 0.
  const int64_t tp = at(c, c);
  return ratio0(2 * tp, support(c) + predicted(c));
}

std::vector<double> ConfusionMatrix::precisions() const {
  std::vector<double> r;
  for (int64_t c = 0; c < k_; ++c) r.push_back(precision(c));
  return r;
}
std::vector<double> ConfusionMatrix::recalls() const {
  std::vector<double> r;
  for (int64_t c = 0; c < k_; ++c) r.push_back(recall(c));
  return r;
}
std::vector<double> ConfusionMatrix::f1s() const {
  std::vector<double> r;
  for (int64_t c = 0; c < k_; ++c) r.push_back(f1(c));
  return r;
}

double ConfusionMatrix::macro_f1() const { return macro_avg().f1; }

// Mean of (precision, recall, F1) over the classes present among targets or
// predictions, each class weighted by w(c).
template <class W>
static ConfusionMatrix::Averages averages(const ConfusionMatrix& m, W w) {
  double p = 0, r = 0, f = 0, total_w = 0;
  for (int64_t c = 0; c < m.num_classes(); ++c) {
    if (m.support(c) == 0 && m.predicted(c) == 0) continue;
    const double wc = w(c);
    p += wc * m.precision(c), r += wc * m.recall(c), f += wc * m.f1(c);
    total_w += wc;
  }
  if (m.total() == 0) return {kNaN, kNaN, kNaN, 0};
  if (total_w == 0) return {0, 0, 0, m.total()};  // sklearn's zero_division=0
  return {p / total_w, r / total_w, f / total_w, m.total()};
}

ConfusionMatrix::Averages ConfusionMatrix::macro_avg() const {
  return averages(*this, [](int64_t) { return 1.0; });
}
ConfusionMatrix::Averages ConfusionMatrix::weighted_avg() const {
  return averages(*this, [this](int64_t c) { return double(support(c)); });
}

namespace {
std::vector<std::string> labels_for(int64_t k, const std::vector<std::string>& names) {
  MINIDL_CHECK(names.empty() || int64_t(names.size()) == k, "ConfusionMatrix: ", names.size(),
               " class names for ", k, " classes");
  if (!names.empty()) return names;
  std::vector<std::string> r;
  for (int64_t c = 0; c < k; ++c) r.push_back(std::to_string(c));
  return r;
}
}  // namespace

std::string ConfusionMatrix::to_string(const std::vector<std::string>& class_names) const {
  const auto names = labels_for(k_, class_names);
  size_t row_w = std::string("true \\ predicted").size();
  size_t col_w = 1;
  for (const auto& n : names) {
    row_w = std::max(row_w, n.size());
    col_w = std::max(col_w, n.size());
  }
  for (int64_t v : m_) col_w = std::max(col_w, std::to_string(v).size());
  std::ostringstream os;
  os << std::left << std::setw(int(row_w)) << "true \\ predicted" << std::right;
  for (const auto& n : names) os << "  " << std::setw(int(col_w)) << n;
  os << "\n";
  for (int64_t i = 0; i < k_; ++i) {
    os << std::left << std::setw(int(row_w)) << names[size_t(i)] << std::right;
    for (int64_t j = 0; j < k_; ++j) os << "  " << std::setw(int(col_w)) << m_[size_t(i * k_ + j)];
    os << "\n";
  }
  return os.str();
}

std::string ConfusionMatrix::report(const std::vector<std::string>& class_names, int digits) const {
  const auto names = labels_for(k_, class_names);
  size_t row_w = std::string("weighted avg").size();
  for (const auto& n : names) row_w = std::max(row_w, n.size());
  const int w = std::max(digits + 3, 9);
  std::ostringstream os;
  os << std::setw(int(row_w)) << "" << std::setw(w + 1) << "precision" << std::setw(w + 1) << "recall"
     << std::setw(w + 1) << "f1-score" << std::setw(w + 1) << "support" << "\n";
  for (int64_t c = 0; c < k_; ++c)
    os << std::setw(int(row_w)) << names[size_t(c)] << std::setw(w + 1) << fixed(precision(c), digits)
       << std::setw(w + 1) << fixed(recall(c), digits) << std::setw(w + 1) << fixed(f1(c), digits)
       << std::setw(w + 1) << support(c) << "\n";
  os << "\n" << std::setw(int(row_w)) << "accuracy" << std::setw(3 * (w + 1)) << fixed(accuracy(), digits)
     << std::setw(w + 1) << total() << "\n";
  for (const auto& [label, a] : {std::pair{"macro avg", macro_avg()}, std::pair{"weighted avg", weighted_avg()}})
    os << std::setw(int(row_w)) << label << std::setw(w + 1) << fixed(a.precision, digits) << std::setw(w + 1)
       << fixed(a.recall, digits) << std::setw(w + 1) << fixed(a.f1, digits) << std::setw(w + 1) << a.support << "\n";
  return os.str();
}

// ---------------------------------------------------------------------------
// Summaries

std::string Summary::to_string(int precision) const {
  if (n < 2) return fixed(mean, precision) + " (n=" + std::to_string(n) + ", no spread)";
  return fixed(mean, precision) + " \u00b1 " + fixed(std, precision) + (test_train_ratio > 0 ? " (corrected " : " (") +
         "95% CI [" + fixed(lo(), precision) + ", " +
         fixed(hi(), precision) + "], n=" + std::to_string(n) + ")";
}

Summary summarize(const std::vector<double>& values, double test_train_ratio) {
  MINIDL_CHECK(!values.empty(), "summarize: no values");
  MINIDL_CHECK(std::isfinite(test_train_ratio) && test_train_ratio >= 0,
               "summarize: test_train_ratio (n_test/n_train) must be finite and >= 0, got ", test_train_ratio);
  Summary s;
  s.test_train_ratio = test_train_ratio;
  s.n = int64_t(values.size());
  s.min = s.max = values[0];
  double sum = 0;
  for (double v : values) {
    MINIDL_CHECK(std::isfinite(v), "summarize: values must be finite, got ", v);
    sum += v;
    s.min = std::min(s.min, v);
    s.max = std::max(s.max, v);
  }
  s.mean = sum / double(s.n);
  if (s.n < 2) {
    s.std = s.ci95 = kNaN;
    return s;
  }
  double ss = 0;  // two passes: no cancellation
  for (double v : values) ss += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(ss / double(s.n - 1));
  // Variance of the mean: s²/J, or Nadeau & Bengio's s²·(1/J + n_test/n_train).
  const double t = student_t_quantile(0.975, double(s.n - 1));
  s.ci95 = test_train_ratio > 0 ? t * s.std * std::sqrt(1.0 / double(s.n) + test_train_ratio)
                                : t * s.std / std::sqrt(double(s.n));
  return s;
}

double student_t_quantile(double p, double df) {
  MINIDL_CHECK(p > 0 && p < 1, "student_t_quantile: p must be in (0, 1), got ", p);
  MINIDL_CHECK(df > 0 && !std::isnan(df), "student_t_quantile: degrees of freedom must be > 0, got ", df);
  if (p == 0.5) return 0;
  if (p < 0.5) return -student_t_quantile(1 - p, df);
  const double tail = 1 - p;  // find t >= 0 with P(T > t) = tail
  double lo = 0, hi = 1;
  while (t_upper_tail(hi, df) > tail) {
    lo = hi;
    hi *= 2;
    MINIDL_CHECK(hi < 1e300, "student_t_quantile: no convergence for p=", p, ", df=", df);
  }
  for (int it = 0; it < 200 && hi - lo > 1e-15 * hi; ++it) {
    const double mid = 0.5 * (lo + hi);
    (t_upper_tail(mid, df) > tail ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

}  // namespace minidl::validate
