// tests/gradcheck_table_quantize.h — rows of the gradient-check table
// (tests/gradcheck_table.h, which calls the parts in order): fake_quantize, the
// straight-through estimator (its rows carry a ste_ref surrogate).
#pragma once

#include "gradcheck_table_common.h"

namespace minidl::test {

// Appends the rows to T, drawing their inputs from g.
inline void add_fake_quantize_rows(Generator& g, std::vector<Case>& T) {
  // ---- fake_quantize (straight-through estimator). Inputs are drawn so that no x/scale is
  // within 0.05 of a rounding midpoint (float and double round alike) and some codes
  // saturate on both sides (the STE's zero gradient there is checked too).
  struct FQ {
    Shape x;
    std::vector<float> scale;
    std::vector<int32_t> zp;
    int32_t qmin, qmax;
    int axis;
    const char* name;
  };
  const std::vector<FQ> fqs = {
      {{4, 6}, {0.05f}, {3}, 0, 15, -1, "per tensor, uint4-like range, zp 3"},
      {{3, 2, 2}, {0.1f, 0.04f, 0.2f}, {0, 0, 0}, -7, 7, 0, "per channel axis 0, symmetric"},
      {{2, 3, 2}, {0.1f, 0.05f, 0.08f}, {1, 0, -2}, -8, 7, 1, "per channel axis 1, zero points"},
  };
  for (const FQ& q : fqs) {
    Tensor x = randn(q.x, g);
    float* px = x.data<float>();
    int64_t inner = 1, C = q.axis < 0 ? 1 : q.x[size_t(q.axis)];
    for (size_t d = size_t(q.axis + 1); q.axis >= 0 && d < q.x.size(); ++d) inner *= q.x[d];
    for (int64_t i = 0; i < x.numel(); ++i) {
      const float s = q.scale[size_t((i / inner) % C)];
      const float t = px[i] / s, frac = t - std::floor(t);
      if (std::abs(frac - 0.5f) < 0.05f) px[i] = (std::floor(t) + 0.3f) * s;
    }
    const auto sc = q.scale;
    const auto zp = q.zp;
    const int32_t lo = q.qmin, hi = q.qmax;
    const int axis = q.axis;
    auto ref = [sc, zp, lo, hi, axis, inner, C](const std::vector<Ref>& r, bool ste) {
      Ref y = r[0];
      for (size_t i = 0; i < y.v.size(); ++i) {
        const size_t c = size_t((int64_t(i) / inner) % C);
        const double s = sc[c], z = zp[c], a = y.v[i];
        y.v[i] = ste ? std::clamp(a, s * (lo - z - 0.5), s * (hi - z + 0.5))  // the codes that round into range
                     : (std::clamp(std::nearbyint(a / s) + z, double(lo), double(hi)) - z) * s;
      }
      (void)axis;
      return y;
    };
    T.push_back(Case{"fake_quantize", q.name, {x}, {true},
                     [sc, zp, lo, hi, axis](const auto& in) { return minidl::fake_quantize(in[0], sc, zp, lo, hi, axis); },
                     [ref](const auto& r) { return ref(r, false); }, [ref](const auto& r) { return ref(r, true); }});
  }
}

}  // namespace minidl::test
