#include "compress/structured.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "core/autograd.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/linear.h"
#include "nn/pooling.h"

namespace minidl::compress {

namespace {

// Keep the slices `keep` (each `group` indices wide) of dimension `dim`.
Tensor take(const Tensor& t, int64_t dim, const std::vector<int64_t>& keep, int64_t group) {
  const Shape& s = t.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (int64_t d = dim + 1; d < int64_t(s.size()); ++d) inner *= s[size_t(d)];
  Shape ns = s;
  ns[size_t(dim)] = int64_t(keep.size()) * group;
  Tensor out = Tensor::empty(ns, t.dtype());
  const size_t es = dtype_size(t.dtype()), block = size_t(group * inner) * es;
  const char* src = static_cast<const char*>(t.raw_data());
  char* dst = static_cast<char*>(out.raw_data());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t i = 0; i < keep.size(); ++i)
      std::memcpy(dst + (size_t(o) * keep.size() + i) * block,
                  src + size_t(o * s[size_t(dim)] + keep[i] * group) * size_t(inner) * es, block);
  return out;
}

// Shrink the module's tensor `base` wherever it lives: the parameter itself,
// or weight_orig + the PruningMask's mask when it is pruned. Undefined
// tensors are left alone. (Other parametrizations may hold state of the
// weight's shape that is not known here: check_shrinkable refuses them.)
void shrink(nn::Module& m, const std::string& base, int64_t dim, const std::vector<int64_t>& keep,
            int64_t group = 1) {
  for (const std::string& n : {base, base + "_orig"})
    if (m.has_parameter(n) && m.parameter(n).defined()) {
      Tensor& t = m.parameter(n);
      const bool rg = t.requires_grad();
      t = take(t, dim, keep, group);
      if (rg) t.requires_grad_(true);
    }
  if (m.has_buffer(base) && m.buffer(base).defined()) m.buffer(base) = take(m.buffer(base), dim, keep, group);
  if (auto pm = pruning_mask(m, base)) pm->mask() = take(pm->mask(), dim, keep, group);
}

// Every parametrization of the layer's parameters must be a PruningMask.
void check_shrinkable(const nn::Module& m, const std::string& what) {
  for (const auto& p : m.parametrized_parameters())
    for (const auto& f : m.parametrizations(p))
      MINIDL_CHECK(dynamic_cast<const PruningMask*>(f.get()), what, ": ", m.label(), ".", p, " has a ",
                   f->type_name(), " parametrization, which cannot be shrunk; remove it first");
}

// Layers that act on each channel separately, so a channel's removal passes through them.
bool per_channel(const nn::Module* m, bool spatial_ok) {
  if (dynamic_cast<const nn::ReLU*>(m) || dynamic_cast<const nn::Sigmoid*>(m) || dynamic_cast<const nn::Tanh*>(m) ||
      dynamic_cast<const nn::Identity*>(m) || dynamic_cast<const nn::Dropout*>(m))
    return true;
  return spatial_ok && dynamic_cast<const nn::Pool2d*>(m) != nullptr;
}

struct Located {
  nn::Sequential* seq;
  size_t index;
  nn::Module* module;
  std::string prefix;  // "block." for "block.conv", "" at the top
};

Located locate(nn::Sequential& model, const std::string& path, const char* fn) {
  nn::Sequential* seq = &model;
  std::string leaf = path;
  const auto dot = path.rfind('.');
  if (dot != std::string::npos) {
    nn::ModulePtr parent = model.get_submodule(path.substr(0, dot));
    seq = dynamic_cast<nn::Sequential*>(parent.get());
    MINIDL_CHECK(seq, fn, ": \"", path.substr(0, dot), "\" is a ", parent->type_name(),
                 ", not a Sequential; the layer and its consumers must be in one Sequential");
    leaf = path.substr(dot + 1);
  }
  const auto& ch = seq->named_children();
  std::string names;
  for (size_t i = 0; i < ch.size(); ++i) {
    if (ch[i].first == leaf) return {seq, i, ch[i].second.get(), path.substr(0, path.size() - leaf.size())};
    names += (i ? ", " : "") + ch[i].first;
  }
  detail::fail(fn, ": no layer \"", path, "\" (the Sequential has: ", names, ")");
}

// Sorted complement of `removed` in [0, n), after validating `removed`.
std::vector<int64_t> complement(std::vector<int64_t>& removed, int64_t n, const std::string& what,
                                const char* unit) {
  std::sort(removed.begin(), removed.end());
  for (size_t i = 0; i < removed.size(); ++i) {
    MINIDL_CHECK(removed[i] >= 0 && removed[i] < n, what, ": ", unit, " index ", removed[i], " is outside [0, ", n,
                 ")");
    MINIDL_CHECK(i == 0 || removed[i] != removed[i - 1], what, ": ", unit, " ", removed[i], " is listed twice");
  }
  MINIDL_CHECK(int64_t(removed.size()) < n, what, ": removing ", removed.size(), " of ", n, " ", unit,
               "s would leave none; at least one must remain");
  std::vector<int64_t> keep;
  for (int64_t c = 0, r = 0; c < n; ++c) {
    if (r < int64_t(removed.size()) && removed[size_t(r)] == c) ++r;
    else keep.push_back(c);
  }
  return keep;
}

// Plan the changes to the layers after `at` (checking everything first, so a
// failure leaves the model unchanged), then return them as one action.
std::function<void()> plan_consumers(const Located& at, int64_t n, const std::vector<int64_t>& keep,
                                     bool conv, const std::string& what, std::vector<std::string>& shrunk) {
  std::vector<std::function<void()>> acts;
  const auto& ch = at.seq->named_children();
  const int64_t k = int64_t(keep.size());
  bool flattened = false, consumed = false;
  for (size_t j = at.index + 1; j < ch.size(); ++j) {
    nn::Module* m = ch[j].second.get();
    const std::string name = at.prefix + ch[j].first;
    if (per_channel(m, conv && !flattened)) continue;
    auto* bn = dynamic_cast<nn::BatchNorm*>(m);
    const bool bn_fits = conv ? dynamic_cast<nn::BatchNorm2d*>(m) != nullptr : dynamic_cast<nn::BatchNorm1d*>(m) != nullptr;
    if (bn && !flattened && bn_fits) {
      MINIDL_CHECK(bn->num_features == n, what, ": ", bn->label(), " has ", bn->num_features, " features, expected ",
                   n);
      check_shrinkable(*bn, what);
      shrunk.push_back(name);
      acts.push_back([bn, keep, k] {
        for (const char* t : {"weight", "bias", "running_mean", "running_var"}) shrink(*bn, t, 0, keep);
        bn->num_features = k;
      });
      continue;
    }
    if (auto* f = dynamic_cast<nn::Flatten*>(m); f && conv && !flattened) {
      MINIDL_CHECK(f->start_dim == 1 && (f->end_dim == -1 || f->end_dim == 3), what, ": ", f->label(),
                   " must flatten dims 1..3 to pass channels on to a Linear");
      flattened = true;
      continue;
    }
    if (auto* c = dynamic_cast<nn::Conv2d*>(m); c && conv && !flattened) {
      MINIDL_CHECK(c->in_channels == n, what, ": consumer ", c->label(), " has ", c->in_channels,
                   " input channels, expected ", n);
      check_shrinkable(*c, what);
      shrunk.push_back(name);
      acts.push_back([c, keep, k] {
        shrink(*c, "weight", 1, keep);
        c->in_channels = k;
      });
      consumed = true;
      break;
    }
    if (auto* l = dynamic_cast<nn::Linear*>(m); l && (!conv || flattened)) {
      MINIDL_CHECK(l->in_features % n == 0, what, ": consumer ", l->label(), " has ", l->in_features,
                   " input features, not a multiple of ", n, " channels");
      const int64_t group = l->in_features / n;  // H·W after Flatten, 1 for Linear → Linear
      MINIDL_CHECK(conv || group == 1, what, ": consumer ", l->label(), " has ", l->in_features,
                   " input features, expected ", n);
      check_shrinkable(*l, what);
      shrunk.push_back(name);
      acts.push_back([l, keep, k, group] {
        shrink(*l, "weight", 1, keep, group);
        l->in_features = k * group;
      });
      consumed = true;
      break;
    }
    detail::fail(what, ": cannot pass the removed channels through ", m->label(),
                 " (supported: BatchNorm, activations, Identity, Dropout, pooling, Flatten, then a Conv2d or Linear)");
  }
  MINIDL_CHECK(consumed, what, ": no Conv2d or Linear after it consumes its outputs; removing them would change the model's "
               "output");
  return [acts] {
    for (const auto& a : acts) a();
  };
}

std::vector<int64_t> smallest(const std::vector<double>& norms, int64_t k) {
  std::vector<int64_t> order(norms.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return norms[size_t(a)] < norms[size_t(b)]; });
  return std::vector<int64_t>(order.begin(), order.begin() + k);
}

}  // namespace

std::vector<double> slice_norms(const Tensor& w, int p) {
  MINIDL_CHECK(p >= 1, "slice_norms: p must be >= 1, got ", p);
  MINIDL_CHECK(w.defined() && w.dtype() == DType::Float32 && w.dim() >= 1, "slice_norms: needs a float32 tensor");
  const int64_t rows = w.size(0), cols = rows ? w.numel() / rows : 0;
  const float* v = w.data<float>();
  std::vector<double> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    double acc = 0;
    for (int64_t c = 0; c < cols; ++c) acc += std::pow(std::fabs(double(v[r * cols + c])), p);
    out[size_t(r)] = p == 1 ? acc : std::pow(acc, 1.0 / p);
    MINIDL_CHECK(std::isfinite(out[size_t(r)]), "slice_norms: slice ", r, " has a non-finite norm");
  }
  return out;
}

namespace {

// What distinguishes the two prunable kinds of layer: Conv2d loses filters
// (out_channels), Linear loses neurons (out_features); the rest — the
// consumers' matching inputs, the result — is the same code.
template <class Layer>
struct Outputs;
template <>
struct Outputs<nn::Conv2d> {
  static constexpr const char *prune = "prune_conv_filters", *type = "Conv2d", *units = "filters", *unit = "filter";
  static constexpr bool conv = true;
  static int64_t& count(nn::Conv2d& l) { return l.out_channels; }
};
template <>
struct Outputs<nn::Linear> {
  static constexpr const char *prune = "prune_linear_neurons", *type = "Linear", *units = "neurons", *unit = "neuron";
  static constexpr bool conv = false;
  static int64_t& count(nn::Linear& l) { return l.out_features; }
};

template <class Layer>
Layer& located_layer(nn::Sequential& model, const std::string& path, Located& at) {
  using O = Outputs<Layer>;
  at = locate(model, path, O::prune);
  auto* layer = dynamic_cast<Layer*>(at.module);
  MINIDL_CHECK(layer, O::prune, "(", path, "): ", at.module->label(), " is not a ", O::type);
  return *layer;
}

template <class Layer>
StructuredPruneResult remove_outputs(nn::Sequential& model, const std::string& path, const std::vector<int64_t>& which) {
  using O = Outputs<Layer>;
  const std::string what = std::string(O::prune) + "(" + path + ")";
  Located at;
  Layer& layer = located_layer<Layer>(model, path, at);
  StructuredPruneResult r{path, which, {}, {path}};
  r.kept = complement(r.removed, O::count(layer), what, O::unit);
  check_shrinkable(layer, what);
  auto consumers = plan_consumers(at, O::count(layer), r.kept, O::conv, what, r.shrunk);
  shrink(layer, "weight", 0, r.kept);
  shrink(layer, "bias", 0, r.kept);
  O::count(layer) = int64_t(r.kept.size());
  consumers();
  return r;
}

// The `amount` slices of smallest L_p norm.
template <class Layer>
StructuredPruneResult prune_outputs(nn::Sequential& model, const std::string& path, Amount amount, int p) {
  using O = Outputs<Layer>;
  Located at;
  Layer& layer = located_layer<Layer>(model, path, at);
  NoGradGuard ng;
  const auto norms = slice_norms(layer.param("weight"), p);
  const int64_t k = amount.resolve(O::count(layer), std::string(O::prune) + "(" + path + ")", O::units);
  return remove_outputs<Layer>(model, path, smallest(norms, k));
}

}  // namespace

StructuredPruneResult remove_conv_filters(nn::Sequential& model, const std::string& path,
                                          const std::vector<int64_t>& channels) {
  return remove_outputs<nn::Conv2d>(model, path, channels);
}

StructuredPruneResult remove_linear_neurons(nn::Sequential& model, const std::string& path,
                                            const std::vector<int64_t>& neurons) {
  return remove_outputs<nn::Linear>(model, path, neurons);
}

StructuredPruneResult prune_conv_filters(nn::Sequential& model, const std::string& path, Amount amount, int p) {
  return prune_outputs<nn::Conv2d>(model, path, amount, p);
}

StructuredPruneResult prune_linear_neurons(nn::Sequential& model, const std::string& path, Amount amount, int p) {
  return prune_outputs<nn::Linear>(model, path, amount, p);
}

}  // namespace minidl::compress
