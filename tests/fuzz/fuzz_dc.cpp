// Harness: the Deep Compression file (compress/dc_format.h: load_compressed),
// and loading what it decodes into a small seed CNN, strict and not.
#include "compress/dc_format.h"
#include "fuzz_util.h"
#include "nn/seed_cnn.h"

using namespace minidl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::scratch() / "m.dc";
  fuzz::write_file(path, data, size);
  nn::StateDict sd;
  nn::Metadata meta;
  bool ok = false;
  fuzz::expect_ok_or_error([&] {
    sd = compress::load_compressed(path.string(), &meta);
    ok = true;
  });
  if (!ok) return 0;
  for (bool strict : {true, false}) {
    auto net = nn::seed_cnn({.image_size = 8, .num_classes = 2, .conv1_channels = 2, .conv2_channels = 2, .hidden = 3});
    fuzz::expect_ok_or_error([&] { net->load_state_dict(sd, strict); });
  }
  return 0;
}
