// minidl/core/tensor.h — the Tensor handle.
//
// A Tensor is a cheap handle (a shared_ptr) to a TensorImpl: a shape, a dtype,
// and a byte offset into a shared Storage. Tensors are always contiguous and
// row-major; views that need no data movement (reshape, flatten, narrowing the
// first dimension) share storage, everything else makes a new buffer. Keeping
// one layout keeps every kernel a plain loop over memory.
//
// Autograd (see core/autograd.h) hangs off the impl: `requires_grad`, the
// accumulated `grad` of a leaf, and `grad_fn`, the Node that made a non-leaf.
//
//   Tensor x = Tensor::normal({64, 1, 28, 28}, 0, 1, gen);
//   Tensor w = Tensor::zeros({10, 784}).requires_grad_();
//   Tensor loss = cross_entropy(linear(x.flatten(1), w), labels);
//   loss.backward();               // w.grad() now holds dloss/dw
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace minidl {

struct Node;
struct TensorImpl;
class Generator;

int64_t numel_of(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (no storage); defined() is false

  // ---- creation
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32);  // uninitialised
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32);
  static Tensor ones(const Shape& shape);
  static Tensor full(const Shape& shape, float value);
  static Tensor scalar(float value);                       // shape []
  static Tensor arange(float start, float end, float step = 1.f);
  static Tensor arange(int64_t n) { return arange(0.f, float(n)); }
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<float>& values) {
    return from_vector(values, {int64_t(values.size())});
  }
  // U(lo, hi) and N(mean, std^2), drawn from a seeded Generator (core/random.h).
  static Tensor uniform(const Shape& shape, float lo, float hi, Generator& gen);
  static Tensor normal(const Shape& shape, float mean, float std, Generator& gen);

  // ---- metadata
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t dim() const { return int64_t(shape().size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  DType dtype() const;
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }

  // ---- data (checked against the dtype: data<int8_t>() on a float tensor throws)
  template <class T> T* data();
  template <class T> const T* data() const;
  void* raw_data();
  const void* raw_data() const;
  float item() const;  // the value of a one-element float tensor
  template <class T = float> std::vector<T> to_vector() const;

  // ---- autograd
  bool requires_grad() const;
  Tensor& requires_grad_(bool on = true);  // only on float leaves
  bool is_leaf() const;                    // no grad_fn: created by the user, not by an op
  const Tensor& grad() const;              // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient (like PyTorch's set_to_none=True)
  const std::shared_ptr<Node>& grad_fn() const;
  // Reverse-mode differentiation from this tensor. Without an argument the
  // tensor must hold one element (a loss); otherwise `grad` is dL/d(this).
  void backward(const Tensor& grad = Tensor()) const;

  Tensor detach() const;  // same storage, no autograd history
  Tensor clone() const;   // new storage, no autograd history
  Tensor to(DType dtype) const;  // converting copy (float->int rounds to nearest, saturates)

  // ---- in-place (no autograd; used by optimizers and initialisers)
  Tensor& fill_(float value);
  Tensor& copy_(const Tensor& src);  // same shape and dtype
  Tensor& zero_() { return fill_(0.f); }

  // ---- views and shorthands for ops in core/ops.h
  Tensor reshape(const Shape& shape) const;   // one dim may be -1
  Tensor view(const Shape& shape) const { return reshape(shape); }
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor narrow(int64_t start, int64_t length) const;  // rows [start, start+length) of dim 0, a view
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor t() const { return transpose(0, 1); }
  Tensor sum() const;
  Tensor mean() const;

  std::string str() const;  // short description: shape, dtype, first values
  TensorImpl* impl() const { return impl_.get(); }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }  // same impl (identity)

  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // in bytes
  Shape shape;
  DType dtype = DType::Float32;
  bool requires_grad = false;
  Tensor grad;                    // leaves only
  std::shared_ptr<Node> grad_fn;  // non-leaves only
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Allocation shorthand used by kernels: a new tensor shaped like `like`.
inline Tensor empty_like(const Tensor& like) { return Tensor::empty(like.shape(), like.dtype()); }

// ---- template definitions
template <class T>
T* Tensor::data() {
  MINIDL_CHECK(defined(), "data(): tensor is undefined");
  MINIDL_CHECK(dtype() == dtype_of<T>, "data(): tensor holds ", dtype_name(dtype()),
               ", requested ", dtype_name(dtype_of<T>));
  return static_cast<T*>(raw_data());
}
template <class T>
const T* Tensor::data() const {
  return const_cast<Tensor*>(this)->data<T>();
}
template <class T>
std::vector<T> Tensor::to_vector() const {
  const T* p = data<T>();
  return std::vector<T>(p, p + numel());
}

}  // namespace minidl
