#include "core/gemm_unpacked.h"

#include <algorithm>
#include <vector>

#include "core/blas.h"
#include "core/cpu_features.h"
#include "core/error.h"

namespace minidl {

namespace {

int64_t a_offset(const GemmA& A, int64_t i, int64_t k) {
  return i * A.rsa + (A.kb > 0 ? (k / A.kb) * A.kbs + (k % A.kb) * A.csa : k * A.csa);
}
int64_t c_offset(const GemmC& C, int64_t i, int64_t j) {
  return (C.rows ? C.rows[i] : i * C.ldc) + (C.nb > 0 ? (j / C.nb) * C.nbs + j % C.nb : j);
}

void check_args(int64_t K, const GemmA& A, const GemmC& C) {
  MINIDL_CHECK(A.kb <= 0 || K % A.kb == 0, "gemm_unpacked: K = ", K, " is not a multiple of the A block ", A.kb);
  MINIDL_CHECK(C.nb <= 0 || C.nb >= 16, "gemm_unpacked: C column blocks must be >= 16 wide, got ", C.nb);
}

}  // namespace

namespace detail {
void gemm_unpacked_avx512(int64_t M, int64_t N, int64_t K, const GemmA& A, const float* B, int64_t ldb,
                          const GemmC& C, const float* row_init, bool accumulate, bool relu);
}  // namespace detail


void gemm_unpacked(int64_t M, int64_t N, int64_t K, const GemmA& A, const float* B, int64_t ldb, const GemmC& C,
                   const float* row_init, bool accumulate, bool relu) {
  if (M <= 0 || N <= 0) return;
  check_args(K, A, C);
#ifdef MINIDL_HAVE_AVX512_KERNELS
  if (use_avx512_fp32()) return detail::gemm_unpacked_avx512(M, N, K, A, B, ldb, C, row_init, accumulate, relu);
#endif
  // Without AVX-512: the same product through OpenBLAS.
  // A as sgemm takes it: in place if it is a row-major matrix or its
  // transpose, else gathered into a dense copy.
  std::vector<float> a_buf, c_buf;
  const float* a = A.p;
  bool trans_a = false;
  int64_t lda = K;
  const bool a_blocked = A.kb > 0 && A.kb < K;
  if (!a_blocked && A.csa == 1 && A.rsa >= K) {
    lda = A.rsa;
  } else if (!a_blocked && A.rsa == 1 && A.csa >= M) {
    trans_a = true;
    lda = A.csa;
  } else {
    a_buf.resize(size_t(M * K));
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k) a_buf[size_t(i * K + k)] = A.p[a_offset(A, i, k)];
    a = a_buf.data();
  }
  // C likewise: in place if plain; else the product goes to a dense buffer
  // and each element is then added (or written) to its address — added one
  // by one, so addresses shared by several elements (col2im) get them all.
  const bool c_plain = !C.rows && (C.nb <= 0 || C.nb >= N) && C.ldc >= N;
  const bool load_c = accumulate && !row_init;
  float* c = C.p;
  int64_t ldc = C.ldc;
  if (!c_plain) {
    c_buf.assign(size_t(M * N), 0.f);
    c = c_buf.data();
    ldc = N;
  }
  sgemm_serial(trans_a, false, M, N, K, 1.f, a, lda, B, ldb, load_c && c_plain ? 1.f : 0.f, c, ldc);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      float* dst = c_plain ? c + i * ldc + j : C.p + c_offset(C, i, j);
      float v = c_plain ? *dst : c[i * ldc + j] + (load_c ? *dst : 0.f);
      if (row_init) v += row_init[i];  // added last, as in the AVX-512 kernel
      if (relu) v = v > 0.f ? v : 0.f;
      *dst = v;
    }
}

}  // namespace minidl
