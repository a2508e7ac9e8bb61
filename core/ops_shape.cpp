// Shape ops. reshape/flatten are views (same storage); transpose and permute
// copy into a new contiguous buffer, since minidl tensors are always contiguous.
#include <cstring>

#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

Tensor reshape(const Tensor& x, const Shape& shape) {
  MINIDL_CHECK(x.defined(), "reshape: input is undefined");
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MINIDL_CHECK(infer < 0, "reshape: only one dimension can be -1, got ", to_string(shape));
      infer = int64_t(i);
    } else {
      MINIDL_CHECK(s[i] >= 0, "reshape: invalid dimension ", s[i], " in ", to_string(shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MINIDL_CHECK(known > 0 && x.numel() % known == 0, "reshape: shape ", to_string(shape),
                 " is invalid for input of shape ", to_string(x.shape()));
    s[size_t(infer)] = x.numel() / known;
  }
  MINIDL_CHECK(numel_of(s) == x.numel(), "reshape: shape ", to_string(shape), " is invalid for input of shape ",
               to_string(x.shape()), " (", x.numel(), " elements)");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = x.impl()->storage;
  impl->offset = x.impl()->offset;
  impl->shape = s;
  impl->dtype = x.dtype();
  Tensor out(std::move(impl));
  return record(out, "reshape", {x}, [xs = x.shape()](const Tensor& g) {
    return std::vector<Tensor>{reshape(g, xs)};
  });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  const int64_t r = x.dim();
  if (r == 0) return reshape(x, {1});
  if (start_dim < 0) start_dim += r;
  if (end_dim < 0) end_dim += r;
  MINIDL_CHECK(start_dim >= 0 && start_dim < r && end_dim >= start_dim && end_dim < r, "flatten: dims [",
               start_dim, ", ", end_dim, "] out of range for shape ", to_string(x.shape()));
  Shape s;
  for (int64_t i = 0; i < start_dim; ++i) s.push_back(x.shape()[size_t(i)]);
  int64_t m = 1;
  for (int64_t i = start_dim; i <= end_dim; ++i) m *= x.shape()[size_t(i)];
  s.push_back(m);
  for (int64_t i = end_dim + 1; i < r; ++i) s.push_back(x.shape()[size_t(i)]);
  return reshape(x, s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  MINIDL_CHECK(x.defined(), "permute: input is undefined");
  const size_t r = size_t(x.dim());
  MINIDL_CHECK(dims.size() == r, "permute: got ", dims.size(), " dims for shape ", to_string(x.shape()));
  std::vector<int64_t> p(r);
  std::vector<bool> used(r, false);
  for (size_t i = 0; i < r; ++i) {
    int64_t d = dims[i] < 0 ? dims[i] + int64_t(r) : dims[i];
    MINIDL_CHECK(d >= 0 && d < int64_t(r) && !used[size_t(d)], "permute: dims must be a permutation of 0..",
                 r - 1, " for shape ", to_string(x.shape()));
    used[size_t(d)] = true;
    p[i] = d;
  }
  Shape os(r);
  for (size_t i = 0; i < r; ++i) os[i] = x.shape()[size_t(p[i])];
  // Input strides (in elements), read in output order.
  std::vector<int64_t> xst(r);
  for (int64_t i = int64_t(r) - 1, c = 1; i >= 0; --i) {
    xst[size_t(i)] = c;
    c *= x.shape()[size_t(i)];
  }
  std::vector<int64_t> st(r);
  for (size_t i = 0; i < r; ++i) st[i] = xst[size_t(p[i])];
  Tensor out = Tensor::empty(os, x.dtype());
  const size_t es = dtype_size(x.dtype());
  const char* px = static_cast<const char*>(x.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  const int64_t n = out.numel();
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  for (int64_t o = 0; o < n; ++o) {
    std::memcpy(po + size_t(o) * es, px + size_t(off) * es, es);
    for (int64_t d = int64_t(r) - 1; d >= 0; --d) {
      off += st[size_t(d)];
      if (++idx[size_t(d)] < os[size_t(d)]) break;
      off -= st[size_t(d)] * os[size_t(d)];
      idx[size_t(d)] = 0;
    }
  }
  std::vector<int64_t> inverse(r);
  for (size_t i = 0; i < r; ++i) inverse[size_t(p[i])] = int64_t(i);
  return record(out, "permute", {x}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{permute(g, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  const int64_t r = x.dim();
  MINIDL_CHECK(d0 >= -r && d0 < r && d1 >= -r && d1 < r, "transpose: dims (", d0, ", ", d1,
               ") out of range for shape ", to_string(x.shape()));
  std::vector<int64_t> p(static_cast<size_t>(r));
  for (int64_t i = 0; i < r; ++i) p[size_t(i)] = i;
  std::swap(p[size_t(d0 < 0 ? d0 + r : d0)], p[size_t(d1 < 0 ? d1 + r : d1)]);
  return permute(x, p);
}

Tensor index_select0(const Tensor& x, const std::vector<int64_t>& index) {
  MINIDL_CHECK(x.defined() && x.dim() >= 1, "index_select0: input must have at least one dimension");
  const int64_t rows = x.shape()[0];
  Shape os = x.shape();
  os[0] = int64_t(index.size());
  Tensor out = Tensor::empty(os, x.dtype());
  const size_t row_bytes = rows ? x.nbytes() / size_t(rows) : 0;
  const char* px = static_cast<const char*>(x.raw_data());
  char* po = static_cast<char*>(out.raw_data());
  for (size_t i = 0; i < index.size(); ++i) {
    MINIDL_CHECK(index[i] >= 0 && index[i] < rows, "index_select0: index ", index[i], " out of range [0, ",
                 rows, ")");
    std::memcpy(po + i * row_bytes, px + size_t(index[i]) * row_bytes, row_bytes);
  }
  return record(out, "index_select0", {x}, [xs = x.shape(), index](const Tensor& g) {
    Tensor gx = Tensor::zeros(xs);
    const int64_t w = xs[0] ? gx.numel() / xs[0] : 0;
    const float* pg = g.data<float>();
    float* px = gx.data<float>();
    for (size_t i = 0; i < index.size(); ++i)
      for (int64_t j = 0; j < w; ++j) px[index[i] * w + j] += pg[int64_t(i) * w + j];
    return std::vector<Tensor>{gx};
  });
}

Tensor take(const Tensor& x, const Tensor& index) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "take: input must be a defined float32 tensor");
  MINIDL_CHECK(index.defined() && index.dtype() == DType::Int64, "take: index must be an int64 tensor");
  const int64_t n = x.numel(), m = index.numel();
  const int64_t* pi = index.data<int64_t>();
  for (int64_t i = 0; i < m; ++i)
    MINIDL_CHECK(pi[i] >= -1 && pi[i] < n, "take: index ", pi[i], " at position ", i, " out of range [-1, ", n, ")");
  Tensor out = Tensor::empty(index.shape());
  const float* px = x.data<float>();
  float* po = out.data<float>();
  for (int64_t i = 0; i < m; ++i) po[i] = pi[i] < 0 ? 0.f : px[pi[i]];
  return record(out, "take", {x}, [xs = x.shape(), index](const Tensor& g) {
    Tensor gx = Tensor::zeros(xs);
    const int64_t* idx = index.data<int64_t>();
    const float* pg = g.data<float>();
    float* pgx = gx.data<float>();
    for (int64_t i = 0, m = index.numel(); i < m; ++i)  // in order: the same sums every run
      if (idx[i] >= 0) pgx[idx[i]] += pg[i];
    return std::vector<Tensor>{gx};
  });
}

}  // namespace minidl
