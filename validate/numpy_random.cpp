#include "validate/numpy_random.h"

#include <bit>
#include <utility>

namespace minidl::validate {

uint64_t RandomState::interval(uint64_t max) {
  if (max == 0) return 0;
  uint64_t mask = max;  // the smallest 2^k − 1 >= max
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  mask |= mask >> 32;
  uint64_t value;
  if (max <= 0xffffffffULL) {
    while ((value = (uint64_t(mt_()) & mask)) > max) {
    }
  } else {  // next_uint64 of MT19937: two 32-bit outputs, high word first
    while ((value = (((uint64_t(mt_()) << 32) | uint64_t(mt_())) & mask)) > max) {
    }
  }
  return value;
}

std::vector<int64_t> RandomState::permutation(int64_t n) {
  std::vector<int64_t> x(size_t(n > 0 ? n : 0));
  for (int64_t i = 0; i < n; ++i) x[size_t(i)] = i;
  shuffle(x);
  return x;
}

namespace {

// NumPy's aheapsort_ (npysort/heapsort.cpp), 1-based heap over tosort[0, n).
void heapsort(const std::vector<int64_t>& v, int64_t* tosort, int64_t n) {
  int64_t* a = tosort - 1;
  int64_t i, j, l, tmp;
  for (l = n >> 1; l > 0; --l) {
    tmp = a[l];
    for (i = l, j = l << 1; j <= n;) {
      if (j < n && v[a[j]] < v[a[j + 1]]) j += 1;
      if (v[tmp] < v[a[j]]) {
        a[i] = a[j];
        i = j;
        j += j;
      } else {
        break;
      }
    }
    a[i] = tmp;
  }
  for (; n > 1;) {
    tmp = a[n];
    a[n] = a[1];
    n -= 1;
    for (i = 1, j = 2; j <= n;) {
      if (j < n && v[a[j]] < v[a[j + 1]]) j++;
      if (v[tmp] < v[a[j]]) {
        a[i] = a[j];
        i = j;
        j += j;
      } else {
        break;
      }
    }
    a[i] = tmp;
  }
}

// The order argsort_quicksort sorts indices in: by their value in v.
struct ByValue {
  const std::vector<int64_t>& v;
  bool operator()(int64_t a, int64_t b) const { return v[size_t(a)] < v[size_t(b)]; }
};

// One partition step of aquicksort_ on [pl, pr] (more than SMALL_QUICKSORT
// elements): the median of *pl, *pm, *pr is the pivot, parked at pr - 1
// while the rest is partitioned around it. Returns the pivot's final place;
// before it nothing greater, after it nothing smaller.
int64_t* partition_step(int64_t* pl, int64_t* pr, const ByValue& less) {
  int64_t* pm = pl + ((pr - pl) >> 1);
  if (less(*pm, *pl)) std::swap(*pm, *pl);
  if (less(*pr, *pm)) std::swap(*pr, *pm);
  if (less(*pm, *pl)) std::swap(*pm, *pl);
  const int64_t vp = *pm;
  int64_t* pi = pl;
  int64_t* pj = pr - 1;
  std::swap(*pm, *pj);
  for (;;) {
    do ++pi;
    while (less(*pi, vp));
    do --pj;
    while (less(vp, *pj));
    if (pi >= pj) break;
    std::swap(*pi, *pj);
  }
  std::swap(*pi, *(pr - 1));
  return pi;
}

// aquicksort_'s insertion sort of a small partition [pl, pr].
void insertion_sort(int64_t* pl, int64_t* pr, const ByValue& less) {
  for (int64_t* pi = pl + 1; pi <= pr; ++pi) {
    const int64_t vi = *pi;
    int64_t* pj = pi;
    int64_t* pk = pi - 1;
    while (pj > pl && less(vi, *pk)) *pj-- = *pk--;
    *pj = vi;
  }
}

}  // namespace

// NumPy's aquicksort_ (npysort/quicksort.cpp, NumPy 1.24), step for step.
std::vector<int64_t> argsort_quicksort(const std::vector<int64_t>& v) {
  const int64_t num = int64_t(v.size());
  std::vector<int64_t> idx(v.size());
  for (int64_t i = 0; i < num; ++i) idx[size_t(i)] = i;
  if (num < 2) return idx;
  constexpr int64_t kSmall = 15;  // SMALL_QUICKSORT
  int64_t* pl = idx.data();
  int64_t* pr = pl + num - 1;
  std::vector<int64_t*> stack;
  std::vector<int> depth;
  int cdepth = (63 - std::countl_zero(uint64_t(num))) * 2;  // npy_get_msb(num) * 2
  const ByValue less{v};
  for (;;) {
    if (cdepth < 0) {
      heapsort(v, pl, pr - pl + 1);
    } else {
      while (pr - pl > kSmall) {
        int64_t* pi = partition_step(pl, pr, less);
        if (pi - pl < pr - pi) {  // push the larger partition, loop on the smaller
          stack.push_back(pi + 1);
          stack.push_back(pr);
          pr = pi - 1;
        } else {
          stack.push_back(pl);
          stack.push_back(pi - 1);
          pl = pi + 1;
        }
        depth.push_back(--cdepth);
      }
      insertion_sort(pl, pr, less);
    }
    if (stack.empty()) break;
    pr = stack.back();
    stack.pop_back();
    pl = stack.back();
    stack.pop_back();
    cdepth = depth.back();
    depth.pop_back();
  }
  return idx;
}

}  // namespace minidl::validate
