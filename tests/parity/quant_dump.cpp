// quant_dump — minidl's side of the PyTorch int8 parity check (torch_quant_parity.py):
// post-training quantization of a seed CNN checkpoint with MinMaxObserver activations
// (quint8, reduce_range as asked) and per-channel symmetric int8 weights in [−127, 127],
// calibrated on the first N training images (pixel/255, batches of 128, file order).
//
// usage: quant_dump FP32.safetensors N_CALIB OUT_DIR [reduce_range] [bias_fraction] [N_TEST]
// (reduce_range: activations in [0, 127]; bias_fraction: QConfig::bias_fraction; N_TEST: the
// first N_TEST test images, default all)
// writes OUT_DIR/int8.safetensors (the converted model) and OUT_DIR/outputs.safetensors:
// "codes" U8 [N_TEST, 10], the last layer's uint8 output on the test set, and "pred" I64.
#include <iostream>
#include <optional>

#include "minidl.h"

using namespace minidl;
namespace cp = minidl::compress;

int main(int argc, char** argv) {
  if (argc < 4 || argc > 7) {
    std::cerr << "usage: quant_dump FP32.safetensors N_CALIB OUT_DIR [reduce_range] [bias_fraction] [N_TEST]\n";
    return 2;
  }
  try {
    const std::string init = argv[1], dir = argv[3];
    const int64_t n = std::stoll(argv[2]);
    bool reduce_range = false, bias_fraction = false;
    std::optional<int64_t> n_test;
    for (int i = 4; i < argc; ++i) {
      if (std::string(argv[i]) == "reduce_range") reduce_range = true;
      else if (std::string(argv[i]) == "bias_fraction") bias_fraction = true;
      else n_test = std::stoll(argv[i]);
    }
    nn::StateDict sd = nn::load_safetensors(init);
    bool bn = false;
    for (const auto& [k, t] : sd) bn = bn || k.rfind("bn1.", 0) == 0;
    auto net = nn::seed_cnn({.batchnorm = bn});
    nn::load(*net, init);
    auto train = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, true, n));
    auto test = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, false, n_test));
    const std::vector<datasets::TransformPtr> scale = {std::make_shared<datasets::ScalePixels>()};
    datasets::DataLoader calib(train, {.batch_size = 128, .transforms = scale});
    auto prepared = cp::prepare(*net, {.activation = "minmax", .per_channel = true, .reduce_range = reduce_range,
                                       .bias_fraction = bias_fraction});
    cp::calibrate(*prepared, calib, calib.size());
    auto q = cp::convert(*prepared);
    cp::save_quantized(*q, dir + "/int8.safetensors");

    datasets::DataLoader loader(test, {.batch_size = 500, .transforms = scale});
    std::vector<uint8_t> codes;
    std::vector<int64_t> pred;
    NoGradGuard ng;
    const auto& layers = q->named_children();
    for (const datasets::Batch& b : loader) {
      Tensor h = b.x;
      for (size_t i = 0; i + 1 < layers.size(); ++i) h = layers[i].second->forward(h);  // stop before Dequantize
      const uint8_t* p = h.data<uint8_t>();
      codes.insert(codes.end(), p, p + h.numel());
      const Tensor a = argmax(layers.back().second->forward(h), 1);
      pred.insert(pred.end(), a.data<int64_t>(), a.data<int64_t>() + a.numel());
    }
    const int64_t N = int64_t(pred.size());
    nn::save_safetensors({{"codes", Tensor::from_vector(codes, {N, int64_t(codes.size()) / N})},
                          {"pred", Tensor::from_vector(pred, {N})}},
                         dir + "/outputs.safetensors");
  } catch (const std::exception& e) {
    std::cerr << "quant_dump: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
