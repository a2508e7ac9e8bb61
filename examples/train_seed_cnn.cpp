// train_seed_cnn — train the source articles' CNN on Fashion-MNIST.
//
//   build/examples/train_seed_cnn --bn --epochs 10 --out seed_cnn.safetensors
//
// Prints the recipe, one line per epoch (loss, train accuracy, test accuracy,
// samples/s) and the final test accuracy. With --init FILE --no-shuffle and no
// augmentation it performs exactly the loop PyTorch would (same batches, same
// SGD update), which is how parity with PyTorch is checked.
#include <CLI/CLI.hpp>
#include <iostream>

#include "common_flags.h"
#include "minidl.h"

using namespace minidl;

int main(int argc, char** argv) {
  CLI::App app{"Train the seed CNN on Fashion-MNIST (or MNIST-format data in --data)."};
  std::string data = datasets::kFashionMnistDir, init, out, history;
  nn::TrainConfig c;
  bool bn = false, no_shuffle = false;
  int threads = 0;
  int64_t train_limit = 0;
  app.add_option("--data", data, "directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")->check(CLI::ExistingDirectory);
  examples::add_recipe_flags(app, c);
  app.add_flag("--bn", bn, "BatchNorm after each convolution");
  app.add_option("--seed", c.seed, "seed for initialisation, shuffling and augmentation");
  app.add_option("--threads", threads, "threads (default: all cores)")->check(CLI::Range(1, 1024));
  app.add_option("--train-limit", train_limit, "use only the first N training images")->check(CLI::Range(1, 1 << 30));
  app.add_option("--init", init, "start from this checkpoint (safetensors)")->check(CLI::ExistingFile);
  app.add_flag("--no-shuffle", no_shuffle, "visit training images in file order");
  app.add_option("--out", out, "save the trained weights here (safetensors)");
  app.add_option("--history", history, "write per-epoch history to FILE.csv and FILE.json");
  examples::one_line_errors(app, "train_seed_cnn");
  CLI11_PARSE(app, argc, argv);

  try {
    examples::check_output_path("--out", out);
    if (!history.empty()) {
      examples::check_output_path("--history", history + ".csv");
      examples::check_output_path("--history", history + ".json");
    }
    c.shuffle = !no_shuffle;
    c.validate();
    if (threads) set_num_threads(threads);
    manual_seed(c.seed);
    auto train = std::make_shared<datasets::TensorDataset>(
        datasets::load_mnist(data, true, train_limit ? std::optional<int64_t>(train_limit) : std::nullopt));
    auto test = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(data, false));
    auto net = nn::seed_cnn({.batchnorm = bn});
    nn::fuse(*net);  // layer + ReLU as one module: same values and checkpoint keys, faster
    if (!init.empty()) nn::load(*net, init);
    std::cout << "data: " << data << " (" << train->size() << " train, " << test->size() << " test images)\n"
              << "model: seed CNN" << (bn ? " with BatchNorm" : "") << ", " << net->parameters().size()
              << " parameter tensors" << (init.empty() ? "" : ", initialised from " + init) << "\n"
              << "recipe: " << c.describe() << "\n"
              << "threads: " << get_num_threads() << std::endl;
    nn::FitOptions fo;
    fo.log = &std::cout;
    if (!history.empty()) {
      fo.history_csv = history + ".csv";
      fo.history_json = history + ".json";
    }
    nn::train(*net, train, nullptr, test, c, fo);
    datasets::DataLoader test_loader(test, {.batch_size = c.eval_batch_size, .transforms = nn::make_transforms(c, *train, false)});
    nn::EvalResult r = nn::evaluate(*net, test_loader);
    std::cout << "final test accuracy: " << r.accuracy << " (" << int64_t(r.accuracy * double(r.count) + 0.5) << "/"
              << r.count << ")" << std::endl;
    if (!out.empty()) {
      nn::Metadata meta = nn::recipe_metadata(c, *train);
      meta["model"] = bn ? "seed_cnn_bn" : "seed_cnn";
      // The images it learnt from (the first N of the training file), so that a
      // later cross-validation can keep its held-out folds out of them (distill).
      meta["train_images"] = std::to_string(train->size());
      nn::save(*net, out, meta);
      std::cout << "saved " << out << std::endl;
    }
  } catch (const std::exception& e) {
    std::cerr << "train_seed_cnn: error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
