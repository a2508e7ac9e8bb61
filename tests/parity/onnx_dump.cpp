// onnx_dump — minidl's side of the ONNX export check (onnx_export_parity.py): trains the
// seed CNN and its BatchNorm variant briefly (one epoch on the first N_TRAIN Fashion-MNIST
// training images, pixel/255, seeded), quantizes both (min-max observers, per-channel
// weights, 256 calibration images; the plain one also with per-tensor weights and conv1's
// ReLU clamping at zero point 3, which exports as a Clip), exports
// the five models and writes what minidl computes on the first N_TEST test images.
//
// usage: onnx_dump OUT_DIR [N_TRAIN [N_TEST]]          (defaults 640 and 1000)
// writes OUT_DIR/<model>.onnx for model in dense, bn (BatchNormalization nodes, fused with
// their ReLUs), dense_int8, bn_int8, dense_int8_pt, and OUT_DIR/reference.safetensors:
//   "images" F32 [N_TEST, 1, 28, 28], "labels" I64 [N_TEST],
//   "<model>" F32 [N_TEST, 10] minidl's logits, "<model>.step" F32 [1] (int8: the output
//   scale, one quantization step of the logits; fp32: 0).
#include <chrono>
#include <iostream>

#include "compress/onnx_export.h"
#include "minidl.h"

using namespace minidl;
namespace cp = minidl::compress;

namespace {

std::shared_ptr<nn::Sequential> trained(bool bn, datasets::DataLoader& train) {
  Generator gen(bn ? 2 : 1);
  auto net = nn::seed_cnn({.batchnorm = bn}, gen);
  nn::SGD opt(net->parameters(), {.lr = 0.05f, .momentum = 0.9f});
  nn::FitOptions fo;
  fo.epochs = 1;
  nn::fit(*net, opt, train, fo);
  net->eval();
  return net;
}

// Moves the output zero point of `from` (a ReLU layer, zero point 0 after calibration) to z,
// and the input zero point of `to` with it: the same model with ReLU clamping at z, which
// the export writes as a Clip of the codes.
void shift_zero_point(nn::Module& q, const std::string& from, const std::string& to, int32_t z) {
  auto a = std::dynamic_pointer_cast<cp::QuantizedWeighted>(q.get_submodule(from));
  auto b = std::dynamic_pointer_cast<cp::QuantizedWeighted>(q.get_submodule(to));
  a->buffer("zero_point").data<int32_t>()[0] = z;
  b->buffer("input_zero_point").data<int32_t>()[0] = z;
  a->refresh();
  b->refresh();
}

Tensor logits(nn::Module& m, const Tensor& images) {
  NoGradGuard ng;
  m.eval();
  return m.forward(images);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::cerr << "usage: onnx_dump OUT_DIR [N_TRAIN [N_TEST]]\n";
    return 2;
  }
  try {
    const std::string dir = argv[1];
    const int64_t n_train = argc > 2 ? std::stoll(argv[2]) : 640, n_test = argc > 3 ? std::stoll(argv[3]) : 1000;
    const std::vector<datasets::TransformPtr> scale = {std::make_shared<datasets::ScalePixels>()};
    auto train_set = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, true, n_train));
    auto test_set = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, false, n_test));
    datasets::DataLoader train(train_set, {.batch_size = 64, .shuffle = true, .seed = 7, .transforms = scale});
    datasets::DataLoader calib(train_set, {.batch_size = 128, .transforms = scale});
    datasets::DataLoader test(test_set, {.batch_size = n_test, .transforms = scale});
    const datasets::Batch batch = *test.begin();
    const Shape example = {1, 1, 28, 28};
    auto t0 = std::chrono::steady_clock::now();

    nn::StateDict out = {{"images", batch.x}, {"labels", batch.y}};
    auto record = [&](const std::string& name, nn::Module& m, float step) {
      cp::export_onnx(m, dir + "/" + name + ".onnx", example);
      out.push_back({name, logits(m, batch.x)});
      out.push_back({name + ".step", Tensor::from_vector(std::vector<float>{step}, {1})});
      std::cout << name << ": exported (" << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()
                << " s)\n";
    };
    auto quantized = [&](nn::Module& fp32, bool per_channel) {
      auto prepared = cp::prepare(fp32, {.activation = "minmax", .per_channel = per_channel});
      cp::calibrate(*prepared, calib, 2);  // 256 images
      return cp::convert(*prepared);
    };
    auto step_of = [](nn::Module& q) {
      return q.named_children().back().second->buffer("scale").data<float>()[0];  // the Dequantize
    };

    // prepare() fuses and folds its model in place: each quantization gets its own copy.
    auto dense = trained(false, train), bn = trained(true, train);
    std::cout << "trained two models on " << n_train << " images in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n";
    auto dense_pt = nn::seed_cnn(), bn_q = nn::seed_cnn({.batchnorm = true});
    dense_pt->load_state_dict(dense->state_dict());
    bn_q->load_state_dict(bn->state_dict());
    record("dense", *dense, 0.f);
    nn::fuse(*bn);  // bn1 + relu1 -> BNReLU2d: BatchNormalization then Relu
    record("bn", *bn, 0.f);
    auto pt = quantized(*dense_pt, false);
    shift_zero_point(*pt, "conv1", "conv2", 3);
    for (auto& [name, m] : std::vector<std::pair<std::string, nn::ModulePtr>>{
             {"dense_int8", quantized(*dense, true)}, {"bn_int8", quantized(*bn_q, true)}, {"dense_int8_pt", pt}})
      record(name, *m, step_of(*m));
    nn::save_safetensors(out, dir + "/reference.safetensors");
  } catch (const std::exception& e) {
    std::cerr << "onnx_dump: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
