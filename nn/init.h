// minidl/nn/init.h — weight initialisation, as torch.nn.init.
//
// PyTorch's default for Linear and Conv2d weights is
// kaiming_uniform_(a = √5): U(−b, b) with b = gain·√(3/fan_in) and
// gain = √(2/(1+a²)) = √(1/3), i.e. b = 1/√fan_in; the bias is U(−1/√fan_in, 1/√fan_in)
// (He et al. 2015, "Delving Deep into Rectifiers").
#pragma once

#include <cmath>

#include "core/random.h"
#include "core/tensor.h"

namespace minidl::nn::init {

// fan_in of a weight [out, in, (kh, kw)]: in·kh·kw.
inline int64_t fan_in(const Tensor& w) { return w.numel() / w.size(0); }

inline void uniform_(Tensor& t, float lo, float hi, Generator& gen) {
  t.copy_(Tensor::uniform(t.shape(), lo, hi, gen));
}

inline void kaiming_uniform_(Tensor& w, float a, Generator& gen) {
  const float gain = std::sqrt(2.f / (1.f + a * a));
  const float bound = gain * std::sqrt(3.f / float(fan_in(w)));
  uniform_(w, -bound, bound, gen);
}

// PyTorch's reset_parameters() for Linear and Conv2d.
inline void default_layer_init(Tensor& weight, Tensor* bias, Generator& gen) {
  kaiming_uniform_(weight, std::sqrt(5.f), gen);
  if (bias && bias->defined()) {
    const float b = fan_in(weight) > 0 ? 1.f / std::sqrt(float(fan_in(weight))) : 0.f;
    uniform_(*bias, -b, b, gen);
  }
}

}  // namespace minidl::nn::init
