// evaluate — test accuracy and confusion matrix of a saved seed CNN.
//
//   build/examples/evaluate seed_cnn.safetensors
//
// The architecture is read off the checkpoint: BatchNorm if it has bn1.*,
// layer widths from the weight shapes (so structurally pruned models load),
// pruning masks if it has *_orig/*_mask tensors, and the input normalisation
// the trainer recorded in the file's metadata.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common_flags.h"
#include "minidl.h"

using namespace minidl;

namespace {
const Tensor& find(const nn::StateDict& sd, const std::string& name, const std::string& path) {
  for (const auto& [n, t] : sd)
    if (n == name || n == name + "_orig") return t;
  detail::fail(path, ": not a seed CNN checkpoint: no tensor \"", name, "\"");
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a seed CNN checkpoint on the Fashion-MNIST test set."};
  std::string checkpoint, data = datasets::kFashionMnistDir;
  int64_t batch_size = 256;
  app.add_option("checkpoint", checkpoint, "safetensors file written by train_seed_cnn or prune")
      ->required()->check(CLI::ExistingFile);
  app.add_option("--data", data, "directory with t10k-{images-idx3,labels-idx1}-ubyte[.gz]")->check(CLI::ExistingDirectory);
  app.add_option("--batch-size", batch_size, "evaluation batch size")->check(CLI::Range(1, 1 << 20));
  examples::one_line_errors(app, "evaluate");
  CLI11_PARSE(app, argc, argv);
  try {
    nn::Metadata meta;
    nn::StateDict sd = nn::load_safetensors(checkpoint, &meta);
    const bool int8 = compress::is_quantized_checkpoint(meta);
    nn::SeedCNNOptions o;
    o.batchnorm = false;
    for (const auto& [n, t] : sd) o.batchnorm = o.batchnorm || n.rfind("bn1.", 0) == 0;
    o.conv1_channels = find(sd, "conv1.weight", checkpoint).size(0);
    o.conv2_channels = find(sd, "conv2.weight", checkpoint).size(0);
    o.hidden = find(sd, "fc1.weight", checkpoint).size(0);
    nn::ModulePtr net;
    if (int8) {  // an int8 model (examples/quantize): rebuilt from the file's layer list
      net = compress::quantized_from_state(sd, meta, checkpoint);
    } else {
      net = nn::seed_cnn(o);
      compress::load_pruned(*net, checkpoint);  // plain checkpoints load unchanged
      nn::fuse(*net);                           // layer + ReLU as one module: the same values, faster
    }

    auto test = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(data, false));
    datasets::DataLoader loader(test, {.batch_size = batch_size, .transforms = nn::transforms_from_metadata(meta)});
    nn::EvalResult r = nn::evaluate(*net, loader);
    validate::ConfusionMatrix cm(r.predictions, r.targets, test->num_classes());
    const std::vector<std::string> names = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat",
                                            "Sandal",  "Shirt",   "Sneaker",  "Bag",   "Boot"};
    const auto& labels = test->num_classes() == 10 ? names : std::vector<std::string>{};
    std::cout << "model: " << (int8 ? "int8 quantized " : "") << "seed CNN" << (o.batchnorm ? " with BatchNorm" : "") << " (conv1 " << o.conv1_channels
              << ", conv2 " << o.conv2_channels << ", fc1 " << o.hidden << ")"
              << (meta.count("recipe") ? "\ntrained with: " + meta["recipe"] : "")
              << (meta.count("pruning") ? "\npruned: " + meta["pruning"] : "")
              << (int8 ? "\nquantization: " + meta["quantization.scheme"] : "") << "\n"
              << "test accuracy: " << r.accuracy << " (" << r.count << " images), loss " << r.loss << "\n\n"
              << "confusion matrix (rows: true class, columns: predicted)\n"
              << cm.to_string(labels) << "\n" << cm.report(labels);
  } catch (const std::exception& e) {
    std::cerr << "evaluate: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
