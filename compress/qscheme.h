// minidl/compress/qscheme.h — the int8 quantization scheme: real = scale · (q − zero_point).
//
// The scheme of Jacob et al. 2018, "Quantization and Training of Neural Networks for
// Efficient Integer-Arithmetic-Only Inference" (gemmlowp, TFLite), as ONNX's QLinearConv
// and PyTorch's x86 backends (fbgemm, onednn) use it:
//
//   activations  uint8 [0, 255], asymmetric, one (scale, zero_point) per tensor:
//                  scale = (max' − min') / (qmax − qmin),   zero_point = qmin − round(min' / scale)
//                where min' = min(min, 0) and max' = max(max, 0): the range always contains 0,
//                and 0 maps to the integer zero_point exactly. That matters because zero
//                padding and ReLU's zeros must stay exact (Jacob et al. §2.1).
//   weights      int8, symmetric: zero_point 0 and range [−127, 127] (not −128: the range is
//                symmetric, so a pruned 0 stays 0 and −w quantizes to −q),
//                  scale = max(|min|, |max|) / ((qmax − qmin) / 2) = amax / 127,
//                one scale per output channel (Krishnamoorthi 2018, "Quantizing deep
//                convolutional networks for efficient inference: A whitepaper", §3.1:
//                per-channel scales keep small-range filters from losing all their
//                resolution to the largest filter; per-tensor is an option to show that).
//   bias         int32 with scale s_x · s_w[c] and zero point 0, so it adds straight into
//                the int32 accumulator of x_q · w_q.
//
// The arithmetic follows PyTorch 1.13's ObserverBase._calculate_qparams (float32 throughout,
// scale clamped below by float32 epsilon, torch.round = round half to even) and its
// quantize_val (q = zero_point + nearbyint(x · (1/scale)), clamped), so that observer
// qparams and quantized weights agree with PyTorch bit for bit (tests/parity/).
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace minidl::compress {

enum class QScheme { PerTensorAffine, PerTensorSymmetric, PerChannelSymmetric, PerChannelAffine };

inline bool is_per_channel(QScheme s) { return s == QScheme::PerChannelSymmetric || s == QScheme::PerChannelAffine; }
inline bool is_symmetric(QScheme s) { return s == QScheme::PerTensorSymmetric || s == QScheme::PerChannelSymmetric; }
inline const char* qscheme_name(QScheme s) {
  switch (s) {
    case QScheme::PerTensorAffine: return "per_tensor_affine";
    case QScheme::PerTensorSymmetric: return "per_tensor_symmetric";
    case QScheme::PerChannelSymmetric: return "per_channel_symmetric";
    case QScheme::PerChannelAffine: return "per_channel_affine";
  }
  return "?";
}

// The integer range of a quantized tensor.
struct QRange {
  int32_t qmin, qmax;
};
constexpr QRange kActivationRange{0, 255};          // quint8
constexpr QRange kActivationReducedRange{0, 127};   // quint8, reduce_range=True (fbgemm's AVX2 headroom)
constexpr QRange kWeightRange{-127, 127};           // qint8, symmetric

// (scale, zero_point) of a tensor (one entry) or of each channel along `axis`.
struct QParams {
  std::vector<float> scale;
  std::vector<int32_t> zero_point;
  QRange range = kActivationRange;
  int axis = -1;  // -1: per tensor
  size_t size() const { return scale.size(); }
};

// PyTorch's _calculate_qparams for one (min, max) pair, in float32.
inline void calculate_qparams(float min_val, float max_val, QScheme scheme, QRange r, float& scale, int32_t& zp) {
  MINIDL_CHECK(std::isfinite(min_val) && std::isfinite(max_val), "quantization range [", min_val, ", ", max_val,
               "] is not finite (no calibration data seen?)");
  MINIDL_CHECK(min_val <= max_val, "quantization range: min ", min_val, " > max ", max_val);
  const float min_neg = std::min(min_val, 0.f), max_pos = std::max(max_val, 0.f);
  if (is_symmetric(scheme)) {
    const float amax = std::max(-min_neg, max_pos);
    scale = std::max(amax / (float(r.qmax - r.qmin) / 2.f), FLT_EPSILON);
    zp = r.qmin >= 0 ? (r.qmin + r.qmax + 1) / 2 : 0;  // uint8 symmetric: 128 (PyTorch)
    return;
  }
  scale = std::max((max_pos - min_neg) / float(r.qmax - r.qmin), FLT_EPSILON);
  const float z = float(r.qmin) - std::nearbyint(min_neg / scale);
  zp = int32_t(std::clamp(z, float(r.qmin), float(r.qmax)));
}

// q = clamp(zero_point + round_half_even(x · (1/scale)), qmin, qmax), as PyTorch's quantize_val.
// Non-finite x saturates (NaN → qmin); calibration rejects non-finite data before this.
inline int32_t quantize_value(float x, float scale, int32_t zp, QRange r) {
  const float t = x * (1.f / scale);
  if (!(t == t)) return r.qmin;
  const float c = std::clamp(t, -4e9f, 4e9f);
  const int64_t q = int64_t(zp) + int64_t(std::nearbyint(c));
  return int32_t(std::clamp<int64_t>(q, r.qmin, r.qmax));
}
inline float dequantize_value(int32_t q, float scale, int32_t zp) { return float(q - zp) * scale; }

// The int32 bias of a quantized conv/linear channel: round(b / (s_x · s_w)), saturated.
inline int32_t quantize_bias(float b, float s_x, float s_w) {
  const double t = std::nearbyint(double(b) / (double(s_x) * double(s_w)));
  return int32_t(std::clamp(t, -2147483648.0, 2147483647.0));
}
// What quantize_bias rounded away, f = b / (s_x · s_w) − round(·) ∈ [−1/2, 1/2], in Q31
// (round(f · 2^31)); 0 where the int32 bias saturated (the fraction means nothing there).
inline int32_t bias_fraction_q31(float b, float s_x, float s_w) {
  const double t = double(b) / (double(s_x) * double(s_w));
  if (!(std::fabs(t) < 2147483647.0)) return 0;
  const double f = std::nearbyint(std::ldexp(t - std::nearbyint(t), 31));
  return int32_t(std::clamp(f, -1073741824.0, 1073741824.0));
}

}  // namespace minidl::compress
