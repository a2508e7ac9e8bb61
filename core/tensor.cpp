#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/random.h"

namespace minidl {

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    MINIDL_CHECK(d >= 0, "negative dimension in shape ", to_string(shape));
    n *= d;
  }
  return n;
}

// ---- creation

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->shape = shape;
  impl->dtype = dtype;
  impl->storage = std::make_shared<Storage>(size_t(numel_of(shape)) * dtype_size(dtype));
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

Tensor Tensor::ones(const Shape& shape) { return full(shape, 1.f); }

Tensor Tensor::full(const Shape& shape, float value) {
  Tensor t = empty(shape);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(float value) { return full({}, value); }

Tensor Tensor::arange(float start, float end, float step) {
  MINIDL_CHECK(step != 0.f, "arange: step must be non-zero");
  int64_t n = std::max<int64_t>(0, int64_t(std::ceil((end - start) / step)));
  Tensor t = empty({n});
  float* p = t.data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + float(i) * step;
  return t;
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  MINIDL_CHECK(int64_t(values.size()) == numel_of(shape), "from_vector: ", values.size(),
               " values do not fill shape ", to_string(shape));
  Tensor t = empty(shape, dtype_of<T>);
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int64_t>&, const Shape&);

Tensor Tensor::uniform(const Shape& shape, float lo, float hi, Generator& gen) {
  MINIDL_CHECK(lo <= hi, "uniform: lo (", lo, ") must not exceed hi (", hi, ")");
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = lo + (hi - lo) * gen.uniform01();
  return t;
}

Tensor Tensor::normal(const Shape& shape, float mean, float std, Generator& gen) {
  MINIDL_CHECK(std >= 0.f, "normal: std must be >= 0, got ", std);
  Tensor t = empty(shape);
  float* p = t.data<float>();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = mean + std * float(gen.normal());
  return t;
}

// ---- metadata

const Shape& Tensor::shape() const {
  MINIDL_CHECK(defined(), "shape(): tensor is undefined");
  return impl_->shape;
}

int64_t Tensor::size(int64_t d) const {
  int64_t nd = dim();
  MINIDL_CHECK(d >= -nd && d < nd, "size(", d, "): dimension out of range for shape ", to_string(shape()));
  return shape()[size_t(d < 0 ? d + nd : d)];
}

int64_t Tensor::numel() const { return numel_of(shape()); }

DType Tensor::dtype() const {
  MINIDL_CHECK(defined(), "dtype(): tensor is undefined");
  return impl_->dtype;
}

void* Tensor::raw_data() {
  MINIDL_CHECK(defined(), "data(): tensor is undefined");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset;
}
const void* Tensor::raw_data() const { return const_cast<Tensor*>(this)->raw_data(); }

float Tensor::item() const {
  MINIDL_CHECK(numel() == 1, "item(): tensor has ", numel(), " elements (shape ", to_string(shape()),
               "), expected exactly one");
  return *data<float>();
}

// ---- autograd accessors

bool Tensor::requires_grad() const { return defined() && impl_->requires_grad; }

Tensor& Tensor::requires_grad_(bool on) {
  MINIDL_CHECK(defined(), "requires_grad_(): tensor is undefined");
  MINIDL_CHECK(!on || dtype() == DType::Float32, "requires_grad_(): only float tensors can require "
               "gradients, this one holds ", dtype_name(dtype()));
  MINIDL_CHECK(is_leaf(), "requires_grad_(): can only change a leaf tensor; use detach() first");
  impl_->requires_grad = on;
  return *this;
}

bool Tensor::is_leaf() const { return !defined() || impl_->grad_fn == nullptr; }

const Tensor& Tensor::grad() const {
  MINIDL_CHECK(defined(), "grad(): tensor is undefined");
  return impl_->grad;
}

void Tensor::set_grad(const Tensor& g) {
  MINIDL_CHECK(defined(), "set_grad(): tensor is undefined");
  MINIDL_CHECK(!g.defined() || g.shape() == shape(), "set_grad(): gradient shape ", to_string(g.shape()),
               " does not match tensor shape ", to_string(shape()));
  impl_->grad = g;
}

void Tensor::zero_grad() {
  if (defined()) impl_->grad = Tensor();
}

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<Node> none;
  return defined() ? impl_->grad_fn : none;
}

Tensor Tensor::detach() const {
  if (!defined()) return Tensor();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->offset = impl_->offset;
  impl->shape = impl_->shape;
  impl->dtype = impl_->dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape(), dtype());
  std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

namespace {
// Float -> integer rounds half to even (as torch.round) and saturates;
// integer -> narrower integer saturates too; NaN is an error rather than
// undefined behaviour.
template <class To, class From>
void convert(const From* src, To* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_integral_v<To>) {
      double v = double(src[i]);
      if constexpr (std::is_floating_point_v<From>) {
        MINIDL_CHECK(!std::isnan(v), "to(): cannot convert NaN at element ", i, " to an integer type");
        v = std::nearbyint(v);
      }
      v = std::min<double>(std::max<double>(v, double(std::numeric_limits<To>::min())),
                           double(std::numeric_limits<To>::max()));
      dst[i] = To(v);
    } else {
      dst[i] = To(src[i]);
    }
  }
}
template <class To>
void convert_from(const Tensor& src, To* dst) {
  int64_t n = src.numel();
  switch (src.dtype()) {
    case DType::Float32: convert(src.data<float>(), dst, n); break;
    case DType::Int8: convert(src.data<int8_t>(), dst, n); break;
    case DType::UInt8: convert(src.data<uint8_t>(), dst, n); break;
    case DType::Int32: convert(src.data<int32_t>(), dst, n); break;
    case DType::Int64: convert(src.data<int64_t>(), dst, n); break;
  }
}
}  // namespace

Tensor Tensor::to(DType dtype) const {
  if (dtype == this->dtype()) return clone();
  Tensor t = empty(shape(), dtype);
  switch (dtype) {
    case DType::Float32: convert_from(*this, t.data<float>()); break;
    case DType::Int8: convert_from(*this, t.data<int8_t>()); break;
    case DType::UInt8: convert_from(*this, t.data<uint8_t>()); break;
    case DType::Int32: convert_from(*this, t.data<int32_t>()); break;
    case DType::Int64: convert_from(*this, t.data<int64_t>()); break;
  }
  return t;
}

// ---- in place

Tensor& Tensor::fill_(float value) {
  int64_t n = numel();
  switch (dtype()) {
    case DType::Float32: std::fill_n(data<float>(), n, value); break;
    case DType::Int8: std::fill_n(data<int8_t>(), n, int8_t(value)); break;
    case DType::UInt8: std::fill_n(data<uint8_t>(), n, uint8_t(value)); break;
    case DType::Int32: std::fill_n(data<int32_t>(), n, int32_t(value)); break;
    case DType::Int64: std::fill_n(data<int64_t>(), n, int64_t(value)); break;
  }
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  MINIDL_CHECK(src.shape() == shape() && src.dtype() == dtype(), "copy_(): source ",
               to_string(src.shape()), " ", dtype_name(src.dtype()), " does not match destination ",
               to_string(shape()), " ", dtype_name(dtype()));
  if (raw_data() != src.raw_data()) std::memmove(raw_data(), src.raw_data(), nbytes());
  return *this;
}

// ---- method shorthands

Tensor Tensor::reshape(const Shape& s) const { return minidl::reshape(*this, s); }
Tensor Tensor::flatten(int64_t a, int64_t b) const { return minidl::flatten(*this, a, b); }
Tensor Tensor::transpose(int64_t a, int64_t b) const { return minidl::transpose(*this, a, b); }
Tensor Tensor::sum() const { return minidl::sum(*this, {}); }
Tensor Tensor::mean() const { return minidl::mean(*this, {}); }

Tensor Tensor::narrow(int64_t start, int64_t length) const {
  MINIDL_CHECK(dim() >= 1, "narrow(): needs at least one dimension");
  MINIDL_CHECK(start >= 0 && length >= 0 && start + length <= shape()[0], "narrow(): rows [", start, ", ",
               start + length, ") out of range for shape ", to_string(shape()));
  MINIDL_CHECK(!requires_grad(), "narrow(): views of tensors that require grad are not supported; "
               "use index_select0");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = impl_->storage;
  impl->shape = impl_->shape;
  impl->shape[0] = length;
  impl->dtype = impl_->dtype;
  size_t row_bytes = shape()[0] ? nbytes() / size_t(shape()[0]) : 0;
  impl->offset = impl_->offset + size_t(start) * row_bytes;
  return Tensor(std::move(impl));
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(" << to_string(shape()) << ", " << dtype_name(dtype());
  if (requires_grad()) os << ", requires_grad";
  os << ") [";
  int64_t n = std::min<int64_t>(numel(), 8);
  for (int64_t i = 0; i < n; ++i) {
    if (i) os << ", ";
    switch (dtype()) {
      case DType::Float32: os << data<float>()[i]; break;
      case DType::Int8: os << int(data<int8_t>()[i]); break;
      case DType::UInt8: os << int(data<uint8_t>()[i]); break;
      case DType::Int32: os << data<int32_t>()[i]; break;
      case DType::Int64: os << data<int64_t>()[i]; break;
    }
  }
  if (numel() > n) os << ", ...";
  os << "]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace minidl
