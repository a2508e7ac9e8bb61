#include "nn/fused.h"

#include "core/ops.h"

namespace minidl::nn {

ConvReLU2d::ConvReLU2d(Conv2d& c)
    : Conv2d(Conv2d::Empty{}, c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding) {
  take_state(c);
}

Tensor ConvReLU2d::forward(const Tensor& x) {
  check_input(x);
  return conv2d_relu(x, param("weight"), param("bias"), stride, padding);
}

LinearReLU::LinearReLU(Linear& l) : Linear(Linear::Empty{}, l.in_features, l.out_features) { take_state(l); }

Tensor LinearReLU::forward(const Tensor& x) { return relu(Linear::forward(x)); }

BNReLU2d::BNReLU2d(BatchNorm2d& bn) : BatchNorm2d(BatchNorm::Empty{}, bn) { take_state(bn); }

BNReLU1d::BNReLU1d(BatchNorm1d& bn) : BatchNorm1d(BatchNorm::Empty{}, bn) { take_state(bn); }

}  // namespace minidl::nn
