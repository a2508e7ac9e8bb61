// minidl/nn/seed_cnn.h — the example CNN of the source articles, ready-made.
//
//   conv1 (1→32, 3×3) [bn1] relu1 → conv2 (32→64, 3×3) [bn2] relu2
//   → pool (avg 4×4) → flatten → fc1 (2304→100) relu3 → fc2 (100→10)
//
// On 28×28 inputs the feature map after pooling is 64×6×6 = 2304 (the
// article's 64·16·16 is a slip). The child names match the PyTorch reference
// (shared/reference/torch_seed_cnn.py), so state_dicts and checkpoints carry
// the same keys: conv1.weight, bn1.running_mean, fc2.bias, ...
//
// The family: `width` scales the channel counts and the hidden layer,
// c1 = round(32·w), c2 = round(64·w), h = round(100·w) (each at least 1), as
// MobileNets' width multiplier does (Howard et al. 2017). Parameters grow
// roughly like w²: width 0.25 (8/16/25) has 15,933 parameters, 1/15.7 of the
// full model's 250,326 — a distillation student (compress/distill.h).
#pragma once

#include <cmath>

#include "core/random.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/flatten.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "nn/sequential.h"

namespace minidl::nn {

struct SeedCNNOptions {
  bool batchnorm = false;     // BatchNorm2d after each conv
  int64_t in_channels = 1;    // 1 for Fashion-MNIST, 3 for CIFAR-10
  int64_t image_size = 28;    // square inputs
  int64_t num_classes = 10;
  int64_t conv1_channels = 32, conv2_channels = 64, hidden = 100;
  double width = 1.0;  // multiplies the three sizes above, in (0, 16]
};

// The three sizes after the width multiplier (throws naming a bad width).
inline SeedCNNOptions scaled(SeedCNNOptions o) {
  MINIDL_CHECK(std::isfinite(o.width) && o.width > 0 && o.width <= 16, "seed_cnn: width must be in (0, 16], got ",
               o.width);
  auto scale = [w = o.width](int64_t n) { return std::max<int64_t>(1, std::llround(double(n) * w)); };
  o.conv1_channels = scale(o.conv1_channels);
  o.conv2_channels = scale(o.conv2_channels);
  o.hidden = scale(o.hidden);
  o.width = 1.0;
  return o;
}

inline std::shared_ptr<Sequential> seed_cnn(const SeedCNNOptions& options = {}, Generator& gen = default_generator()) {
  const SeedCNNOptions o = scaled(options);
  MINIDL_CHECK(o.image_size >= 8, "seed_cnn: image_size must be >= 8, got ", o.image_size);
  const int64_t pooled = (o.image_size - 4) / 4;  // two valid 3×3 convs, then 4×4 average pooling
  auto net = std::make_shared<Sequential>();
  net->push_back("conv1", make<Conv2d>(o.in_channels, o.conv1_channels, 3, 1, 0, true, gen));
  if (o.batchnorm) net->push_back("bn1", make<BatchNorm2d>(o.conv1_channels));
  net->push_back("relu1", make<ReLU>());
  net->push_back("conv2", make<Conv2d>(o.conv1_channels, o.conv2_channels, 3, 1, 0, true, gen));
  if (o.batchnorm) net->push_back("bn2", make<BatchNorm2d>(o.conv2_channels));
  net->push_back("relu2", make<ReLU>());
  net->push_back("pool", make<AvgPool2d>(4));
  net->push_back("flatten", make<Flatten>(1));
  net->push_back("fc1", make<Linear>(o.conv2_channels * pooled * pooled, o.hidden, true, gen));
  net->push_back("relu3", make<ReLU>());
  net->push_back("fc2", make<Linear>(o.hidden, o.num_classes, true, gen));
  return net;
}

}  // namespace minidl::nn
