// Runs the seed CNN on a batch the way tests/parity/torch_seed_cnn_parity.py
// runs it in PyTorch, and writes what it computed for comparison:
//   seed_cnn_step BN(0|1) STEPS LR MOMENTUM WEIGHT_DECAY NESTEROV(0|1) IN.safetensors OUT.safetensors
// IN holds the initial weights (PyTorch names) plus "x" [B,1,28,28] and "y" [B].
// OUT holds logits and loss of the first forward pass, the first gradients
// ("grad.<param>"), and the state after STEPS SGD steps ("final.<name>").
#include <cstdlib>
#include <iostream>

#include "minidl.h"

using namespace minidl;

int main(int argc, char** argv) {
  if (argc != 9) {
    std::cerr << "usage: seed_cnn_step BN STEPS LR MOMENTUM WEIGHT_DECAY NESTEROV IN OUT\n";
    return 2;
  }
  try {
    const bool bn = std::atoi(argv[1]) != 0;
    const int steps = std::atoi(argv[2]);
    nn::SGDOptions o;
    o.lr = std::strtof(argv[3], nullptr);
    o.momentum = std::strtof(argv[4], nullptr);
    o.weight_decay = std::strtof(argv[5], nullptr);
    o.nesterov = std::atoi(argv[6]) != 0;
    nn::StateDict in = nn::load_safetensors(argv[7]);
    Tensor x, y;
    nn::StateDict weights;
    for (auto& [n, t] : in) {
      if (n == "x") x = t;
      else if (n == "y") y = t;
      else weights.emplace_back(n, t);
    }
    nn::SeedCNNOptions opt;
    opt.batchnorm = bn;
    auto net = nn::seed_cnn(opt);
    net->load_state_dict(weights);
    net->train();
    nn::SGD sgd(net->parameters(), o);
    nn::StateDict out;
    for (int s = 0; s < steps; ++s) {
      sgd.zero_grad();
      Tensor logits = net->forward(x);
      Tensor loss = cross_entropy(logits, y);
      loss.backward();
      if (s == 0) {
        out.emplace_back("logits", logits.detach().clone());
        out.emplace_back("loss", loss.detach().clone());
        for (auto& [n, p] : net->named_parameters()) out.emplace_back("grad." + n, p.grad().clone());
      }
      sgd.step();
    }
    for (auto& [n, t] : net->state_dict()) out.emplace_back("final." + n, t.clone());
    nn::save_safetensors(out, argv[8]);
  } catch (const std::exception& e) {
    std::cerr << "seed_cnn_step: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
