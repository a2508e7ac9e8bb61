// minidl/nn/model_spec.h — a model described in one line of text.
//
//   auto net = nn::build_model("conv:32:3,relu,conv:64:3,relu,avgpool:4,flatten,linear:100,relu,linear:10",
//                              {1, 28, 28}, {.batchnorm = true, .width = 0.5});
//
// Tokens, separated by commas (spaces around them are ignored):
//   conv:C:K[:S[:P]]     Conv2d, C output channels, K×K kernel, stride S (1), zero padding P (0)
//   linear:N             Linear with N outputs; its inputs are whatever the layer before gives
//   bn                   BatchNorm2d after a conv, BatchNorm1d after a linear
//   relu  tanh  sigmoid  activations
//   maxpool:K[:S]  avgpool:K[:S]   pooling (stride defaults to K)
//   flatten              [C, H, W] -> [C·H·W]
//   dropout:P            inverted dropout, 0 <= P < 1
// Input channels and every layer's input size are inferred from the item shape
// by walking the spec ([C, H, W] for images, [F] for tables), so the same spec
// works for Fashion-MNIST (1×28×28) and CIFAR-10 (3×32×32). The seed CNN is
// kSeedCNN (its names and weights are exactly nn::seed_cnn()'s for the same
// generator, so checkpoints are interchangeable).
//
// Options: batchnorm inserts bn after every conv that has none; width
// multiplies every conv's channels and every linear's outputs except the
// last linear's (the classes), rounded, at least 1.
//
// Children are named as the seed CNN's: conv1, conv2, ... and fc1, fc2, ...
// by kind, bnK after convK (or after fcK for BatchNorm1d), activations
// relu1, relu2, ... (tanh1, ...) counted over the whole model, pool, pool2,
// ..., flatten, drop1, .... So a spec-built seed CNN has conv1.weight,
// bn1.running_mean, fc2.bias as PyTorch's reference does.
//
// A bad spec is a minidl::Error naming the token, its position (1-based, and
// the character offset) and what was expected, e.g.
//   model spec token 3 "conv:64" (at character 10): conv needs conv:C:K[:S[:P]]
#pragma once

#include <string>
#include <vector>

#include "core/random.h"
#include "nn/checkpoint.h"
#include "nn/sequential.h"

namespace minidl::nn {

// The seed CNN of the source articles (10 classes).
inline constexpr const char* kSeedCNN = "conv:32:3,relu,conv:64:3,relu,avgpool:4,flatten,linear:100,relu,linear:10";

struct LayerSpec {
  std::string kind;       // conv linear bn relu tanh sigmoid maxpool avgpool flatten dropout
  std::vector<double> args;  // the numbers after the kind
  std::string token;      // as written
  int index = 0;          // 1-based position in the spec
  size_t offset = 0;      // character offset of the token
};

struct ModelOptions {
  bool batchnorm = false;  // bn after every conv
  double width = 1.0;      // width multiplier, > 0
};

// Parses and validates the tokens (not the shapes; build_model checks those).
std::vector<LayerSpec> parse_model_spec(const std::string& spec);
// The spec with `options` applied (bn tokens inserted, widths multiplied), in
// the canonical form parse_model_spec reads back. This is what checkpoints record.
std::string expand_model_spec(const std::string& spec, const ModelOptions& options = {});
// The default spec for data of this item shape and class count: the seed CNN
// (with `num_classes` outputs) for [C, H, W] items, an MLP
// "linear:100,relu,linear:N" for [F] items.
std::string default_model_spec(const Shape& item_shape, int64_t num_classes);

// Builds the model for inputs of `item_shape` (without the batch dimension).
// With num_classes > 0 the model's output size must equal it. Weights are
// drawn from `gen` layer by layer in spec order.
std::shared_ptr<Sequential> build_model(const std::string& spec, const Shape& item_shape,
                                        const ModelOptions& options = {}, int64_t num_classes = 0,
                                        Generator& gen = default_generator());

// The shape of one item's output (the shape walk alone, no weights); throws as build_model.
Shape output_shape(const std::string& spec, const Shape& item_shape, const ModelOptions& options = {});

// What a checkpoint holds, read off its metadata and tensors:
//   * metadata "model" (a spec) and "input_shape" ("1,28,28"): that spec, with
//     each conv/linear's width taken from its weight's shape (so structurally
//     pruned checkpoints load);
//   * otherwise tensors named as the seed CNN's (conv1, conv2, fc1, fc2 and
//     optionally bn1, bn2): the seed CNN with those widths, BatchNorm if bn1.*
//     exists, the input channels from conv1 and the image size from fc1;
//   * otherwise an Error saying the architecture cannot be told (give a spec).
// `source` names the checkpoint in errors.
struct CheckpointModel {
  std::string spec;  // expanded (bn tokens, actual widths)
  Shape input_shape;
  std::string how;   // "from the checkpoint's metadata" or "from its tensor names and shapes"
};
CheckpointModel model_from_checkpoint(const StateDict& tensors, const Metadata& metadata, const std::string& source);

// Number of elements of all parameters of `m` (recursively).
int64_t parameter_count(const Module& m);

}  // namespace minidl::nn
