#include "nn/linear.h"

#include "core/ops.h"
#include "nn/init.h"

namespace minidl::nn {

Linear::Linear(int64_t in, int64_t out, bool bias, Generator& gen) : in_features(in), out_features(out) {
  MINIDL_CHECK(in >= 1 && out >= 1, "Linear: in_features and out_features must be >= 1, got ", in, " and ", out);
  Tensor w = Tensor::empty({out, in});
  Tensor b = bias ? Tensor::empty({out}) : Tensor();
  init::default_layer_init(w, &b, gen);
  register_parameter("weight", w);
  if (bias) register_parameter("bias", b);
}

Tensor Linear::forward(const Tensor& x) {
  MINIDL_CHECK(x.defined() && x.dim() == 2 && x.size(1) == in_features, label(), ": expected input [*, ",
               in_features, "], got ", x.defined() ? to_string(x.shape()) : std::string("undefined"));
  return linear(x, param("weight"), param("bias"));
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features) + ", out_features=" + std::to_string(out_features) +
         ", bias=" + (param("bias").defined() ? "True" : "False");
}

}  // namespace minidl::nn
