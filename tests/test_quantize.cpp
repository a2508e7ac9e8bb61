// Tests of compress/ int8 quantization: the scheme's arithmetic, observers, prepare /
// calibrate / convert, the integer-only modules, QAT with FakeQuantize, checkpoints.
// (PyTorch parity is tests/parity/torch_quant_parity.py; the gradient of fake_quantize is
// checked by rows of the gradient-check table, tests/gradcheck_table_quantize.h.)
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "compress/fake_quantize.h"
#include "compress/observer.h"
#include "compress/onnx_export.h"
#include "compress/prune.h"
#include "compress/quantize.h"
#include "compress/quantized_checkpoint.h"
#include "compress/quantized_modules.h"
#include "core/ops.h"
#include "core/random.h"
#include "datasets/dataset.h"
#include "nn/checkpoint.h"
#include "nn/seed_cnn.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::test;
namespace cp = minidl::compress;

namespace {

// A small seed-CNN-shaped model on 12×12 images, with random weights and inputs in [0, 1].
std::shared_ptr<nn::Sequential> small_net(bool bn, uint64_t seed = 3) {
  Generator g(seed);
  auto net = nn::seed_cnn({.batchnorm = bn, .image_size = 12, .conv1_channels = 4, .conv2_channels = 6, .hidden = 8}, g);
  if (bn) {  // non-trivial statistics so that folding matters
    for (const char* b : {"bn1", "bn2"}) {
      auto m = net->get_submodule(b);
      m->buffer("running_mean").copy_(Tensor::normal(m->buffer("running_mean").shape(), 0.f, 0.2f, g));
      m->buffer("running_var").copy_(Tensor::uniform(m->buffer("running_var").shape(), 0.5f, 2.f, g));
      m->parameter("weight").copy_(Tensor::uniform(m->parameter("weight").shape(), 0.5f, 1.5f, g));
    }
  }
  net->eval();
  return net;
}

datasets::DatasetPtr images(int64_t n, uint64_t seed = 11) {
  Generator g(seed);
  Tensor x = Tensor::uniform({n, 1, 12, 12}, 0.f, 1.f, g);
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (auto& v : y) v = int64_t(g.randint(10));
  return std::make_shared<datasets::TensorDataset>(x, y, 10);
}
Tensor inputs(int64_t n, uint64_t seed) {
  Generator g(seed);
  return Tensor::uniform({n, 1, 12, 12}, 0.f, 1.f, g);
}

nn::ModulePtr quantized_small(bool bn, const cp::QConfig& qc = {}) {
  auto net = small_net(bn);
  datasets::DataLoader calib(images(64), {.batch_size = 16});
  auto prepared = cp::prepare(*net, qc);
  cp::calibrate(*prepared, calib, 4);
  return cp::convert(*prepared);
}

}  // namespace

TEST_CASE("qscheme: PyTorch's qparams formulas") {
  float s;
  int32_t z;
  cp::calculate_qparams(-1.f, 1.f, cp::QScheme::PerTensorAffine, cp::kActivationRange, s, z);
  CHECK(s == 2.f / 255.f);
  CHECK(z == 127);  // −1 / float(2/255) is −127.49999… in float32: 127, as PyTorch's MinMaxObserver gives
  cp::calculate_qparams(0.5f, 2.f, cp::QScheme::PerTensorAffine, cp::kActivationRange, s, z);
  CHECK(s == 2.f / 255.f);  // the range is widened to include 0
  CHECK(z == 0);
  cp::calculate_qparams(-0.3f, 0.6f, cp::QScheme::PerChannelSymmetric, cp::kWeightRange, s, z);
  CHECK(s == 0.6f / 127.f);
  CHECK(z == 0);
  cp::calculate_qparams(0.f, 0.f, cp::QScheme::PerTensorAffine, cp::kActivationRange, s, z);
  CHECK(s == FLT_EPSILON);  // clamped below, as PyTorch
  CHECK(contains(error_of([&] { cp::calculate_qparams(INFINITY, -INFINITY, cp::QScheme::PerTensorAffine, cp::kActivationRange, s, z); }), "not finite"));
}

TEST_CASE("qscheme: real 0 is exactly representable; quantize rounds half to even and saturates") {
  for (float lo : {-3.7f, -0.01f, -1e-5f})
    for (float hi : {0.02f, 1.f, 55.5f}) {
      float s;
      int32_t z;
      cp::calculate_qparams(lo, hi, cp::QScheme::PerTensorAffine, cp::kActivationRange, s, z);
      CHECK(cp::dequantize_value(cp::quantize_value(0.f, s, z, cp::kActivationRange), s, z) == 0.f);
    }
  CHECK(cp::quantize_value(2.5f, 1.f, 0, cp::kWeightRange) == 2);
  CHECK(cp::quantize_value(3.5f, 1.f, 0, cp::kWeightRange) == 4);
  CHECK(cp::quantize_value(-300.f, 1.f, 0, cp::kWeightRange) == -127);
  CHECK(cp::quantize_value(INFINITY, 0.1f, 3, cp::kActivationRange) == 255);
}

TEST_CASE("observers: MinMax, MovingAverage and PerChannel statistics") {
  cp::MinMaxObserver mm;
  mm.forward(Tensor::from_vector({0.5f, -2.f, 1.f}));
  mm.forward(Tensor::from_vector({3.f, 0.f}));
  CHECK(mm.range_min()[0] == -2.f);
  CHECK(mm.range_max()[0] == 3.f);
  CHECK(mm.qparams().scale[0] == 5.f / 255.f);

  cp::MovingAverageMinMaxObserver ma(0.25f);
  ma.forward(Tensor::from_vector({0.f, 4.f}));
  ma.forward(Tensor::from_vector({-4.f, 8.f}));
  CHECK(ma.range_min()[0] == doctest::Approx(-1.f));  // 0 + 0.25·(−4 − 0)
  CHECK(ma.range_max()[0] == doctest::Approx(5.f));   // 4 + 0.25·(8 − 4)

  cp::PerChannelMinMaxObserver pc(1);
  pc.forward(Tensor::from_vector(std::vector<float>{1.f, -1.f, 2.f, 0.5f, -3.f, 0.25f}, {1, 3, 2}));
  CHECK(pc.range_min() == std::vector<float>{-1.f, 0.5f, -3.f});
  CHECK(pc.range_max() == std::vector<float>{1.f, 2.f, 0.25f});
  const cp::QParams q = pc.qparams();
  CHECK(q.axis == 1);
  CHECK(q.scale == std::vector<float>{1.f / 127.f, 2.f / 127.f, 3.f / 127.f});
  CHECK(contains(error_of([] { cp::MinMaxObserver().qparams(); }), "no data observed"));
}

TEST_CASE("observers: non-finite values are an error naming the observer's place") {
  cp::HistogramObserver h;
  h.where = "conv2 output";
  const std::string e = error_of([&] { h.forward(Tensor::from_vector({1.f, NAN, 2.f})); });
  CHECK(contains(e, "conv2 output"));
  CHECK(contains(e, "element 1"));
  CHECK(contains(error_of([&] { h.forward(Tensor::from_vector({INFINITY})); }), "non-finite"));
}

TEST_CASE("HistogramObserver: the L2 error estimate and the range search") {
  Generator g(5);
  cp::HistogramObserver h;
  const Tensor u = Tensor::uniform({200000}, 0.f, 1.f, g);
  h.forward(u);
  // Uniform data quantized to 256 levels over [0, 1]: error ≈ N·d²/12, d = 1/256.
  const double expect = 200000.0 / (256.0 * 256.0 * 12.0);
  CHECK(h.quantization_error(0, h.bins - 1) == doctest::Approx(expect).epsilon(0.02));
  // Uniform data: nothing to clip, the search keeps (almost) the whole range.
  auto [lo, hi] = h.search_range();
  CHECK(lo < 0.01f);
  CHECK(hi > 0.99f);

  // A thin tail just past a dense bulk: clipping it buys resolution for the bulk, and the
  // chosen range quantizes the histogram with less error than MinMax's full range.
  cp::HistogramObserver ho;
  Tensor x = Tensor::uniform({100000}, 0.f, 1.f, g);
  x.data<float>()[7] = 1.2f;
  ho.forward(x.narrow(0, 50000));
  ho.forward(x.narrow(50000, 50000));
  const auto [s, e] = ho.search_bins();
  CHECK(ho.search_range().second < 1.05f);
  CHECK(ho.quantization_error(s, e) < 0.95 * ho.quantization_error(0, ho.bins - 1));
  // A far outlier is not worth clipping in L2: the full range is kept (never worse than MinMax).
  cp::HistogramObserver hf;
  Tensor xo = exp(Tensor::normal({100000}, 0.f, 1.5f, g));
  hf.forward(xo);
  const auto [s2, e2] = hf.search_bins();
  CHECK(hf.quantization_error(s2, e2) <= hf.quantization_error(0, hf.bins - 1));
  // Widening the range keeps every count.
  cp::HistogramObserver hw;
  hw.forward(Tensor::uniform({1000}, 0.f, 1.f, g));
  hw.forward(Tensor::uniform({1000}, -2.f, 3.f, g));
  double total = 0;
  for (float c : hw.buffer("histogram").to_vector<float>()) total += c;
  CHECK(total == doctest::Approx(2000.0));
}

TEST_CASE("prepare / calibrate / convert: an integer-only model close to the fp32 one") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    auto net = small_net(bn);
    auto q = quantized_small(bn);
    // Between Quantize and Dequantize only integer modules.
    std::vector<std::string> types;
    for (const auto& [n, m] : q->named_children()) types.push_back(m->type_name());
    CHECK(types == std::vector<std::string>{"Quantize", "QuantizedConvReLU2d", "QuantizedConvReLU2d", "QuantizedAvgPool2d",
                                            "QuantizedFlatten", "QuantizedLinearReLU", "QuantizedLinear", "Dequantize"});
    const Tensor x = inputs(8, 99);
    NoGradGuard ng;
    const Tensor y = (*net)(x), yq = (*q)(x);
    // convert() fused conv2 and the pooling after it: the same bits as the two run apart
    auto* conv2 = dynamic_cast<cp::QuantizedConv2d*>(q->named_children()[2].second.get());
    auto* pool = dynamic_cast<cp::QuantizedAvgPool2d*>(q->named_children()[3].second.get());
    REQUIRE((conv2 && pool));
    CHECK((conv2->pool_kernel == pool->kernel_size && conv2->pool_stride == pool->stride && pool->fused));
    CHECK(contains(conv2->extra_repr(), "(fused)"));
    conv2->pool_kernel = 0, pool->fused = false;
    CHECK((*q)(x).to_vector<float>() == yq.to_vector<float>());
    cp::fuse_conv_pool(dynamic_cast<nn::Sequential&>(*q));
    cp::fuse_conv_pool(dynamic_cast<nn::Sequential&>(*q));  // idempotent
    CHECK((conv2->pool_kernel == 4 && pool->fused));
    CHECK((*q)(x).to_vector<float>() == yq.to_vector<float>());
    const float step = q->named_children()[7].second->buffer("scale").data<float>()[0];
    const float* a = y.data<float>();
    const float* b = yq.data<float>();
    double worst = 0;
    for (int64_t i = 0; i < y.numel(); ++i) worst = std::max(worst, double(std::abs(a[i] - b[i])));
    CHECK(worst < 6 * step);  // a few output steps of accumulated rounding
  }
}

TEST_CASE("QuantizedConv2d and QuantizedLinear compute the integer scheme exactly") {
  auto q = quantized_small(false);
  const Tensor x = inputs(4, 7);
  auto& quant = static_cast<cp::Quantize&>(*q->named_children()[0].second);
  const Tensor xq = quant(x);
  auto& conv = static_cast<cp::QuantizedConv2d&>(*q->named_children()[1].second);
  // conv1 hands conv2 a channels-last tensor where the int8 path computes so (fuse_conv_pool):
  // the same codes, permuted
  const bool cl = conv.output_channels_last;
  conv.output_channels_last = false;
  const Tensor y = conv(xq);
  conv.output_channels_last = true;
  const Tensor ycl = conv(xq);
  conv.output_channels_last = cl;
  CHECK(qconv_prefers_channels_last() == cl);
  REQUIRE(ycl.shape() == Shape{y.size(0), y.size(2), y.size(3), y.size(1)});
  CHECK(ycl.to_vector<uint8_t>() == permute(y, {0, 2, 3, 1}).to_vector<uint8_t>());
  // Reference: y = clamp(z_y + round((b + Σ (x − z_x)·w) · s_x·s_w/s_y), z_y (ReLU), 255), in double.
  const Tensor w = conv.buffer("weight");
  const auto bias = conv.buffer("bias").to_vector<int32_t>();
  const auto ws = conv.weight_scale();
  const int64_t CO = w.size(0), CI = w.size(1), K = w.size(2), OH = y.size(2), OW = y.size(3);
  int64_t mismatched = 0;
  for (int64_t n = 0; n < 4; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          int64_t acc = bias[size_t(co)];
          for (int64_t ci = 0; ci < CI; ++ci)
            for (int64_t i = 0; i < K; ++i)
              for (int64_t j = 0; j < K; ++j)
                acc += (int64_t(xq.data<uint8_t>()[((n * CI + ci) * 12 + oy + i) * 12 + ox + j]) - quant.zero_point()) *
                       w.data<int8_t>()[((co * CI + ci) * K + i) * K + j];
          const double M = double(conv.input_scale()) * ws[size_t(co)] / conv.output_scale();
          const double r = std::clamp(std::floor(double(acc) * M + 0.5) + conv.output_zero_point(),
                                      double(conv.output_zero_point()), 255.0);
          mismatched += y.data<uint8_t>()[((n * CO + co) * OH + oy) * OW + ox] != uint8_t(r);
        }
  CHECK(mismatched == 0);
  // Weights are symmetric int8 in [−127, 127] with per-channel scales max|w|/127.
  const int8_t* pw = w.data<int8_t>();
  for (int64_t i = 0; i < w.numel(); ++i) CHECK(pw[i] >= -127);
}

TEST_CASE("QConfig::bias_fraction: the bias's rounded-away part in Q31, computed, saved, refused by ONNX") {
  auto net = small_net(false);
  const Tensor fbias = net->get_submodule("conv1")->param("bias").clone();
  datasets::DataLoader calib(images(64), {.batch_size = 16});
  auto prepared = cp::prepare(*net, {.bias_fraction = true});
  cp::calibrate(*prepared, calib, 4);
  auto q = cp::convert(*prepared);
  auto& quant = static_cast<cp::Quantize&>(*q->named_children()[0].second);
  auto& conv = static_cast<cp::QuantizedConv2d&>(*q->named_children()[1].second);
  REQUIRE(conv.has_bias_fraction());
  const auto bias = conv.buffer("bias").to_vector<int32_t>(), frac = conv.buffer("bias_frac").to_vector<int32_t>();
  const auto ws = conv.weight_scale();
  // int32 part + fraction = b / (s_x·s_w) to 2^-31, with the fraction within half a unit.
  for (size_t c = 0; c < bias.size(); ++c) {
    const double t = double(fbias.data<float>()[c]) / (double(conv.input_scale()) * double(ws[c]));
    CHECK(std::abs(double(bias[c]) + std::ldexp(double(frac[c]), -31) - t) <= std::ldexp(1.0, -31));
    CHECK(std::abs(int64_t(frac[c])) <= (int64_t(1) << 30));
  }
  // The outputs round (Σ (x − z_x)·w + b / (s_x·s_w)) · M, the float bias's arithmetic.
  // (Enough images that the int32 bias alone rounds some outputs differently: `flips` > 0.)
  const int64_t N = 64;
  const bool cl = conv.output_channels_last;
  conv.output_channels_last = false;  // NCHW codes for the check below (see the test above)
  const Tensor xq = quant(inputs(N, 7)), y = conv(xq);
  conv.output_channels_last = cl;
  const Tensor w = conv.buffer("weight");
  const int64_t CO = w.size(0), K = w.size(2), OH = y.size(2), OW = y.size(3);
  int64_t mismatched = 0, flips = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t co = 0; co < CO; ++co)
      for (int64_t oy = 0; oy < OH; ++oy)
        for (int64_t ox = 0; ox < OW; ++ox) {
          double acc = double(bias[size_t(co)]) + std::ldexp(double(frac[size_t(co)]), -31);
          for (int64_t i = 0; i < K; ++i)
            for (int64_t j = 0; j < K; ++j)
              acc += double(int64_t(xq.data<uint8_t>()[(n * 12 + oy + i) * 12 + ox + j]) - quant.zero_point()) *
                     w.data<int8_t>()[(co * K + i) * K + j];
          const double M = double(conv.input_scale()) * ws[size_t(co)] / conv.output_scale();
          auto code = [&](double a) {
            return uint8_t(std::clamp(std::floor(a * M + 0.5) + conv.output_zero_point(),
                                      double(conv.output_zero_point()), 255.0));
          };
          mismatched += y.data<uint8_t>()[((n * CO + co) * OH + oy) * OW + ox] != code(acc);
          flips += code(acc) != code(acc - std::ldexp(double(frac[size_t(co)]), -31));
        }
  CHECK(mismatched == 0);
  CHECK(flips > 0);

  // Saved as I32 "bias_frac" tensors, named in the layer descriptions and the scheme; reloads bit for bit.
  const auto dir = std::filesystem::temp_directory_path() / ("minidl_qf_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "q.safetensors").string(), bad_path = (dir / "bad.safetensors").string();
  cp::save_quantized(*q, path);
  nn::Metadata meta;
  const nn::StateDict sd = nn::load_safetensors(path, &meta);
  CHECK(contains(meta.at("quantization.layers"), "pc frac"));
  CHECK(contains(meta.at("quantization.scheme"), "bias_frac"));
  bool found = false;
  for (const auto& [n, t] : sd) found = found || (n == "fc2.bias_frac" && t.dtype() == DType::Int32);
  CHECK(found);
  auto r = cp::load_quantized(path);
  const Tensor x = inputs(6, 5);
  NoGradGuard ng;
  CHECK((*q)(x).to_vector<float>() == (*r)(x).to_vector<float>());
  // the conv + pool fusion is derived again on load
  auto* pool = dynamic_cast<cp::QuantizedAvgPool2d*>(dynamic_cast<nn::Sequential&>(*r).named_children()[3].second.get());
  REQUIRE(pool);
  CHECK(pool->fused);
  // A fraction beyond half a unit is an error naming the layer and the tensor.
  nn::StateDict tampered;
  for (const auto& [n, t] : sd) tampered.emplace_back(n, t.clone());
  for (auto& [n, t] : tampered)
    if (n == "fc1.bias_frac") t.data<int32_t>()[1] = (1 << 30) + 5;
  nn::save_safetensors(tampered, bad_path, meta);
  const std::string e = error_of([&] { cp::load_quantized(bad_path); });
  CHECK(contains(e, "fc1"));
  CHECK(contains(e, "bias_frac[1] = 1073741829"));
  // QLinearConv has an int32 bias only: exporting would change the numbers, so it is refused.
  CHECK(contains(error_of([&] { cp::to_onnx(*q, {1, 1, 12, 12}); }), "keeps a bias fraction"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("prepare and calibrate: bad input") {
  auto net = small_net(false);
  auto with_sigmoid = nn::Sequential::named({{"fc", nn::make<nn::Linear>(4, 3)}, {"act", nn::make<nn::Sigmoid>()}});
  const std::string e = error_of([&] { cp::prepare(*with_sigmoid); });
  CHECK(contains(e, "'act'"));
  CHECK(contains(e, "Sigmoid"));
  CHECK(contains(error_of([&] { cp::prepare(*net, {.activation = "kl"}); }), "unknown observer \"kl\""));
  auto prepared = cp::prepare(*net);
  datasets::DataLoader calib(images(16), {.batch_size = 8});
  CHECK(contains(error_of([&] { cp::calibrate(*prepared, calib, 0); }), "at least 1 calibration batch"));
  CHECK(contains(error_of([&] { cp::convert(*prepared); }), "no data observed"));
  CHECK(contains(error_of([&] { cp::calibrate(*net, calib, 1); }), "no observers"));
  // NaN activations during calibration name the layer.
  net->get_submodule("fc2")->parameter("bias").data<float>()[0] = NAN;  // (a ReLU would turn NaN into 0)
  auto p2 = cp::prepare(*net);
  CHECK(contains(error_of([&] { cp::calibrate(*p2, calib, 1); }), "fc2 output: non-finite value"));
}

TEST_CASE("quantized checkpoints: bit-identical reload, I8/I32/F32 tensors, clear errors") {
  const auto dir = std::filesystem::temp_directory_path() / ("minidl_q_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "q.safetensors").string(), fpath = (dir / "f.safetensors").string();
  auto q = quantized_small(true);
  cp::save_quantized(*q, path, {{"model", "test"}});
  nn::Metadata meta;
  const nn::StateDict sd = nn::load_safetensors(path, &meta);
  CHECK(meta.at("quantization") == "int8");
  CHECK(contains(meta.at("quantization.scheme"), "per-channel"));
  std::map<std::string, DType> dt;
  for (const auto& [n, t] : sd) dt[n] = t.dtype();
  CHECK(dt.at("conv1.weight") == DType::Int8);
  CHECK(dt.at("conv1.bias") == DType::Int32);
  CHECK(dt.at("conv1.weight_scale") == DType::Float32);
  CHECK(dt.at("fc2.zero_point") == DType::Int32);
  CHECK(dt.count("bn1.weight") == 0);  // folded
  auto r = cp::load_quantized(path);
  const Tensor x = inputs(6, 5);
  NoGradGuard ng;
  CHECK((*q)(x).to_vector<float>() == (*r)(x).to_vector<float>());
  // the conv + pool fusion is derived again on load
  auto* pool = dynamic_cast<cp::QuantizedAvgPool2d*>(dynamic_cast<nn::Sequential&>(*r).named_children()[3].second.get());
  REQUIRE(pool);
  CHECK(pool->fused);

  // float ↔ int8 mismatches name the tensor.
  auto fnet = small_net(false);
  nn::save(*fnet, fpath);
  CHECK(contains(error_of([&] { cp::load_quantized(fpath); }), "conv1.weight\" is F32"));
  auto fnet2 = small_net(true);
  const std::string e = error_of([&] { nn::load(*fnet2, path); });
  CHECK(contains(e, "conv1.weight"));
  CHECK(contains(e, "I8"));
  // A mismatched layer description and a weight outside [−127, 127] are errors naming them.
  nn::Metadata bad = meta;
  bad["quantization.layers"] = "quant=Quantize;conv1=QuantizedConv2d 4 1 3 x s1 p0 relu pc";
  nn::save_safetensors(sd, fpath, bad);
  CHECK(contains(error_of([&] { cp::load_quantized(fpath); }), "layer 'conv1'"));
  nn::StateDict tampered;
  for (const auto& [n, t] : sd) tampered.emplace_back(n, t.clone());
  for (auto& [n, t] : tampered)
    if (n == "fc1.weight") t.data<int8_t>()[3] = -128;
  nn::save_safetensors(tampered, fpath, meta);
  CHECK(contains(error_of([&] { cp::load_quantized(fpath); }), "fc1"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("QAT: FakeQuantize after a pruning mask keeps pruned weights zero; convert matches the fake-quant forward") {
  auto net = small_net(false);
  auto fc1 = net->get_submodule("fc1");
  cp::l1_unstructured(*fc1, "weight", cp::Amount::fraction(0.5));
  auto prepared = cp::prepare_qat(*net, {.activation = "moving_average"});
  const auto& ps = fc1->parametrizations("weight");
  REQUIRE(ps.size() == 2);
  CHECK(ps[0]->type_name() == "PruningMask");
  CHECK(ps[1]->type_name() == "WeightFakeQuantize");
  nn::SGD opt(prepared->parameters(), {.lr = 0.05f, .momentum = 0.9f});
  datasets::DataLoader loader(images(64), {.batch_size = 16});
  nn::FitOptions fo;
  fo.epochs = 2;
  cp::QATFreeze freeze(2, 0);
  fo.callbacks = {&freeze};
  nn::fit(*prepared, opt, loader, fo);
  const Tensor mask = cp::mask_of(*fc1, "weight");
  const Tensor w = fc1->param("weight");  // fq(w ⊙ mask)
  for (int64_t i = 0; i < w.numel(); ++i)
    if (mask.data<float>()[i] == 0.f) CHECK(w.data<float>()[i] == 0.f);
  // Observers were frozen from epoch 2.
  for (const auto& [n, m] : prepared->named_modules())
    if (auto* fq = dynamic_cast<cp::FakeQuantize*>(m.get()))
      if (!fq->reset_each_call) CHECK_FALSE(fq->observer_enabled);
  auto q = cp::convert(*prepared);
  const Tensor qw = q->get_submodule("fc1")->buffer("weight");
  for (int64_t i = 0; i < qw.numel(); ++i)
    if (mask.data<float>()[i] == 0.f) CHECK(qw.data<int8_t>()[i] == 0);
  // The int8 model computes what the fake-quantized training forward computed (up to the
  // requantization's rounding).
  const Tensor x = inputs(4, 42);
  NoGradGuard ng;
  prepared->eval();
  const Tensor yf = (*prepared)(x), yq = (*q)(x);
  const float step = q->get_submodule("dequant")->buffer("scale").data<float>()[0];
  for (int64_t i = 0; i < yf.numel(); ++i) CHECK(std::abs(yf.data<float>()[i] - yq.data<float>()[i]) <= 3 * step);
}

TEST_CASE("QATFreeze: BatchNorm statistics stop moving after the chosen epoch") {
  auto net = small_net(true);
  auto prepared = cp::prepare_qat(*net);
  cp::QATFreeze freeze(0, 1);
  freeze.on_epoch_begin(*prepared, 1);
  prepared->train();
  auto bn1 = net->get_submodule("bn1");
  CHECK_FALSE(bn1->is_training());
  const auto before = bn1->buffer("running_mean").to_vector<float>();
  (*prepared)(inputs(4, 8));
  CHECK(bn1->buffer("running_mean").to_vector<float>() == before);
}

TEST_CASE("QConfig::clamp_to_range: 7-bit codes everywhere, equal to the unclamped model in range, saved, exported with Clips") {
  const cp::QConfig seven{.activation = "minmax", .reduce_range = true, .clamp_to_range = true};
  auto q = quantized_small(false, seven);
  auto u = quantized_small(false, {.activation = "minmax", .reduce_range = true});  // PyTorch's: codes up to 255
  // Every code between Quantize and Dequantize is ≤ 127 even for inputs far outside the
  // calibrated range (×3), where the unclamped model's codes pass 127.
  auto max_code = [](nn::Module& m, const Tensor& x) {
    int top = 0;
    Tensor v = x;
    for (const auto& [n, layer] : m.named_children()) {
      v = (*layer)(v);
      if (v.dtype() == DType::UInt8)
        for (int64_t i = 0; i < v.numel(); ++i) top = std::max(top, int(v.data<uint8_t>()[i]));
    }
    return top;
  };
  NoGradGuard ng;
  const Tensor big = mul(inputs(8, 9), Tensor::full({1}, 3.f));
  CHECK(max_code(*q, big) <= 127);
  CHECK(max_code(*u, big) > 127);
  // Inside the range (the calibration images themselves, min/max observed) nothing is
  // clamped: the two models agree bit for bit.
  const Tensor calib = inputs(64, 11);  // = images(64)'s, the calibration set
  CHECK(max_code(*q, calib) <= 127);
  CHECK((*q)(calib).to_vector<float>() == (*u)(calib).to_vector<float>());
  CHECK((*q)(big).to_vector<float>() != (*u)(big).to_vector<float>());
  // Saved in the layer list ("qmax127"), reloaded bit for bit; a bad quant_max is an error.
  const auto dir = std::filesystem::temp_directory_path() / ("minidl_q7_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "q.safetensors").string(), bad_path = (dir / "bad.safetensors").string();
  cp::save_quantized(*q, path);
  nn::Metadata meta;
  const nn::StateDict sd = nn::load_safetensors(path, &meta);
  CHECK(contains(meta.at("quantization.layers"), "quant=Quantize qmax127"));
  CHECK(contains(meta.at("quantization.layers"), "pc qmax127"));
  CHECK(contains(meta.at("quantization.scheme"), "clamped at quant_max"));
  auto r = cp::load_quantized(path);
  CHECK((*q)(big).to_vector<float>() == (*r)(big).to_vector<float>());
  for (const char* bad : {"qmax300", "qmax", "qmax12x", "qmax0"}) {
    nn::Metadata m2 = meta;
    std::string& layers = m2.at("quantization.layers");
    layers.replace(layers.find("qmax127"), 7, bad);
    nn::save_safetensors(sd, bad_path, m2);
    CAPTURE(bad);
    CHECK(contains(error_of([&] { cp::load_quantized(bad_path); }), std::string("Quantize ") + bad + "\" is malformed"));
  }
  // QuantizeLinear/QLinearConv saturate at 255 only: the export adds a Clip at 127 after each
  // (ONNX Runtime runs it: tests/parity/onnx_export_parity.py, model dense_int8_7bit).
  const std::string onnx = cp::to_onnx(*q, {1, 1, 12, 12});
  for (const char* clip : {"quant.clamp_max", "conv1.clamp_max", "conv2.clamp_max", "fc1.clamp_max", "fc2.clamp_max"})
    CHECK(contains(onnx, clip));
  CHECK_FALSE(contains(cp::to_onnx(*u, {1, 1, 12, 12}), "clamp_max"));
  std::filesystem::remove_all(dir);
}
