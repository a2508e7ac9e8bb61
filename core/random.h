// minidl/core/random.h — seeded random numbers that are the same everywhere.
//
// std::normal_distribution and friends are implementation-defined, so results
// would differ between standard libraries. minidl uses its own generator
// (xoshiro256**, seeded through splitmix64; Blackman & Vigna 2018) and its own
// transforms, so a seed gives the same weights, shuffles and dropout masks on
// every platform.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace minidl {

// One step of splitmix64 (Steele, Lea & Flood 2014) on z: z + the golden-ratio
// increment, then its finaliser — a bijection of 64-bit words whose outputs
// look independent for consecutive inputs. Seeds xoshiro256** below and derives
// per-fold and per-epoch seeds (validate/, datasets/loader.cpp).
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t next_u64();
  // Uniform integer in [0, n), without modulo bias (Lemire's method).
  uint64_t randint(uint64_t n);
  // Uniform float in [0, 1) with 24 random bits.
  float uniform01() { return float(next_u64() >> 40) * (1.0f / 16777216.0f); }
  double uniform01_double() { return double(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  // Standard normal by the Box–Muller transform (pairs cached).
  double normal();

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

// Fisher–Yates shuffle with gen.randint: every permutation equally likely,
// the same one for the same generator state on every platform.
template <class T>
void shuffle(std::vector<T>& v, Generator& gen) {
  for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[gen.randint(i)]);
}

// The generator used when a layer or loader is not given one. One per thread,
// so cross-validation folds running in parallel do not race; each starts from
// seed 0 until manual_seed() is called on that thread.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace minidl
