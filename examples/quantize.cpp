// quantize — int8 quantization of a trained seed CNN: post-training (calibrated) or
// quantization-aware, measured against the fp32 model.
//
//   build/examples/quantize --init seed_cnn.safetensors --calib 1000 --out seed_cnn_int8.safetensors
//   build/examples/quantize --init seed_cnn.safetensors --table          (every observer × granularity)
//   build/examples/quantize --init seed_cnn.safetensors --qat 2
//   build/examples/quantize --init seed_cnn.safetensors --naive          (the seed articles' methods)
//
// Prints fp32 and int8 test accuracy and the drop, every layer's scales and real ranges, the
// file sizes, and fp32 vs int8 inference speed timed side by side. The scheme — uint8
// asymmetric activations, int8 symmetric per-channel weights, int32 bias, fixed-point
// requantization, integer-only inside — is explained in compress/qscheme.h and core/qgemm.h.
//
// Why the seed articles' snippets fail (--naive measures them on the same model):
//   1. "weight = clamp(round(weight / 255 · 2^8), 0, 255).to(uint8)": uint8 has no negative
//      values, so every negative weight — about half of them — becomes 0; and dividing by 255
//      then multiplying by 256 leaves the scale at ~1, so |w| < 0.5 (nearly every weight of
//      a trained network) rounds to 0 and the rest to 1, 2, ...: one bit of information.
//      A scale must come from the tensor's range (scale = max|w| / 127), and weights need
//      a signed, symmetric type.
//   2. "q = round(w · 2^bits) mod 2^bits": the modulo wraps instead of saturating, so a
//      negative weight −0.1 becomes 230/256 ≈ +0.9 and anything ≥ 1 wraps to a small
//      value; a fixed scale 2^−8 also ignores the tensor's range. Values must be clamped.
//   3. "weight.div_(2 ** bits)" on every state_dict tensor: no integers at all — it only
//      rescales weights and biases by 1/256, which changes the function (biases no longer
//      match the shrunken activations, BatchNorm statistics are divided too).
// None of them calibrates activations, so nothing in them could run on integers anyway.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <unistd.h>

#include "common_flags.h"
#include "minidl.h"

using namespace minidl;
namespace cp = minidl::compress;

namespace {

struct Setup {
  datasets::DatasetPtr train, test;
  std::vector<datasets::TransformPtr> transforms;
  int64_t calib = 1000;
};

double accuracy(nn::Module& m, const Setup& s) {
  datasets::DataLoader l(s.test, {.batch_size = 256, .transforms = s.transforms});
  return nn::evaluate(m, l).accuracy;
}

// Calibrate on the first `calib` training images (batch 100) and convert.
nn::ModulePtr ptq(nn::Module& net, const cp::QConfig& qc, const Setup& s) {
  MINIDL_CHECK(s.calib >= 1, "--calib must be >= 1 image, got ", s.calib);
  std::vector<int64_t> first(size_t(std::min<int64_t>(s.calib, s.train->size())));
  for (size_t i = 0; i < first.size(); ++i) first[i] = int64_t(i);
  datasets::DataLoader calib(std::make_shared<datasets::Subset>(s.train, first),
                             {.batch_size = 100, .transforms = s.transforms});
  auto prepared = cp::prepare(net, qc);
  cp::calibrate(*prepared, calib, calib.size());
  return cp::convert(*prepared);
}

// Images/s at batch 256 over (up to) 2048 test images; rounds alternate between the models and
// each keeps its best, so both see the same (shared, drifting) machine.
std::vector<double> images_per_second(const std::vector<nn::Module*>& nets, const Setup& s) {
  const int64_t n = std::min<int64_t>(2048, s.test->size());
  std::vector<int64_t> first(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) first[size_t(i)] = i;
  datasets::DataLoader loader(std::make_shared<datasets::Subset>(s.test, first),
                              {.batch_size = 256, .transforms = s.transforms});
  std::vector<Tensor> batches;
  for (const datasets::Batch& b : loader) batches.push_back(b.x);
  NoGradGuard ng;
  std::vector<double> best(nets.size(), 1e30);
  for (int rep = 0; rep < 7; ++rep)
    for (size_t m = 0; m < nets.size(); ++m) {
      nets[m]->eval();
      const auto t0 = std::chrono::steady_clock::now();
      for (const Tensor& x : batches) (*nets[m])(x);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep > 0) best[m] = std::min(best[m], sec);
    }
  for (double& b : best) b = double(n) / b;
  return best;
}

// The seed articles' three methods (see the header), applied to a copy of the weights.
void naive(nn::Module& net, const Setup& s, double fp32) {
  nn::StateDict orig = net.state_dict();
  std::vector<Tensor> saved;
  for (const auto& [n, t] : orig) saved.push_back(t.clone());
  auto run = [&](const char* what, auto f) {
    for (auto& [n, t] : orig)
      if (t.dtype() == DType::Float32) {
        float* p = t.template data<float>();
        for (int64_t i = 0; i < t.numel(); ++i) p[i] = f(n, p[i]);
      }
    const double a = accuracy(net, s);
    std::printf("  %-58s %.4f (%+.2f points)\n", what, a, (a - fp32) * 100);
    for (size_t i = 0; i < orig.size(); ++i) orig[i].second.copy_(saved[i]);  // state_dict shares the model's storage
  };
  auto is_weight = [](const std::string& n) { return n.find("conv") == 0 || n.find("fc") == 0; };
  std::printf("the seed articles' methods (fp32 %.4f):\n", fp32);
  run("1. w -> clamp(round(w/255*256), 0, 255) (uint8 weights)", [&](const std::string& n, float w) {
    return is_weight(n) ? std::clamp(std::nearbyint(w / 255.f * 256.f), 0.f, 255.f) * 255.f / 256.f : w;
  });
  run("2. w -> (round(w*256) mod 256) / 256", [&](const std::string& n, float w) {
    if (!is_weight(n)) return w;
    const long q = std::lround(w * 256.f);
    return float(((q % 256) + 256) % 256) / 256.f;
  });
  run("3. every state_dict tensor divided by 256 (no integers)", [](const std::string&, float w) { return w / 256.f; });
}

int64_t file_size(const std::string& p) { return int64_t(std::filesystem::file_size(p)); }

// The command line.
struct Args {
  std::string data = datasets::kFashionMnistDir, init, out, observer = "histogram";
  bool per_tensor = false, reduce_range = false, clamp = false, bias_fraction = false, naive = false, table = false;
  int qat = 0, threads = 0, freeze_bn = 1, freeze_observers = 0;
  float qat_lr = 0.001f;
  int64_t qat_limit = 0;
};

void add_flags(CLI::App& app, Args& a, Setup& s) {
  app.add_option("--init", a.init, "fp32 seed CNN checkpoint (dense, with or without BatchNorm)")->required()->check(CLI::ExistingFile);
  app.add_option("--data", a.data, "MNIST-format data directory")->check(CLI::ExistingDirectory);
  app.add_option("--calib", s.calib, "calibration images (the first N of the training set)")->capture_default_str()->check(CLI::Range(int64_t(0), int64_t(1) << 30));
  app.add_option("--observer", a.observer, "activation observer")->capture_default_str()->check(CLI::IsMember({"minmax", "moving_average", "histogram"}));
  app.add_flag("--per-tensor", a.per_tensor, "one weight scale per tensor instead of per output channel");
  app.add_flag("--reduce-range", a.reduce_range, "activations observed in [0, 127] (PyTorch fbgemm's reduce_range; codes above still reach 255)");
  app.add_flag("--seven-bit", a.clamp,
               "7-bit activations: --reduce-range with every code clamped at 127 (QConfig::clamp_to_range); on AVX2 "
               "CPUs without VNNI every int8 layer then runs the faster vpmaddubsw kernels");
  app.add_flag("--bias-fraction", a.bias_fraction,
               "keep the bias's fraction below int32 (PyTorch's float-bias arithmetic, integers only; no ONNX export)");
  app.add_flag("--table", a.table, "PTQ with every observer, per-channel and per-tensor: an accuracy table");
  app.add_option("--qat", a.qat, "quantization-aware training epochs from the fp32 model (0: PTQ only)")->check(CLI::Range(0, 1000));
  app.add_option("--qat-lr", a.qat_lr, "QAT learning rate (SGD, momentum 0.9)")->capture_default_str()->check(CLI::Range(1e-8, 10.0));
  app.add_option("--qat-train-limit", a.qat_limit, "QAT on the first N training images only")->check(CLI::Range(int64_t(1), int64_t(1) << 30));
  app.add_option("--freeze-bn", a.freeze_bn, "QAT: BatchNorm statistics frozen from this epoch (0: never)")->capture_default_str()->check(CLI::Range(0, 1000));
  app.add_option("--freeze-observers", a.freeze_observers, "QAT: activation ranges frozen from this epoch (0: the last epoch)")->check(CLI::Range(0, 1000));
  app.add_flag("--naive", a.naive, "also measure the seed articles' (wrong) methods");
  app.add_option("--threads", a.threads, "threads (default: all cores)")->check(CLI::Range(1, 1024));
  app.add_option("--out", a.out, "int8 checkpoint (safetensors)");
}

// PTQ with every observer, per-channel and per-tensor weights.
void print_table(nn::Module& net, const Args& a, const Setup& s, double fp32) {
  std::printf("PTQ, %lld calibration images:\n  %-16s %-12s %-10s %s\n", (long long)s.calib, "observer", "weights", "int8", "drop (points)");
  for (const char* o : {"minmax", "moving_average", "histogram"})
    for (bool pc : {true, false}) {
      auto q = ptq(net, {.activation = o, .per_channel = pc, .reduce_range = a.reduce_range,
                         .bias_fraction = a.bias_fraction, .clamp_to_range = a.clamp}, s);
      const double acc = accuracy(*q, s);
      std::printf("  %-16s %-12s %.4f     %+.2f\n", o, pc ? "per-channel" : "per-tensor", acc, (fp32 - acc) * 100);
    }
}

// Quantization-aware training from the fp32 model (fake-quantized, SGD), then convert.
nn::ModulePtr qat_model(nn::Module& net, const cp::QConfig& qc, const Args& a, const Setup& s) {
  auto prepared = cp::prepare_qat(net, qc);
  datasets::DatasetPtr tr = s.train;
  if (a.qat_limit) {
    std::vector<int64_t> idx(size_t(std::min<int64_t>(a.qat_limit, s.train->size())));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i);
    tr = std::make_shared<datasets::Subset>(s.train, idx);
  }
  datasets::DataLoader loader(tr, {.batch_size = 64, .shuffle = true, .seed = 1, .transforms = s.transforms});
  nn::SGD opt(prepared->parameters(), {.lr = a.qat_lr, .momentum = 0.9f});
  const int freeze_observers = a.freeze_observers > 0 ? a.freeze_observers : a.qat;
  cp::QATFreeze freeze(freeze_observers, a.freeze_bn);
  nn::FitOptions fo;
  fo.epochs = a.qat;
  fo.callbacks = {&freeze};
  fo.log = &std::cout;
  std::printf("QAT: %d epochs on %lld images, SGD lr %g momentum 0.9, %s activation observer, BN frozen from epoch %d, "
              "ranges frozen from epoch %d\n", a.qat, (long long)tr->size(), a.qat_lr, qc.activation.c_str(), a.freeze_bn,
              freeze_observers);
  nn::fit(*prepared, opt, loader, fo);
  return cp::convert(*prepared);
}

// Saves the int8 model (to --out, or a temporary file), reloads it, checks the
// reloaded model scores the same, and prints both files' sizes.
void save_and_reload(nn::Module& q, const Args& a, const nn::Metadata& meta, const Setup& s, double int8) {
  const std::string path = a.out.empty() ? (std::filesystem::temp_directory_path() /
                                            ("quantize_" + std::to_string(::getpid()) + ".safetensors")).string()
                                         : a.out;
  nn::Metadata qmeta = meta;
  qmeta["quantized_from"] = a.init;
  cp::save_quantized(q, path, qmeta);
  auto reloaded = cp::load_quantized(path);
  const double again = accuracy(*reloaded, s);
  MINIDL_CHECK(again == int8, "the reloaded int8 model scores ", again, ", not ", int8);
  std::printf("file size: fp32 %lld bytes, int8 %lld bytes (%.1f%%)%s\n", (long long)file_size(a.init),
              (long long)file_size(path), 100.0 * double(file_size(path)) / double(file_size(a.init)),
              a.out.empty() ? "" : ("; saved " + a.out).c_str());
  if (a.out.empty()) std::filesystem::remove(path);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Quantize a seed CNN checkpoint to int8 (calibrated PTQ or QAT) and measure accuracy, size and speed."};
  Args a;
  Setup s;
  add_flags(app, a, s);
  examples::one_line_errors(app, "quantize");
  MINIDL_PARSE_FLAGS(app, argc, argv);
  try {
    examples::check_output_path("--out", a.out);
    if (a.threads) set_num_threads(a.threads);
    MINIDL_CHECK(s.calib >= 1 || a.qat > 0, "--calib 0: post-training quantization needs at least 1 calibration image");
    nn::Metadata meta;
    const nn::StateDict sd = nn::load_safetensors(a.init, &meta);
    MINIDL_CHECK(!cp::is_quantized_checkpoint(meta), a.init, " is already an int8 checkpoint");
    bool bn = false;
    for (const auto& [n, t] : sd) bn = bn || n.rfind("bn1.", 0) == 0;
    auto net = nn::seed_cnn({.batchnorm = bn});
    nn::load(*net, a.init);
    s.train = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(a.data, true));
    s.test = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(a.data, false));
    s.transforms = nn::transforms_from_metadata(meta);
    if (a.clamp) a.reduce_range = true;
    const double fp32 = accuracy(*net, s);
    std::printf("model: seed CNN%s from %s; fp32 test accuracy %.4f\n", bn ? " with BatchNorm" : "", a.init.c_str(), fp32);
    if (a.naive) naive(*net, s, fp32);
    if (a.table) print_table(*net, a, s, fp32);
    const cp::QConfig qc{.activation = a.qat > 0 && a.observer == "histogram" ? "moving_average" : a.observer,
                         .per_channel = !a.per_tensor, .reduce_range = a.reduce_range,
                         .bias_fraction = a.bias_fraction, .clamp_to_range = a.clamp};
    nn::ModulePtr q = a.qat > 0 ? qat_model(*net, qc, a, s) : ptq(*net, qc, s);
    const double int8 = accuracy(*q, s);
    std::printf("%s, %s weights, %s activation observer%s%s:\n%s", a.qat ? "QAT" : "PTQ",
                a.per_tensor ? "per-tensor" : "per-channel", qc.activation.c_str(),
                a.clamp ? " (7-bit: reduce_range, clamped at 127)" : a.reduce_range ? " (reduce_range)" : "",
                a.bias_fraction ? " (bias fraction)" : "", cp::describe_quantization(*q).c_str());
    std::printf("test accuracy: fp32 %.4f, int8 %.4f, drop %+.2f points\n", fp32, int8, (fp32 - int8) * 100);
    save_and_reload(*q, a, meta, s, int8);
    // The fp32 model as it runs fastest, as the int8 one is converted: a fresh copy
    // (QAT left parametrizations on net), conv/linear + ReLU fused and BatchNorm folded
    // (nn::fuse: the same function; unfused, fp32 ran ~30% slower here).
    auto fresh = nn::seed_cnn({.batchnorm = bn});
    nn::load(*fresh, a.init);
    nn::fuse(*fresh, {.fold_batchnorm = true});
    const auto ips = images_per_second({fresh.get(), q.get()}, s);
    std::printf("inference, batch 256, %d threads, timed side by side: fp32 %.0f images/s, int8 %.0f images/s (%.2fx)\n",
                get_num_threads(), ips[0], ips[1], ips[1] / ips[0]);
  } catch (const std::exception& e) {
    std::cerr << "quantize: error: " << e.what() << std::endl;
    return examples::kRunError;
  }
  return 0;
}
