// tests/gradcheck_table_common.h — what every part of the gradient-check
// table (tests/gradcheck_table.h) shares: the seeded input draws that keep
// inputs off the ops' kinks, and the row type Case.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/ops.h"
#include "core/random.h"
#include "core/tensor.h"
#include "gradcheck_reference.h"

namespace minidl::test {

// ------------------------------------------------------------------ inputs
// All inputs come from one seeded generator, so the table is the same every run.
inline Tensor randn(const Shape& s, Generator& g, float scale = 1.f) { return Tensor::normal(s, 0.f, scale, g); }
inline Tensor uniform(const Shape& s, float lo, float hi, Generator& g) { return Tensor::uniform(s, lo, hi, g); }
// |x| in [0.2, 1.5] with a random sign: never within h of 0 (relu's kink, division by ~0).
inline Tensor away_from_zero(const Shape& s, Generator& g, float lo = 0.2f) {
  Tensor t = uniform(s, lo, 1.5f, g);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (g.uniform01() < 0.5f) p[i] = -p[i];
  return t;
}
// A random permutation of {(k − n/2)·0.05}: distinct values ≥ 0.05 > 2h apart,
// so max pooling has no ties and no ±h step changes an arg-max.
inline Tensor distinct(const Shape& s, Generator& g) {
  const int64_t n = count(s);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(i - n / 2) * 0.05f;
  for (int64_t i = n - 1; i > 0; --i) std::swap(v[size_t(i)], v[size_t(g.randint(uint64_t(i + 1)))]);
  return Tensor::from_vector(v, s);
}
inline std::vector<int64_t> dropout_mask_draws(int64_t n, uint64_t seed, float p, std::vector<double>& mask) {
  // The documented draw rule of dropout(): one uniform01() per element, in order;
  // the element is dropped when the draw is < p, else scaled by 1/(1 − p).
  Generator g(seed);
  mask.assign(size_t(n), 0.0);
  std::vector<int64_t> dropped;
  for (int64_t i = 0; i < n; ++i) {
    if (g.uniform01() < p)
      dropped.push_back(i);
    else
      mask[size_t(i)] = 1.0 / (1.0 - double(p));
  }
  return dropped;
}

// ------------------------------------------------------------------ the table
using Fwd = std::function<Tensor(const std::vector<Tensor>&)>;
using RefFn = std::function<Ref(const std::vector<Ref>&)>;

struct Case {
  std::string op, name;
  std::vector<Tensor> in;  // float32 inputs
  std::vector<bool> diff;  // inputs that take a gradient (the rest are constants)
  Fwd f;
  RefFn ref;
  // Straight-through ops (fake_quantize): the forward is a staircase whose true derivative
  // is 0 almost everywhere, and the backward is by definition the derivative of a surrogate.
  // For such rows (a) checks the forward against `ref`, (b) — finite differences of the
  // staircase — is skipped, and (c) checks the gradient against finite differences of
  // this double-precision surrogate instead.
  RefFn ste_ref = nullptr;
};

// The table's add(op, name, in, diff, f, ref): appends the row to T.
inline auto row_adder(std::vector<Case>& T) {
  return [&T](std::string op, std::string name, std::vector<Tensor> in, std::vector<bool> diff, Fwd f, RefFn ref) {
    T.push_back(Case{std::move(op), std::move(name), std::move(in), std::move(diff), f, ref});
  };
}

}  // namespace minidl::test
