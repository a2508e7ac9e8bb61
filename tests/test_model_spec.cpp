// Tests for nn/model_spec.h: a spec-built seed CNN is nn::seed_cnn() (names,
// shapes, weights), shapes are inferred for other inputs, --bn and the width
// multiplier, parse errors name the token and its position, and the
// architecture is read back from checkpoints (metadata or tensor names).
#include <doctest/doctest.h>

#include "core/random.h"
#include "nn/model_spec.h"
#include "nn/seed_cnn.h"
#include "test_util.h"

using namespace minidl;
using test::contains;
using test::error_of;

namespace {
bool same_state(const nn::Module& a, const nn::Module& b) {
  const nn::StateDict x = a.state_dict(), y = b.state_dict();
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i].first != y[i].first || x[i].second.shape() != y[i].second.shape()) return false;
    if (x[i].second.dtype() != y[i].second.dtype()) return false;
    if (x[i].second.dtype() == DType::Float32 && x[i].second.to_vector<float>() != y[i].second.to_vector<float>())
      return false;
  }
  return true;
}
}  // namespace

TEST_CASE("the seed CNN spec builds nn::seed_cnn(): same names, shapes and weights from the same generator") {
  for (bool bn : {false, true}) {
    CAPTURE(bn);
    Generator g1(3), g2(3);
    auto spec_net = nn::build_model(nn::kSeedCNN, {1, 28, 28}, {.batchnorm = bn}, 10, g1);
    auto seed_net = nn::seed_cnn({.batchnorm = bn}, g2);
    CHECK(same_state(*spec_net, *seed_net));
    std::vector<std::string> a, b;
    for (const auto& [n, m] : spec_net->named_children()) a.push_back(n);
    for (const auto& [n, m] : seed_net->named_children()) b.push_back(n);
    CHECK(a == b);
  }
}

TEST_CASE("shapes are inferred from the item shape; width multiplier; MLPs for tables") {
  auto cifar = nn::build_model(nn::default_model_spec({3, 32, 32}, 10), {3, 32, 32});
  CHECK(cifar->get_submodule("conv1")->param("weight").shape() == Shape{32, 3, 3, 3});
  CHECK(cifar->get_submodule("fc1")->param("weight").shape() == Shape{100, 64 * 7 * 7});  // (32-4)/4 = 7
  CHECK(nn::output_shape(nn::kSeedCNN, {3, 32, 32}) == Shape{10});

  auto half = nn::build_model(nn::kSeedCNN, {1, 28, 28}, {.width = 0.5});
  CHECK(half->get_submodule("conv1")->param("weight").shape() == Shape{16, 1, 3, 3});
  CHECK(half->get_submodule("conv2")->param("weight").shape() == Shape{32, 16, 3, 3});
  CHECK(half->get_submodule("fc1")->param("weight").shape() == Shape{50, 32 * 36});
  CHECK(half->get_submodule("fc2")->param("weight").shape() == Shape{10, 50});  // the classes stay
  CHECK(nn::expand_model_spec(nn::kSeedCNN, {.batchnorm = true, .width = 2}) ==
        "conv:64:3,bn,relu,conv:128:3,bn,relu,avgpool:4,flatten,linear:200,relu,linear:10");

  auto mlp = nn::build_model("linear:16, tanh, dropout:0.25, bn, linear:3", {4}, {}, 3);
  CHECK(mlp->get_submodule("fc1")->param("weight").shape() == Shape{16, 4});
  CHECK(mlp->get_submodule("bn1")->type_name() == "BatchNorm1d");
  CHECK(mlp->get_submodule("tanh1")->type_name() == "Tanh");
  CHECK(mlp->get_submodule("drop1")->type_name() == "Dropout");
  CHECK(mlp->forward(Tensor::zeros({5, 4})).shape() == Shape{5, 3});
  CHECK(nn::default_model_spec({7}, 4) == "linear:100,relu,linear:4");

  auto pools = nn::build_model("conv:8:3:1:1,relu,maxpool:2,conv:8:3,avgpool:2:1,flatten,linear:2", {1, 12, 12});
  CHECK(pools->get_submodule("pool")->type_name() == "MaxPool2d");
  CHECK(pools->get_submodule("pool2")->type_name() == "AvgPool2d");
  CHECK(pools->forward(Tensor::zeros({2, 1, 12, 12})).shape() == Shape{2, 2});
  CHECK(nn::parameter_count(*mlp) == 16 * 4 + 16 + 2 * 16 + 3 * 16 + 3);
}

TEST_CASE("spec errors name the token, its position and what was expected") {
  const std::string e1 = error_of([] { nn::parse_model_spec("conv:32:3,relu,conv:64"); });
  CHECK(contains(e1, "token 3 \"conv:64\" (at character 15)"));
  CHECK(contains(e1, "conv:C:K[:S[:P]]"));
  const std::string e2 = error_of([] { nn::parse_model_spec("conv:32:3, pool:2"); });
  CHECK(contains(e2, "token 2 \"pool:2\" (at character 11)"));
  CHECK(contains(e2, "unknown layer \"pool\""));
  CHECK(contains(e2, "avgpool:K[:S]"));
  CHECK(contains(error_of([] { nn::parse_model_spec("conv:3x:3"); }), "\"3x\" (argument 1) is not a number"));
  CHECK(contains(error_of([] { nn::parse_model_spec("relu,,relu"); }), "token 2 \"\" (at character 5): empty token"));
  CHECK(contains(error_of([] { nn::parse_model_spec("linear:10,"); }), "token 2"));
  CHECK(contains(error_of([] { nn::parse_model_spec("dropout:1.5"); }), "[0, 1)"));
  CHECK(contains(error_of([] { nn::parse_model_spec("linear:2.5"); }), "whole numbers"));
  CHECK(contains(error_of([] { nn::parse_model_spec(""); }), "empty"));
  const std::string e3 = error_of([] { nn::build_model("conv:8:3,linear:10", {1, 28, 28}); });
  CHECK(contains(e3, "token 2 \"linear:10\""));
  CHECK(contains(e3, "[8, 26, 26]"));
  CHECK(contains(e3, "flatten"));
  CHECK(contains(error_of([] { nn::build_model("linear:10", {1, 28, 28}); }), "needs flat input"));
  CHECK(contains(error_of([] { nn::build_model("conv:8:30", {1, 28, 28}); }), "does not fit"));
  CHECK(contains(error_of([] { nn::build_model("flatten,linear:10", {1, 4, 4}, {}, 3); }), "3 classes"));
  CHECK(contains(error_of([] { nn::build_model(nn::kSeedCNN, {1, 28, 28}, {.width = 0}); }), "width"));
}

TEST_CASE("architecture from a checkpoint: the recorded spec with the tensors' widths, or the seed CNN's names") {
  // BatchNorm seed CNN without metadata: detected from bn1.* and the shapes.
  auto bn = nn::seed_cnn({.batchnorm = true, .conv2_channels = 40});
  nn::CheckpointModel m = nn::model_from_checkpoint(bn->state_dict(), {}, "bn.safetensors");
  CHECK(m.spec == "conv:32:3,bn,relu,conv:40:3,bn,relu,avgpool:4,flatten,linear:100,relu,linear:10");
  CHECK(m.input_shape == Shape{1, 28, 28});
  CHECK_NOTHROW(nn::build_model(m.spec, m.input_shape)->load_state_dict(bn->state_dict()));  // strict
  auto cifar = nn::seed_cnn({.in_channels = 3, .image_size = 32});
  CHECK(nn::model_from_checkpoint(cifar->state_dict(), {{"model", "seed_cnn"}}, "c").input_shape == Shape{3, 32, 32});

  // A recorded spec wins, and the widths come from the tensors (structurally pruned conv2: 20 filters).
  const std::string spec = "conv:8:3,relu,conv:64:3,relu,maxpool:2,flatten,linear:12,relu,linear:3";
  auto shrunk = nn::build_model("conv:8:3,relu,conv:20:3,relu,maxpool:2,flatten,linear:12,relu,linear:3", {1, 10, 10});
  nn::CheckpointModel r = nn::model_from_checkpoint(shrunk->state_dict(), {{"model", spec}, {"input_shape", "1,10,10"}}, "p");
  CHECK(r.spec == "conv:8:3,relu,conv:20:3,relu,maxpool:2,flatten,linear:12,relu,linear:3");
  CHECK(r.input_shape == Shape{1, 10, 10});
  CHECK(contains(r.how, "metadata"));

  auto mlp = nn::build_model("linear:5,relu,linear:2", {3});
  const std::string e = error_of([&] { nn::model_from_checkpoint(mlp->state_dict(), {}, "mlp.safetensors"); });
  CHECK(contains(e, "mlp.safetensors: cannot tell the model"));
  CHECK(contains(e, "--model"));
  CHECK(contains(error_of([&] { nn::model_from_checkpoint(mlp->state_dict(), {{"model", "linear:5,relu,linear:2"}, {"input_shape", "3,x"}}, "m"); }),
                 "input_shape"));
  CHECK(contains(error_of([&] { nn::model_from_checkpoint(mlp->state_dict(), {{"model", "linear:5,rulu"}, {"input_shape", "3"}}, "m"); }),
                 "m: metadata \"model\": model spec token 2 \"rulu\""));
}
