// minidl/core/qgemm_generic.cpp — the portable C++ path of the int8 GEMM
// (core/qgemm_kernels.h): plain loops the compiler may vectorise for whatever
// the build targets. Correct on every CPU; the x86 paths are the fast ones.
#include <cstddef>
#include <cstdint>

#include "core/qgemm_kernels.h"

namespace minidl::qkern {

namespace {

// The epilogue of core/qgemm.h for one value of channel c.
inline void store(const Out& o, int64_t c, int64_t at, int32_t v) {
  if (o.c32) {
    o.c32[at] = v;
    return;
  }
  const int s = o.rs[c];
  int64_t r = (int64_t(v) * o.m0[c] + o.rnd[c]) >> s;
  r = r < o.lo ? o.lo : r > o.hi ? o.hi : r;
  o.c8[at] = uint8_t(r + o.zp);
}

// Wrapping int32 add (the accumulator is defined modulo 2^32).
inline int32_t wadd(int32_t a, int32_t b) { return int32_t(uint32_t(a) + uint32_t(b)); }

}  // namespace

void xw_generic(int64_t m_lo, int64_t m_hi, const uint8_t* A, int64_t lda, const W& w, const Out& o) {
  for (int64_t m = m_lo; m < m_hi; ++m) {
    const uint8_t* a = A + m * lda;
    for (int64_t c = 0; c < w.n; ++c) {
      const int8_t* wr = w.rows + c * w.kp;
      int32_t acc = 0;
      for (int64_t k = 0; k < w.k; ++k) acc += int32_t(a[k]) * wr[k];
      store(o, c, m * o.ldc + c, wadd(acc, o.bias[c]));
    }
  }
}

void wx_generic(int64_t p_lo, int64_t p_hi, const XSrc& X, const W& w, const Out& o) {
  constexpr int64_t PB = 64;  // pixels per accumulator block
  int32_t acc[PB];
  uint8_t* block = new uint8_t[size_t(w.k * PB)];  // X[k][p0 .. p0+np), fetched once per block
  for (int64_t p0 = p_lo; p0 < p_hi; p0 += PB) {
    const int64_t np = p_hi - p0 < PB ? p_hi - p0 : PB;
    const int64_t oy = X.conv ? p0 / X.OW : 0, ox = X.conv ? p0 % X.OW : 0;
    for (int64_t k = 0; k < w.k; ++k) {
      const uint8_t* src = x_row(X, k, p0, oy, ox, np, block + k * PB);
      if (src != block + k * PB)
        for (int64_t j = 0; j < np; ++j) block[k * PB + j] = src[j];
    }
    for (int64_t c = 0; c < w.n; ++c) {
      const int8_t* wr = w.rows + c * w.kp;
      for (int64_t j = 0; j < np; ++j) acc[j] = 0;
      for (int64_t k = 0; k < w.k; ++k) {
        const int32_t wk = wr[k];
        const uint8_t* x = block + k * PB;
        for (int64_t j = 0; j < np; ++j) acc[j] += wk * x[j];
      }
      for (int64_t j = 0; j < np; ++j) store(o, c, c * o.ldc + p0 + j, wadd(acc[j], o.bias[c]));
    }
  }
  delete[] block;
}

}  // namespace minidl::qkern
