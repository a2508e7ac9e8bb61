// minidl/core/qops_avx512.cpp — the AVX-512 (BW) parts of the int8 ops around
// the GEMM: channels-last average pooling and the 16×16-block transposes
// (uint8 and int32) between NCHW and channels-last. Compiled with
// -march=x86-64-v4; called only on the avx512vnni path (core/qops.cpp,
// core/qgemm.cpp), whose CPUID check covers AVX-512 BW.
#include <immintrin.h>

#include <cstdint>

#include "core/qgemm_kernels.h"

#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see core/qgemm_avx512vnni.cpp
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace minidl::qkern {

namespace {

inline __mmask16 first(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }
inline __mmask64 first64(int64_t n) { return n >= 64 ? ~__mmask64(0) : (__mmask64(1) << n) - 1; }

// 16 codes (int32 lanes in [0, 255]) → the first 16 bytes, in order (the packs
// interleave 128-bit lanes, the permutation undoes it; see pack_codes in
// core/qgemm_avx512vnni.cpp, where it packs four vectors).
inline __m128i pack16(__m512i v) {
  const __m512i u = _mm512_packus_epi16(_mm512_packs_epi32(v, v), _mm512_packs_epi32(v, v));
  return _mm512_castsi512_si128(
      _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), u));
}

// 16×16 bytes: d[j][i] = s[i][j], in four unpack rounds (8-, 16-, 32-, 64-bit
// interleaves; after round r each register holds 2^r rows' bytes of one column group).
inline void transpose16(const uint8_t* s, int64_t lds, uint8_t* d, int64_t ldd) {
  __m128i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i * lds));
  for (int i = 0; i < 8; ++i)  // t[i]: columns 0–7 of rows 2i, 2i+1; t[8+i]: columns 8–15
    t[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]), t[8 + i] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
  for (int h = 0; h < 16; h += 8)  // r[h/2 + i]: 4 columns × rows 4i..4i+3 (h: column half)
    for (int i = 0; i < 4; ++i)
      r[h + i] = _mm_unpacklo_epi16(t[h + 2 * i], t[h + 2 * i + 1]),
      r[h + 4 + i] = _mm_unpackhi_epi16(t[h + 2 * i], t[h + 2 * i + 1]);
  for (int g = 0; g < 16; g += 4)  // group g: columns g..g+3; t[g], t[g+1]: 2 columns × rows 0–7 / 8–15
    for (int i = 0; i < 2; ++i)
      t[g + i] = _mm_unpacklo_epi32(r[g + 2 * i], r[g + 2 * i + 1]),
      t[g + 2 + i] = _mm_unpackhi_epi32(r[g + 2 * i], r[g + 2 * i + 1]);
  for (int g = 0; g < 16; g += 4)
    for (int h = 0; h < 4; h += 2) {
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (g + h) * ldd), _mm_unpacklo_epi64(t[g + h], t[g + h + 1]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(d + (g + h + 1) * ldd), _mm_unpackhi_epi64(t[g + h], t[g + h + 1]));
    }
}

// 16×16 int32: d[j][i] = s[i][j]. 32- and 64-bit unpacks leave lane L of
// r[4i + j] holding column 4L + j of rows 4i … 4i+3; 128-bit shuffles gather
// each column's four lanes.
inline void transpose16_s32(const int32_t* s, int64_t lds, int32_t* d, int64_t ldd) {
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(s + i * lds);
  for (int i = 0; i < 8; ++i)
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    const __m512i a = _mm512_shuffle_i32x4(r[j], r[4 + j], 0x44), b = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0x44);
    const __m512i c = _mm512_shuffle_i32x4(r[j], r[4 + j], 0xEE), e = _mm512_shuffle_i32x4(r[8 + j], r[12 + j], 0xEE);
    _mm512_storeu_si512(d + j * ldd, _mm512_shuffle_i32x4(a, b, 0x88));
    _mm512_storeu_si512(d + (4 + j) * ldd, _mm512_shuffle_i32x4(a, b, 0xDD));
    _mm512_storeu_si512(d + (8 + j) * ldd, _mm512_shuffle_i32x4(c, e, 0x88));
    _mm512_storeu_si512(d + (12 + j) * ldd, _mm512_shuffle_i32x4(c, e, 0xDD));
  }
}

// d[j][i] = s[i][j] in 16×16 blocks (block: transpose16 or transpose16_s32), the
// ragged right and bottom edges element by element.
template <class T, class Block>
void transpose_blocks(const T* s, int64_t rows, int64_t cols, int64_t lds, T* d, int64_t ldd, Block block) {
  const int64_t r16 = rows / 16 * 16, c16 = cols / 16 * 16;
  for (int64_t i = 0; i < r16; i += 16)
    for (int64_t j = 0; j < c16; j += 16) block(s + i * lds + j, lds, d + j * ldd + i, ldd);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = i < r16 ? c16 : 0; j < cols; ++j) d[j * ldd + i] = s[i * lds + j];
}
}  // namespace

void transpose_u8_avx512(const uint8_t* s, int64_t rows, int64_t cols, int64_t lds, uint8_t* d, int64_t ldd) {
  transpose_blocks(s, rows, cols, lds, d, ldd, transpose16);
}


// Average pooling of one channels-last image y [H][W][C] → out [OH·OW][C], for a
// power-of-two window area (log2_2d = log2(2·k²)): the window's codes summed,
// then rdiv_half_even of core/qops.cpp lane by lane: q = (2·Σ(y − zp) + k²) >>
// log2_2d, one step down when that was an exact tie on an odd q, + zp, clamped
// to [0, 255]. Windows up to 8×8 sum in int16 (|2·Σ(y − zp) + k²| ≤ 2·64·255 + 64
// < 2^15): 64 channels per load, bytes widened by unpacking with zero (the
// 128-bit lanes' interleave, which the final packus_epi16 undoes), the clamp
// the packus itself — 5 instructions per tap and 64 channels where the int32
// loop takes 12; that loop had been a twentieth of conv2 + pooling. Larger
// windows: int32, 16 channels at a time.
namespace {
inline __m512i pool_finish16(__m512i acc, __m512i area, __m128i sh, __m512i low, __m512i zp) {
  const __m512i one = _mm512_set1_epi16(1);
  const __m512i num = _mm512_add_epi16(_mm512_add_epi16(acc, acc), area);
  __m512i q = _mm512_sra_epi16(num, sh);
  const __mmask32 tie_odd = _mm512_cmpeq_epi16_mask(_mm512_and_si512(num, low), _mm512_setzero_si512()) &
                            _mm512_test_epi16_mask(q, one);
  return _mm512_add_epi16(_mm512_mask_sub_epi16(q, tie_odd, q, one), zp);
}
void pool_cl_i16(const uint8_t* y, int64_t W, int64_t C, int32_t zp, int k, int s, int log2_2d, int64_t OH,
                 int64_t OW, uint8_t* out) {
  const int16_t area = int16_t(k * k);
  const __m512i base = _mm512_set1_epi16(int16_t(-area * zp)), d = _mm512_set1_epi16(area);
  const __m512i low = _mm512_set1_epi16(int16_t((1 << log2_2d) - 1)), zpv = _mm512_set1_epi16(int16_t(zp));
  const __m512i zero = _mm512_setzero_si512();
  const __m128i sh = _mm_cvtsi32_si128(log2_2d);
  for (int64_t oy = 0; oy < OH; ++oy)
    for (int64_t ox = 0; ox < OW; ++ox)
      for (int64_t c = 0; c < C; c += 64) {
        const __mmask64 m = first64(C - c);
        __m512i lo = base, hi = base;
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j) {
            const __m512i v = _mm512_maskz_loadu_epi8(m, y + ((oy * s + i) * W + ox * s + j) * C + c);
            lo = _mm512_add_epi16(lo, _mm512_unpacklo_epi8(v, zero));
            hi = _mm512_add_epi16(hi, _mm512_unpackhi_epi8(v, zero));
          }
        const __m512i codes =
            _mm512_packus_epi16(pool_finish16(lo, d, sh, low, zpv), pool_finish16(hi, d, sh, low, zpv));
        _mm512_mask_storeu_epi8(out + (oy * OW + ox) * C + c, m, codes);
      }
}
}  // namespace

void pool_cl_avx512(const uint8_t* y, int64_t W, int64_t C, int32_t zp, int k, int s, int log2_2d, int64_t OH,
                    int64_t OW, uint8_t* out) {
  if (k <= 8) return pool_cl_i16(y, W, C, zp, k, s, log2_2d, OH, OW, out);
  const int32_t area = k * k;
  const __m512i base = _mm512_set1_epi32(-area * zp), d = _mm512_set1_epi32(area);
  const __m512i low = _mm512_set1_epi32((1 << log2_2d) - 1), one = _mm512_set1_epi32(1);
  const __m512i zpv = _mm512_set1_epi32(zp), zero = _mm512_setzero_si512(), top = _mm512_set1_epi32(255);
  const __m128i sh = _mm_cvtsi32_si128(log2_2d);
  for (int64_t oy = 0; oy < OH; ++oy)
    for (int64_t ox = 0; ox < OW; ++ox)
      for (int64_t c = 0; c < C; c += 16) {
        const __mmask16 m = first(C - c);
        __m512i acc = base;
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j)
            acc = _mm512_add_epi32(acc, _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, y + ((oy * s + i) * W + ox * s + j) * C + c)));
        const __m512i num = _mm512_add_epi32(_mm512_slli_epi32(acc, 1), d);
        __m512i q = _mm512_sra_epi32(num, sh);
        const __mmask16 tie_odd = _mm512_cmpeq_epi32_mask(_mm512_and_si512(num, low), zero) & _mm512_test_epi32_mask(q, one);
        q = _mm512_mask_sub_epi32(q, tie_odd, q, one);
        const __m512i v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(q, zpv), zero), top);
        _mm_mask_storeu_epi8(out + (oy * OW + ox) * C + c, m, pack16(v));
      }
}

void transpose_s32_avx512(const int32_t* s, int64_t rows, int64_t cols, int64_t lds, int32_t* d, int64_t ldd) {
  transpose_blocks(s, rows, cols, lds, d, ldd, transpose16_s32);
}
}  // namespace minidl::qkern
