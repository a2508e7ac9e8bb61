// Reductions: sum and mean over any set of dimensions, sum_to (the backward of
// broadcasting) and argmax. Sums accumulate in double so that a long sum loses
// no more than float32 rounding at the end.
#include <algorithm>

#include "core/ops.h"

namespace minidl {

namespace {

std::vector<bool> reduced_dims(const Shape& shape, const std::vector<int64_t>& dims, const char* op) {
  const int64_t r = int64_t(shape.size());
  std::vector<bool> red(size_t(r), dims.empty());
  for (int64_t d : dims) {
    MINIDL_CHECK(d >= -r && d < r, op, ": dimension ", d, " out of range for shape ", to_string(shape));
    int64_t k = d < 0 ? d + r : d;
    MINIDL_CHECK(!red[size_t(k)], op, ": dimension ", d, " given twice");
    red[size_t(k)] = true;
  }
  return red;
}

// Sum of x over the dims flagged in `red`, keeping them as size 1.
Tensor sum_keepdim(const Tensor& x, const std::vector<bool>& red) {
  const Shape& s = x.shape();
  const size_t r = s.size();
  Shape os = s;
  for (size_t i = 0; i < r; ++i)
    if (red[i]) os[i] = 1;
  std::vector<double> acc(size_t(numel_of(os)), 0.0);
  const float* px = x.data<float>();
  const int64_t n = x.numel();
  // Output stride of each input dim (0 where reduced), then an odometer.
  std::vector<int64_t> st(r, 0);
  for (int64_t i = int64_t(r) - 1, c = 1; i >= 0; --i) {
    st[size_t(i)] = red[size_t(i)] ? 0 : c;
    c *= os[size_t(i)];
  }
  if (n > 0) {
    const int64_t inner = r ? s[r - 1] : 1;
    const int64_t ist = r ? st[r - 1] : 0;
    std::vector<int64_t> idx(r, 0);
    int64_t o = 0;
    for (int64_t base = 0; base < n; base += inner) {
      if (ist == 0) {
        double t = 0;
        for (int64_t j = 0; j < inner; ++j) t += px[base + j];
        acc[size_t(o)] += t;
      } else {
        for (int64_t j = 0; j < inner; ++j) acc[size_t(o + j)] += px[base + j];
      }
      for (int64_t d = int64_t(r) - 2; d >= 0; --d) {
        o += st[size_t(d)];
        if (++idx[size_t(d)] < s[size_t(d)]) break;
        o -= st[size_t(d)] * s[size_t(d)];
        idx[size_t(d)] = 0;
      }
    }
  }
  Tensor out = Tensor::empty(os);
  float* po = out.data<float>();
  for (size_t i = 0; i < acc.size(); ++i) po[i] = float(acc[i]);
  return out;
}

Shape drop_reduced(const Shape& keep, const std::vector<bool>& red) {
  Shape s;
  for (size_t i = 0; i < keep.size(); ++i)
    if (!red[i]) s.push_back(keep[i]);
  return s;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "sum: expected a float32 tensor");
  std::vector<bool> red = reduced_dims(x.shape(), dims, "sum");
  Tensor out = sum_keepdim(x, red);
  Shape keep_shape = out.shape();
  if (!keepdim) out = out.reshape(drop_reduced(keep_shape, red));
  return record(out, "sum", {x}, [xs = x.shape(), keep_shape](const Tensor& g) {
    return std::vector<Tensor>{add(Tensor::zeros(xs), g.reshape(keep_shape))};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  std::vector<bool> red = reduced_dims(x.shape(), dims, "mean");
  int64_t count = 1;
  for (size_t i = 0; i < red.size(); ++i)
    if (red[i]) count *= x.shape()[i];
  MINIDL_CHECK(count > 0, "mean: reducing over an empty dimension of shape ", to_string(x.shape()));
  return mul(sum(x, dims, keepdim), 1.f / float(count));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const Shape& xs = x.shape();
  MINIDL_CHECK(xs.size() >= shape.size(), "sum_to: cannot reduce ", to_string(xs), " to ", to_string(shape));
  size_t lead = xs.size() - shape.size();
  std::vector<bool> red(xs.size(), false);
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i < lead) red[i] = true;
    else if (shape[i - lead] == 1 && xs[i] != 1) red[i] = true;
    else MINIDL_CHECK(shape[i - lead] == xs[i], "sum_to: cannot reduce ", to_string(xs), " to ", to_string(shape));
  }
  std::vector<int64_t> dims;
  for (size_t i = 0; i < red.size(); ++i)
    if (red[i]) dims.push_back(int64_t(i));
  return reshape(sum(x, dims, true), shape);
}

Tensor argmax(const Tensor& x, int64_t dim) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, "argmax: expected a float32 tensor");
  const int64_t r = x.dim();
  MINIDL_CHECK(dim >= -r && dim < r, "argmax: dimension ", dim, " out of range for shape ", to_string(x.shape()));
  if (dim < 0) dim += r;
  int64_t outer = 1, inner = 1, n = x.shape()[size_t(dim)];
  MINIDL_CHECK(n > 0, "argmax: dimension ", dim, " of shape ", to_string(x.shape()), " is empty");
  for (int64_t i = 0; i < dim; ++i) outer *= x.shape()[size_t(i)];
  for (int64_t i = dim + 1; i < r; ++i) inner *= x.shape()[size_t(i)];
  Shape os = x.shape();
  os.erase(os.begin() + dim);
  Tensor out = Tensor::empty(os, DType::Int64);
  const float* px = x.data<float>();
  int64_t* po = out.data<int64_t>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const float* p = px + o * n * inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < n; ++k)
        if (p[k * inner] > p[best * inner]) best = k;  // first maximum wins, as PyTorch
      po[o * inner + i] = best;
    }
  return out;
}

}  // namespace minidl
