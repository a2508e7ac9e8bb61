#include "compress/report.h"

#include <cstdio>
#include <set>

#include "compress/sparse_format.h"
#include "core/autograd.h"
#include "nn/conv2d.h"
#include "nn/linear.h"
#include "nn/sequential.h"

namespace minidl::compress {

namespace {

int64_t nonzeros(const Tensor& t) {
  const float* v = t.data<float>();
  int64_t n = 0;
  for (int64_t i = 0, sz = t.numel(); i < sz; ++i) n += v[i] != 0.f;
  return n;
}

// The names of the tensors a module computes with: "weight" for weight_orig.
std::vector<std::string> param_names(const nn::Module& m) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& [n, t] : m.named_parameters(false)) {
    std::string base = n;
    if (n.size() > 5 && n.compare(n.size() - 5, 5, "_orig") == 0 && m.is_parametrized(n.substr(0, n.size() - 5)))
      base = n.substr(0, n.size() - 5);
    if (seen.insert(base).second) out.push_back(base);
  }
  return out;
}

struct Tracer {
  std::vector<LayerStats> layers;

  LayerStats stats(nn::Module& m, const std::string& path, const Tensor& out) {
    LayerStats s{path, m.type_name()};
    for (const auto& n : param_names(m)) {
      Tensor p = m.param(n);
      if (!p.defined()) continue;
      s.params += p.numel();
      if (p.dtype() == DType::Float32) s.nonzeros += nonzeros(p);
      s.dense_bytes += int64_t(p.nbytes());
      s.sparse_bytes += sparse_record_bytes(path + "." + n, p);
    }
    const Tensor w = m.param("weight");
    if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) {
      const int64_t ohw = out.size(2) * out.size(3);
      s.macs = c->out_channels * ohw * (w.numel() / c->out_channels);
      s.nonzero_macs = nonzeros(w) * ohw;
    } else if (auto* l = dynamic_cast<nn::Linear*>(&m)) {
      s.macs = l->in_features * l->out_features;
      s.nonzero_macs = nonzeros(w);
    }
    return s;
  }

  Tensor visit(nn::Module& m, const std::string& path, const Tensor& x) {
    if (auto* seq = dynamic_cast<nn::Sequential*>(&m)) {
      Tensor h = x;
      for (const auto& [n, c] : seq->named_children()) h = visit(*c, path.empty() ? n : path + "." + n, h);
      return h;
    }
    MINIDL_CHECK(m.named_children().empty(), "report: cannot trace shapes inside ", m.label(), " at \"", path,
                 "\" (only Sequential containers are traced)");
    Tensor y = m.forward(x);
    if (!m.named_parameters(false).empty()) layers.push_back(stats(m, path.empty() ? m.type_name() : path, y));
    return y;
  }
};

std::string human(int64_t v) {
  char buf[32];
  if (v >= 1'000'000) std::snprintf(buf, sizeof buf, "%.2fM", double(v) / 1e6);
  else if (v >= 10'000) std::snprintf(buf, sizeof buf, "%.1fk", double(v) / 1e3);
  else std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  return buf;
}

}  // namespace

PruneReport report(nn::Module& model, const Shape& input_shape) {
  MINIDL_CHECK(!input_shape.empty() && input_shape[0] >= 1, "report: input_shape ", to_string(input_shape),
               " must start with a batch size >= 1");
  const bool was_training = model.is_training();
  model.eval();
  Tracer t;
  try {
    NoGradGuard ng;
    t.visit(model, "", Tensor::zeros(input_shape));
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);
  PruneReport r{input_shape, std::move(t.layers), {"total", ""}};
  for (const auto& l : r.layers) {
    r.total.params += l.params;
    r.total.nonzeros += l.nonzeros;
    r.total.macs += l.macs;
    r.total.nonzero_macs += l.nonzero_macs;
    r.total.dense_bytes += l.dense_bytes;
    r.total.sparse_bytes += l.sparse_bytes;
  }
  return r;
}

const LayerStats& PruneReport::layer(const std::string& name) const {
  for (const auto& l : layers)
    if (l.name == name) return l;
  detail::fail("PruneReport: no layer \"", name, "\"");
}

std::string PruneReport::to_string() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-14s %-12s %10s %10s %8s %10s %10s %10s %10s\n", "layer", "type", "params",
                "nonzero", "sparsity", "MACs", "nz MACs", "dense B", "sparse B");
  out += line;
  auto row = [&](const LayerStats& l) {
    std::snprintf(line, sizeof line, "%-14s %-12s %10s %10s %7.2f%% %10s %10s %10s %10s\n", l.name.c_str(),
                  l.type.c_str(), human(l.params).c_str(), human(l.nonzeros).c_str(), 100.0 * l.sparsity(),
                  human(l.macs).c_str(), human(l.nonzero_macs).c_str(), human(l.dense_bytes).c_str(),
                  human(l.sparse_bytes).c_str());
    out += line;
  };
  for (const auto& l : layers) row(l);
  row(total);
  std::snprintf(line, sizeof line, "(MACs per sample for input %s)\n", minidl::to_string(input_shape).c_str());
  out += line;
  return out;
}

}  // namespace minidl::compress
