// minidl/nn/sequential.h — a chain of modules, applied in order.
//
//   auto net = nn::Sequential::named({{"fc1", nn::make<nn::Linear>(784, 100)},
//                                     {"relu", nn::make<nn::ReLU>()},
//                                     {"fc2", nn::make<nn::Linear>(100, 10)}});
// Children are named "0", "1", ... unless given names (like PyTorch's
// Sequential(OrderedDict(...))), and the names prefix the state_dict keys.
#pragma once

#include <initializer_list>

#include "nn/activation.h"
#include "nn/module.h"

namespace minidl::nn {

class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(std::initializer_list<ModulePtr> modules) {
    for (const auto& m : modules) push_back(m);
  }
  static std::shared_ptr<Sequential> named(std::initializer_list<std::pair<std::string, ModulePtr>> modules) {
    auto s = std::make_shared<Sequential>();
    for (const auto& [n, m] : modules) s->push_back(n, m);
    return s;
  }
  void push_back(ModulePtr m) { register_module(std::to_string(named_children().size()), std::move(m)); }
  void push_back(const std::string& name, ModulePtr m) { register_module(name, std::move(m)); }
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t i) const { return named_children().at(i).second; }

  // Each child's forward in turn. (A layer and its ReLU run as one module
  // after nn::fuse, nn/fuse.h.)
  Tensor forward(const Tensor& x) override {
    Tensor h = x;
    for (const auto& [name, m] : named_children()) h = m->forward(h);
    return h;
  }
  std::string type_name() const override { return "Sequential"; }
};

}  // namespace minidl::nn
