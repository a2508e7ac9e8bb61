// Tests for nn/divergence.h: a loss that goes non-finite or stays far above
// its starting value stops training with a message naming epoch and step, and
// the model gets back the weights of the last healthy epoch.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "core/random.h"
#include "nn/divergence.h"
#include "nn/linear.h"
#include "test_util.h"

using namespace minidl;
using minidl::test::contains;

namespace {
nn::BatchInfo batch(int epoch, int64_t b, int64_t step, float loss) {
  nn::BatchInfo i;
  i.epoch = epoch;
  i.batch = b;
  i.global_step = step;
  i.loss = loss;
  return i;
}
std::string divergence_of(nn::DivergenceGuard& g, nn::Module& m, const nn::BatchInfo& b) {
  try {
    g.on_batch_end(m, b);
  } catch (const nn::DivergenceError& e) {
    return e.what();
  }
  return "<no error>";
}
}  // namespace

TEST_CASE("DivergenceGuard: an exploding loss stops training and restores the last healthy epoch") {
  Generator gen(3);
  nn::Linear lin(3, 2, true, gen);
  nn::DivergenceGuard g({.warmup = 4, .factor = 10, .margin = 5, .patience = 3, .smoothing = 1});
  g.on_train_begin(lin);
  const Tensor w0 = lin.weight().clone();
  int64_t step = 0;
  for (int b = 0; b < 6; ++b) CHECK(divergence_of(g, lin, batch(1, b, ++step, 2.3f - 0.1f * float(b))) == "<no error>");
  lin.weight().data<float>()[0] += 1.f;  // epoch 1's training changed the weights
  const Tensor w1 = lin.weight().clone();
  g.on_epoch_end(lin, nn::EpochStats{.epoch = 1});
  CHECK(g.good_epoch() == 1);
  // Epoch 2: two high batches, then a normal one (noise, not divergence)...
  CHECK(divergence_of(g, lin, batch(2, 0, ++step, 1e6f)) == "<no error>");
  CHECK(divergence_of(g, lin, batch(2, 1, ++step, 1e6f)) == "<no error>");
  CHECK(divergence_of(g, lin, batch(2, 2, ++step, 2.f)) == "<no error>");
  lin.weight().data<float>()[0] = 1e15f;  // ...then the weights blow up
  g.on_epoch_end(lin, nn::EpochStats{.epoch = 2});
  CHECK(g.good_epoch() == 1);  // epoch 2 had excursions: not a "good" snapshot
  CHECK(divergence_of(g, lin, batch(3, 0, ++step, 1e18f)) == "<no error>");
  CHECK(divergence_of(g, lin, batch(3, 1, ++step, 1e18f)) == "<no error>");
  const std::string e = divergence_of(g, lin, batch(3, 2, ++step, 1e18f));
  CHECK(contains(e, "training diverged at epoch 3, step 12 (batch 2 of the epoch)"));
  CHECK(contains(e, "the smoothed loss stayed above 20 (starting value 2)"));
  CHECK(contains(e, "for 3 batches"));
  CHECK(contains(e, "the model is back to its weights at the end of epoch 1"));
  CHECK(lin.weight().to_vector<float>() == w1.to_vector<float>());
  CHECK(lin.weight().to_vector<float>() != w0.to_vector<float>());
}

TEST_CASE("DivergenceGuard: a non-finite loss stops at once, with the weights from before training") {
  Generator gen(4);
  nn::Linear lin(2, 2, true, gen);
  nn::DivergenceGuard g;
  g.on_train_begin(lin);
  const std::vector<float> w0 = lin.weight().to_vector<float>();
  lin.weight().data<float>()[1] = std::numeric_limits<float>::quiet_NaN();
  const std::string e = divergence_of(g, lin, batch(1, 0, 1, std::numeric_limits<float>::infinity()));
  CHECK(contains(e, "training diverged at epoch 1, step 1 (batch 0 of the epoch): the loss became inf"));
  CHECK(contains(e, "back to its weights from before training"));
  CHECK(lin.weight().to_vector<float>() == w0);
}
