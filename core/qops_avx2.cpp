// minidl/core/qops_avx2.cpp — quantize_per_tensor's loop, the seed's 4×4 /
// stride-4 average pooling on uint8 codes (planar) and the channels-last
// pooling of small power-of-two windows, AVX2. Compiled with
// -march=x86-64-v3 (core/CMakeLists.txt) and called by core/qops.cpp only when
// CPUID reports AVX2 (the pooling) or an int8 path other than "generic" is in
// use (quantize: every other path needs AVX2), so a portable build (baseline
// x86-64, no SSE4.1) still gets it; includes no shared inline code (see
// core/qgemm_kernels.h).
//
// One band of 4 input rows gives one output row. vpmaddubsw with ones adds
// adjacent byte pairs (255 + 255 cannot saturate int16), vpmaddwd with ones
// adds those pairs: per int32 lane the sum of 4 consecutive bytes of a row, so
// a 32-byte row load gives 8 window-row sums, and 4 rows give 8 window sums.
// Then Σ(q − zp) rounded half to even over 16, as rdiv_half_even in
// core/qops.cpp: num = 2·Σ + 16, q = num >> 5, and on a tie (num ≡ 0 mod 32)
// an odd q is stepped down.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace minidl::qkern {

namespace {

// 8 window sums (Σ q − 16·zp) → 8 codes, clamped to [0, 255] by the packs.
inline __m128i finish(__m256i sum, int32_t zp) {
  const __m256i num = _mm256_add_epi32(_mm256_add_epi32(sum, sum), _mm256_set1_epi32(16));
  __m256i q = _mm256_srai_epi32(num, 5);
  const __m256i tie = _mm256_cmpeq_epi32(_mm256_and_si256(num, _mm256_set1_epi32(31)), _mm256_setzero_si256());
  q = _mm256_sub_epi32(q, _mm256_and_si256(tie, _mm256_and_si256(q, _mm256_set1_epi32(1))));
  q = _mm256_add_epi32(q, _mm256_set1_epi32(zp));
  const __m128i w16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
  return _mm_packus_epi16(w16, w16);
}

}  // namespace

// out[o] for o ∈ [0, OW), OW ≥ 4, from band rows 0..3 (row stride W ≥ 4·OW).
// Steps of 8 outputs; the last starts at OW − 8 (overlapping, same values);
// OW < 8 takes one step of 4 from 16-byte loads (at OW − 4, overlapping).
void pool4_band_avx2(const uint8_t* band, int64_t W, int64_t OW, int32_t zp, uint8_t* out) {
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  if (OW < 8) {
    for (int64_t o = 0; o < OW; o += 4) {
      const int64_t oo = o + 4 <= OW ? o : OW - 4;
      __m256i sum = _mm256_set1_epi32(-16 * zp);
      for (int i = 0; i < 4; ++i) {
        const __m128i row = _mm_loadu_si128(reinterpret_cast<const __m128i*>(band + i * W + 4 * oo));
        sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_castsi128_si256(row), ones8), ones16));
      }
      const int32_t four = _mm_cvtsi128_si32(finish(sum, zp));  // lanes 0..3 (4..7 are not used)
      std::memcpy(out + oo, &four, 4);
    }
    return;
  }
  for (int64_t o = 0; o < OW; o += 8) {
    const int64_t oo = o + 8 <= OW ? o : OW - 8;
    __m256i sum = _mm256_set1_epi32(-16 * zp);
    for (int i = 0; i < 4; ++i) {
      const __m256i row = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(band + i * W + 4 * oo));
      sum = _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(row, ones8), ones16));
    }
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + oo), finish(sum, zp));
  }
}

// q[i] = clamp(rint(x[i]·inv) + zp, 0, top) for i ∈ [0, n − n mod 32), as the
// scalar loop of quantize_per_tensor (core/qops.cpp), which does the rest: the
// same float product, vroundps in the current rounding mode (rint's), the same
// float add and clamps (±inf clamp; max/min order makes no difference without
// NaN). Returns how many it did; *nan is set if one of them is NaN (its code is
// then unspecified: the caller reports the element).
int64_t quantize_avx2(const float* x, int64_t n, float inv, float zp, float top, uint8_t* q, bool* nan) {
  const __m256 vinv = _mm256_set1_ps(inv), vzp = _mm256_set1_ps(zp), vtop = _mm256_set1_ps(top);
  const __m256 zero = _mm256_setzero_ps();
  __m256 seen = zero;
  auto codes = [&](const float* p) {
    const __m256 v = _mm256_loadu_ps(p);
    seen = _mm256_or_ps(seen, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    const __m256 r = _mm256_add_ps(_mm256_round_ps(_mm256_mul_ps(v, vinv), _MM_FROUND_CUR_DIRECTION), vzp);
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(r, zero), vtop));  // integral: exact
  };
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {  // 32 codes: two packs and a lane fix-up
    const __m256i a = _mm256_packs_epi32(codes(x + i), codes(x + i + 8));
    const __m256i b = _mm256_packs_epi32(codes(x + i + 16), codes(x + i + 24));
    const __m256i u = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), u);
  }
  if (_mm256_movemask_ps(seen) != 0) *nan = true;
  return i;
}

// Average pooling of one channels-last image y [H][W][C] → out [OH·OW][C], a
// k×k window (k ≤ 8) of power-of-two area (log2_2d = log2(2·k²)), the rule of
// core/qops.cpp's rdiv_half_even lane by lane (as pool_cl_avx512): q =
// (2·Σ(y − zp) + k²) >> log2_2d, one step down on an exact tie with q odd, + zp,
// clamped to [0, 255] by the final packus. Sums in int16 (|2·Σ(y − zp) + k²| ≤
// 2·64·255 + 64 < 2^15), 32 channels per load widened by unpacking with zero
// (the 128-bit lanes' interleave, which packus_epi16 undoes); channels past the
// last multiple of 32 go through the same arithmetic from a zero-padded copy.
namespace {
inline __m256i pool_finish16(__m256i acc, __m256i area, __m128i sh, __m256i low, __m256i zp) {
  const __m256i one = _mm256_set1_epi16(1);
  const __m256i num = _mm256_add_epi16(_mm256_add_epi16(acc, acc), area);
  __m256i q = _mm256_sra_epi16(num, sh);
  const __m256i tie = _mm256_cmpeq_epi16(_mm256_and_si256(num, low), _mm256_setzero_si256());
  q = _mm256_sub_epi16(q, _mm256_and_si256(tie, _mm256_and_si256(q, one)));
  return _mm256_add_epi16(q, zp);
}
}  // namespace

void pool_cl_avx2(const uint8_t* y, int64_t W, int64_t C, int32_t zp, int k, int s, int log2_2d, int64_t OH,
                  int64_t OW, uint8_t* out) {
  const int16_t area = int16_t(k * k);
  const __m256i base = _mm256_set1_epi16(int16_t(-area * zp)), d = _mm256_set1_epi16(area);
  const __m256i low = _mm256_set1_epi16(int16_t((1 << log2_2d) - 1)), zpv = _mm256_set1_epi16(int16_t(zp));
  const __m256i zero = _mm256_setzero_si256();
  const __m128i sh = _mm_cvtsi32_si128(log2_2d);
  alignas(32) uint8_t tail[32];
  for (int64_t oy = 0; oy < OH; ++oy)
    for (int64_t ox = 0; ox < OW; ++ox)
      for (int64_t c = 0; c < C; c += 32) {
        const int64_t n = C - c < 32 ? C - c : 32;
        __m256i lo = base, hi = base;
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < k; ++j) {
            const uint8_t* src = y + ((oy * s + i) * W + ox * s + j) * C + c;
            if (n < 32) std::memset(tail, 0, 32), std::memcpy(tail, src, size_t(n)), src = tail;
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
            lo = _mm256_add_epi16(lo, _mm256_unpacklo_epi8(v, zero));
            hi = _mm256_add_epi16(hi, _mm256_unpackhi_epi8(v, zero));
          }
        const __m256i codes =
            _mm256_packus_epi16(pool_finish16(lo, d, sh, low, zpv), pool_finish16(hi, d, sh, low, zpv));
        uint8_t* dst = out + (oy * OW + ox) * C + c;
        if (n == 32) {
          _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), codes);
        } else {
          _mm256_store_si256(reinterpret_cast<__m256i*>(tail), codes);
          std::memcpy(dst, tail, size_t(n));
        }
      }
}

}  // namespace minidl::qkern
