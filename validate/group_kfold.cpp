#include "validate/group_kfold.h"

#include <algorithm>
#include <map>

#include "core/error.h"
#include "validate/numpy_random.h"

namespace minidl::validate {

GroupKFold::GroupKFold(int k, std::vector<int64_t> groups) : k_(k), groups_(std::move(groups)) {
  MINIDL_CHECK(k >= 2, "GroupKFold: k must be >= 2, got k=", k);
}

std::vector<Fold> GroupKFold::split(const std::vector<int64_t>& labels, const std::vector<int64_t>& groups) const {
  MINIDL_CHECK(!groups.empty(), "GroupKFold: needs a group label per sample (give groups to the constructor or split)");
  MINIDL_CHECK(groups.size() == labels.size(), "GroupKFold: ", groups.size(), " group labels for ", labels.size(),
               " samples");
  std::map<int64_t, int64_t> code;  // np.unique(groups, return_inverse=True)
  for (int64_t g : groups) code.emplace(g, 0);
  int64_t next = 0;
  for (auto& [g, c] : code) c = next++;
  const int64_t n_groups = next;
  MINIDL_CHECK(k_ <= n_groups, "GroupKFold: cannot have k=", k_, " folds greater than the number of groups: ",
               n_groups);
  std::vector<int64_t> inverse(groups.size()), size(size_t(n_groups), 0);
  for (size_t i = 0; i < groups.size(); ++i) ++size[size_t(inverse[i] = code[groups[i]])];
  std::vector<int64_t> order = argsort_quicksort(size);  // then [::-1]: largest first
  std::reverse(order.begin(), order.end());
  std::vector<int64_t> fold_size(static_cast<size_t>(k_), 0), group_fold(static_cast<size_t>(n_groups));
  for (int64_t g : order) {
    const size_t lightest = size_t(std::min_element(fold_size.begin(), fold_size.end()) - fold_size.begin());
    fold_size[lightest] += size[size_t(g)];
    group_fold[size_t(g)] = int64_t(lightest);
  }
  std::vector<Fold> folds(static_cast<size_t>(k_));
  for (size_t i = 0; i < groups.size(); ++i)
    for (int f = 0; f < k_; ++f)
      (group_fold[size_t(inverse[i])] == f ? folds[size_t(f)].test : folds[size_t(f)].train).push_back(int64_t(i));
  return folds;
}

std::vector<Fold> LeaveOneOut::split(int64_t n) const {
  MINIDL_CHECK(n >= 2, "LeaveOneOut: cannot perform LeaveOneOut with n_samples=", n, " (need at least 2)");
  std::vector<Fold> folds(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    folds[size_t(i)].test = {i};
    folds[size_t(i)].train.reserve(size_t(n - 1));
    for (int64_t j = 0; j < n; ++j)
      if (j != i) folds[size_t(i)].train.push_back(j);
  }
  return folds;
}

}  // namespace minidl::validate
