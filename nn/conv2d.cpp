#include "nn/conv2d.h"

#include "core/ops.h"
#include "nn/init.h"

namespace minidl::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int k, int s, int p, bool bias, Generator& gen)
    : in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p) {
  MINIDL_CHECK(in >= 1 && out >= 1, "Conv2d: in_channels and out_channels must be >= 1, got ", in, " and ", out);
  MINIDL_CHECK(k >= 1, "Conv2d: kernel_size must be >= 1, got ", k);
  MINIDL_CHECK(s >= 1, "Conv2d: stride must be >= 1, got ", s);
  MINIDL_CHECK(p >= 0, "Conv2d: padding must be >= 0, got ", p);
  Tensor w = Tensor::empty({out, in, k, k});
  Tensor b = bias ? Tensor::empty({out}) : Tensor();
  init::default_layer_init(w, &b, gen);
  register_parameter("weight", w);
  if (bias) register_parameter("bias", b);
}

void Conv2d::check_input(const Tensor& x) const {
  MINIDL_CHECK(x.defined() && x.dim() == 4 && x.size(1) == in_channels, label(), ": expected input [N, ",
               in_channels, ", H, W], got ", x.defined() ? to_string(x.shape()) : std::string("undefined"));
}

Tensor Conv2d::forward(const Tensor& x) {
  check_input(x);
  return conv2d(x, param("weight"), param("bias"), stride, padding);
}

std::string Conv2d::extra_repr() const {
  return std::to_string(in_channels) + ", " + std::to_string(out_channels) + ", kernel_size=" +
         std::to_string(kernel_size) + ", stride=" + std::to_string(stride) +
         (padding ? ", padding=" + std::to_string(padding) : std::string()) +
         (param("bias").defined() ? "" : ", bias=False");
}

}  // namespace minidl::nn
