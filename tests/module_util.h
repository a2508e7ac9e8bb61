// tests/module_util.h — helpers shared by the test_module_*.cpp suites:
// state_dict keys, bit-exact tensor and state comparison, deep snapshots of a
// model's state, the seed CNN and random input images.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "minidl.h"

namespace minidl::test {

inline std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> k;
  for (const auto& [n, t] : v) k.push_back(n);
  return k;
}

inline bool bit_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

inline float max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  float m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

// A deep copy of a model's state (state_dict() shares storage with the model).
inline nn::StateDict snapshot(const nn::Module& m) {
  nn::StateDict out;
  for (const auto& [n, t] : m.state_dict()) out.emplace_back(n, t.clone());
  return out;
}
inline bool same_state(const nn::StateDict& a, const nn::StateDict& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !bit_equal(a[i].second, b[i].second)) return false;
  return true;
}

inline std::shared_ptr<nn::Sequential> cnn(bool bn, uint64_t seed) {
  Generator g(seed);
  nn::SeedCNNOptions o;
  o.batchnorm = bn;
  return nn::seed_cnn(o, g);
}

inline Tensor images(int64_t n, uint64_t seed, int64_t size = 28) {
  Generator g(seed);
  return Tensor::uniform({n, 1, size, size}, 0.f, 1.f, g);
}

}  // namespace minidl::test
