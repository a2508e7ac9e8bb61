// Writes safetensors files for tests/torch_checkpoint_interop.py to read with
// plain json + numpy and with PyTorch:
//   checkpoint_interop_dump OUTDIR
// OUTDIR/patterns.safetensors   one tensor per dtype in a known pattern (see below),
//                               0-d and empty tensors, metadata
// OUTDIR/cnn_bn0.safetensors    nn::save of the seed CNN (seed 1), without BatchNorm
// OUTDIR/cnn_bn1.safetensors    the same with BatchNorm, after two training batches
// OUTDIR/cnn_io.safetensors     "x" [4, 1, 28, 28] and the eval-mode logits of both models
// The patterns (element i of the flattened tensor) are restated in the script.
#include <iostream>
#include <vector>

#include "minidl.h"

using namespace minidl;

namespace {

template <class T, class F>
Tensor pattern(const Shape& shape, F f) {
  std::vector<T> v(size_t(numel_of(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = T(f(int64_t(i)));
  return Tensor::from_vector(v, shape);
}

std::shared_ptr<nn::Sequential> cnn(bool bn) {
  Generator g(1);
  nn::SeedCNNOptions o;
  o.batchnorm = bn;
  auto net = nn::seed_cnn(o, g);
  if (bn) {  // move running_mean / running_var / num_batches_tracked off their initial values
    Generator d(2);
    net->train();
    for (int i = 0; i < 2; ++i) net->forward(Tensor::uniform({8, 1, 28, 28}, 0.f, 1.f, d));
  }
  net->eval();
  return net;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: checkpoint_interop_dump OUTDIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  try {
    nn::StateDict p;
    p.emplace_back("f32", pattern<float>({2, 3, 4}, [](int64_t i) { return float(i - 7) * 0.375f; }));
    p.emplace_back("i8", pattern<int8_t>({5, 7}, [](int64_t i) { return (i * 37) % 256 - 128; }));
    p.emplace_back("u8", pattern<uint8_t>({300}, [](int64_t i) { return (i * 13) % 256; }));
    p.emplace_back("i32", pattern<int32_t>({3, 5}, [](int64_t i) { return i * 100003 - 5000000; }));
    p.emplace_back("i64", pattern<int64_t>({4}, [](int64_t i) { return (i - 2) * ((int64_t(1) << 40) + 1); }));
    p.emplace_back("scalar_f32", Tensor::scalar(3.25f));
    p.emplace_back("scalar_i64", Tensor::from_vector(std::vector<int64_t>{-7}, {}));
    p.emplace_back("empty_f32", Tensor::zeros({0, 3}));
    p.emplace_back("last_u8", pattern<uint8_t>({3}, [](int64_t i) { return 250 + i; }));
    nn::save_safetensors(p, dir + "/patterns.safetensors", {{"format", "pt"}, {"writer", "minidl"}, {"pattern", "v1"}});

    Generator g(3);
    Tensor x = Tensor::uniform({4, 1, 28, 28}, 0.f, 1.f, g);
    nn::StateDict io = {{"x", x}};
    for (bool bn : {false, true}) {
      auto net = cnn(bn);
      nn::save(*net, dir + (bn ? "/cnn_bn1.safetensors" : "/cnn_bn0.safetensors"));
      NoGradGuard ng;
      io.emplace_back(bn ? "logits_bn1" : "logits_bn0", net->forward(x));
    }
    nn::save_safetensors(io, dir + "/cnn_io.safetensors");
  } catch (const std::exception& e) {
    std::cerr << "checkpoint_interop_dump: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
