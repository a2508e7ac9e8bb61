#include "nn/model_spec.h"

#include <charconv>
#include <tuple>
#include <cmath>
#include <map>
#include <sstream>

#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/linear.h"
#include "nn/pooling.h"

namespace minidl::nn {

namespace {

// kind -> (min args, max args, usage)
const std::map<std::string, std::tuple<int, int, const char*>>& grammar() {
  static const std::map<std::string, std::tuple<int, int, const char*>> g = {
      {"conv", {2, 4, "conv:C:K[:S[:P]]"}}, {"linear", {1, 1, "linear:N"}},   {"bn", {0, 0, "bn"}},
      {"relu", {0, 0, "relu"}},             {"tanh", {0, 0, "tanh"}},         {"sigmoid", {0, 0, "sigmoid"}},
      {"maxpool", {1, 2, "maxpool:K[:S]"}}, {"avgpool", {1, 2, "avgpool:K[:S]"}}, {"flatten", {0, 0, "flatten"}},
      {"dropout", {1, 1, "dropout:P"}}};
  return g;
}

std::string where(const LayerSpec& l) {
  std::ostringstream os;
  os << "model spec token " << l.index << " \"" << l.token << "\" (at character " << l.offset << ")";
  return os.str();
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

void check_args(const LayerSpec& l) {
  const auto& [lo, hi, usage] = grammar().at(l.kind);
  MINIDL_CHECK(int(l.args.size()) >= lo && int(l.args.size()) <= hi, where(l), ": ", l.kind, " needs ", usage);
  for (size_t i = 0; i < l.args.size(); ++i) {
    const double v = l.args[i];
    if (l.kind == "dropout") {
      MINIDL_CHECK(v >= 0 && v < 1, where(l), ": the dropout probability must be in [0, 1), got ", v);
      continue;
    }
    MINIDL_CHECK(v == std::floor(v) && v <= double(1 << 24), where(l), ": ", usage, " takes whole numbers, got ", v);
    const bool padding = l.kind == "conv" && i == 3;
    MINIDL_CHECK(v >= (padding ? 0 : 1), where(l), ": ", usage, ": argument ", i + 1, " must be >= ", padding ? 0 : 1,
                 ", got ", v);
  }
}

LayerSpec parse_token(const std::string& raw, int index, size_t offset) {
  LayerSpec l;
  l.token = trim(raw);
  l.index = index;
  l.offset = offset + raw.find_first_not_of(" \t") * (l.token.empty() ? 0 : 1);
  MINIDL_CHECK(!l.token.empty(), where(l), ": empty token (two commas in a row, or a comma at the end?)");
  std::vector<std::string> parts;
  std::stringstream ss(l.token);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  if (!l.token.empty() && l.token.back() == ':') parts.push_back("");
  l.kind = parts[0];
  if (!grammar().count(l.kind)) {
    std::string kinds;
    for (const auto& [k, g] : grammar()) kinds += (kinds.empty() ? "" : ", ") + std::string(std::get<2>(g));
    detail::fail(where(l), ": unknown layer \"", l.kind, "\"; known: ", kinds);
  }
  for (size_t i = 1; i < parts.size(); ++i) {
    double v = 0;
    const char* b = parts[i].data();
    const char* e = b + parts[i].size();
    auto [p, ec] = std::from_chars(b, e, v);
    MINIDL_CHECK(ec == std::errc() && p == e && std::isfinite(v), where(l), ": \"", parts[i], "\" (argument ", i,
                 ") is not a number; ", l.kind, " needs ", std::get<2>(grammar().at(l.kind)));
    l.args.push_back(v);
  }
  check_args(l);
  return l;
}

std::string to_text(const LayerSpec& l) {
  std::ostringstream os;
  os << l.kind;
  for (double v : l.args) os << ":" << v;
  return os.str();
}

// Child names, as the seed CNN's (see the header).
std::vector<std::string> layer_names(const std::vector<LayerSpec>& layers) {
  std::map<std::string, int> count;
  std::vector<std::string> names;
  for (const LayerSpec& l : layers) {
    const bool act = l.kind == "relu" || l.kind == "tanh" || l.kind == "sigmoid";
    const std::string group = act ? "act" : l.kind == "maxpool" || l.kind == "avgpool" ? "pool" : l.kind;
    const int k = ++count[group];
    if (l.kind == "conv") names.push_back("conv" + std::to_string(k));
    else if (l.kind == "linear") names.push_back("fc" + std::to_string(k));
    else if (l.kind == "bn") names.push_back("bn" + std::to_string(k));
    else if (l.kind == "dropout") names.push_back("drop" + std::to_string(k));
    else if (act) names.push_back(l.kind + std::to_string(k));
    else names.push_back(k == 1 ? group : group + std::to_string(k));  // pool, pool2, flatten, flatten2
  }
  return names;
}

std::vector<LayerSpec> expand(std::vector<LayerSpec> layers, const ModelOptions& o) {
  MINIDL_CHECK(std::isfinite(o.width) && o.width > 0 && o.width <= 64, "model width multiplier must be in (0, 64], got ",
               o.width);
  int last_linear = -1;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == "linear") last_linear = int(i);
  std::vector<LayerSpec> out;
  for (size_t i = 0; i < layers.size(); ++i) {
    LayerSpec l = layers[i];
    if ((l.kind == "conv" || l.kind == "linear") && int(i) != last_linear)
      l.args[0] = std::max(1.0, std::round(l.args[0] * o.width));
    out.push_back(l);
    if (o.batchnorm && l.kind == "conv" && !(i + 1 < layers.size() && layers[i + 1].kind == "bn")) {
      LayerSpec bn = l;
      bn.kind = "bn";
      bn.args.clear();
      out.push_back(bn);
    }
  }
  return out;
}

std::string join(const std::vector<LayerSpec>& layers) {
  std::string s;
  for (const LayerSpec& l : layers) s += (s.empty() ? "" : ",") + to_text(l);
  return s;
}

// One layer for input shape `in`; updates `in` to its output shape. With
// gen == nullptr only the shape is computed.
ModulePtr make_layer(const LayerSpec& l, Shape& in, Generator* gen) {
  auto a = [&](size_t i, int64_t def) { return i < l.args.size() ? int64_t(l.args[i]) : def; };
  const bool spatial = in.size() == 3;
  if (l.kind == "conv" || l.kind == "maxpool" || l.kind == "avgpool") {
    MINIDL_CHECK(spatial, where(l), ": needs [C, H, W] input, got ", to_string(in));
    const bool conv = l.kind == "conv";
    const int64_t k = conv ? a(1, 1) : a(0, 1), s = conv ? a(2, 1) : a(1, k), p = conv ? a(3, 0) : 0;
    const int64_t h = (in[1] + 2 * p - k) / s + 1, w = (in[2] + 2 * p - k) / s + 1;
    MINIDL_CHECK(in[1] + 2 * p >= k && in[2] + 2 * p >= k, where(l), ": kernel ", k, " does not fit input ",
                 to_string(in));
    const int64_t c_in = in[0], c = conv ? a(0, 1) : c_in;
    in = {c, h, w};
    if (!gen) return nullptr;
    if (conv) return make<Conv2d>(c_in, c, int(k), int(s), int(p), true, *gen);
    if (l.kind == "maxpool") return make<MaxPool2d>(int(k), int(s));
    return make<AvgPool2d>(int(k), int(s));
  }
  if (l.kind == "linear") {
    MINIDL_CHECK(in.size() == 1, where(l), ": needs flat input, got ", to_string(in), " (put flatten before it)");
    const int64_t f = in[0];
    in = {a(0, 1)};
    return gen ? make<Linear>(f, in[0], true, *gen) : nullptr;
  }
  if (l.kind == "flatten") {
    in = {numel_of(in)};
    return gen ? make<Flatten>(1) : nullptr;
  }
  if (!gen) return nullptr;
  if (l.kind == "bn") {
    MINIDL_CHECK(spatial || in.size() == 1, where(l), ": needs [C, H, W] or [F] input, got ", to_string(in));
    return spatial ? ModulePtr(make<BatchNorm2d>(in[0])) : ModulePtr(make<BatchNorm1d>(in[0]));
  }
  if (l.kind == "relu") return make<ReLU>();
  if (l.kind == "tanh") return make<Tanh>();
  if (l.kind == "sigmoid") return make<Sigmoid>();
  return make<Dropout>(float(l.args[0]));
}

Shape walk(const std::vector<LayerSpec>& layers, const Shape& item_shape) {
  MINIDL_CHECK(item_shape.size() == 3 || item_shape.size() == 1, "model spec: items must be [C, H, W] or [F], got ",
               to_string(item_shape));
  Shape s = item_shape;
  for (const LayerSpec& l : layers) make_layer(l, s, nullptr);
  return s;
}

}  // namespace

std::vector<LayerSpec> parse_model_spec(const std::string& spec) {
  MINIDL_CHECK(!trim(spec).empty(), "model spec is empty (e.g. \"", kSeedCNN, "\")");
  std::vector<LayerSpec> layers;
  size_t start = 0;
  for (int index = 1;; ++index) {
    const size_t comma = spec.find(',', start);
    layers.push_back(parse_token(spec.substr(start, comma - start), index, start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return layers;
}

std::string expand_model_spec(const std::string& spec, const ModelOptions& options) {
  return join(expand(parse_model_spec(spec), options));
}

std::string default_model_spec(const Shape& item_shape, int64_t num_classes) {
  const std::string n = std::to_string(num_classes);
  if (item_shape.size() == 3) return "conv:32:3,relu,conv:64:3,relu,avgpool:4,flatten,linear:100,relu,linear:" + n;
  return "linear:100,relu,linear:" + n;
}

Shape output_shape(const std::string& spec, const Shape& item_shape, const ModelOptions& options) {
  return walk(expand(parse_model_spec(spec), options), item_shape);
}

std::shared_ptr<Sequential> build_model(const std::string& spec, const Shape& item_shape, const ModelOptions& options,
                                        int64_t num_classes, Generator& gen) {
  const std::vector<LayerSpec> layers = expand(parse_model_spec(spec), options);
  const Shape out = walk(layers, item_shape);  // every shape error before any weight is drawn
  MINIDL_CHECK(num_classes <= 0 || (out.size() == 1 && out[0] == num_classes), "model spec \"", spec,
               "\" gives outputs ", to_string(out), " per item, but the data has ", num_classes,
               " classes (end it with linear:", num_classes, ")");
  const std::vector<std::string> names = layer_names(layers);
  auto net = std::make_shared<Sequential>();
  Shape s = item_shape;
  for (size_t i = 0; i < layers.size(); ++i) net->push_back(names[i], make_layer(layers[i], s, &gen));
  return net;
}

namespace {

const Tensor* find_weight(const StateDict& sd, const std::string& layer) {
  for (const auto& [n, t] : sd)
    if (n == layer + ".weight" || n == layer + ".weight_orig") return &t;
  return nullptr;
}

Shape parse_shape(const std::string& text, const std::string& source) {
  Shape s;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    int64_t v = 0;
    const std::string t = trim(item);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    MINIDL_CHECK(ec == std::errc() && p == t.data() + t.size() && v >= 1, source, ": metadata input_shape \"", text,
                 "\" is not a list of positive whole numbers");
    s.push_back(v);
  }
  MINIDL_CHECK(s.size() == 1 || s.size() == 3, source, ": metadata input_shape \"", text, "\" must be C,H,W or F");
  return s;
}

// The seed CNN's layer order with the widths and kernel sizes of the tensors.
CheckpointModel seed_cnn_from_tensors(const StateDict& sd, const std::string& source) {
  const Tensor *c1 = find_weight(sd, "conv1"), *c2 = find_weight(sd, "conv2"), *f1 = find_weight(sd, "fc1"),
               *f2 = find_weight(sd, "fc2");
  bool seed_names = c1 && c2 && f1 && f2 && c1->dim() == 4 && c2->dim() == 4 && f1->dim() == 2 && f2->dim() == 2;
  bool bn = false;
  for (const auto& [n, t] : sd) {
    const std::string layer = n.substr(0, n.find('.'));
    bn = bn || layer == "bn1";
    seed_names = seed_names && (layer == "conv1" || layer == "conv2" || layer == "fc1" || layer == "fc2" ||
                                layer == "bn1" || layer == "bn2");
  }
  MINIDL_CHECK(seed_names, source, ": cannot tell the model from this checkpoint: it records no model spec "
               "(metadata \"model\") and its tensors are not the seed CNN's (conv1, conv2, fc1, fc2, bn1, bn2); give the spec (--model)");
  const int64_t c = c2->size(0), pooled = int64_t(std::lround(std::sqrt(double(f1->size(1)) / double(c))));
  MINIDL_CHECK(c1->size(2) == 3 && c2->size(2) == 3 && pooled >= 1 && pooled * pooled * c == f1->size(1), source,
               ": tensors named as the seed CNN's but shaped otherwise (conv1 ", to_string(c1->shape()), ", conv2 ",
               to_string(c2->shape()), ", fc1 ", to_string(f1->shape()), "); give the model spec (--model)");
  const std::string bns = bn ? ",bn" : "";
  CheckpointModel r;
  r.spec = "conv:" + std::to_string(c1->size(0)) + ":3" + bns + ",relu,conv:" + std::to_string(c) + ":3" + bns +
           ",relu,avgpool:4,flatten,linear:" + std::to_string(f1->size(0)) + ",relu,linear:" + std::to_string(f2->size(0));
  r.input_shape = {c1->size(1), 4 * pooled + 4, 4 * pooled + 4};  // two 3×3 convs, then 4×4 pooling
  r.how = "from its tensor names and shapes (the seed CNN)";
  return r;
}

}  // namespace

CheckpointModel model_from_checkpoint(const StateDict& sd, const Metadata& meta, const std::string& source) {
  auto m = meta.find("model"), in = meta.find("input_shape");
  if (m == meta.end() || in == meta.end() || m->second.find(':') == std::string::npos)
    return seed_cnn_from_tensors(sd, source);  // (older checkpoints record "seed_cnn" or "seed_cnn_bn")
  std::vector<LayerSpec> layers;
  try {
    layers = parse_model_spec(m->second);
  } catch (const Error& e) {
    detail::fail(source, ": metadata \"model\": ", e.what());
  }
  const std::vector<std::string> names = layer_names(layers);
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == "conv" || layers[i].kind == "linear")
      if (const Tensor* w = find_weight(sd, names[i]); w && w->dim() >= 1) layers[i].args[0] = double(w->size(0));
  CheckpointModel r{join(layers), parse_shape(in->second, source), "from the checkpoint's metadata"};
  return r;
}

int64_t parameter_count(const Module& m) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace minidl::nn
