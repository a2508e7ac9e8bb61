// minidl/nn/fuse.h — the fusion pass: layer + ReLU as one module, BatchNorm
// folded into the conv before it (PyTorch's torch.ao.quantization.fuse_modules
// and fuse_conv_bn_eval).
//
//   auto net = nn::seed_cnn({.batchnorm = true});
//   nn::load(*net, "model.safetensors");
//   nn::fuse(*net);                  // for speed, training or inference: bn1 -> BNReLU2d, relu1 -> Identity, ...
//   nn::fuse(*net, {.fold_batchnorm = true});   // inference / quantization:
//                                    // conv1 -> ConvReLU2d with bn1 folded in, bn1 and relu1 -> Identity
//   auto steps = nn::fold_batchnorm(*net);      // folding alone
//
// The pass looks at the children of every Sequential in the tree, in order,
// and rewrites them through replace_module; each returned line names one
// rewrite ("conv1 + relu1 -> ConvReLU2d"). Only exact types are matched (a
// subclass of ReLU or Conv2d may compute something else), and Identity
// children between a layer and its ReLU are skipped over.
//
// 1. ReLU fusion: Conv2d → ConvReLU2d, Linear → LinearReLU, BatchNorm2d /
//    BatchNorm1d → BNReLU2d / BNReLU1d when a ReLU follows; the ReLU becomes
//    an Identity. Values, gradients and running statistics are bit for bit
//    the unfused chain's. The fused layer takes over the layer's tensors
//    (same objects, same names: the state_dict keys do not change), so a
//    fused model saves and loads the same checkpoints as an unfused one,
//    before or after fuse(), and an optimizer built before fuse() still
//    trains it. The layer objects replaced are left empty: take pointers to
//    layers (pruning targets, ...) after fusing.
//
// 2. BatchNorm folding (fold_batchnorm = true): a Conv2d followed by a
//    BatchNorm2d with running statistics computes, in eval mode,
//      y = γ·(W∗x + b − μ)/√(σ² + ε) + β,
//    which is a conv with, per output channel c (s_c = γ_c/√(σ²_c + ε)),
//      W'[c] = W[c]·s_c,   b'_c = β_c + (b_c − μ_c)·s_c
//    (γ = 1, β = 0 without affine; b = 0 and a bias is added if the conv has
//    none). The conv's tensors are overwritten in place (computed in double),
//    the BatchNorm becomes an Identity, and the model's eval-mode outputs
//    equal the unfolded model's to float rounding. Training the folded model
//    trains a model without BatchNorm: fold for inference and quantization.
//    Fold after loading a checkpoint: the folded model has no bn keys. A
//    parametrized conv weight is folded into its original (weight_orig)
//    when every parametrization commutes with a per-channel scale
//    (Parametrization::commutes_with_channel_scale, true for PruningMask);
//    otherwise folding is an error. Also an error: a BatchNorm without
//    running statistics (it always normalises with batch statistics) or
//    whose channel count differs from the conv's.
//
// With both, folding runs first, so conv + bn + relu becomes one ConvReLU2d.
#pragma once

#include <string>
#include <vector>

#include "nn/module.h"

namespace minidl::nn {

struct FuseOptions {
  bool relu = true;             // 1 above
  bool fold_batchnorm = false;  // 2 above
};

std::vector<std::string> fuse(Module& model, const FuseOptions& options = {});
// fuse(model, {.relu = false, .fold_batchnorm = true})
std::vector<std::string> fold_batchnorm(Module& model);

}  // namespace minidl::nn
