// minidl/validate/metrics.h — classification metrics and summaries over folds.
//
//   ConfusionMatrix cm(eval.predictions, eval.targets, 10);
//   cm.accuracy();  cm.precision(3);  cm.macro_f1();
//   std::cout << cm.to_string(ds->class_names()) << cm.report(ds->class_names());
//
//   Summary s = summarize({0.81, 0.83, 0.80, 0.84, 0.82});
//   s.to_string()   // "0.8200 ± 0.0158 (95% CI [0.8004, 0.8396], n=5)"
//
// Conventions follow scikit-learn 1.2 (sklearn.metrics):
//   * Rows are the true class, columns the predicted class
//     (confusion_matrix(y_true, y_pred)[i][j] = #{true i, predicted j}).
//   * precision(c) = tp / (tp + fp), recall(c) = tp / (tp + fn),
//     f1(c) = 2·P·R / (P + R). A 0/0 counts as 0 — sklearn's
//     zero_division=0 (its default "warn" also yields 0, plus a warning; we
//     stay silent): a class that is never predicted has precision 0, a class
//     with no true samples has recall 0, and P = R = 0 gives F1 = 0.
//   * macro_f1() is the unweighted mean of f1(c) over the classes that occur
//     among the targets or the predictions — sklearn's f1_score(average=
//     "macro") with its default labels = unique_labels(y_true, y_pred).
//     Classes absent from both are left out (they would count as 0 and drag
//     the mean down for no reason). The per-class getters work for every class.
//   * weighted_avg() averages precision, recall and F1 over the same classes
//     weighted by their support (true count): Σ_c n_c·m_c / Σ_c n_c, sklearn's
//     average="weighted" (the "weighted avg" row of classification_report).
//     Checked live against sklearn by tests/sklearn_report_parity.py.
//
// Summaries: mean, sample standard deviation (divisor n − 1, numpy's
// std(ddof=1)), and the half-width of the two-sided 95% confidence interval
// of the mean from Student's t: ci95 = t_{0.975, n−1} · std / √n. With n = 1
// std and ci95 are NaN (no spread can be estimated). The interval is not
// clamped to the range of the metric: with few, spread-out folds an
// accuracy interval can reach below 0 or above 1, which is the honest answer.
//
// Corrected resampled t (Nadeau & Bengio 2003, "Inference for the
// Generalization Error", Machine Learning 52; recommended for (repeated)
// cross-validation by Bouckaert & Frank 2004). The J results of K-fold CV are
// not independent: their training sets overlap, so the plain interval above,
// whose variance of the mean is s²/J, is too narrow and rejects a true null
// far more often than 5% of the time. Nadeau & Bengio's correction replaces
// it with s²·(1/J + n_test/n_train):
//   ci95 = t_{0.975, J−1} · s · √(1/J + n_test/n_train).
// Pass test_train_ratio = n_test/n_train (1/(K − 1) for K-fold) to
// summarize(); 0 gives the plain interval. The correction is a heuristic
// (it assumes the correlation between results is n_test/n_train) but a
// conservative one; judge differences by it, show the plain one beside it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl::validate {

class ConfusionMatrix {
 public:
  ConfusionMatrix() = default;
  explicit ConfusionMatrix(int64_t num_classes);  // all zeros
  // Counts (targets[i], predictions[i]) pairs; both in [0, num_classes), same length.
  ConfusionMatrix(const std::vector<int64_t>& predictions, const std::vector<int64_t>& targets,
                  int64_t num_classes);

  void add(int64_t target, int64_t prediction, int64_t count = 1);
  // Adds another matrix with the same number of classes (pooling folds).
  ConfusionMatrix& operator+=(const ConfusionMatrix& other);

  int64_t num_classes() const { return k_; }
  int64_t at(int64_t true_class, int64_t predicted_class) const;
  int64_t total() const;                 // number of samples counted
  int64_t correct() const;               // trace
  int64_t support(int64_t c) const;      // row sum: samples whose true class is c
  int64_t predicted(int64_t c) const;    // column sum: samples predicted as c
  const std::vector<int64_t>& counts() const { return m_; }  // row-major k x k

  double accuracy() const;  // correct / total; NaN when empty
  double precision(int64_t c) const;
  double recall(int64_t c) const;
  double f1(int64_t c) const;
  std::vector<double> precisions() const;  // one per class, 0..k-1
  std::vector<double> recalls() const;
  std::vector<double> f1s() const;
  double macro_f1() const;  // see above; NaN when empty

  // The report's average rows (sklearn's average="macro" / "weighted"); NaN
  // fields when the matrix is empty. support = total().
  struct Averages {
    double precision, recall, f1;
    int64_t support;
  };
  Averages macro_avg() const;
  Averages weighted_avg() const;

  // The matrix as a text table, rows labelled "true", columns "predicted",
  // headed by the class names when given (must be num_classes() of them)
  // or the class indices otherwise.
  std::string to_string(const std::vector<std::string>& class_names = {}) const;
  // Per-class precision, recall, F1 and support, then accuracy, the macro and
  // the weighted averages — the layout of sklearn's classification_report.
  std::string report(const std::vector<std::string>& class_names = {}, int digits = 4) const;

  bool operator==(const ConfusionMatrix&) const = default;

 private:
  void check_class(int64_t c, const char* what) const;
  int64_t k_ = 0;
  std::vector<int64_t> m_;
};

struct Summary {
  int64_t n = 0;
  double mean = 0, std = 0, ci95 = 0;  // std: sample std (n − 1); ci95: t_{0.975,n−1}·std/√n
  double min = 0, max = 0;
  double test_train_ratio = 0;  // > 0: ci95 is the corrected resampled t interval (above)
  double lo() const { return mean - ci95; }  // 95% confidence interval of the mean
  double hi() const { return mean + ci95; }
  // "0.8200 ± 0.0158 (95% CI [0.8004, 0.8396], n=5)"; corrected: "... (corrected 95% CI [...], n=5)";
  // for n = 1 "0.8200 (n=1, no spread)".
  std::string to_string(int precision = 4) const;
};

// Summary of finite values; throws minidl::Error if `values` is empty or has
// a NaN/infinity, or if test_train_ratio is negative or not finite.
// test_train_ratio > 0: the corrected resampled t interval (above).
Summary summarize(const std::vector<double>& values, double test_train_ratio = 0);

// The p-quantile of Student's t distribution with df > 0 degrees of freedom
// (df may be fractional or +infinity, which gives the standard normal), for
// p in (0, 1). Computed by bisection on the exact CDF, which is a regularized
// incomplete beta function evaluated by its continued fraction; accurate to
// about 1e-12 relative. student_t_quantile(0.975, 4) = 2.7764451051977...
double student_t_quantile(double p, double df);

}  // namespace minidl::validate
