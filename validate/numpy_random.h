// minidl/validate/numpy_random.h — the two pieces of NumPy that scikit-learn's
// randomised and group splitters depend on, reproduced exactly so those
// splitters give sklearn's folds for the same random_state:
//
//  * RandomState: numpy.random.RandomState(seed) (NumPy 1.24's legacy
//    generator, which sklearn's check_random_state(int) builds). It is MT19937
//    seeded by Matsumoto & Nishimura's init_genrand(seed) — the same
//    generator and seeding std::mt19937 is specified to have — and
//    permutation(n) is NumPy's legacy shuffle of arange(n): for i = n−1 … 1,
//    swap x[i] with x[j], j uniform in [0, i] drawn by *masked rejection*
//    (take 32-bit outputs & the smallest all-ones mask >= i until one is
//    <= i; numpy/random/src/distributions: random_interval). That is not
//    the Lemire method core/random.h uses, hence a separate class.
//  * argsort_quicksort: np.argsort(int64 array) with its default kind
//    "quicksort", which is NumPy's introsort (median-of-3 quicksort, insertion
//    sort for 16 elements or fewer, heapsort past a depth of 2·log2 n). It is not
//    stable: the order it gives equal keys is what it is, and GroupKFold's
//    folds depend on it whenever two groups have the same size.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace minidl::validate {

class RandomState {
 public:
  explicit RandomState(uint32_t seed) : mt_(seed) {}
  // Uniform in [0, max] (random_interval).
  uint64_t interval(uint64_t max);
  // In-place legacy shuffle (RandomState.shuffle of a 1-d array).
  template <class T>
  void shuffle(std::vector<T>& x) {
    for (size_t i = x.size(); i-- > 1;) std::swap(x[i], x[size_t(interval(i))]);
  }
  // RandomState.permutation(n): a shuffled arange(n).
  std::vector<int64_t> permutation(int64_t n);
  // RandomState.permutation(x) of an array: a shuffled copy.
  template <class T>
  std::vector<T> permutation(std::vector<T> x) {
    shuffle(x);
    return x;
  }

 private:
  std::mt19937 mt_;
};

// np.argsort(v) (kind="quicksort"), as indices.
std::vector<int64_t> argsort_quicksort(const std::vector<int64_t>& v);

}  // namespace minidl::validate
