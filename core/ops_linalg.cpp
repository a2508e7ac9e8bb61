// Matrix products on OpenBLAS sgemm: matmul and the fused linear layer op.
#include "core/blas.h"
#include "core/ops.h"
#include "core/parallel.h"

namespace minidl {

namespace {
void check2d(const Tensor& t, const char* op, const char* what) {
  MINIDL_CHECK(t.defined(), op, ": ", what, " is undefined");
  MINIDL_CHECK(t.dtype() == DType::Float32, op, ": ", what, " must be float32, got ", dtype_name(t.dtype()));
  MINIDL_CHECK(t.dim() == 2, op, ": ", what, " must be 2-D, got shape ", to_string(t.shape()));
}
}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check2d(a, "matmul", "left operand");
  check2d(b, "matmul", "right operand");
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  MINIDL_CHECK(b.size(0) == k, "matmul: shapes ", to_string(a.shape()), " and ", to_string(b.shape()),
               " cannot be multiplied (", k, " != ", b.size(0), ")");
  Tensor out = Tensor::empty({m, n});
  if (k == 0) out.zero_();
  else sgemm(false, false, m, n, k, 1.f, a.data<float>(), k, b.data<float>(), n, 0.f, out.data<float>(), n);
  return record(out, "matmul", {a, b}, [a = a.detach(), b = b.detach(), ra = a.requires_grad(),
                                        rb = b.requires_grad(), m, k, n](const Tensor& g) {
    Tensor ga, gb;
    if (ra) {  // dA = G·Bᵀ
      ga = Tensor::empty({m, k});
      sgemm(false, true, m, k, n, 1.f, g.data<float>(), n, b.data<float>(), n, 0.f, ga.data<float>(), k);
    }
    if (rb) {  // dB = Aᵀ·G
      gb = Tensor::empty({k, n});
      sgemm(true, false, k, n, m, 1.f, a.data<float>(), k, g.data<float>(), n, 0.f, gb.data<float>(), n);
    }
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check2d(x, "linear", "input");
  check2d(weight, "linear", "weight");
  const int64_t N = x.size(0), in = x.size(1), out_f = weight.size(0);
  MINIDL_CHECK(weight.size(1) == in, "linear: expected input [*, ", weight.size(1), "], got ",
               to_string(x.shape()));
  if (bias.defined())
    MINIDL_CHECK(bias.dim() == 1 && bias.size(0) == out_f, "linear: bias must be [", out_f, "], got ",
                 to_string(bias.shape()));
  Tensor y = Tensor::empty({N, out_f});
  float* py = y.data<float>();
  if (bias.defined()) {  // y = b (broadcast over rows), then y += x·Wᵀ
    const float* pb = bias.data<float>();
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < out_f; ++j) py[i * out_f + j] = pb[j];
  }
  if (in > 0)
    sgemm(false, true, N, out_f, in, 1.f, x.data<float>(), in, weight.data<float>(), in,
          bias.defined() ? 1.f : 0.f, py, out_f);
  else if (!bias.defined())
    y.zero_();
  if (!needs_grad({&x, &weight, &bias})) return y;  // inference: no closure to build
  return record(y, "linear", {x, weight, bias},
                [x = x.detach(), w = weight.detach(), rx = x.requires_grad(), rw = weight.requires_grad(),
                 rb = bias.requires_grad(), N, in, out_f](const Tensor& g) {
                  Tensor gx, gw, gb;
                  const float* pg = g.data<float>();
                  if (rx) {  // dX = G·W
                    gx = Tensor::empty({N, in});
                    sgemm(false, false, N, in, out_f, 1.f, pg, out_f, w.data<float>(), in, 0.f, gx.data<float>(), in);
                  }
                  if (rw) {  // dW = Gᵀ·X
                    gw = Tensor::empty({out_f, in});
                    sgemm(true, false, out_f, in, N, 1.f, pg, out_f, x.data<float>(), in, 0.f, gw.data<float>(), in);
                  }
                  if (rb) {  // db = column sums of G
                    gb = Tensor::zeros({out_f});
                    float* pb = gb.data<float>();
                    for (int64_t i = 0; i < N; ++i)
                      for (int64_t j = 0; j < out_f; ++j) pb[j] += pg[i * out_f + j];
                  }
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace minidl
