// minidl/core/autograd.h — define-by-run reverse-mode automatic differentiation.
//
// Every op that sees an input with requires_grad (while grad mode is on)
// records a Node on its output: the op's inputs (the graph's edges) and a
// backward closure that maps dL/d(output) to dL/d(input) for each input.
// The closure captures exactly what the op needs (e.g. conv2d keeps its input
// and weight, relu keeps its output) — the micrograd design, one closure per op.
//
// Tensor::backward() sorts the graph topologically from the loss, runs the
// closures in reverse order, sums gradients that reach a tensor along several
// paths, and accumulates into the .grad of leaves that require grad. Each
// Node is released as soon as it has run, so the graph (and the activations it
// holds) is freed by the backward pass; calling backward twice is an error.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace minidl {

// dL/d(output) -> one gradient per input (left undefined for inputs that need none).
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;

struct Node {
  std::string name;            // the op, for error messages ("conv2d", "linear")
  std::vector<Tensor> inputs;  // edges to the inputs
  BackwardFn backward;         // empty once run: the graph has been freed
};

// Grad mode is per thread (parallel cross-validation folds train in threads).
bool grad_enabled();
void set_grad_enabled(bool on);

// RAII: no graph is recorded inside its scope (inference, optimizer updates).
class NoGradGuard {
 public:
  NoGradGuard() : prev_(grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(prev_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// Does any input want gradients (and is grad mode on)? Ops use this to skip
// saving anything for backward during inference.
bool needs_grad(std::initializer_list<const Tensor*> inputs);

// Attach a Node to `out` if grad mode is on and some input requires grad.
// The closure must not capture `out` itself (that would be a reference cycle);
// capture out.detach() instead, which shares the storage.
Tensor record(Tensor out, const char* name, std::vector<Tensor> inputs, BackwardFn backward);

}  // namespace minidl
