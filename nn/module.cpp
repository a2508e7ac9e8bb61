#include "nn/module.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"

namespace minidl::nn {

namespace {
template <class V>
auto find_named(V& v, const std::string& name) {
  return std::find_if(v.begin(), v.end(), [&](const auto& kv) { return kv.first == name; });
}
}  // namespace

void Module::check_name(const std::string& name, const char* what) {
  MINIDL_CHECK(!name.empty() && name.find('.') == std::string::npos, "register_", what, ": name \"", name,
               "\" must be non-empty and contain no '.'");
}

Tensor& Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
  check_name(name, "parameter");
  MINIDL_CHECK(!key_taken(name), label(), ": \"", name, "\" is already registered");
  if (value.defined() && requires_grad) value.requires_grad_(true);
  params_.emplace_back(name, std::move(value));
  return params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor value) {
  check_name(name, "buffer");
  MINIDL_CHECK(!key_taken(name), label(), ": \"", name, "\" is already registered");
  buffers_.emplace_back(name, std::move(value));
  return buffers_.back().second;
}

void Module::remove_buffer(const std::string& name) {
  auto it = find_named(buffers_, name);
  MINIDL_CHECK(it != buffers_.end(), label(), ": no buffer named \"", name, "\"");
  buffers_.erase(it);
}

void Module::add_child(const std::string& name, ModulePtr module) {
  check_name(name, "module");
  MINIDL_CHECK(module != nullptr, label(), ": submodule \"", name, "\" is null");
  MINIDL_CHECK(!key_taken(name), label(), ": submodule \"", name, "\" is already registered");
  module->name_ = name;
  children_.emplace_back(name, std::move(module));
}

Tensor* Module::find_local(const std::string& name, bool params) {
  auto& own = params ? params_ : buffers_;
  if (auto it = find_named(own, name); it != own.end()) return &it->second;
  // A parametrization's own tensors, by their keys in this module (see module.h).
  for (auto& [param, chain] : parametrizations_)
    for (auto& p : chain) {
      const std::string& stem = p->name_;
      std::string local;
      if (name == stem) local = p->tag();
      else if (name.size() > stem.size() + 1 && name.compare(0, stem.size() + 1, stem + ".") == 0)
        local = name.substr(stem.size() + 1);
      else continue;
      auto& theirs = params ? p->params_ : p->buffers_;
      if (auto it = find_named(theirs, local); it != theirs.end()) return &it->second;
    }
  return nullptr;
}

bool Module::has_parameter(const std::string& name) const {
  return const_cast<Module*>(this)->find_local(name, true) != nullptr;
}
bool Module::has_buffer(const std::string& name) const {
  return const_cast<Module*>(this)->find_local(name, false) != nullptr;
}

Tensor& Module::parameter(const std::string& name) {
  Tensor* t = find_local(name, true);
  MINIDL_CHECK(t, label(), ": no parameter named \"", name, "\"");
  return *t;
}

Tensor& Module::buffer(const std::string& name) {
  Tensor* t = find_local(name, false);
  MINIDL_CHECK(t, label(), ": no buffer named \"", name, "\"");
  return *t;
}

Tensor Module::param(const std::string& name) const {
  auto p = find_named(parametrizations_, name);
  if (p == parametrizations_.end()) {
    auto it = find_named(params_, name);
    return it == params_.end() ? Tensor() : it->second;
  }
  Tensor t = find_named(params_, name + "_orig")->second;
  for (const auto& f : p->second) t = f->forward(t);
  return t;
}

std::vector<std::pair<std::string, ModulePtr>> Module::named_modules() {
  std::vector<std::pair<std::string, ModulePtr>> out{{"", shared_from_this()}};
  for (const auto& [n, c] : children_)
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, m);
  return out;
}

ModulePtr Module::get_submodule(const std::string& path) const {
  MINIDL_CHECK(!path.empty(), label(), ": get_submodule needs a non-empty path");
  const Module* m = this;
  ModulePtr found;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '.')) {
    auto it = find_named(m->children_, part);
    MINIDL_CHECK(it != m->children_.end(), "no submodule \"", path, "\" (", m->label(), " has no child \"", part,
                 "\")");
    found = it->second;
    m = found.get();
  }
  return found;
}

void Module::replace_module(const std::string& path, ModulePtr module) {
  MINIDL_CHECK(module != nullptr, "replace_module(\"", path, "\"): the new module is null");
  auto dot = path.rfind('.');
  Module* parent = this;
  ModulePtr holder;
  if (dot != std::string::npos) {
    holder = get_submodule(path.substr(0, dot));
    parent = holder.get();
  }
  const std::string leaf = dot == std::string::npos ? path : path.substr(dot + 1);
  auto it = find_named(parent->children_, leaf);
  MINIDL_CHECK(it != parent->children_.end(), "replace_module: no submodule \"", path, "\"");
  module->name_ = leaf;
  module->train(parent->training_);
  it->second = std::move(module);
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool recurse,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  if (params)
    for (const auto& [n, t] : params_)
      if (t.defined()) out.emplace_back(prefix + n, t);
  if (buffers)
    for (const auto& [n, t] : buffers_)
      if (t.defined()) out.emplace_back(prefix + n, t);
  // A parametrization's state is its owner's (keys: see module.h), recurse or not.
  for (const auto& [param, chain] : parametrizations_)
    for (const auto& p : chain) {
      const size_t first = out.size();
      const std::string stem = prefix + p->name_;
      p->collect(stem + ".", params, buffers, true, out);
      const std::string own = stem + "." + p->tag();
      for (size_t i = first; i < out.size(); ++i)
        if (out[i].first == own) out[i].first = stem;
    }
  if (recurse)
    for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, true, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", true, false, recurse, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", false, true, recurse, out);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

StateDict Module::state_dict() const {
  StateDict out;
  // PyTorch order: a module's own parameters, then its buffers, then children.
  std::function<void(const Module&, const std::string&)> walk = [&](const Module& m, const std::string& prefix) {
    m.collect(prefix, true, true, false, out);
    for (const auto& [n, c] : m.children_) walk(*c, prefix + n + ".");
  };
  walk(*this, "");
  for (auto& [n, t] : out) t = t.detach();
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  std::map<std::string, const Tensor*> given;
  for (const auto& [n, t] : state) {
    MINIDL_CHECK(given.emplace(n, &t).second, "load_state_dict: key \"", n, "\" appears twice");
  }
  std::vector<std::pair<std::string, Tensor>> mine;
  collect("", true, true, true, mine);
  std::vector<std::string> missing;
  // Check everything before copying anything: a failed load leaves the model as it was.
  for (const auto& [n, t] : mine) {
    auto it = given.find(n);
    if (it == given.end()) {
      missing.push_back(n);
      continue;
    }
    const Tensor& src = *it->second;
    MINIDL_CHECK(src.defined(), "load_state_dict: \"", n, "\" is undefined");
    MINIDL_CHECK(src.shape() == t.shape(), "load_state_dict: size mismatch for ", n, ": checkpoint has shape ",
                 to_string(src.shape()), ", the model expects ", to_string(t.shape()));
    MINIDL_CHECK(src.dtype() == t.dtype(), "load_state_dict: dtype mismatch for ", n, ": checkpoint has ",
                 dtype_name(src.dtype()), ", the model expects ", dtype_name(t.dtype()));
  }
  if (strict) {
    std::string miss, extra;
    for (const auto& n : missing) miss += (miss.empty() ? "" : ", ") + n;
    std::map<std::string, bool> known;
    for (const auto& [n, t] : mine) known[n] = true;
    for (const auto& [n, t] : state)
      if (!known.count(n)) extra += (extra.empty() ? "" : ", ") + n;
    MINIDL_CHECK(miss.empty() && extra.empty(), "load_state_dict: ", miss.empty() ? "" : "missing keys: " + miss,
                 (!miss.empty() && !extra.empty()) ? "; " : "", extra.empty() ? "" : "unexpected keys: " + extra);
  }
  NoGradGuard ng;
  for (auto& [n, t] : mine) {
    auto it = given.find(n);
    if (it != given.end()) t.copy_(*it->second);
  }
}

void Module::take_state(Module& from) {
  MINIDL_CHECK(params_.empty() && buffers_.empty() && children_.empty() && parametrizations_.empty(), label(),
               ": take_state needs a module without state");
  params_ = std::exchange(from.params_, {});
  buffers_ = std::exchange(from.buffers_, {});
  children_ = std::exchange(from.children_, {});
  parametrizations_ = std::exchange(from.parametrizations_, {});
  training_ = from.training_;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, chain] : parametrizations_)
    for (auto& p : chain) p->train(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::zero_grad() {
  for (auto& [n, t] : params_) t.zero_grad();
  for (auto& [n, chain] : parametrizations_)
    for (auto& p : chain) p->zero_grad();
  for (auto& [n, c] : children_) c->zero_grad();
}

std::string Parametrization::tag() const {
  std::string out;
  for (char c : type_name()) {
    if (c >= 'A' && c <= 'Z') {
      if (!out.empty()) out += '_';
      out += char(c - 'A' + 'a');
    } else {
      out += c;
    }
  }
  return out;
}

bool Module::key_taken(const std::string& key) const {
  if (find_named(params_, key) != params_.end() || find_named(buffers_, key) != buffers_.end() ||
      find_named(children_, key) != children_.end())
    return true;
  for (const auto& [n, chain] : parametrizations_)
    for (const auto& p : chain)
      if (p->name_ == key && !p->state_dict().empty()) return true;
  return false;
}

void Module::register_parametrization(const std::string& param, ParametrizationPtr p) {
  MINIDL_CHECK(p != nullptr, label(), ": register_parametrization(\"", param, "\") got a null parametrization");
  MINIDL_CHECK(p->name_.empty(), label(), ": register_parametrization(\"", param, "\"): this ", p->type_name(),
               " is already registered (as ", p->name_, "); make a new one");
  const std::string tag = p->tag();
  check_name(tag, "parametrization (tag)");
  const std::string key = param + "_" + tag;
  // Only state needs unique keys: stateless parametrizations may share a stem.
  MINIDL_CHECK(p->state_dict().empty() || !key_taken(key), label(), ": register_parametrization(\"", param,
               "\"): the key \"", key, "\" of this ", p->type_name(), "'s state is already taken");
  auto it = find_named(parametrizations_, param);
  if (it == parametrizations_.end()) {
    auto pit = find_named(params_, param);
    MINIDL_CHECK(pit != params_.end() && pit->second.defined(), label(), ": no parameter named \"", param,
                 "\" to parametrize");
    MINIDL_CHECK(!key_taken(param + "_orig"), label(), ": cannot parametrize \"", param, "\": \"", param,
                 "_orig\" is already taken");
    pit->first = param + "_orig";  // PyTorch's torch.nn.utils.prune naming
    parametrizations_.emplace_back(param, std::vector<ParametrizationPtr>{});
    it = parametrizations_.end() - 1;
  }
  p->name_ = key;
  p->train(training_);
  it->second.push_back(std::move(p));
}

bool Module::is_parametrized(const std::string& param) const {
  return find_named(parametrizations_, param) != parametrizations_.end();
}

std::vector<std::string> Module::parametrized_parameters() const {
  std::vector<std::string> out;
  for (const auto& [n, chain] : parametrizations_) out.push_back(n);
  return out;
}

const std::vector<ParametrizationPtr>& Module::parametrizations(const std::string& param) const {
  auto it = find_named(parametrizations_, param);
  MINIDL_CHECK(it != parametrizations_.end(), label(), ": \"", param, "\" is not parametrized");
  return it->second;
}

void Module::remove_parametrization(const std::string& param, size_t index, bool bake) {
  auto it = find_named(parametrizations_, param);
  MINIDL_CHECK(it != parametrizations_.end(), label(), ": \"", param, "\" is not parametrized");
  auto& chain = it->second;
  MINIDL_CHECK(index < chain.size(), label(), ": remove_parametrization(\"", param, "\", ", index,
               "): the chain has ", chain.size(), " parametrization", chain.size() == 1 ? "" : "s");
  Tensor& orig = find_named(params_, param + "_orig")->second;
  if (bake) {
    // Keep the same tensor object (optimizers hold it): overwrite its values.
    NoGradGuard ng;
    Tensor value = chain[index]->forward(orig).clone();
    orig.copy_(value);
  }
  chain[index]->name_.clear();
  chain.erase(chain.begin() + std::ptrdiff_t(index));
  if (chain.empty()) {
    find_named(params_, param + "_orig")->first = param;
    parametrizations_.erase(it);
  }
}

void Module::remove_parametrization(const std::string& param, const Parametrization& p, bool bake) {
  const auto& chain = parametrizations(param);
  for (size_t i = 0; i < chain.size(); ++i)
    if (chain[i].get() == &p) return remove_parametrization(param, i, bake);
  detail::fail(label(), ": remove_parametrization(\"", param, "\"): this ", p.type_name(),
               " is not one of its parametrizations");
}

void Module::remove_parametrizations(const std::string& param, bool bake) {
  auto it = find_named(parametrizations_, param);
  MINIDL_CHECK(it != parametrizations_.end(), label(), ": \"", param, "\" is not parametrized");
  Tensor value;
  if (bake) {
    NoGradGuard ng;
    value = this->param(param).clone();
  }
  auto pit = find_named(params_, param + "_orig");
  pit->first = param;
  if (bake) pit->second.copy_(value);  // the same tensor object (optimizers hold it)
  for (auto& p : it->second) p->name_.clear();
  parametrizations_.erase(it);
}

// PyTorch's format, plus the parameter count of every layer that has
// parameters ("# 320 parameters") and of every container ("# ... in total"),
// as Keras's model.summary() shows them.
std::string Module::repr() const {
  std::ostringstream os;
  os << type_name() << "(" << extra_repr();
  if (!children_.empty()) {
    os << "\n";
    for (const auto& [n, c] : children_) {
      std::string sub = c->repr(), indented;
      for (char ch : sub) indented += ch == '\n' ? std::string("\n  ") : std::string(1, ch);
      os << "  (" << n << "): " << indented << "\n";
    }
  }
  os << ")";
  int64_t count = 0;
  for (const Tensor& p : parameters()) count += p.numel();
  if (!children_.empty()) os << "  # " << count << " parameters in total";
  else if (count > 0) os << "  # " << count << " parameters";
  return os.str();
}

}  // namespace minidl::nn
