// minidl/core/ops.h — every differentiable op, as free functions.
//
// Each op computes its result with a plain kernel and, when an input requires
// grad, records its own backward closure (core/autograd.h). Shapes follow
// PyTorch: elementwise ops broadcast (trailing dimensions aligned, size-1
// dimensions stretched), images are NCHW, `linear` weights are [out, in].
// Every op is checked against finite differences in tests/test_gradcheck.cpp.
#pragma once

#include <vector>

#include "core/autograd.h"
#include "core/tensor.h"

namespace minidl {

class Generator;

// ---- elementwise (broadcasting) — core/ops_elementwise.cpp
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float s);
Tensor mul(const Tensor& a, float s);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor pow(const Tensor& a, float exponent);
Tensor sqrt(const Tensor& a);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator+(float s, const Tensor& a) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add(a, -s); }
inline Tensor operator-(float s, const Tensor& a) { return add(neg(a), s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul(a, 1.f / s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// The broadcast shape of two shapes, or an Error naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

// In place, outside autograd: dst += alpha * src (same shape). Used for
// gradient accumulation and optimizer updates.
void add_(Tensor& dst, const Tensor& src, float alpha = 1.f);

// ---- reductions — core/ops_reduce.cpp
// Sum / mean over `dims` (negative dims count from the end; empty = all dims).
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
// Sum a broadcast result back down to `shape` (the backward of broadcasting).
Tensor sum_to(const Tensor& x, const Shape& shape);
// Index of the largest value along `dim` (int64, no gradient).
Tensor argmax(const Tensor& x, int64_t dim);

// ---- shape — core/ops_shape.cpp
Tensor reshape(const Tensor& x, const Shape& shape);  // a view; one dim may be -1
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);  // a copy
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);  // a copy
// Rows `index` of dim 0, in that order (batch gathering; no gradient to index).
Tensor index_select0(const Tensor& x, const std::vector<int64_t>& index);
// torch.take: out[i] = x.flatten()[index[i]], shaped like the int64 `index`, with one
// extension: index −1 gives +0.0 and no gradient (Deep Compression's pruned weight,
// which has no centroid). Gradient: dL/dx_k = Σ_{i: index_i = k} dL/dout_i (a
// scatter-add), so for a weight-sharing codebook x the gradient of a centroid is the
// sum of its weights' gradients (Han, Mao & Dally 2016, §3.3, eq. 3).
Tensor take(const Tensor& x, const Tensor& index);

// ---- linear algebra — core/ops_linalg.cpp (OpenBLAS sgemm)
Tensor matmul(const Tensor& a, const Tensor& b);  // [m,k] x [k,n] -> [m,n]
// y = x·Wᵀ + b with x [N, in], W [out, in], b [out] (may be undefined).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- convolution and pooling — core/ops_conv.cpp, core/ops_pool.cpp
// x [N, Cin, H, W], weight [Cout, Cin, KH, KW], bias [Cout] or undefined.
// Output [N, Cout, (H + 2p - KH)/s + 1, (W + 2p - KW)/s + 1]; zero padding.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride = 1, int padding = 0);
// relu(conv2d(...)) as one op, the same values: the ReLU is applied as the
// product is stored and its mask as the backward reads dy, saving two passes
// over the output (nn::Sequential uses it for a Conv2d followed by a ReLU).
Tensor conv2d_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride = 1, int padding = 0);
// stride 0 means stride = kernel (negative is an error). Padding is -inf for max, zeros counted
// in the average for avg (PyTorch's count_include_pad=True); floor mode.
Tensor max_pool2d(const Tensor& x, int kernel, int stride = 0, int padding = 0);
Tensor avg_pool2d(const Tensor& x, int kernel, int stride = 0, int padding = 0);

// ---- normalisation and regularisation — core/ops_norm.cpp
// Batch normalisation (Ioffe & Szegedy 2015) over dim 1 of [N, C] or [N, C, H, W].
// Training: normalise with the batch mean and biased variance, and update
//   running = (1 - momentum) * running + momentum * batch_stat
// with the *unbiased* batch variance, exactly as PyTorch. Eval: use the running
// statistics. weight/bias (gamma/beta) may be undefined (affine = false);
// running stats may be undefined (track_running_stats = false: always batch stats).
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                  Tensor running_var, bool training, float momentum, float eps);
// relu(batch_norm(...)) as one op, the same values, in batch_norm's passes
// (nn::Sequential uses it for a BatchNorm followed by a ReLU).
Tensor batch_norm_relu(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                       Tensor running_var, bool training, float momentum, float eps);
// Inverted dropout: zero with probability p, scale survivors by 1/(1-p).
Tensor dropout(const Tensor& x, float p, bool training, Generator& gen);

// ---- softmax and losses — core/ops_loss.cpp
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);  // computed stably: x - max - log Σ exp(x - max)
// Mean over the batch of -log_softmax(logits)[i, target_i]; logits [N, C],
// targets int64 [N] with values in [0, C).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets);
Tensor mse_loss(const Tensor& input, const Tensor& target);  // mean squared error
// Kullback–Leibler divergence with PyTorch's F.kl_div(log_input, target,
// reduction='batchmean') semantics: log_input holds log-probabilities log q,
// target the probabilities p (or log p with log_target), any equal shapes [N, ...]:
//   KL = (1/N) Σ p · (log p − log q),   with 0 · log 0 = 0 (PyTorch's xlogy),
// N = log_input.size(0). Summed over classes, averaged over the batch: the
// true mean KL per example ('mean' would also divide by the class count).
Tensor kl_div(const Tensor& log_input, const Tensor& target, bool log_target = false);

// ---- quantization — core/ops_fake_quant.cpp
// Quantize to [qmin, qmax] and dequantize, in float: (clamp(zp + round(x/scale)) − zp)·scale,
// one (scale, zp) for the tensor (axis −1, one entry each) or per slice along `axis`.
// Gradient: the straight-through estimator, 1 where the unclamped code is inside
// [qmin, qmax], 0 where it saturates (quantization-aware training; compress/fake_quantize.h).
Tensor fake_quantize(const Tensor& x, const std::vector<float>& scale, const std::vector<int32_t>& zero_point,
                     int32_t qmin, int32_t qmax, int axis = -1);

}  // namespace minidl
