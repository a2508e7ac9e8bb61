// minidl/validate/cv_arrays.h — cross-validation results as named arrays, the
// shape of sklearn.model_selection.cross_validate's return value:
//
//   validate::CVOptions o;
//   o.return_train_score = true;
//   auto arrays = validate::cv_arrays(validate::cross_validate(factory, data, splitter, o));
//   // arrays[0] = {"fit_time", {...one per fold...}}, then score_time,
//   // test_accuracy, test_f1_macro, test_neg_log_loss, train_accuracy, ...
//
// Keys and signs follow sklearn's scorer names (scoring=["accuracy",
// "f1_macro", "neg_log_loss"]): neg_log_loss is −(mean cross-entropy), so that
// greater is better for every score. fit_time is the training time of the fold,
// score_time the time to score its test part (train scoring is not included,
// as in sklearn). train_* arrays appear only if the run had return_train_score.
// Entries are in fold order (FoldResult::index).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "validate/cross_validate.h"

namespace minidl::validate {

using NamedArrays = std::vector<std::pair<std::string, std::vector<double>>>;

NamedArrays cv_arrays(const CVResult& r);
// {"fit_time": [...], ...} (NaN as null).
std::string cv_arrays_json(const NamedArrays& a);
// The array called `name`; throws minidl::Error listing the names if absent.
const std::vector<double>& array_named(const NamedArrays& a, const std::string& name);

}  // namespace minidl::validate
