// onnx_dump — minidl's side of the ONNX export check (onnx_export_parity.py): trains the
// seed CNN and its BatchNorm variant briefly (one epoch on the first N_TRAIN Fashion-MNIST
// training images, pixel/255, seeded), quantizes both (min-max observers, per-channel
// weights, 256 calibration images; the plain one also with per-tensor weights and conv1's
// ReLU clamping at zero point 3, which exports as a Clip; and with 7-bit codes, reduce_range
// clamped at 127, Clips after QuantizeLinear and every QLinearConv), exports
// the six models and writes what minidl computes on the first N_TEST test images.
//
// usage: onnx_dump OUT_DIR [N_TRAIN [N_TEST]]          (defaults 640 and 1000)
//        onnx_dump OUT_DIR --from CHECKPOINT...
// writes OUT_DIR/<model>.onnx for model in dense, bn (BatchNormalization nodes, fused with
// their ReLUs), dense_int8, bn_int8, dense_int8_pt, dense_int8_7bit, and OUT_DIR/reference.safetensors:
//   "images" F32 [N_TEST, 1, 28, 28], "labels" I64 [N_TEST],
//   "<model>" F32 [N_TEST, 10] minidl's logits, "<model>.step" F32 [1] (int8: the output
//   scale, one quantization step of the logits; fp32: 0).
// With --from, the given checkpoints instead (fp32 or int8, named by their file stems), on
// all 10,000 test images with the transforms they record: figures for trained models.
#include <chrono>
#include <filesystem>
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

float step_of(nn::Module& q) {  // the output scale of an int8 model (its Dequantize), 0 for fp32
  const auto& last = q.named_children().back().second;
  return dynamic_cast<cp::Dequantize*>(last.get()) ? last->buffer("scale").data<float>()[0] : 0.f;
}

// The models exported and what minidl computes on the test images.
struct Dump {
  std::string dir;
  Tensor images;
  nn::StateDict out;
  std::chrono::steady_clock::time_point t0 = std::chrono::steady_clock::now();

  Dump(std::string d, const datasets::Batch& test) : dir(std::move(d)), images(test.x) {
    out = {{"images", test.x}, {"labels", test.y}};
  }
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
  void record(const std::string& name, nn::Module& m) {
    Shape example = images.shape();
    example[0] = 1;
    cp::export_onnx(m, dir + "/" + name + ".onnx", example);
    out.push_back({name, logits(m, images)});
    out.push_back({name + ".step", Tensor::from_vector(std::vector<float>{step_of(m)}, {1})});
    std::cout << name << ": exported (" << seconds() << " s)\n";
  }
  void save() { nn::save_safetensors(out, dir + "/reference.safetensors"); }
};

void generated(const std::string& dir, int64_t n_train, int64_t n_test) {
  const std::vector<datasets::TransformPtr> scale = {std::make_shared<datasets::ScalePixels>()};
  auto train_set = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, true, n_train));
  auto test_set = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, false, n_test));
  datasets::DataLoader train(train_set, {.batch_size = 64, .shuffle = true, .seed = 7, .transforms = scale});
  datasets::DataLoader calib(train_set, {.batch_size = 128, .transforms = scale});
  datasets::DataLoader test(test_set, {.batch_size = n_test, .transforms = scale});
  Dump dump(dir, *test.begin());
  auto quantized = [&](nn::Module& fp32, bool per_channel) {
    auto prepared = cp::prepare(fp32, {.activation = "minmax", .per_channel = per_channel});
    cp::calibrate(*prepared, calib, 2);  // 256 images
    return cp::convert(*prepared);
  };
  auto dense = trained(false, train), bn = trained(true, train);
  std::cout << "trained two models on " << n_train << " images in " << dump.seconds() << " s\n";
  // prepare() fuses and folds its model in place: each quantization gets its own copy.
  auto dense_pt = nn::seed_cnn(), bn_q = nn::seed_cnn({.batchnorm = true}), dense_7 = nn::seed_cnn();
  dense_pt->load_state_dict(dense->state_dict());
  dense_7->load_state_dict(dense->state_dict());
  bn_q->load_state_dict(bn->state_dict());
  dump.record("dense", *dense);
  nn::fuse(*bn);  // bn1 + relu1 -> BNReLU2d: BatchNormalization then Relu
  dump.record("bn", *bn);
  auto pt = quantized(*dense_pt, false);
  shift_zero_point(*pt, "conv1", "conv2", 3);
  dump.record("dense_int8", *quantized(*dense, true));
  dump.record("bn_int8", *quantized(*bn_q, true));
  dump.record("dense_int8_pt", *pt);
  // 7-bit codes (reduce_range, every code clamped at 127): Clips after QuantizeLinear and each QLinearConv
  auto seven = cp::prepare(*dense_7, {.activation = "minmax", .reduce_range = true, .clamp_to_range = true});
  cp::calibrate(*seven, calib, 2);
  dump.record("dense_int8_7bit", *cp::convert(*seven));
  dump.save();
}

// Checkpoints (fp32 or int8 safetensors) on the whole Fashion-MNIST test set, with the
// input transforms the first one records (the others must record the same).
void from_checkpoints(const std::string& dir, const std::vector<std::string>& files) {
  std::vector<std::pair<std::string, nn::ModulePtr>> models;
  std::string transforms;
  std::vector<datasets::TransformPtr> first;
  for (const auto& f : files) {
    nn::Metadata meta;
    nn::StateDict sd = nn::load_safetensors(f, &meta);
    nn::ModulePtr m;
    if (cp::is_quantized_checkpoint(meta)) {
      m = cp::quantized_from_state(sd, meta, f);
    } else {
      const nn::CheckpointModel cm = nn::model_from_checkpoint(sd, meta, f);
      auto seq = nn::build_model(cm.spec, cm.input_shape);
      seq->load_state_dict(sd);
      m = seq;
    }
    std::string names;
    for (const auto& t : nn::transforms_from_metadata(meta)) names += t->name() + ";";
    if (models.empty()) first = nn::transforms_from_metadata(meta), transforms = names;
    MINIDL_CHECK(names == transforms, f, ": input transforms ", names, " differ from the first checkpoint's ", transforms);
    models.emplace_back(std::filesystem::path(f).stem().string(), m);
  }
  auto test_set = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, false));
  datasets::DataLoader test(test_set, {.batch_size = test_set->size(), .transforms = first});
  Dump dump(dir, *test.begin());
  for (auto& [name, m] : models) dump.record(name, *m);
  dump.save();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (argc > 4 && std::string(argv[2]) != "--from")) {
    std::cerr << "usage: onnx_dump OUT_DIR [N_TRAIN [N_TEST]] | onnx_dump OUT_DIR --from CHECKPOINT...\n";
    return 2;
  }
  try {
    if (argc > 2 && std::string(argv[2]) == "--from")
      from_checkpoints(argv[1], std::vector<std::string>(argv + 3, argv + argc));
    else
      generated(argv[1], argc > 2 ? std::stoll(argv[2]) : 640, argc > 3 ? std::stoll(argv[3]) : 1000);
  } catch (const std::exception& e) {
    std::cerr << "onnx_dump: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
