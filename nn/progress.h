// minidl/nn/progress.h — the text of a training progress bar, Keras-style:
//
//   epoch 3/10 [#########...............] 352/938  00:12<00:20  loss 0.4123  acc 0.8521
//
// elapsed<remaining, where the remaining time is the epoch's rate so far
// times the batches still to go (elapsed · (total − done) / done, as Keras's
// and tqdm's ETA); loss and accuracy are the running means over the epoch's
// batches so far. fit() redraws it in place (\r) when its log is a terminal.
#pragma once

#include <cstdint>
#include <string>

namespace minidl::nn {

struct Progress {
  int epoch = 1, epochs = 1;
  int64_t done = 0, total = 0;  // batches
  double elapsed_seconds = 0;
  double loss = 0, accuracy = 0;  // running means over the epoch so far
};

// "00:07", "12:34", "1:02:03"; "--:--" for a time not known yet.
std::string format_duration(double seconds);
std::string progress_bar(const Progress& p, int width = 24);

}  // namespace minidl::nn
