// minidl/compress/quantized_modules.cpp — see quantized_modules.h.
#include "compress/quantized_modules.h"

#include <sstream>

#include "core/ops.h"
#include "core/qops.h"

namespace minidl::compress {

namespace {
Tensor f32(float v) { return Tensor::from_vector(std::vector<float>{v}, {1}); }
Tensor i32(int32_t v) { return Tensor::from_vector(std::vector<int32_t>{v}, {1}); }
float get_f(const nn::Module& m, const char* n) { return const_cast<nn::Module&>(m).buffer(n).data<float>()[0]; }
int32_t get_i(const nn::Module& m, const char* n) { return const_cast<nn::Module&>(m).buffer(n).data<int32_t>()[0]; }
std::string qp(float s, int32_t z) {
  std::ostringstream os;
  os << "scale=" << s << ", zero_point=" << z;
  return os.str();
}
// The description's optional word for a quant_max other than 255 ("qmax127"), else "".
std::string qmax_word(int32_t quant_max) { return quant_max != 255 ? " qmax" + std::to_string(quant_max) : ""; }
void check_codes(const nn::Module& m, const Tensor& x) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::UInt8, m.label(), ": expects uint8 codes (from Quantize), got ",
               x.defined() ? dtype_name(x.dtype()) : "undefined", " ", x.defined() ? to_string(x.shape()) : "");
}
}  // namespace

// ---------------------------------------------------------------- Quantize / Dequantize

Quantize::Quantize(float s, int32_t z) {
  register_buffer("scale", f32(s));
  register_buffer("zero_point", i32(z));
}
float Quantize::scale() const { return get_f(*this, "scale"); }
int32_t Quantize::zero_point() const { return get_i(*this, "zero_point"); }
Tensor Quantize::forward(const Tensor& x) {
  MINIDL_CHECK(x.defined() && x.dtype() == DType::Float32, label(), ": expects a float32 input");
  MINIDL_CHECK(quant_max >= zero_point() && quant_max <= 255, label(), ": quant_max ", quant_max,
               " must be in [zero point ", zero_point(), ", 255]");
  return quantize_per_tensor(x, scale(), zero_point(), quant_max);
}
std::string Quantize::extra_repr() const {
  return qp(scale(), zero_point()) + (quant_max != 255 ? ", quant_max=" + std::to_string(quant_max) : "");
}

Dequantize::Dequantize(float s, int32_t z) {
  register_buffer("scale", f32(s));
  register_buffer("zero_point", i32(z));
}
Tensor Dequantize::forward(const Tensor& x) {
  check_codes(*this, x);
  return dequantize(x, get_f(*this, "scale"), get_i(*this, "zero_point"));
}
std::string Dequantize::extra_repr() const { return qp(get_f(*this, "scale"), get_i(*this, "zero_point")); }

// ---------------------------------------------------------------- weighted layers

QuantizedWeighted::QuantizedWeighted(const Tensor& w, const Tensor& bias, const QParams& wq, float s_in, int32_t z_in,
                                     float s_out, int32_t z_out, bool r, bool bias_fraction)
    : relu(r) {
  MINIDL_CHECK(w.dtype() == DType::Float32 && w.dim() >= 2, "quantize: weight must be float32 [Cout, ...], got ",
               to_string(w.shape()));
  const int64_t C = w.size(0), inner = w.numel() / C;
  MINIDL_CHECK(wq.size() == 1 || int64_t(wq.size()) == C, "quantize: ", wq.size(), " weight scales for ", C,
               " output channels");
  Tensor q = Tensor::empty(w.shape(), DType::Int8);
  const float* pw = w.data<float>();
  int8_t* pq = q.data<int8_t>();
  for (int64_t c = 0; c < C; ++c) {
    const size_t k = wq.size() == 1 ? 0 : size_t(c);
    for (int64_t i = 0; i < inner; ++i)
      pq[c * inner + i] = int8_t(quantize_value(pw[c * inner + i], wq.scale[k], 0, kWeightRange));
  }
  Tensor b = Tensor::zeros({C}, DType::Int32), f = Tensor::zeros({C}, DType::Int32);
  if (bias.defined()) {
    const float* pb = bias.data<float>();
    for (int64_t c = 0; c < C; ++c) {
      const float sw = wq.scale[wq.size() == 1 ? 0 : size_t(c)];
      b.data<int32_t>()[c] = quantize_bias(pb[c], s_in, sw);
      f.data<int32_t>()[c] = bias_fraction_q31(pb[c], s_in, sw);
    }
  }
  register_buffer("weight", q);
  register_buffer("bias", b);
  if (bias_fraction) register_buffer("bias_frac", f);
  register_buffer("weight_scale", Tensor::from_vector(wq.scale, {int64_t(wq.size())}));
  register_buffer("weight_zero_point", Tensor::zeros({int64_t(wq.size())}, DType::Int8));
  register_buffer("input_scale", f32(s_in));
  register_buffer("input_zero_point", i32(z_in));
  register_buffer("scale", f32(s_out));
  register_buffer("zero_point", i32(z_out));
}

QuantizedWeighted::QuantizedWeighted(const Shape& shape, bool per_channel, bool r, bool bias_fraction) : relu(r) {
  const int64_t nq = per_channel ? shape.at(0) : 1;
  register_buffer("weight", Tensor::zeros(shape, DType::Int8));
  register_buffer("bias", Tensor::zeros({shape.at(0)}, DType::Int32));
  if (bias_fraction) register_buffer("bias_frac", Tensor::zeros({shape.at(0)}, DType::Int32));
  register_buffer("weight_scale", Tensor::full({nq}, 1.f));
  register_buffer("weight_zero_point", Tensor::zeros({nq}, DType::Int8));
  register_buffer("input_scale", f32(1.f));
  register_buffer("input_zero_point", i32(0));
  register_buffer("scale", f32(1.f));
  register_buffer("zero_point", i32(0));
}

float QuantizedWeighted::input_scale() const { return get_f(*this, "input_scale"); }
int32_t QuantizedWeighted::input_zero_point() const { return get_i(*this, "input_zero_point"); }
float QuantizedWeighted::output_scale() const { return get_f(*this, "scale"); }
int32_t QuantizedWeighted::output_zero_point() const { return get_i(*this, "zero_point"); }
bool QuantizedWeighted::has_bias_fraction() const { return has_buffer("bias_frac"); }
std::vector<float> QuantizedWeighted::weight_scale() const {
  return const_cast<QuantizedWeighted*>(this)->buffer("weight_scale").to_vector<float>();
}

void QuantizedWeighted::refresh() {
  const Tensor& w = buffer("weight");
  const int64_t C = w.size(0), K = w.numel() / C;
  const auto wzp = buffer("weight_zero_point").to_vector<int8_t>();
  for (size_t i = 0; i < wzp.size(); ++i)
    MINIDL_CHECK(wzp[i] == 0, label(), ": weight_zero_point[", i, "] = ", int(wzp[i]), "; weights are symmetric (0)");
  const int8_t* pw = w.data<int8_t>();
  for (int64_t i = 0; i < w.numel(); ++i)
    MINIDL_CHECK(pw[i] >= kWeightRange.qmin, label(), ": weight element ", i, " = ", int(pw[i]),
                 " is outside the symmetric range [-127, 127]");
  const float s_in = input_scale(), s_out = output_scale();
  const int32_t z_out = output_zero_point();
  MINIDL_CHECK(std::isfinite(s_in) && s_in > 0 && std::isfinite(s_out) && s_out > 0, label(),
               ": input_scale ", s_in, " and scale ", s_out, " must be finite and > 0");
  MINIDL_CHECK(z_out >= 0 && z_out <= 255 && input_zero_point() >= 0 && input_zero_point() <= 255, label(),
               ": zero points must be in [0, 255]");
  packed_ = pack_weights(pw, C, K, w.shape());
  rq_ = Requant{};
  rq_.bias = buffer("bias").to_vector<int32_t>();
  if (has_bias_fraction()) {
    rq_.bias_frac = buffer("bias_frac").to_vector<int32_t>();
    for (size_t c = 0; c < rq_.bias_frac.size(); ++c)
      MINIDL_CHECK(std::abs(int64_t(rq_.bias_frac[c])) <= (int64_t(1) << 30), label(), ": bias_frac[", c, "] = ",
                   rq_.bias_frac[c], " is outside the Q31 range [-2^30, 2^30] of half an accumulator unit");
  }
  for (float sw : weight_scale()) {
    MINIDL_CHECK(std::isfinite(sw) && sw > 0, label(), ": weight_scale ", sw, " must be finite and > 0");
    rq_.multiplier.push_back(quantize_multiplier(double(s_in) * double(sw) / double(s_out)));
  }
  MINIDL_CHECK(quant_max >= z_out && quant_max <= 255, label(), ": quant_max ", quant_max,
               " must be in [output zero point ", z_out, ", 255]");
  rq_.zero_point = z_out;
  rq_.qmin = relu ? z_out : 0;
  rq_.qmax = quant_max;
  packed_ok_ = true;
}

void QuantizedWeighted::ensure_packed() {
  if (!packed_ok_) refresh();
}

std::string QuantizedWeighted::extra_repr() const {
  std::ostringstream os;
  os << "input " << qp(input_scale(), input_zero_point()) << ", output " << qp(output_scale(), output_zero_point())
     << ", " << (weight_scale().size() > 1 ? "per-channel" : "per-tensor") << " weights";
  if (quant_max != 255) os << ", quant_max=" << quant_max;
  return os.str();
}

QuantizedConv2d::QuantizedConv2d(const Tensor& w, const Tensor& b, const QParams& wq, float s_in, int32_t z_in,
                                 float s_out, int32_t z_out, bool r, int s, int p, bool frac)
    : QuantizedWeighted(w, b, wq, s_in, z_in, s_out, z_out, r, frac), stride(s), padding(p) {
  MINIDL_CHECK(w.dim() == 4, "QuantizedConv2d: weight must be [Cout, Cin, KH, KW], got ", to_string(w.shape()));
  refresh();
}
QuantizedConv2d::QuantizedConv2d(const Shape& shape, bool pc, bool r, int s, int p, bool frac)
    : QuantizedWeighted(shape, pc, r, frac), stride(s), padding(p) {}

Tensor QuantizedConv2d::forward(const Tensor& x) {
  check_codes(*this, x);
  ensure_packed();
  const Shape& ws = buffer("weight").shape();
  if (input_channels_last)
    MINIDL_CHECK(x.dim() == 4 && x.size(3) == ws[1], label(), ": expected a channels-last input [N, H, W, ", ws[1],
                 "], got ", to_string(x.shape()));
  else
    MINIDL_CHECK(x.dim() == 4 && x.size(1) == ws[1], label(), ": expected input [N, ", ws[1], ", H, W], got ",
                 to_string(x.shape()));
  if (pool_kernel > 0) return quantized_conv2d_avg_pool2d(x, input_zero_point(), packed_, rq_, stride, padding,
                                                          pool_kernel, pool_stride, input_channels_last);
  return quantized_conv2d(x, input_zero_point(), packed_, rq_, stride, padding,
                          {input_channels_last, output_channels_last});
}
std::string QuantizedConv2d::extra_repr() const {
  const Shape& ws = const_cast<QuantizedConv2d*>(this)->buffer("weight").shape();
  std::ostringstream os;
  os << ws[1] << ", " << ws[0] << ", kernel_size=" << ws[2] << ", stride=" << stride << ", padding=" << padding << ", "
     << QuantizedWeighted::extra_repr();
  if (pool_kernel > 0) os << ", then avg_pool kernel_size=" << pool_kernel << " stride=" << pool_stride << " (fused)";
  if (input_channels_last) os << ", input channels-last";
  if (output_channels_last) os << ", output channels-last";
  return os.str();
}

QuantizedLinear::QuantizedLinear(const Tensor& w, const Tensor& b, const QParams& wq, float s_in, int32_t z_in,
                                 float s_out, int32_t z_out, bool r, bool frac)
    : QuantizedWeighted(w, b, wq, s_in, z_in, s_out, z_out, r, frac) {
  MINIDL_CHECK(w.dim() == 2, "QuantizedLinear: weight must be [out, in], got ", to_string(w.shape()));
  refresh();
}
QuantizedLinear::QuantizedLinear(const Shape& shape, bool pc, bool r, bool frac) : QuantizedWeighted(shape, pc, r, frac) {}

Tensor QuantizedLinear::forward(const Tensor& x) {
  check_codes(*this, x);
  ensure_packed();
  const int64_t in = buffer("weight").size(1);
  MINIDL_CHECK(x.dim() == 2 && x.size(1) == in, label(), ": expected input [*, ", in, "], got ", to_string(x.shape()));
  return quantized_linear(x, input_zero_point(), packed_, rq_);
}

// ---------------------------------------------------------------- pooling, flatten

QuantizedAvgPool2d::QuantizedAvgPool2d(int k, int s, int32_t z) : kernel_size(k), stride(s == 0 ? k : s) {
  register_buffer("zero_point", i32(z));
}
Tensor QuantizedAvgPool2d::forward(const Tensor& x) {
  check_codes(*this, x);
  if (fused) return x;
  return quantized_avg_pool2d(x, get_i(*this, "zero_point"), kernel_size, stride);
}
std::string QuantizedAvgPool2d::extra_repr() const {
  return "kernel_size=" + std::to_string(kernel_size) + ", stride=" + std::to_string(stride) +
         (fused ? ", fused into the convolution before it" : "");
}

void fuse_conv_pool(nn::Sequential& q) {
  const auto& ch = q.named_children();
  for (size_t i = 0; i + 1 < ch.size(); ++i) {
    auto* c = dynamic_cast<QuantizedConv2d*>(ch[i].second.get());
    auto* p = dynamic_cast<QuantizedAvgPool2d*>(ch[i + 1].second.get());
    if (!c || !p || p->fused || c->pool_kernel > 0 || get_i(*p, "zero_point") != c->output_zero_point()) continue;
    c->pool_kernel = p->kernel_size, c->pool_stride = p->stride;
    p->fused = true;
  }
  if (!qconv_prefers_channels_last()) return;
  for (size_t i = 0; i + 1 < ch.size(); ++i) {
    auto* a = dynamic_cast<QuantizedConv2d*>(ch[i].second.get());
    auto* b = dynamic_cast<QuantizedConv2d*>(ch[i + 1].second.get());
    if (a && b && a->pool_kernel == 0) a->output_channels_last = b->input_channels_last = true;
  }
}

Tensor QuantizedFlatten::forward(const Tensor& x) {
  check_codes(*this, x);
  return flatten(x, start_dim, end_dim);
}
std::string QuantizedFlatten::extra_repr() const {
  return "start_dim=" + std::to_string(start_dim) + ", end_dim=" + std::to_string(end_dim);
}

// ---------------------------------------------------------------- descriptions

std::string describe_quantized(const nn::Module& m) {
  std::ostringstream os;
  auto shape = [&](const char* n) {
    for (int64_t d : const_cast<nn::Module&>(m).buffer(n).shape()) os << " " << d;
  };
  if (auto* c = dynamic_cast<const QuantizedConv2d*>(&m)) {
    os << "QuantizedConv2d";
    shape("weight");
    os << " s" << c->stride << " p" << c->padding << (c->relu ? " relu" : " norelu")
       << (c->weight_scale().size() > 1 ? " pc" : " pt") << (c->has_bias_fraction() ? " frac" : "")
       << qmax_word(c->quant_max);
  } else if (auto* l = dynamic_cast<const QuantizedLinear*>(&m)) {
    os << "QuantizedLinear";
    shape("weight");
    os << (l->relu ? " relu" : " norelu") << (l->weight_scale().size() > 1 ? " pc" : " pt")
       << (l->has_bias_fraction() ? " frac" : "") << qmax_word(l->quant_max);
  } else if (auto* p = dynamic_cast<const QuantizedAvgPool2d*>(&m)) {
    os << "QuantizedAvgPool2d " << p->kernel_size << " " << p->stride;
  } else if (auto* f = dynamic_cast<const QuantizedFlatten*>(&m)) {
    os << "QuantizedFlatten " << f->start_dim << " " << f->end_dim;
  } else if (auto* q = dynamic_cast<const Quantize*>(&m)) {
    os << "Quantize" << qmax_word(q->quant_max);
  } else if (dynamic_cast<const Dequantize*>(&m)) {
    os << "Dequantize";
  } else {
    throw Error("describe_quantized: " + m.label() + " is not a quantized module");
  }
  return os.str();
}

nn::ModulePtr quantized_from_description(const std::string& d) {
  std::istringstream is(d);
  std::string kind;
  is >> kind;
  auto bad = [&]() -> nn::ModulePtr { throw Error("quantized model description \"" + d + "\" is malformed"); };
  std::vector<std::string> words;
  for (std::string w; is >> w;) words.push_back(w);
  auto num = [&](size_t i) -> int64_t {
    if (i >= words.size()) bad();
    try {
      size_t used = 0;
      const long long v = std::stoll(words[i], &used);
      if (used != words[i].size() || v < -1 || v > (1LL << 31)) bad();
      return v;
    } catch (const std::logic_error&) {
      bad();
      return 0;
    }
  };
  auto flag = [&](size_t i, const char* yes, const char* no) {
    if (i >= words.size() || (words[i] != yes && words[i] != no)) bad();
    return words[i] == yes;
  };
  // An optional last word "qmax<N>" (N in [1, 254]): the largest code, when not 255
  // (QConfig::clamp_to_range); then an optional "frac": the layer carries a bias fraction.
  int32_t quant_max = 255;
  if (!words.empty() && words.back().rfind("qmax", 0) == 0) {
    const std::string v = words.back().substr(4);
    if (v.empty() || v.size() > 3 || v.find_first_not_of("0123456789") != std::string::npos) bad();
    quant_max = std::stoi(v);
    if (quant_max < 1 || quant_max > 254) bad();
    words.pop_back();
  }
  auto with_qmax = [&](auto m) {
    m->quant_max = quant_max;
    return m;
  };
  if (kind == "Quantize" && words.empty()) return with_qmax(std::make_shared<Quantize>(1.f, 0));
  if (kind == "Dequantize" && words.empty() && quant_max == 255) return std::make_shared<Dequantize>(1.f, 0);
  const bool frac = !words.empty() && words.back() == "frac";
  if (frac) words.pop_back();
  if (kind == "QuantizedConv2d" && words.size() == 8) {
    const Shape s = {num(0), num(1), num(2), num(3)};
    for (int64_t v : s) if (v < 1 || v > 65536) bad();
    auto stride = [&](size_t i) { return words[i].size() > 1 ? words[i].substr(1) : std::string("x"); };
    words[4] = stride(4);
    words[5] = stride(5);
    return with_qmax(std::make_shared<QuantizedConv2d>(s, flag(7, "pc", "pt"), flag(6, "relu", "norelu"), int(num(4)),
                                                       int(num(5)), frac));
  }
  if (kind == "QuantizedLinear" && words.size() == 4) {
    const Shape s = {num(0), num(1)};
    for (int64_t v : s) if (v < 1 || v > 65536) bad();
    return with_qmax(std::make_shared<QuantizedLinear>(s, flag(3, "pc", "pt"), flag(2, "relu", "norelu"), frac));
  }
  if (quant_max != 255) bad();  // pooling and flatten keep their input's codes
  if (kind == "QuantizedAvgPool2d" && words.size() == 2) return std::make_shared<QuantizedAvgPool2d>(int(num(0)), int(num(1)), 0);
  if (kind == "QuantizedFlatten" && words.size() == 2) return std::make_shared<QuantizedFlatten>(num(0), num(1));
  return bad();
}

}  // namespace minidl::compress
