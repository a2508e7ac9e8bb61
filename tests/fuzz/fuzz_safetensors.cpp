// Harness: safetensors checkpoints (nn/checkpoint.h: load_safetensors), and
// loading them into a small seed CNN with BatchNorm (load_state_dict), strict
// and not.
#include "fuzz_util.h"
#include "nn/checkpoint.h"
#include "nn/seed_cnn.h"

using namespace minidl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::scratch() / "m.safetensors";
  fuzz::write_file(path, data, size);
  nn::StateDict sd;
  fuzz::expect_ok_or_error([&] {
    nn::Metadata meta;
    sd = nn::load_safetensors(path.string(), &meta);
  });
  if (sd.empty()) return 0;
  static auto net = nn::seed_cnn({.batchnorm = true, .image_size = 8, .num_classes = 2, .conv1_channels = 2,
                                  .conv2_channels = 2, .hidden = 3});
  for (bool strict : {true, false}) fuzz::expect_ok_or_error([&] { net->load_state_dict(sd, strict); });
  return 0;
}
