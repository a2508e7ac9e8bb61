#include "nn/fuse.h"

#include <cmath>
#include <typeinfo>

#include "core/autograd.h"
#include "nn/activation.h"
#include "nn/fused.h"
#include "nn/sequential.h"

namespace minidl::nn {

namespace {

template <class T>
bool is(const ModulePtr& m) {
  return m && typeid(*m) == typeid(T);
}

// Index of the first child after i that is not an Identity, or size().
size_t next_real(const Sequential& s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && is<Identity>(s[j])) ++j;
  return j;
}

const std::string& child_name(const Sequential& s, size_t i) { return s.named_children()[i].first; }

void check_foldable(const Conv2d& conv, const BatchNorm& bn, const std::string& what) {
  MINIDL_CHECK(bn.track_running_stats, what, ": ", bn.label(),
               " has no running statistics (track_running_stats = false), so it cannot be folded");
  MINIDL_CHECK(bn.num_features == conv.out_channels, what, ": ", bn.label(), " has ", bn.num_features,
               " features but ", conv.label(), " has ", conv.out_channels, " output channels");
  if (conv.is_parametrized("weight"))
    for (const auto& p : conv.parametrizations("weight"))
      MINIDL_CHECK(p->commutes_with_channel_scale(), what, ": ", conv.label(), ".weight has a ", p->type_name(),
                   " parametrization, which does not commute with a per-channel scale; remove it first");
}

// W'[c] = W[c]·s_c, b'_c = β_c + (b_c − μ_c)·s_c, s_c = γ_c/√(σ²_c + ε), in place (see fuse.h).
void fold(Conv2d& conv, BatchNorm& bn) {
  NoGradGuard ng;
  const int64_t C = conv.out_channels;
  if (!conv.bias().defined()) conv.register_parameter("bias", Tensor::zeros({C}));
  Tensor& w = conv.original_weight();
  Tensor b = conv.bias();
  const float* mean = bn.buffer("running_mean").data<float>();
  const float* var = bn.buffer("running_var").data<float>();
  const float* gamma = bn.affine ? bn.parameter("weight").data<float>() : nullptr;
  const float* beta = bn.affine ? bn.parameter("bias").data<float>() : nullptr;
  float* wv = w.data<float>();
  float* bv = b.data<float>();
  const int64_t per = w.numel() / C;
  for (int64_t c = 0; c < C; ++c) {
    const double s = (gamma ? double(gamma[c]) : 1.0) / std::sqrt(double(var[c]) + double(bn.eps));
    for (int64_t j = 0; j < per; ++j) wv[c * per + j] = float(double(wv[c * per + j]) * s);
    bv[c] = float((beta ? double(beta[c]) : 0.0) + (double(bv[c]) - double(mean[c])) * s);
  }
}

struct Site {
  Sequential* seq;
  std::string prefix;  // "block." for children of "block", "" at the top
};

std::vector<Site> sequentials(Module& model) {
  std::vector<Site> out;
  for (auto& [path, m] : model.named_modules())
    if (auto* s = dynamic_cast<Sequential*>(m.get())) out.push_back({s, path.empty() ? "" : path + "."});
  return out;
}

// Every conv + BN pair is checked before any is folded: an error leaves the model as it was.
void fold_all(Module& model, std::vector<std::string>& log) {
  std::vector<std::pair<Site, size_t>> pairs;
  for (const Site& site : sequentials(model)) {
    Sequential& s = *site.seq;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      if (!is<Conv2d>(s[i]) || !(is<BatchNorm2d>(s[i + 1]) || is<BNReLU2d>(s[i + 1]))) continue;
      check_foldable(static_cast<Conv2d&>(*s[i]), static_cast<BatchNorm&>(*s[i + 1]),
                     "fold_batchnorm(" + site.prefix + child_name(s, i) + " + " + site.prefix + child_name(s, i + 1) + ")");
      pairs.emplace_back(site, i);
    }
  }
  for (const auto& [site, i] : pairs) {
    Sequential& s = *site.seq;
    auto conv = std::static_pointer_cast<Conv2d>(s[i]);
    const bool relu = is<BNReLU2d>(s[i + 1]);
    fold(*conv, static_cast<BatchNorm&>(*s[i + 1]));
    log.push_back(site.prefix + child_name(s, i) + " + " + site.prefix + child_name(s, i + 1) + " -> " +
                  (relu ? "ConvReLU2d" : "Conv2d") + " (batchnorm folded)");
    if (relu) s.replace_module(child_name(s, i), std::make_shared<ConvReLU2d>(*conv));
    s.replace_module(child_name(s, i + 1), std::make_shared<Identity>());
  }
}

// The fused module for a layer followed by a ReLU, or null.
ModulePtr fused(const ModulePtr& m) {
  if (is<Conv2d>(m)) return std::make_shared<ConvReLU2d>(static_cast<Conv2d&>(*m));
  if (is<Linear>(m)) return std::make_shared<LinearReLU>(static_cast<Linear&>(*m));
  if (is<BatchNorm2d>(m)) return std::make_shared<BNReLU2d>(static_cast<BatchNorm2d&>(*m));
  if (is<BatchNorm1d>(m)) return std::make_shared<BNReLU1d>(static_cast<BatchNorm1d&>(*m));
  return nullptr;
}

void fuse_relu_in(const Site& site, std::vector<std::string>& log) {
  Sequential& s = *site.seq;
  for (size_t i = 0; i < s.size(); ++i) {
    const size_t j = next_real(s, i);
    if (j >= s.size() || !is<ReLU>(s[j])) continue;
    ModulePtr f = fused(s[i]);
    if (!f) continue;
    log.push_back(site.prefix + child_name(s, i) + " + " + site.prefix + child_name(s, j) + " -> " + f->type_name());
    s.replace_module(child_name(s, i), f);
    s.replace_module(child_name(s, j), std::make_shared<Identity>());
    i = j;
  }
}

}  // namespace

std::vector<std::string> fuse(Module& model, const FuseOptions& o) {
  std::vector<std::string> log;
  if (o.fold_batchnorm) fold_all(model, log);
  if (o.relu)
    for (const Site& site : sequentials(model)) fuse_relu_in(site, log);
  return log;
}

std::vector<std::string> fold_batchnorm(Module& model) { return fuse(model, {.relu = false, .fold_batchnorm = true}); }

}  // namespace minidl::nn
