// Harness: the sparse checkpoint (compress/sparse_format.h: load_sparse), and
// loading it into a small pruned seed CNN (masks checked and installed, then
// load_state_dict), strict and not.
#include "compress/sparse_format.h"
#include "fuzz_util.h"
#include "nn/seed_cnn.h"

using namespace minidl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::scratch() / "m.sparse";
  fuzz::write_file(path, data, size);
  bool ok = false;
  fuzz::expect_ok_or_error([&] {
    (void)compress::load_sparse(path.string());
    ok = true;
  });
  if (!ok) return 0;
  for (bool strict : {true, false}) {
    auto net = nn::seed_cnn({.batchnorm = true, .image_size = 8, .num_classes = 2, .conv1_channels = 2,
                             .conv2_channels = 2, .hidden = 3});
    fuzz::expect_ok_or_error([&] { compress::load_sparse(*net, path.string(), strict); });
  }
  return 0;
}
