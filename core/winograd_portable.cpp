// minidl/core/winograd_portable.cpp — the Winograd convolution's kernels for
// any x86-64 (or other) CPU: V8 is eight floats in a struct, which the
// compiler maps to the baseline vector registers, and the α² products go
// through OpenBLAS (which picks its own kernels at run time). Used when the
// CPU lacks AVX2/FMA or MINIDL_FP32_ISA=portable. The math is
// core/winograd_kernels.inc, shared with core/winograd_avx2.cpp.
#include <cstdint>

#include "core/blas.h"
#include "core/winograd_item.h"

namespace minidl::wino::detail {

namespace {

struct V8 {
  float v[8];
};
inline V8 load(const float* p) {
  V8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = p[i];
  return r;
}
inline void store(float* p, V8 a) {
  for (int i = 0; i < 8; ++i) p[i] = a.v[i];
}
inline V8 bcast(float s) {
  V8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = s;
  return r;
}
inline V8 zero() { return bcast(0.f); }
#define MINIDL_V8_BINARY(op)                           \
  inline V8 operator op(V8 a, V8 b) {                  \
    for (int i = 0; i < 8; ++i) a.v[i] = a.v[i] op b.v[i]; \
    return a;                                          \
  }
MINIDL_V8_BINARY(+)
MINIDL_V8_BINARY(-)
MINIDL_V8_BINARY(*)
#undef MINIDL_V8_BINARY
// Not fused here (the baseline has no FMA): a·b rounded, then + c.
inline V8 fma(V8 a, V8 b, V8 c) { return a * b + c; }
inline V8 max0(V8 a) {
  for (int i = 0; i < 8; ++i) a.v[i] = a.v[i] > 0.f ? a.v[i] : 0.f;
  return a;
}
inline V8 keep_gt0(V8 v, V8 m) {
  for (int i = 0; i < 8; ++i) v.v[i] = m.v[i] > 0.f ? v.v[i] : 0.f;
  return v;
}
inline void transpose8(V8 v[8]) {
  for (int i = 0; i < 8; ++i)
    for (int j = i + 1; j < 8; ++j) {
      const float t = v[i].v[j];
      v[i].v[j] = v[j].v[i];
      v[j].v[i] = t;
    }
}

// Step 3: M[p] (T × N) = V[p] (T × K) · U[p] (K × N) for p < P, by OpenBLAS.
void gemm_stage(int P, int64_t T, int64_t K, int64_t N, const float* V, const float* U, float* M, bool) {
  for (int p = 0; p < P; ++p)
    sgemm_serial(false, false, T, N, K, 1.f, V + p * T * K, K, U + p * K * N, N, 0.f, M + p * T * N, N);
}

// The weight gradient's products: dU[p] (K × N) += V[p]ᵀ (K × T) · Z[p] (T × N).
void wgrad_stage(int P, int64_t T, int64_t K, int64_t N, const float* V, const float* Z, float* dU, bool) {
  for (int p = 0; p < P; ++p)
    sgemm_serial(true, false, K, N, T, 1.f, V + p * T * K, K, Z + p * T * N, N, 1.f, dU + p * K * N, N);
}

#include "core/winograd_kernels.inc"

}  // namespace

void run_item_portable(const Item& it, int m) {
  if (m == 2) run_item_m<2>(it);
  else run_item_m<4>(it);
}
void run_wgrad_item_portable(const Item& it, int m) {
  if (m == 2) run_wgrad_item_m<2>(it);
  else run_wgrad_item_m<4>(it);
}

}  // namespace minidl::wino::detail
