// Tests for validate/metrics.h: confusion matrix and the per-class / macro
// scores against hand-computed values (scikit-learn's zero_division=0
// convention), summaries, and Student's t quantiles against reference values.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "validate/metrics.h"

using minidl::validate::ConfusionMatrix;
using minidl::validate::student_t_quantile;
using minidl::validate::summarize;
using minidl::validate::Summary;
using Idx = std::vector<int64_t>;

namespace {
bool throws_with(auto&& f, const std::string& part) {
  try {
    f();
  } catch (const minidl::Error& e) {
    return std::string(e.what()).find(part) != std::string::npos;
  }
  return false;
}
}  // namespace

TEST_CASE("confusion matrix: counts, accuracy, P/R/F1 by hand") {
  //                 t: 0 0 0 1 1 2 2 2 2 0       rows = true, cols = predicted
  //                 p: 0 1 0 1 2 2 2 0 2 0       [3 1 0 0]
  // Class 3 never occurs (4 classes declared).   [0 1 1 0]
  //                                              [1 0 3 0]
  //                                              [0 0 0 0]
  const Idx t{0, 0, 0, 1, 1, 2, 2, 2, 2, 0}, p{0, 1, 0, 1, 2, 2, 2, 0, 2, 0};
  ConfusionMatrix cm(p, t, 4);
  const Idx expected{3, 1, 0, 0, 0, 1, 1, 0, 1, 0, 3, 0, 0, 0, 0, 0};
  CHECK(cm.counts() == expected);
  CHECK(cm.at(2, 0) == 1);
  CHECK(cm.at(0, 2) == 0);
  CHECK(cm.total() == 10);
  CHECK(cm.correct() == 7);
  CHECK(cm.accuracy() == doctest::Approx(0.7));
  CHECK(cm.support(0) == 4);
  CHECK(cm.support(1) == 2);
  CHECK(cm.predicted(0) == 4);
  CHECK(cm.predicted(3) == 0);
  // precision = tp / column sum, recall = tp / row sum
  CHECK(cm.precision(0) == doctest::Approx(0.75));
  CHECK(cm.precision(1) == doctest::Approx(0.5));
  CHECK(cm.precision(2) == doctest::Approx(0.75));
  CHECK(cm.recall(0) == doctest::Approx(0.75));
  CHECK(cm.recall(1) == doctest::Approx(0.5));
  CHECK(cm.recall(2) == doctest::Approx(0.75));
  CHECK(cm.f1(1) == doctest::Approx(0.5));
  // class 3: 0/0 everywhere -> 0, and it is left out of the macro average
  CHECK(cm.precision(3) == 0.0);
  CHECK(cm.recall(3) == 0.0);
  CHECK(cm.f1(3) == 0.0);
  CHECK(cm.macro_f1() == doctest::Approx((0.75 + 0.5 + 0.75) / 3));
  CHECK(cm.f1s() == std::vector<double>{cm.f1(0), cm.f1(1), cm.f1(2), 0.0});
}

TEST_CASE("zero_division=0: a predicted class without support, a class never predicted") {
  // sklearn: f1_score([0,0,1,1,1], [0,2,0,1,1], average="macro") = 0.4333...
  //   class 0: P = 1/2, R = 1/2, F1 = 1/2
  //   class 1: P = 2/2, R = 2/3, F1 = 2·1·(2/3) / (5/3) = 0.8
  //   class 2: predicted once, never true: P = 0/1 = 0, R = 0/0 -> 0, F1 = 0
  ConfusionMatrix a({0, 2, 0, 1, 1}, {0, 0, 1, 1, 1}, 3);
  CHECK(a.precision(0) == doctest::Approx(0.5));
  CHECK(a.recall(1) == doctest::Approx(2.0 / 3));
  CHECK(a.f1(1) == doctest::Approx(0.8));
  CHECK(a.precision(2) == 0.0);
  CHECK(a.recall(2) == 0.0);
  CHECK(a.f1(2) == 0.0);
  CHECK(a.macro_f1() == doctest::Approx((0.5 + 0.8 + 0.0) / 3));
  CHECK(a.accuracy() == doctest::Approx(0.6));

  // class 1 is true twice but never predicted: P = 0/0 -> 0, R = 0, F1 = 0.
  // class 0: P = 1/3, R = 1, F1 = 0.5. macro = 0.25 (sklearn agrees).
  ConfusionMatrix b({0, 0, 0}, {0, 1, 1}, 2);
  CHECK(b.precision(1) == 0.0);
  CHECK(b.recall(1) == 0.0);
  CHECK(b.f1(0) == doctest::Approx(0.5));
  CHECK(b.macro_f1() == doctest::Approx(0.25));
  CHECK(b.accuracy() == doctest::Approx(1.0 / 3));

  // perfect predictions
  ConfusionMatrix c({0, 1, 2, 2}, {0, 1, 2, 2}, 3);
  CHECK(c.macro_f1() == 1.0);
  CHECK(c.accuracy() == 1.0);
}

TEST_CASE("confusion matrix: pooling, printing, errors") {
  ConfusionMatrix a({0, 1}, {0, 0}, 2), b({1, 1}, {1, 0}, 2);
  ConfusionMatrix pooled;
  pooled += a;
  pooled += b;
  CHECK(pooled.counts() == Idx{1, 2, 0, 1});
  CHECK(pooled.total() == 4);

  const std::string s = pooled.to_string({"cat", "dog"});
  CHECK(s.find("true \\ predicted") != std::string::npos);
  CHECK(s.find("cat") != std::string::npos);
  CHECK(s.find("dog") != std::string::npos);
  CHECK(pooled.to_string().find("0") != std::string::npos);
  const std::string rep = pooled.report({"cat", "dog"});
  CHECK(rep.find("precision") != std::string::npos);
  CHECK(rep.find("macro avg") != std::string::npos);
  CHECK(rep.find("0.5000") != std::string::npos);  // accuracy 2/4
  // (true, predicted) = (0,0) (0,1) (1,1) (0,1): class 0 P = 1, R = 1/3, n = 3; class 1 P = 1/3, R = 1, n = 1;
  // F1 = 0.5 each. weighted P = (3·1 + 1·1/3)/4 = 5/6, R = (3·1/3 + 1)/4 = 1/2; macro P = R = 2/3.
  CHECK(rep.find("weighted avg") != std::string::npos);
  CHECK(rep.find("0.8333") != std::string::npos);
  CHECK(pooled.weighted_avg().precision == doctest::Approx(5.0 / 6));
  CHECK(pooled.weighted_avg().recall == doctest::Approx(0.5));
  CHECK(pooled.weighted_avg().f1 == doctest::Approx(0.5));
  CHECK(pooled.macro_avg().precision == doctest::Approx(2.0 / 3));
  CHECK(pooled.weighted_avg().support == 4);

  CHECK(std::isnan(ConfusionMatrix(3).accuracy()));
  CHECK(std::isnan(ConfusionMatrix(3).macro_f1()));
  CHECK(throws_with([] { ConfusionMatrix({0, 1}, {0}, 2); }, "2 predictions but 1 targets"));
  CHECK(throws_with([] { ConfusionMatrix({0, 2}, {0, 1}, 2); }, "predicted class 2 is out of range [0, 2)"));
  CHECK(throws_with([] { ConfusionMatrix({0}, {-1}, 2); }, "target class -1"));
  CHECK(throws_with([] { ConfusionMatrix(0); }, "num_classes"));
  CHECK(throws_with([&] { pooled += ConfusionMatrix(3); }, "cannot add a 3-class matrix to a 2-class one"));
  CHECK(throws_with([&] { (void)pooled.to_string({"x"}); }, "1 class names for 2 classes"));
}

TEST_CASE("summarize: mean, sample std, Student-t 95% CI") {
  // {1..5}: mean 3, s = sqrt(10/4) = 1.5811388300841898,
  // ci = t_{.975,4} · s / √5 = 2.7764451051977987 · 0.7071067811865476 = 1.9632431614775607
  Summary s = summarize({1, 2, 3, 4, 5});
  CHECK(s.n == 5);
  CHECK(s.mean == doctest::Approx(3.0));
  CHECK(s.std == doctest::Approx(1.5811388300841898).epsilon(1e-12));
  CHECK(s.ci95 == doctest::Approx(1.9632431614775607).epsilon(1e-9));
  CHECK(s.lo() == doctest::Approx(3 - 1.9632431614775607).epsilon(1e-9));
  CHECK(s.hi() == doctest::Approx(3 + 1.9632431614775607).epsilon(1e-9));
  CHECK(s.min == 1.0);
  CHECK(s.max == 5.0);
  CHECK(s.to_string() == "3.0000 \u00b1 1.5811 (95% CI [1.0368, 4.9632], n=5)");

  // two values: df = 1, t = 12.706...
  Summary two = summarize({0.8, 0.9});
  CHECK(two.mean == doctest::Approx(0.85));
  CHECK(two.std == doctest::Approx(0.07071067811865474).epsilon(1e-12));
  CHECK(two.ci95 == doctest::Approx(0.6353102368087351).epsilon(1e-9));

  // constant values: no spread
  Summary c = summarize({0.5, 0.5, 0.5});
  CHECK(c.std == 0.0);
  CHECK(c.ci95 == 0.0);

  // one value: mean only
  Summary one = summarize({0.42});
  CHECK(one.n == 1);
  CHECK(one.mean == 0.42);
  CHECK(std::isnan(one.std));
  CHECK(std::isnan(one.ci95));
  CHECK(one.to_string() == "0.4200 (n=1, no spread)");

  CHECK(throws_with([] { summarize({}); }, "no values"));
  CHECK(throws_with([] { summarize({1.0, std::nan("")}); }, "finite"));
}

TEST_CASE("summarize: Nadeau & Bengio's corrected resampled t interval") {
  // {1..5} as J = 5 results of 5-fold CV, so n_test/n_train = 1/4:
  // variance of the mean s²·(1/5 + 1/4) = 2.5 · 0.45 = 1.125,
  // ci = t_{.975,4} · √1.125 = 2.7764451051977987 · 1.0606601717798212 = 2.9448647422163416
  // (the plain interval's half-width was 1.9632431614775607).
  Summary s = summarize({1, 2, 3, 4, 5}, 0.25);
  CHECK(s.mean == doctest::Approx(3.0));
  CHECK(s.std == doctest::Approx(1.5811388300841898).epsilon(1e-12));
  CHECK(s.ci95 == doctest::Approx(2.9448647422163416).epsilon(1e-9));
  CHECK(s.test_train_ratio == 0.25);
  CHECK(s.to_string() == "3.0000 \u00b1 1.5811 (corrected 95% CI [0.0551, 5.9449], n=5)");
  // Paired accuracy differences of a 5-fold comparison, 8000/2000 images per fold:
  // mean 0.0084, s² = 9.3e-6; plain ci = 2.77645 · √(9.3e-6/5) = 0.0037866,
  // corrected ci = 2.77645 · √(9.3e-6 · 0.45) = 0.0056798: the plain interval
  // [0.0046, 0.0122] becomes [0.0027, 0.0141] — still above 0 here, but 1.5x wider.
  const std::vector<double> d = {0.012, 0.007, 0.010, 0.004, 0.009};
  CHECK(summarize(d).ci95 == doctest::Approx(0.003786566281639459).epsilon(1e-9));
  CHECK(summarize(d, 2000.0 / 8000.0).ci95 == doctest::Approx(0.005679849422459189).epsilon(1e-9));
  // ratio 0 is the plain interval, bit for bit
  CHECK(summarize(d, 0.0).ci95 == summarize(d).ci95);
  CHECK(throws_with([] { summarize({1.0, 2.0}, -0.1); }, "test_train_ratio (n_test/n_train) must be finite and >= 0, got -0.1"));
  CHECK(throws_with([] { summarize({1.0, 2.0}, std::nan("")); }, "test_train_ratio"));
}

TEST_CASE("Student's t quantiles") {
  // Reference values (two-sided 95%: p = 0.975) computed with mpmath at 30
  // digits (root of ½·betainc(df/2, ½, 0, df/(df+t²)) = 1 − p).
  CHECK(student_t_quantile(0.975, 1) == doctest::Approx(12.706204736174707).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 2) == doctest::Approx(4.302652729749464).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 4) == doctest::Approx(2.7764451051977987).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 9) == doctest::Approx(2.262157162798205).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 29) == doctest::Approx(2.045229642132703).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 30) == doctest::Approx(2.0422724563012373).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 100) == doctest::Approx(1.9839715185235519).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, 1e6) == doctest::Approx(1.9599663568141067).epsilon(1e-10));
  CHECK(student_t_quantile(0.975, INFINITY) == doctest::Approx(1.959963984540054).epsilon(1e-12));
  // the 3-decimal table of the issue
  CHECK(std::round(student_t_quantile(0.975, 1) * 1000) / 1000 == 12.706);
  CHECK(std::round(student_t_quantile(0.975, 2) * 1000) / 1000 == 4.303);
  CHECK(std::round(student_t_quantile(0.975, 4) * 1000) / 1000 == 2.776);
  CHECK(std::round(student_t_quantile(0.975, 9) * 1000) / 1000 == 2.262);
  CHECK(std::round(student_t_quantile(0.975, 29) * 1000) / 1000 == 2.045);
  CHECK(std::round(student_t_quantile(0.975, 1e9) * 1000) / 1000 == 1.960);
  // other levels
  CHECK(student_t_quantile(0.95, 10) == doctest::Approx(1.8124611228116759).epsilon(1e-10));
  CHECK(student_t_quantile(0.995, 5) == doctest::Approx(4.0321429835552272).epsilon(1e-10));
  CHECK(student_t_quantile(0.5, 7) == 0.0);
  CHECK(student_t_quantile(0.025, 4) == doctest::Approx(-2.7764451051977987).epsilon(1e-10));

  // Closed forms for df = 1 (Cauchy) and df = 2 over a range of p: the
  // general algorithm (continued fraction + bisection) has no special cases.
  for (double p : {0.51, 0.6, 0.75, 0.9, 0.95, 0.975, 0.99, 0.999, 0.9999}) {
    CAPTURE(p);
    CHECK(student_t_quantile(p, 1) == doctest::Approx(std::tan(M_PI * (p - 0.5))).epsilon(1e-10));
    CHECK(student_t_quantile(p, 2) == doctest::Approx((2 * p - 1) / std::sqrt(2 * p * (1 - p))).epsilon(1e-10));
  }
  // decreasing in df towards the normal quantile
  double prev = INFINITY;
  for (int df = 1; df <= 200; ++df) {
    const double t = student_t_quantile(0.975, df);
    CHECK(t < prev);
    CHECK(t > 1.959963984540054);
    prev = t;
  }
  CHECK(throws_with([] { student_t_quantile(1.0, 3); }, "p must be in (0, 1)"));
  CHECK(throws_with([] { student_t_quantile(0.9, 0); }, "degrees of freedom"));
}
