// minidl/compress/quantized_checkpoint.cpp — see quantized_checkpoint.h.
#include "compress/quantized_checkpoint.h"

#include <sstream>

#include "compress/quantized_modules.h"
#include "nn/sequential.h"

namespace minidl::compress {

namespace {
const char* kLayers = "quantization.layers";

std::string scheme_text(nn::Module& q) {
  bool pc = true, frac = false, clamped = false;
  for (const auto& [n, m] : q.named_children()) {
    if (auto* w = dynamic_cast<QuantizedWeighted*>(m.get()))
      pc = pc && w->weight_scale().size() > 1, frac = frac || w->has_bias_fraction(), clamped |= w->quant_max != 255;
    if (auto* z = dynamic_cast<Quantize*>(m.get())) clamped |= z->quant_max != 255;
  }
  return std::string("real = scale*(q - zero_point); activations uint8 per-tensor affine") +
         (clamped ? " (codes clamped at quant_max, qmax<N> in the layer list)" : "") +
         "; weights int8 symmetric [-127, 127] " +
         (pc ? "per-channel (axis 0)" : "per-tensor") +
         "; bias int32 at input_scale*weight_scale" +
         (frac ? std::string(" plus its rounded-away fraction (bias_frac, Q31) in the rounding offset") : "") +
         "; requantization by Q31 fixed-point multipliers (Jacob et al. 2018)";
}
}  // namespace

bool is_quantized_checkpoint(const nn::Metadata& m) { return m.count(kLayers) > 0; }

void save_quantized(nn::Module& q, const std::string& path, nn::Metadata meta) {
  std::string layers;
  for (const auto& [n, m] : q.named_children()) layers += (layers.empty() ? "" : ";") + n + "=" + describe_quantized(*m);
  meta["quantization"] = "int8";
  meta["quantization.scheme"] = scheme_text(q);
  meta[kLayers] = layers;
  nn::save(q, path, meta);
}

nn::ModulePtr quantized_from_state(const nn::StateDict& state, const nn::Metadata& meta, const std::string& source) {
  if (!is_quantized_checkpoint(meta)) {
    for (const auto& [n, t] : state)
      if (t.dtype() == DType::Float32 && n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0)
        throw Error(source + ": not an int8 checkpoint: tensor \"" + n + "\" is F32 and __metadata__ has no \"" +
                    kLayers + "\" (a float model: load it with nn::load)");
    throw Error(source + ": not an int8 checkpoint: __metadata__ has no \"" + std::string(kLayers) + "\"");
  }
  auto net = std::make_shared<nn::Sequential>();
  std::istringstream is(meta.at(kLayers));
  for (std::string item; std::getline(is, item, ';');) {
    const size_t eq = item.find('=');
    MINIDL_CHECK(eq != std::string::npos && eq > 0, source, ": malformed \"", kLayers, "\" entry \"", item, "\"");
    try {
      net->push_back(item.substr(0, eq), quantized_from_description(item.substr(eq + 1)));
    } catch (const Error& e) {
      throw Error(source + ": layer '" + item.substr(0, eq) + "': " + e.what());
    }
  }
  MINIDL_CHECK(net->size() > 0, source, ": \"", kLayers, "\" lists no layers");
  try {
    net->load_state_dict(state, true);
    for (const auto& [n, m] : net->named_children())
      if (auto* w = dynamic_cast<QuantizedWeighted*>(m.get())) w->refresh();
    fuse_conv_pool(*net);
  } catch (const Error& e) {
    throw Error(source + ": " + e.what());
  }
  net->eval();
  return net;
}

nn::ModulePtr load_quantized(const std::string& path, nn::Metadata* metadata) {
  nn::Metadata meta;
  const nn::StateDict state = nn::load_safetensors(path, &meta);
  auto net = quantized_from_state(state, meta, path);
  if (metadata) *metadata = meta;
  return net;
}

}  // namespace minidl::compress
