// minidl/core/ops_fake_quant.cpp — fake_quantize: quantize then dequantize in float,
// with the straight-through estimator as its gradient.
//
// Forward (PyTorch's fake_quantize_per_{tensor,channel}_affine, float32 arithmetic):
//   q   = zero_point + nearbyint(x · (1/scale))            (round half to even)
//   out = (clamp(q, qmin, qmax) − zero_point) · scale
// Backward: rounding has derivative 0 almost everywhere, which would stop training dead.
// The straight-through estimator (Bengio et al. 2013; Jacob et al. 2018 §3; Krishnamoorthi
// 2018 §3.2) treats round() as the identity but keeps the clamp:
//   ∂out/∂x = 1 where the rounded code qmin ≤ q ≤ qmax, else 0 (PyTorch's cachemask rule),
// i.e. the derivative of the surrogate clamp(x, scale·(qmin − zp − ½), scale·(qmax − zp + ½)).
// Values that saturate get no gradient, so training learns to stay inside the range.
#include <algorithm>
#include <cmath>

#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

Tensor fake_quantize(const Tensor& x, const std::vector<float>& scale, const std::vector<int32_t>& zero_point,
                     int32_t qmin, int32_t qmax, int axis) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "fake_quantize: input must be float32");
  MINIDL_CHECK(qmin < qmax, "fake_quantize: quant range [", qmin, ", ", qmax, "] is empty");
  MINIDL_CHECK(!scale.empty() && scale.size() == zero_point.size(), "fake_quantize: ", scale.size(), " scales and ",
               zero_point.size(), " zero points");
  int64_t C = 1, inner = x.numel();
  if (axis >= 0) {
    MINIDL_CHECK(axis < x.dim(), "fake_quantize: axis ", axis, " out of range for shape ", to_string(x.shape()));
    C = x.size(axis);
    inner = 1;
    for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  }
  MINIDL_CHECK(int64_t(scale.size()) == C, "fake_quantize: ", scale.size(), " scales for ", C, " channels of ",
               to_string(x.shape()));
  for (size_t c = 0; c < scale.size(); ++c) {
    MINIDL_CHECK(std::isfinite(scale[c]) && scale[c] > 0.f, "fake_quantize: scale[", c, "] = ", scale[c],
                 " must be finite and > 0");
    MINIDL_CHECK(zero_point[c] >= qmin && zero_point[c] <= qmax, "fake_quantize: zero_point[", c, "] = ",
                 zero_point[c], " outside [", qmin, ", ", qmax, "]");
  }
  Tensor out = empty_like(x);
  const bool grad = needs_grad({&x});
  Tensor mask = grad ? Tensor::empty(x.shape(), DType::UInt8) : Tensor();
  const float* px = x.data<float>();
  float* po = out.data<float>();
  uint8_t* pm = grad ? mask.data<uint8_t>() : nullptr;
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = size_t((i / inner) % C);
    const float inv = 1.f / scale[c];
    const float t = std::clamp(px[i] * inv, -4e9f, 4e9f);  // NaN stays NaN, saturates below
    const int64_t q = int64_t(zero_point[c]) + int64_t(std::nearbyint(t == t ? t : 0.f));
    const int64_t qc = std::clamp<int64_t>(q, qmin, qmax);
    po[i] = t == t ? float(qc - zero_point[c]) * scale[c] : px[i];
    if (pm) pm[i] = q >= qmin && q <= qmax;
  }
  if (!grad) return out;
  return record(out, "fake_quantize", {x}, [mask](const Tensor& g) {
    Tensor gi = Tensor::empty(g.shape());
    const float* pg = g.data<float>();
    const uint8_t* m = mask.data<uint8_t>();
    float* pi = gi.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) pi[i] = m[i] ? pg[i] : 0.f;
    return std::vector<Tensor>{gi};
  });
}

}  // namespace minidl
