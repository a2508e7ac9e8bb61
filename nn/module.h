// minidl/nn/module.h — the Module: named parameters, buffers and submodules.
//
// As in PyTorch, a model is a tree of Modules. Each node registers its own
// parameters (trained tensors), buffers (state that is saved but not trained,
// e.g. BatchNorm's running_mean) and children under local names; the dotted
// paths ("conv1.weight", "bn1.running_mean") name everything in a state_dict.
//
// Compression passes rewrite models through this interface:
//   - replace_module("conv2", q) swaps a layer (quantization, fusion and
//     BN folding: nn/fuse.h);
//   - register_parametrization("weight", p) makes a layer compute with
//     p(weight_orig) instead of its raw weight (pruning masks, fake
//     quantization). Layers ask for the tensor to compute with through
//     param("weight"), never by reading the registry directly, so every layer
//     honours parametrizations.
//
// Parametrizations (as torch.nn.utils.parametrize, with torch.nn.utils.prune's names):
//
//   auto mask = std::make_shared<compress::PruningMask>(Tensor::ones(conv->weight().shape()));
//   conv->register_parametrization("weight", mask);          // weight -> weight_orig
//   conv->register_parametrization("weight", my_quantizer);  // computes quantizer(mask(weight_orig))
//   conv->param("weight");                                   // that value, with its graph
//   conv->remove_parametrization("weight", *mask, /*bake=*/true);  // weight_orig <- mask(weight_orig);
//                                                                  // the quantizer stays
//   conv->remove_parametrizations("weight");                 // all of them; weight_orig -> weight
//
// A Parametrization is a Module: forward(previous) maps the value so far (the
// original for the first one) to the next; it owns its buffers (a mask, a
// scale and zero point) and children (an observer), and follows its owner's
// train()/eval(). The first registration renames the parameter "<p>_orig"
// (the same tensor object, so optimizers built earlier keep training it);
// removing the last one renames it back.
//
// State_dict keys. A parametrization of parameter <p> with tag() t has the
// key stem <p>_<t> in its owner: its tensor named t itself is "<p>_<t>", any
// other tensor n is "<p>_<t>.<n>" (its children's likewise, dotted below it).
// So PruningMask (tag "mask", buffer "mask") gives "conv1.weight_mask" —
// torch.nn.utils.prune's key — and a fake quantizer with tag "fake_quant" and
// buffers scale / zero_point gives "conv1.weight_fake_quant.scale" and
// "conv1.weight_fake_quant.zero_point", the keys of PyTorch's QAT modules
// (whose weight_fake_quant is a submodule). In a module's state_dict they
// follow its own parameters and buffers and precede its children's. Stems
// of parametrizations that hold state must be unique within the owner
// (stateless ones have no keys and may repeat). Parametrizations are not children:
// named_modules() and repr() do not list them; parametrizations(p) does.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace minidl::nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
// An ordered (name, tensor) list, like PyTorch's OrderedDict state_dict.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

class Parametrization;
using ParametrizationPtr = std::shared_ptr<Parametrization>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }

  // "Linear", "Conv2d", ... and the constructor arguments for printing.
  virtual std::string type_name() const = 0;
  virtual std::string extra_repr() const { return ""; }
  std::string repr() const;  // the whole tree, PyTorch style

  // The name this module was registered under by its parent ("fc1"); used in
  // error messages such as "Linear fc1: expected input [*, 2304], got [64, 1600]".
  const std::string& name() const { return name_; }
  std::string label() const { return name_.empty() ? type_name() : type_name() + " " + name_; }

  // ---- registration (called by layer constructors)
  Tensor& register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
  Tensor& register_buffer(const std::string& name, Tensor value);
  void remove_buffer(const std::string& name);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // ---- local access, by local state_dict key: the module's own tensors and
  // its parametrizations' ("weight_mask", "weight_fake_quant.scale").
  bool has_parameter(const std::string& name) const;
  bool has_buffer(const std::string& name) const;
  Tensor& parameter(const std::string& name);  // the registered tensor (weight_orig when parametrized)
  Tensor& buffer(const std::string& name);
  // The tensor to compute with: the parameter, or the parametrizations applied
  // to "<name>_orig". Undefined if the module has no such parameter (e.g. no bias).
  Tensor param(const std::string& name) const;

  // ---- the tree
  const std::vector<std::pair<std::string, ModulePtr>>& named_children() const { return children_; }
  // Every module in the tree, depth first, with dotted paths ("" for this one).
  std::vector<std::pair<std::string, ModulePtr>> named_modules();
  ModulePtr get_submodule(const std::string& path) const;  // "layer1.conv" — throws if absent
  // Replace the submodule at `path` (which must exist) by `module`.
  void replace_module(const std::string& path, ModulePtr module);

  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<std::pair<std::string, Tensor>> named_buffers(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;

  // ---- state: parameters then buffers of each module, in registration
  // order, depth first; tensors share storage with the model (no copy).
  StateDict state_dict() const;
  // Copies values in. strict: every key must match (missing or unexpected keys
  // are errors). Shapes and dtypes must match; errors name the tensor and both shapes.
  void load_state_dict(const StateDict& state, bool strict = true);

  // ---- modes
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();

  // ---- parametrizations (see the top of this file)
  // Appends p to param's chain. Errors: no such defined parameter, p null or
  // already registered somewhere, or p holds state and its key stem
  // <param>_<tag> is taken.
  void register_parametrization(const std::string& param, ParametrizationPtr p);
  bool is_parametrized(const std::string& param) const;
  // The parametrized parameters, in the order they were first parametrized.
  std::vector<std::string> parametrized_parameters() const;
  // param's chain in application order (throws if param is not parametrized).
  const std::vector<ParametrizationPtr>& parametrizations(const std::string& param) const;
  // The first parametrization of type P on param, or null.
  template <class P>
  std::shared_ptr<P> find_parametrization(const std::string& param) const {
    if (!is_parametrized(param)) return nullptr;
    for (const auto& p : parametrizations(param))
      if (auto q = std::dynamic_pointer_cast<P>(p)) return q;
    return nullptr;
  }
  // Remove one parametrization (by position in the chain or by identity),
  // leaving the others in order. bake = true: first the original is
  // replaced, in place, by p(original) — the value is unchanged when p is
  // first in the chain, or commutes with the ones before it (a mask and a
  // quantizer with q(0) = 0); false: the original is left as it is. The
  // parameter is renamed back to <param> when its chain becomes empty.
  void remove_parametrization(const std::string& param, size_t index, bool bake = true);
  void remove_parametrization(const std::string& param, const Parametrization& p, bool bake = true);
  // Remove the whole chain. bake = true: the parameter becomes the
  // parametrized value (e.g. pruned weights with zeros made permanent);
  // false: the original values are kept.
  void remove_parametrizations(const std::string& param, bool bake = true);

 protected:
  // Move every parameter, buffer, parametrization and child of `from` (same
  // tensor objects, same names) into this module, which must hold none, and
  // take its mode; `from` is left empty. Fused modules (nn/fused.h) are built so.
  void take_state(Module& from);

  bool training_ = true;

 private:
  void add_child(const std::string& name, ModulePtr module);
  void collect(const std::string& prefix, bool params, bool buffers, bool recurse,
               std::vector<std::pair<std::string, Tensor>>& out) const;
  static void check_name(const std::string& name, const char* what);
  // A local name or parametrization key stem already in use.
  bool key_taken(const std::string& key) const;
  Tensor* find_local(const std::string& name, bool params);  // null if absent

  std::string name_;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
  std::vector<std::pair<std::string, std::vector<ParametrizationPtr>>> parametrizations_;
};

// A function a layer applies to one of its parameters before using it (see
// the top of this file). forward(previous) gets the value so far: the
// original for the first parametrization, the previous one's output after.
// Gradients flow through forward's ops to the original.
class Parametrization : public Module {
 public:
  Tensor forward(const Tensor& previous) override = 0;
  // The key stem of its state in the owner: <param>_<tag>. Default:
  // type_name() in snake_case ("FakeQuantize" -> "fake_quantize").
  virtual std::string tag() const;
  // Whether p(s ⊙ w) = s ⊙ p(w) for every s constant along all dimensions but
  // the first (a per-output-channel scale): then BatchNorm folding (nn/fuse.h)
  // may scale the original. True for a mask; false by default.
  virtual bool commutes_with_channel_scale() const { return false; }
};

// Shorthand for user code: nn::make<Linear>(2304, 100)
template <class M, class... Args>
std::shared_ptr<M> make(Args&&... args) {
  return std::make_shared<M>(std::forward<Args>(args)...);
}

}  // namespace minidl::nn
