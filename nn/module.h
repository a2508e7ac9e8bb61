// minidl/nn/module.h — the Module: named parameters, buffers and submodules.
//
// As in PyTorch, a model is a tree of Modules. Each node registers its own
// parameters (trained tensors), buffers (state that is saved but not trained,
// e.g. BatchNorm's running_mean) and children under local names; the dotted
// paths ("conv1.weight", "bn1.running_mean") name everything in a state_dict.
//
// Compression passes rewrite models through this interface:
//   - replace_module("conv2", q) swaps a layer (quantization, BN folding);
//   - register_parametrization("weight", p) makes a layer compute with
//     p(weight_orig) instead of its raw weight (pruning masks). Layers ask
//     for the tensor to compute with through param("weight"), never by
//     reading the registry directly, so every layer honours parametrizations.
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

// A function the layer applies to a parameter before using it:
// the layer computes with apply(original). A pruning mask is one
// (apply(w) = w ⊙ mask); several compose in registration order.
class Parametrization {
 public:
  virtual ~Parametrization() = default;
  virtual Tensor apply(const Tensor& original) const = 0;
  virtual std::string name() const = 0;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
  // relu(forward(x)). Sequential calls it for a module followed by a ReLU, so
  // that a layer able to apply the ReLU as it stores its output (Conv2d,
  // BatchNorm) saves two passes over that output; the values are the same.
  virtual Tensor forward_relu(const Tensor& x);

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

  // ---- local access
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

  // ---- parametrizations
  void register_parametrization(const std::string& param, std::shared_ptr<Parametrization> p);
  bool is_parametrized(const std::string& param) const;
  // bake = true: the parameter becomes the parametrized value (e.g. pruned
  // weights with zeros made permanent); false: the original is restored.
  void remove_parametrizations(const std::string& param, bool bake = true);
  const std::vector<std::shared_ptr<Parametrization>>& parametrizations(const std::string& param) const;

 protected:
  bool training_ = true;

 private:
  void add_child(const std::string& name, ModulePtr module);
  void collect(const std::string& prefix, bool params, bool buffers, bool recurse,
               std::vector<std::pair<std::string, Tensor>>& out) const;
  static void check_name(const std::string& name, const char* what);

  std::string name_;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
  std::vector<std::pair<std::string, std::vector<std::shared_ptr<Parametrization>>>> parametrizations_;
};

// Shorthand for user code: nn::make<Linear>(2304, 100)
template <class M, class... Args>
std::shared_ptr<M> make(Args&&... args) {
  return std::make_shared<M>(std::forward<Args>(args)...);
}

}  // namespace minidl::nn
