// Writes the inputs of tests/parity/torch_prune_parity.py into directory argv[1]:
// a dense seed CNN, the same model after minidl's pruning calls (global 90%,
// then fc2 50% twice, then 7 entries of fc1's bias), and a batch with the
// pruned model's outputs.
#include <iostream>

#include "compress/prune.h"
#include "minidl.h"

using namespace minidl;
namespace cp = minidl::compress;

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: prune_dump DIR\n";
    return 2;
  }
  const std::string d = argv[1];
  Generator g(42);
  auto net = nn::seed_cnn({}, g);
  nn::save(*net, d + "/dense.safetensors");
  cp::global_unstructured(cp::prunable_weights(*net), cp::Amount::fraction(0.9));
  auto fc2 = net->get_submodule("fc2");
  cp::l1_unstructured(*fc2, "weight", cp::Amount::fraction(0.5));
  cp::l1_unstructured(*fc2, "weight", cp::Amount::fraction(0.5));
  cp::l1_unstructured(*net->get_submodule("fc1"), "bias", cp::Amount::count(7));
  nn::save(*net, d + "/pruned.safetensors");
  Generator g2(1);
  Tensor x = Tensor::normal({4, 1, 28, 28}, 0, 1, g2);
  NoGradGuard ng;
  nn::save_safetensors({{"x", x}, {"y", net->forward(x)}}, d + "/io.safetensors");
  return 0;
}
