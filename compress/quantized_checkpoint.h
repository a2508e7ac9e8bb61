// minidl/compress/quantized_checkpoint.h — int8 models in safetensors.
//
// The file holds the converted model's state_dict as it is: I8 weights, I32 biases (scale
// s_x·s_w[c]), F32 scales and I32/I8 zero points as named tensors
// ("conv1.weight", "conv1.bias", "conv1.weight_scale", "conv1.weight_zero_point",
//  "conv1.input_scale", "conv1.input_zero_point", "conv1.scale", "conv1.zero_point", ...),
// and in __metadata__:
//   "quantization"        "int8"
//   "quantization.scheme" the scheme in words (see compress/qscheme.h)
//   "quantization.layers" "quant=Quantize;conv1=QuantizedConv2d 32 1 3 3 s1 p0 relu pc;..."
// from which load_quantized() rebuilds the model; every tensor is checked (name, dtype,
// shape) and the weights are repacked, so the reloaded model gives bit-identical outputs.
// Saving is atomic (nn::save's temporary file + rename): a failure leaves no partial file.
#pragma once

#include <string>

#include "nn/checkpoint.h"
#include "nn/module.h"

namespace minidl::compress {

bool is_quantized_checkpoint(const nn::Metadata& metadata);
void save_quantized(nn::Module& quantized, const std::string& path, nn::Metadata metadata = {});
// The model, with the file's metadata in *metadata if given. A float checkpoint is an error
// naming its first float weight; a corrupted or mismatched one names the tensor.
nn::ModulePtr load_quantized(const std::string& path, nn::Metadata* metadata = nullptr);
// The same from an already-read state (e.g. by nn::load_safetensors); `source` prefixes errors.
nn::ModulePtr quantized_from_state(const nn::StateDict& state, const nn::Metadata& metadata, const std::string& source);

}  // namespace minidl::compress
