// The int8 GEMM (core/qgemm.h): the requantization rule against exact
// arithmetic, packing, and every ISA path this CPU supports bit-identical to
// the reference loops — ragged M/N/K, K = 9 (conv1), extremes (255 × −127),
// zero points 0 and 255, per-channel and per-tensor multipliers, ReLU clamps,
// 1 and 2 threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/qgemm.h"
#include "qgemm_paths.h"
#include "test_util.h"



using namespace minidl;
using minidl::test::contains;
using minidl::test::error_of;
using minidl::test::IsaGuard;
using minidl::test::Path;
using minidl::test::paths;

namespace {

// The exact rounding of acc·m0 / 2^s, half up, in 80-bit long double (the
// product has ≤ 62 bits, so this is exact): an independent statement of the rule.
int64_t exact_round(int32_t acc, QuantMultiplier m) {
  const long double x = (long double)acc * (long double)m.m0;
  return (int64_t)std::floor(std::ldexp(x, -(31 + m.shift)) + 0.5L);
}

struct Case {
  int64_t M, N, K;
  int32_t zp;
  // 0 random, 1 all 255 × all −127, 2 all 0 × all 127, 3 all 255 × all 127;
  // 7-bit activations (the avx2 path's vpmaddubsw kernels): 4 random in
  // [0, 127], 5 all 127 × all −127, 6 all 127 × all −128 (2·127·128 = 32,512,
  // the largest int16 pair sum vpmaddubsw sees there)
  int fill;
  int a_max() const { return fill >= 4 ? 127 : 255; }
};

std::vector<uint8_t> make_a(const Case& c, int64_t lda, std::mt19937& g) {
  std::vector<uint8_t> a(size_t(c.M * lda + 1));
  for (auto& v : a) v = c.fill == 0 ? uint8_t(g() % 256) : c.fill == 4 ? uint8_t(g() % 128) : c.fill == 2 ? 0 : c.a_max();
  return a;
}
std::vector<int8_t> make_w(const Case& c, std::mt19937& g) {
  std::vector<int8_t> w(size_t(c.N * c.K));
  for (auto& v : w)
    v = c.fill == 0 || c.fill == 4 ? int8_t(int(g() % 255) - 127) : c.fill == 6 ? -128 : c.fill == 1 || c.fill == 5 ? -127 : 127;
  return w;
}

// Multipliers 2^-6 … 2^-18 (32 ≤ s ≤ 52: the kernels' 32-bit epilogue, AVX-512's
// with the zero point folded into the rounding offset), with `large` 1/2 … 4
// (s < 32: the general 64-bit one, mostly saturating), with `tiny` 2^-22 … 2^-30
// (s > 52: AVX-512's general one again). `frac`: a bias fraction
// (Requant::bias_frac) on every channel, extremes included. `qmax_above_zp` > 0:
// qmax = zp + it (at most 255), the upper clamp below 255 (7-bit codes' 127 is one).
enum class Scale { small, large, tiny };
Requant make_rq(int64_t N, std::mt19937& g, bool per_channel, bool relu, bool bias, Scale scale = Scale::small,
                bool frac = false, int32_t qmax_above_zp = 0) {
  Requant rq;
  rq.zero_point = int32_t(g() % 256);
  if (relu) rq.qmin = rq.zero_point;
  if (qmax_above_zp > 0) rq.qmax = std::min(255, rq.zero_point + qmax_above_zp);
  for (int64_t n = 0; n < (per_channel ? N : 1); ++n) {
    const int e = scale == Scale::large ? int(g() % 4) - 1 : scale == Scale::tiny ? -int(22 + g() % 9) : -int(6 + g() % 12);
    rq.multiplier.push_back(quantize_multiplier(std::ldexp(1.0 + (g() % 1000) / 1000.0, e)));
  }
  if (bias)
    for (int64_t n = 0; n < N; ++n) rq.bias.push_back(int32_t(g() % 200001) - 100000);
  if (frac)
    for (int64_t n = 0; n < N; ++n)
      rq.bias_frac.push_back(n == 0 ? (1 << 30) : n == 1 ? -(1 << 30) : int32_t(g() % ((1u << 31) + 1)) - (1 << 30));
  return rq;
}

// The requantizations each case runs: per channel (0, 2, 4, 6), ReLU (2, 3, 5),
// no bias (1), large (4) and tiny (6) multipliers, bias fractions (0, 4, 6), the
// upper clamp below 255 (5: qmax = zp + 40).
Requant variant_rq(int variant, int64_t N, std::mt19937& g) {
  if (variant == 5) return make_rq(N, g, false, true, true, Scale::small, false, 40);
  if (variant == 6) return make_rq(N, g, true, false, true, Scale::tiny, true);
  return make_rq(N, g, variant % 2 == 0, variant == 2 || variant == 3, variant != 1,
                 variant == 4 ? Scale::large : Scale::small, variant == 0 || variant == 4);
}
constexpr int kVariants = 7;

const Case kCases[] = {
    {1, 1, 1, 0, 0},      {3, 5, 7, 13, 0},      {17, 33, 9, 128, 0},  {64, 32, 9, 7, 0},
    {50, 100, 2304, 3, 0}, {7, 64, 288, 255, 0}, {49, 17, 31, 0, 0},   {96, 48, 64, 100, 0},
    {13, 19, 300, 255, 1}, {13, 19, 300, 0, 1},  {33, 65, 2304, 0, 1}, {5, 9, 9, 0, 2},
    {6, 40, 4096, 255, 3}, {130, 70, 37, 77, 0}, {2, 3, 65536, 0, 1},
    {17, 33, 9, 100, 4},   {96, 48, 64, 127, 4}, {50, 100, 2304, 3, 4}, {7, 64, 288, 0, 4},
    {13, 19, 300, 0, 5},   {33, 65, 2304, 127, 6}, {2, 3, 65536, 0, 6},
};

}  // namespace

TEST_CASE("quantize_multiplier: Q31 mantissa within 2^-31 relative, M < 1 and M >= 1") {
  std::mt19937 g(1);
  for (int i = 0; i < 2000; ++i) {
    const double M = std::ldexp(0.5 + (g() % 1000000) / 2e6, int(g() % 60) - 30);
    const QuantMultiplier q = quantize_multiplier(M);
    CHECK(q.m0 >= (1 << 30));
    CHECK(std::abs(q.value() - M) <= M * std::ldexp(1.0, -31));
  }
  CHECK(quantize_multiplier(0.5).m0 == (1 << 30));
  CHECK(quantize_multiplier(0.5).shift == 0);
  CHECK(quantize_multiplier(1.0).shift == -1);
  // rounding the mantissa up to 2^31 renormalises
  const QuantMultiplier up = quantize_multiplier(std::nextafter(1.0, 0.0));
  CHECK(up.m0 == (1 << 30));
  CHECK(up.value() == 1.0);
  // tiny: denormal mantissa at the largest shift
  const QuantMultiplier tiny = quantize_multiplier(1e-12);
  CHECK(31 + tiny.shift == 62);
  CHECK(std::abs(tiny.value() - 1e-12) <= std::ldexp(1.0, -63));
  for (double bad : {0.0, -1.0, std::nan(""), HUGE_VAL, std::ldexp(1.0, 30)})
    CHECK(contains(error_of([&] { quantize_multiplier(bad); }), "quantize_multiplier"));
}

TEST_CASE("requantize: one rounding, half up, clamp in range, against exact arithmetic") {
  std::mt19937 g(2);
  const int32_t accs[] = {0, 1, -1, 2, -2, 3, -3, 1000, -1000, INT32_MAX, INT32_MIN, INT32_MAX - 1, INT32_MIN + 1};
  std::vector<double> Ms = {0.5, 0.25, 1.0 / 3, 0.999999999, 1.0, 3.0, 1e-9, 1e-12, 0.0078125, 123.456};
  for (int i = 0; i < 200; ++i) Ms.push_back(std::ldexp(0.5 + (g() % 100000) / 2e5, -int(g() % 30)));
  for (double M : Ms) {
    const QuantMultiplier q = quantize_multiplier(M);
    auto check_one = [&](int32_t acc) {
      const int64_t r = exact_round(acc, q);
      for (int32_t zp : {0, 128, 255})
        for (auto [lo, hi] : {std::pair{0, 255}, std::pair{zp, 255}, std::pair{10, 20}}) {
          const int64_t want = std::min<int64_t>(std::max<int64_t>(r + zp, lo), hi);
          REQUIRE(requantize(acc, q, zp, lo, hi) == want);
        }
    };
    for (int32_t a : accs) check_one(a);
    for (int i = 0; i < 100; ++i) check_one(int32_t(g()));
  }
  // ties go up: ±0.5 → 1 / 0, ±1.5 → 2 / −1 (not half-even, not away from zero)
  const QuantMultiplier half = quantize_multiplier(0.5);
  CHECK(requantize(1, half, 0, -100, 100) == 1);
  CHECK(requantize(-1, half, 0, -100, 100) == 0);
  CHECK(requantize(3, half, 0, -100, 100) == 2);
  CHECK(requantize(-3, half, 0, -100, 100) == -1);
  // A bias fraction f (Q31) rounds (acc + f/2^31)·M: checked against long double
  // arithmetic away from ties (within 2^-20 of one, either neighbour is right).
  for (double M : Ms) {
    const QuantMultiplier q = quantize_multiplier(M);
    for (int i = 0; i < 300; ++i) {
      const int32_t acc = i < 13 ? accs[i] : int32_t(g());
      const int32_t f = i % 3 == 0 ? (1 << 30) : i % 3 == 1 ? -(1 << 30) : int32_t(g() % ((1u << 31) + 1)) - (1 << 30);
      const long double x = std::ldexp(((long double)acc + std::ldexp((long double)f, -31)) * (long double)q.m0,
                                       -(31 + q.shift));
      const long double dist = std::fabs(x - std::floor(x) - 0.5L);
      if (dist < 1e-6L * std::max(1.0L, std::fabs(x) * 1e-12L)) continue;
      const int64_t want = std::min<int64_t>(std::max<int64_t>(int64_t(std::floor(x + 0.5L)) + 3, 0), 255);
      CAPTURE(M); CAPTURE(acc); CAPTURE(f);
      REQUIRE(requantize(acc, q, 3, 0, 255, f) == want);
    }
  }
  // +½ of an accumulator unit moves the value half a step at M = 1: 2 + ½ → 3 (ties up), 2 − ½ → 2
  CHECK(requantize(2, quantize_multiplier(1.0), 0, -100, 100, 1 << 30) == 3);
  CHECK(requantize(2, quantize_multiplier(1.0), 0, -100, 100, -(1 << 30)) == 2);
  CHECK(requantize(2, quantize_multiplier(1.0), 0, -100, 100, -(1 << 30) + 1) == 2);
  // M > 1 saturates at the clamp instead of overflowing
  CHECK(requantize(INT32_MAX, quantize_multiplier(1000.0), 10, 0, 255) == 255);
  CHECK(requantize(INT32_MIN, quantize_multiplier(1000.0), 10, 0, 255) == 0);
}

TEST_CASE("pack_weights: column sums, zero-padded layouts, errors") {
  std::vector<int8_t> w = {1, -2, 3, 127, -127, 5, 0, 0, 9, -1};  // [2][5]
  const PackedWeights p = pack_weights(w.data(), 2, 5);
  CHECK(p.kp == 8);
  CHECK(p.col_sums == std::vector<int32_t>{1 - 2 + 3 + 127 - 127, 5 + 9 - 1});
  CHECK(p.rows[5] == 0);
  CHECK(p.rows[8 + 4] == -1);
  CHECK(p.panels[4 * 1 + 0] == 5);    // k 0, column 1
  CHECK(p.panels[64 + 0] == -127);    // k 4 (group 1), column 0
  CHECK(p.panels16[2 * 1 + 1] == 0);  // k 1, column 1
  CHECK(p.shape == std::vector<int64_t>{2, 5});
  CHECK(contains(error_of([&] { pack_weights(w.data(), 2, 0); }), "1 <= k <= 65536"));
  CHECK(contains(error_of([&] { pack_weights(w.data(), 2, 5, {2, 2, 2}); }), "shape [2, 2, 2]"));
  std::vector<int8_t> big(size_t(65537));
  CHECK(contains(error_of([&] { pack_weights(big.data(), 1, 65537); }), "65536"));
}

TEST_CASE("qgemm u8s8s32 / u8s8u8: every supported path bit-identical to the reference") {
  IsaGuard guard;
  std::mt19937 g(3);
  for (const Path& path : paths()) {
    if (path.name.ends_with("-wx")) continue;  // the same xw/wx kernels as another path (they differ on convolutions)
    path.use();
    CAPTURE(path.name);
    for (const Case& c : kCases) {
      if (c.a_max() > path.a_max) continue;
      CAPTURE(c.M); CAPTURE(c.N); CAPTURE(c.K); CAPTURE(c.zp); CAPTURE(c.fill);
      const int64_t lda = c.K + int64_t(g() % 3), ldc = c.N + int64_t(g() % 3);
      const std::vector<uint8_t> a = make_a(c, lda, g);
      const std::vector<int8_t> w = make_w(c, g);
      const PackedWeights p = pack_weights(w.data(), c.N, c.K);
      for (int variant = 0; variant < kVariants; ++variant) {
        const Requant rq = variant_rq(variant, c.N, g);
        const int32_t* bias = rq.bias.empty() ? nullptr : rq.bias.data();
        std::vector<int32_t> want32(size_t(c.M * ldc), -7), got32(want32);
        qgemm_reference_s32(c.M, c.N, c.K, a.data(), lda, c.zp, w.data(), c.K, bias, want32.data(), ldc);
        std::vector<uint8_t> want8(size_t(c.M * ldc), 7), got8(want8);
        qgemm_reference_u8(c.M, c.N, c.K, a.data(), lda, c.zp, w.data(), c.K, rq, want8.data(), ldc);
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          qgemm_u8s8s32(c.M, a.data(), lda, c.zp, p, bias, got32.data(), ldc);
          qgemm_u8s8u8(c.M, a.data(), lda, c.zp, p, rq, got8.data(), ldc);
          REQUIRE(got32 == want32);  // untouched padding included
          REQUIRE(got8 == want8);
        }
      }
    }
  }
  set_num_threads(2);
}

TEST_CASE("qgemm_wx (conv orientation, C[n][p]): every supported path bit-identical to the reference") {
  IsaGuard guard;
  std::mt19937 g(4);
  for (const Path& path : paths()) {
    if (path.name.ends_with("-wx")) continue;  // the same xw/wx kernels as another path (they differ on convolutions)
    path.use();
    CAPTURE(path.name);
    for (const Case& c : kCases) {
      if (c.K > 5000 || c.a_max() > path.a_max) continue;
      CAPTURE(c.M); CAPTURE(c.N); CAPTURE(c.K); CAPTURE(c.fill);
      const int64_t P = c.M, ldx = P + int64_t(g() % 5), ldc = P + int64_t(g() % 3);
      // X [K][P]; the reference multiplies Xᵀ (as A [P][K]) and transposes back
      Case cx = c;
      cx.M = c.K;
      const std::vector<uint8_t> x = make_a(cx, ldx, g);
      std::vector<uint8_t> xt(size_t(P * c.K));
      for (int64_t k = 0; k < c.K; ++k)
        for (int64_t q = 0; q < P; ++q) xt[size_t(q * c.K + k)] = x[size_t(k * ldx + q)];
      const std::vector<int8_t> w = make_w(c, g);
      const PackedWeights p = pack_weights(w.data(), c.N, c.K);
      for (int variant = 0; variant < kVariants; ++variant) {
        const Requant rq = variant_rq(variant, c.N, g);
        const int32_t* bias = rq.bias.empty() ? nullptr : rq.bias.data();
        std::vector<int32_t> ref32(size_t(P * c.N));
        std::vector<uint8_t> ref8(size_t(P * c.N));
        qgemm_reference_s32(P, c.N, c.K, xt.data(), c.K, c.zp, w.data(), c.K, bias, ref32.data(), c.N);
        qgemm_reference_u8(P, c.N, c.K, xt.data(), c.K, c.zp, w.data(), c.K, rq, ref8.data(), c.N);
        std::vector<int32_t> want32(size_t(c.N * ldc), -7), got32(want32);
        std::vector<uint8_t> want8(size_t(c.N * ldc), 7), got8(want8);
        for (int64_t n = 0; n < c.N; ++n)
          for (int64_t q = 0; q < P; ++q) {
            want32[size_t(n * ldc + q)] = ref32[size_t(q * c.N + n)];
            want8[size_t(n * ldc + q)] = ref8[size_t(q * c.N + n)];
          }
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          qgemm_wx_s32(P, x.data(), ldx, c.zp, p, bias, got32.data(), ldc);
          qgemm_wx_u8(P, x.data(), ldx, c.zp, p, rq, got8.data(), ldc);
          REQUIRE(got32 == want32);
          REQUIRE(got8 == want8);
        }
      }
    }
  }
  set_num_threads(2);
}

TEST_CASE("qgemm: ISA names, forcing a path, bad arguments") {
  IsaGuard guard;
  CHECK(parse_qisa("avx512vnni") == QIsa::Avx512Vnni);
  CHECK(parse_qisa("generic") == QIsa::Generic);
  CHECK(contains(error_of([] { parse_qisa("sse9"); }), "unknown path 'sse9' (allowed: avx512vnni, avxvnni"));
  CHECK(qisa_supported(QIsa::Generic));
  CHECK(qisa_supported(qgemm_best_isa()));
  for (QIsa i : {QIsa::Avx2, QIsa::AvxVnni, QIsa::Avx512Vnni})
    if (!qisa_supported(i))
      CHECK(contains(error_of([&] { set_qgemm_isa(i); }), "this CPU does not support the"));
  set_qgemm_isa(QIsa::Generic);
  CHECK(qgemm_isa() == QIsa::Generic);

  std::vector<int8_t> w(6, 1);
  const PackedWeights p = pack_weights(w.data(), 2, 3);
  std::vector<uint8_t> a(6, 1), c8(4);
  std::vector<int32_t> c32(4);
  CHECK(contains(error_of([&] { qgemm_u8s8s32(2, a.data(), 2, 0, p, nullptr, c32.data(), 2); }),
                 "row stride 2 is smaller than K = 3"));
  CHECK(contains(error_of([&] { qgemm_u8s8s32(2, a.data(), 3, 300, p, nullptr, c32.data(), 2); }),
                 "zero point 300"));
  Requant rq;
  rq.multiplier = {quantize_multiplier(0.1), quantize_multiplier(0.1), quantize_multiplier(0.1)};
  CHECK(contains(error_of([&] { qgemm_u8s8u8(2, a.data(), 3, 0, p, rq, c8.data(), 2); }),
                 "3 multipliers for 2 output channels"));
  rq.multiplier.resize(1);
  rq.qmin = 200, rq.qmax = 100;
  CHECK(contains(error_of([&] { qgemm_u8s8u8(2, a.data(), 3, 0, p, rq, c8.data(), 2); }), "clamp range [200, 100]"));
  rq.qmin = 0, rq.qmax = 255;
  rq.bias_frac = {1, 2, 3};
  CHECK(contains(error_of([&] { qgemm_u8s8u8(2, a.data(), 3, 0, p, rq, c8.data(), 2); }),
                 "bias_frac has 3 entries, the layer has 2 output channels"));
  rq.bias_frac = {0, (1 << 30) + 1};
  CHECK(contains(error_of([&] { qgemm_u8s8u8(2, a.data(), 3, 0, p, rq, c8.data(), 2); }),
                 "bias fraction 1073741825 (Q31) is outside [-2^30, 2^30]"));
}

TEST_CASE("all_below_128: the avx2 path's test for its vpmaddubsw kernels, strides respected") {
  std::vector<uint8_t> a(3 * 8, 127);  // 3 rows of 5 bytes, row stride 8
  for (int r = 0; r < 3; ++r)
    for (int c = 5; c < 8; ++c) a[size_t(r * 8 + c)] = 200;  // the gaps between rows are not activations
  CHECK(all_below_128(a.data(), 3, 5, 8));
  CHECK_FALSE(all_below_128(a.data(), 3, 6, 8));
  a[2 * 8 + 4] = 128;  // the last byte of the block
  CHECK_FALSE(all_below_128(a.data(), 3, 5, 8));
  CHECK(all_below_128(a.data(), 2, 5, 8));
  CHECK(all_below_128(nullptr, 0, 5, 8));
  CHECK(all_below_128(nullptr, 3, 0, 8));
}

TEST_CASE("avx2: the vpmaddubsw kernels saturate on 8-bit data, so the path checks the data first") {
  if (!qisa_supported(QIsa::Avx2)) return;
  IsaGuard guard;
  const int64_t M = 4, N = 16, K = 64;
  std::vector<uint8_t> a(size_t(M * K), 255);
  std::vector<int8_t> w(size_t(N * K), -127);
  const PackedWeights p = pack_weights(w.data(), N, K);
  std::vector<int32_t> got(size_t(M * N)), forced(got);
  set_qgemm_isa(QIsa::Avx2);
  qgemm_u8s8s32(M, a.data(), K, 0, p, nullptr, got.data(), N);
  qkern::set_kernels_for_testing(qkern::xw_avx2_u7, qkern::wx_avx2_u7);
  qgemm_u8s8s32(M, a.data(), K, 0, p, nullptr, forced.data(), N);
  qkern::set_kernels_for_testing(nullptr, nullptr);
  CHECK(got[0] == K * 255 * -127);    // the path: exact (widening kernel chosen)
  CHECK(forced[0] == K / 2 * -32768);  // the 7-bit kernel forced: every pair sum saturated
  // the same for a padded convolution whose input is 7-bit but whose zero point (the padding) is not
  std::vector<uint8_t> x(size_t(1 * 4 * 4), 0), out(size_t(16 * 36));
  std::vector<int8_t> cw(size_t(16 * 9), -127);
  const PackedWeights pc = pack_weights(cw.data(), 16, 9, {16, 1, 3, 3});
  std::vector<int32_t> acc(size_t(16 * 36));
  qconv_image_s32(x.data(), 1, 4, 4, 1, 1, 255, pc, nullptr, acc.data());
  // corner: 4 taps in the image, (0 − 255)·(−127) each; 5 in the padding read 255, the zero point, and add
  // 0 — but as raw bytes 255 × −127 they would saturate vpmaddubsw's pairs
  CHECK(acc[0] == 4 * 255 * 127);
}
