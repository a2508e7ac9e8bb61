#include "core/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "core/ops.h"

namespace minidl {

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Tensor& t : inputs) any = any || (t.defined() && t.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl()->grad_fn = std::move(node);
  out.impl()->requires_grad = true;
  return out;
}

namespace {

// The tensors root depends on through grad_fn links, in topological order by
// iterative depth-first search (deep graphs must not overflow the stack); the
// result ends with the root. It holds handles, so the tensors stay alive while
// the graph is freed node by node in backward().
std::vector<Tensor> topological_order(const Tensor& root) {
  std::vector<Tensor> order;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<Tensor, size_t>> stack{{root, 0}};
  seen.insert(root.impl());
  while (!stack.empty()) {
    auto& [t, next] = stack.back();
    Node* node = t.impl()->grad_fn.get();
    if (node && next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (in.requires_grad() && seen.insert(in.impl()).second) stack.push_back({in, 0});
    } else {
      order.push_back(std::move(t));
      stack.pop_back();
    }
  }
  return order;
}

}  // namespace

void Tensor::backward(const Tensor& grad_arg) const {
  MINIDL_CHECK(defined(), "backward(): tensor is undefined");
  MINIDL_CHECK(requires_grad(), "backward(): tensor does not require grad and has no grad_fn");
  Tensor seed = grad_arg;
  if (!seed.defined()) {
    MINIDL_CHECK(numel() == 1, "backward(): grad can be implicitly created only for a tensor with one "
                 "element, got shape ", to_string(shape()), "; pass the gradient explicitly");
    seed = Tensor::ones(shape());
  }
  MINIDL_CHECK(seed.shape() == shape(), "backward(): gradient shape ", to_string(seed.shape()),
               " does not match tensor shape ", to_string(shape()));

  std::vector<Tensor> order = topological_order(*this);

  NoGradGuard no_grad;  // backward closures compute plain tensors
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[impl()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    TensorImpl* t = it->impl();
    auto found = grads.find(t);
    if (found == grads.end()) continue;  // no gradient flowed here
    Tensor g = std::move(found->second);
    grads.erase(found);
    if (!t->grad_fn) {  // a leaf: accumulate into .grad
      if (!t->grad.defined()) t->grad = g.clone();
      else add_(t->grad, g);
      continue;
    }
    Node& node = *t->grad_fn;
    MINIDL_CHECK(node.backward, "backward(): trying to backward through the graph a second time (",
                 node.name, "); the graph is freed after the first backward");
    std::vector<Tensor> gin = node.backward(g);
    MINIDL_CHECK(gin.size() == node.inputs.size(), "backward of ", node.name, " returned ",
                 gin.size(), " gradients for ", node.inputs.size(), " inputs");
    for (size_t i = 0; i < gin.size(); ++i) {
      const Tensor& in = node.inputs[i];
      if (!in.defined() || !in.requires_grad() || !gin[i].defined()) continue;
      MINIDL_CHECK(gin[i].shape() == in.shape(), "backward of ", node.name, ": gradient for input ", i,
                   " has shape ", to_string(gin[i].shape()), ", input has ", to_string(in.shape()));
      auto [slot, fresh] = grads.try_emplace(in.impl(), gin[i]);
      if (!fresh) slot->second = add(slot->second, gin[i]);  // out of place: gin may alias
    }
    node.backward = nullptr;  // free the graph as we go
    node.inputs.clear();
    *it = Tensor();  // drop our handle: activations are freed as soon as possible
  }
}

}  // namespace minidl
