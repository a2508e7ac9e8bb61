// minidl/compress/quantize.cpp — prepare / calibrate / convert (see quantize.h).
#include "compress/quantize.h"

#include <cmath>
#include <sstream>

#include "compress/quantized_modules.h"
#include "core/ops.h"
#include "nn/activation.h"
#include "nn/batchnorm.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/flatten.h"
#include "nn/fuse.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "nn/sequential.h"

namespace minidl::compress {

// ---------------------------------------------------------------- stubs and blocks

QuantStub::QuantStub(nn::ModulePtr post_process) { register_module("activation_post_process", std::move(post_process)); }
Tensor QuantStub::forward(const Tensor& x) { return named_children()[0].second->forward(x); }

QuantBlock::QuantBlock(nn::ModulePtr l, nn::ModulePtr b, bool r, nn::ModulePtr pp, std::shared_ptr<Observer> wo)
    : layer(std::move(l)), bn(std::move(b)), post_process(std::move(pp)), weight_observer(std::move(wo)), relu(r) {
  register_module("layer", layer);
  if (bn) register_module("bn", bn);
  register_module("activation_post_process", post_process);
  if (weight_observer) register_module("weight_observer", weight_observer);
}

Tensor QuantBlock::forward(const Tensor& x) {
  Tensor y = layer->forward(x);
  if (bn) y = bn->forward(y);
  if (relu) y = minidl::relu(y);
  return post_process->forward(y);
}

void QuantBlock::train(bool on) {
  Module::train(on);
  if (bn && freeze_bn) bn->train(false);
}

// ---------------------------------------------------------------- prepare

namespace {

bool is_a(const nn::ModulePtr& m, const char* type) { return m && m->type_name() == type; }

bool passes_through(const nn::ModulePtr& m) {
  return dynamic_cast<nn::Dropout*>(m.get()) || dynamic_cast<nn::Identity*>(m.get());
}

std::shared_ptr<Observer> weight_observer_for(const QConfig& c) {
  if (c.per_channel) return std::make_shared<PerChannelMinMaxObserver>(0, QScheme::PerChannelSymmetric, kWeightRange);
  return std::make_shared<MinMaxObserver>(QScheme::PerTensorSymmetric, kWeightRange);
}

nn::Sequential& as_sequential(nn::Module& model, const char* who) {
  auto* seq = dynamic_cast<nn::Sequential*>(&model);
  MINIDL_CHECK(seq, who, ": expects an nn::Sequential model, got ", model.label());
  return *seq;
}

[[noreturn]] void unsupported(const std::string& name, const nn::ModulePtr& m, const char* who) {
  throw Error(std::string(who) + ": layer '" + name + "' (" + m->type_name() +
              ") has no int8 implementation (supported: Conv2d, Linear, BatchNorm2d after a Conv2d, ReLU after a "
              "Conv2d/Linear/BatchNorm2d, AvgPool2d without padding, Flatten, Dropout, Identity)");
}

// Folds `bn` (eval statistics) into a copy of conv's weight and bias:
//   W' = W·γ/√(σ²+ε),  b' = β + (b − μ)·γ/√(σ²+ε)   (Jacob et al. 2018 §3.2; Krishnamoorthi §2.4)
// Used by convert for QAT blocks only, which keep conv and BatchNorm apart during training
// (PTQ folds with nn/fuse.h in prepare).
std::pair<Tensor, Tensor> folded(nn::Conv2d& conv, nn::BatchNorm& bn) {
  NoGradGuard ng;
  Tensor w = conv.param("weight").clone(), b = conv.bias();
  const int64_t C = w.size(0), inner = w.numel() / C;
  MINIDL_CHECK(bn.num_features == C, "fold: ", bn.label(), " has ", bn.num_features, " features after ", conv.label(),
               " with ", C, " output channels");
  Tensor nb = Tensor::zeros({C});
  const float* mu = bn.buffer("running_mean").data<float>();
  const float* var = bn.buffer("running_var").data<float>();
  const Tensor g = bn.affine ? bn.param("weight") : Tensor::ones({C});
  const Tensor be = bn.affine ? bn.param("bias") : Tensor::zeros({C});
  float* pw = w.data<float>();
  for (int64_t c = 0; c < C; ++c) {
    const double k = double(g.data<float>()[c]) / std::sqrt(double(var[c]) + double(bn.eps));
    for (int64_t i = 0; i < inner; ++i) pw[c * inner + i] = float(double(pw[c * inner + i]) * k);
    const double b0 = b.defined() ? double(b.data<float>()[c]) : 0.0;
    nb.data<float>()[c] = float(double(be.data<float>()[c]) + (b0 - double(mu[c])) * k);
  }
  return {w, nb};
}

struct Builder {
  const QConfig& config;
  bool qat;
  QRange act_range() const { return config.reduce_range ? kActivationReducedRange : kActivationRange; }
  nn::ModulePtr activation(const std::string& where) const {
    auto obs = make_activation_observer(config.activation, act_range());
    obs->where = where;
    if (!qat) return obs;
    return std::make_shared<FakeQuantize>(obs);
  }
};

nn::ModulePtr prepare_impl(nn::Module& model, const QConfig& config, bool qat, const char* who) {
  auto& seq = as_sequential(model, who);
  // PTQ: BatchNorm folded into the conv before it and Conv/Linear+ReLU fused, by the fusion
  // pass (in place). QAT keeps BatchNorm (frozen by QATFreeze, folded at convert).
  if (!qat) nn::fuse(model, {.relu = true, .fold_batchnorm = true});
  const Builder B{config, qat};
  make_activation_observer(config.activation);  // validates the name up front
  auto out = std::make_shared<nn::Sequential>();
  auto stub = std::make_shared<QuantStub>(B.activation("input"));
  stub->clamp_to_range = config.clamp_to_range;
  out->push_back("quant", stub);
  const auto& ch = seq.named_children();
  for (size_t i = 0; i < ch.size(); ++i) {
    const auto& [name, m] = ch[i];
    if (is_a(m, "Conv2d") || is_a(m, "Linear") || is_a(m, "ConvReLU2d") || is_a(m, "LinearReLU")) {
      nn::ModulePtr bn;
      bool relu = false;
      const bool fused_relu = is_a(m, "ConvReLU2d") || is_a(m, "LinearReLU");
      size_t j = i + 1;
      if (j < ch.size() && is_a(m, "Conv2d") && is_a(ch[j].second, "BatchNorm2d")) bn = ch[j++].second;
      if (!fused_relu && j < ch.size() && is_a(ch[j].second, "ReLU")) relu = true, ++j;
      std::shared_ptr<Observer> wobs;
      if (qat) {
        auto fq = std::make_shared<FakeQuantize>(weight_observer_for(config), true);
        fq->reset_each_call = true;
        fq->observer().where = name + ".weight";
        m->register_parametrization("weight", std::make_shared<WeightFakeQuantize>(fq));
      } else {
        wobs = weight_observer_for(config);
        wobs->where = name + ".weight";
      }
      // A fused ConvReLU2d/LinearReLU applies its ReLU itself; the block records it for convert.
      auto block = std::make_shared<QuantBlock>(m, bn, relu, B.activation(name + " output"), wobs);
      block->fused_relu = fused_relu;
      block->bias_fraction = config.bias_fraction;
      block->clamp_to_range = config.clamp_to_range;
      out->push_back(name, block);
      i = j - 1;
    } else if (is_a(m, "AvgPool2d")) {
      MINIDL_CHECK(static_cast<nn::Pool2d&>(*m).padding == 0, who, ": layer '", name,
                   "' (AvgPool2d) has padding; the int8 average pool supports padding 0 only");
      out->push_back(name, m);
    } else if (is_a(m, "Flatten") || passes_through(m)) {
      out->push_back(name, m);
    } else {
      unsupported(name, m, who);
    }
  }
  out->push_back("dequant", std::make_shared<DeQuantStub>());
  out->train(qat);
  return out;
}

}  // namespace

nn::ModulePtr prepare(nn::Module& model, const QConfig& config) { return prepare_impl(model, config, false, "prepare"); }
nn::ModulePtr prepare_qat(nn::Module& model, const QConfig& config) {
  return prepare_impl(model, config, true, "prepare_qat");
}

// ---------------------------------------------------------------- calibrate

int64_t calibrate(nn::Module& prepared, datasets::DataLoader& loader, int64_t batches) {
  MINIDL_CHECK(batches >= 1, "calibrate: needs at least 1 calibration batch, got ", batches);
  MINIDL_CHECK(loader.size() >= 1, "calibrate: the calibration loader yields no batches");
  bool observed = false;
  for (const auto& [n, m] : prepared.named_modules()) observed = observed || dynamic_cast<Observer*>(m.get());
  MINIDL_CHECK(observed, "calibrate: the model has no observers (call prepare first)");
  const bool was_training = prepared.is_training();
  prepared.eval();
  NoGradGuard ng;
  int64_t seen = 0, done = 0;
  for (auto it = loader.begin(); !(it == loader.end()) && done < batches; ++it, ++done) {
    prepared.forward(it->x);
    seen += it->x.size(0);
  }
  prepared.train(was_training);
  return seen;
}

// ---------------------------------------------------------------- convert

namespace {

QParams activation_qparams(const nn::ModulePtr& pp) {
  if (auto* fq = dynamic_cast<FakeQuantize*>(pp.get())) return fq->qparams();
  if (auto* o = dynamic_cast<Observer*>(pp.get())) return o->qparams();
  throw Error("convert: " + pp->label() + " is neither an observer nor a FakeQuantize");
}

std::vector<FakeQuantize*> weight_fake_quants(nn::Module& l) {
  std::vector<FakeQuantize*> out;
  if (!l.is_parametrized("weight")) return out;
  for (const auto& p : l.parametrizations("weight"))
    if (auto* w = dynamic_cast<WeightFakeQuantize*>(p.get())) out.push_back(&w->fake_quant());
  return out;
}

// The float weight and bias to quantize: the layer's effective weight (pruning mask applied,
// fake quantization not), with BatchNorm folded in.
std::pair<Tensor, Tensor> float_weights(QuantBlock& b) {
  NoGradGuard ng;
  nn::Module& l = *b.layer;
  const auto fqs = weight_fake_quants(l);
  for (auto* fq : fqs) fq->fake_quant_enabled = false, fq->observer_enabled = false;
  Tensor w = l.param("weight").clone(), bias = l.param("bias");
  for (auto* fq : fqs) fq->fake_quant_enabled = true, fq->observer_enabled = true;
  if (b.bn) return folded(static_cast<nn::Conv2d&>(l), static_cast<nn::BatchNorm&>(*b.bn));
  return {w, bias.defined() ? bias.clone() : Tensor()};
}

}  // namespace

nn::ModulePtr convert(nn::Module& prepared) {
  auto& seq = as_sequential(prepared, "convert");
  auto out = std::make_shared<nn::Sequential>();
  float s = 0.f;
  int32_t z = 0;
  bool started = false;
  for (const auto& [name, m] : seq.named_children()) {
    if (auto* stub = dynamic_cast<QuantStub*>(m.get())) {
      const QParams q = activation_qparams(stub->named_children()[0].second);
      s = q.scale[0], z = q.zero_point[0], started = true;
      auto quant = std::make_shared<Quantize>(s, z);
      if (stub->clamp_to_range) quant->quant_max = q.range.qmax;
      out->push_back(name, quant);
      continue;
    }
    MINIDL_CHECK(started, "convert: layer '", name, "' comes before the QuantStub (call prepare first)");
    if (auto* b = dynamic_cast<QuantBlock*>(m.get())) {
      auto [w, bias] = float_weights(*b);
      std::shared_ptr<Observer> wobs = b->weight_observer;
      if (!wobs) {  // QAT: a fresh observer of the same kind on the final (folded) weight
        const auto fqs = weight_fake_quants(*b->layer);
        MINIDL_CHECK(!fqs.empty(), "convert: block '", name, "' has neither a weight observer nor a WeightFakeQuantize");
        if (is_per_channel(fqs[0]->observer().qscheme))
          wobs = std::make_shared<PerChannelMinMaxObserver>(0, QScheme::PerChannelSymmetric, kWeightRange);
        else
          wobs = std::make_shared<MinMaxObserver>(QScheme::PerTensorSymmetric, kWeightRange);
      }
      wobs->where = name + ".weight";
      wobs->reset();
      wobs->forward(w);
      const QParams wq = wobs->qparams(), yq = activation_qparams(b->post_process);
      std::shared_ptr<QuantizedWeighted> q;
      if (auto* c = dynamic_cast<nn::Conv2d*>(b->layer.get()))
        q = std::make_shared<QuantizedConv2d>(w, bias, wq, s, z, yq.scale[0], yq.zero_point[0],
                                              b->relu || b->fused_relu, c->stride, c->padding, b->bias_fraction);
      else
        q = std::make_shared<QuantizedLinear>(w, bias, wq, s, z, yq.scale[0], yq.zero_point[0], b->relu || b->fused_relu,
                                              b->bias_fraction);
      if (b->clamp_to_range && yq.range.qmax != 255) {
        q->quant_max = yq.range.qmax;
        q->refresh();
      }
      s = yq.scale[0], z = yq.zero_point[0];
      out->push_back(name, q);
    } else if (is_a(m, "AvgPool2d")) {
      auto& p = static_cast<nn::Pool2d&>(*m);
      out->push_back(name, std::make_shared<QuantizedAvgPool2d>(p.kernel_size, p.stride, z));
    } else if (auto* f = dynamic_cast<nn::Flatten*>(m.get())) {
      out->push_back(name, std::make_shared<QuantizedFlatten>(f->start_dim, f->end_dim));
    } else if (dynamic_cast<DeQuantStub*>(m.get())) {
      out->push_back(name, std::make_shared<Dequantize>(s, z));
    } else if (!passes_through(m)) {
      unsupported(name, m, "convert");
    }
  }
  fuse_conv_pool(*out);
  out->eval();
  return out;
}

// ---------------------------------------------------------------- QAT freezing, reports

void QATFreeze::on_epoch_begin(nn::Module& model, int epoch) {
  for (const auto& [n, m] : model.named_modules()) {
    if (auto* fq = dynamic_cast<FakeQuantize*>(m.get()))
      if (observers_epoch_ > 0 && epoch >= observers_epoch_ && !fq->reset_each_call) fq->observer_enabled = false;
    if (auto* b = dynamic_cast<QuantBlock*>(m.get()))
      if (bn_epoch_ > 0 && epoch >= bn_epoch_) b->freeze_bn = true;
  }
}

std::string describe_quantization(nn::Module& q) {
  std::ostringstream os;
  for (const auto& [name, m] : q.named_children()) {
    if (auto* w = dynamic_cast<QuantizedWeighted*>(m.get())) {
      const auto ws = w->weight_scale();
      float lo = ws[0], hi = ws[0];
      for (float v : ws) lo = std::min(lo, v), hi = std::max(hi, v);
      const float so = w->output_scale();
      const int32_t zo = w->output_zero_point();
      os << "  " << name << ": output scale " << so << " zero_point " << zo << " range [" << so * float(0 - zo) << ", "
         << so * float(w->quant_max - zo) << "]" << (w->relu ? " (ReLU)" : "") << "; weight scale";
      if (ws.size() > 1)
        os << " per channel " << lo << ".." << hi << " (" << ws.size() << " channels)";
      else
        os << " " << ws[0] << " per tensor";
      os << "\n";
    } else if (auto* qz = dynamic_cast<Quantize*>(m.get())) {
      os << "  " << name << ": input scale " << qz->scale() << " zero_point " << qz->zero_point() << " range ["
         << qz->scale() * float(0 - qz->zero_point()) << ", " << qz->scale() * float(qz->quant_max - qz->zero_point())
         << "]\n";
    }
  }
  return os.str();
}

}  // namespace minidl::compress
