// Tests for the module tree of nn/module.h: replace_module / get_submodule,
// registration name checks, train/eval propagation and repr (children,
// parameter counts). Sequential: tests/test_sequential.cpp.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "minidl.h"
#include "module_util.h"
#include "test_util.h"

using namespace minidl;
using namespace minidl::test;

// ---------------------------------------------------------------- the tree

TEST_CASE("replace_module by dotted path") {
  auto net = cnn(false, 1);
  Tensor x = images(3, 4);
  CHECK(net->forward(x).shape() == Shape{3, 10});
  Generator g(7);
  auto head = nn::make<nn::Linear>(100, 5, true, g);
  net->replace_module("fc2", head);
  CHECK(net->forward(x).shape() == Shape{3, 5});
  CHECK(net->get_submodule("fc2") == head);
  CHECK(head->name() == "fc2");
  auto sd = net->state_dict();
  CHECK(sd[sd.size() - 2].first == "fc2.weight");
  CHECK(sd[sd.size() - 2].second.shape() == Shape{5, 100});
  CHECK(contains(error_of([&] { net->replace_module("fc9", head); }), "fc9"));
  CHECK(contains(error_of([&] { net->replace_module("fc2", nullptr); }), "null"));

  // Nested Sequential: "a.b"
  auto inner = nn::Sequential::named({{"b", nn::make<nn::Linear>(2, 3)}, {"c", nn::make<nn::ReLU>()}});
  auto outer = nn::Sequential::named({{"a", inner}, {"d", nn::make<nn::Identity>()}});
  CHECK(keys_of(outer->state_dict()) == std::vector<std::string>{"a.b.weight", "a.b.bias"});
  CHECK(outer->forward(Tensor::ones({4, 2})).shape() == Shape{4, 3});
  auto wide = nn::make<nn::Linear>(2, 6, false);
  outer->replace_module("a.b", wide);
  CHECK(outer->forward(Tensor::ones({4, 2})).shape() == Shape{4, 6});
  CHECK(outer->get_submodule("a.b") == wide);
  CHECK(keys_of(outer->state_dict()) == std::vector<std::string>{"a.b.weight"});
  CHECK(contains(error_of([&] { outer->replace_module("a.x", wide); }), "a.x"));
  CHECK(contains(error_of([&] { outer->replace_module("z.b", wide); }), "z"));

  // named_modules: dotted paths, depth first
  std::vector<std::string> paths;
  for (const auto& [p, m] : outer->named_modules()) paths.push_back(p);
  CHECK(paths == std::vector<std::string>{"", "a", "a.b", "a.c", "d"});
}

TEST_CASE("get_submodule errors") {
  auto net = cnn(false, 1);
  CHECK(net->get_submodule("conv2")->type_name() == "Conv2d");
  std::string e = error_of([&] { net->get_submodule("conv3"); });
  CHECK(contains(e, "no submodule \"conv3\""));
  e = error_of([&] { net->get_submodule("fc1.weight"); });  // a parameter, not a module
  CHECK(contains(e, "fc1.weight"));
  CHECK(contains(e, "Linear fc1 has no child \"weight\""));
  CHECK(error_of([&] { net->get_submodule(""); }) != "<no error>");
}

TEST_CASE("registration checks names") {
  nn::Sequential s;
  s.push_back("x", nn::make<nn::ReLU>());
  CHECK(contains(error_of([&] { s.push_back("x", nn::make<nn::ReLU>()); }), "already registered"));
  CHECK(error_of([&] { s.push_back("a.b", nn::make<nn::ReLU>()); }) != "<no error>");
  CHECK(error_of([&] { s.push_back("", nn::make<nn::ReLU>()); }) != "<no error>");
  CHECK(error_of([&] { s.push_back("y", nullptr); }) != "<no error>");
  // unnamed children are "0", "1", ...
  nn::Sequential u{nn::make<nn::Linear>(2, 2), nn::make<nn::ReLU>(), nn::make<nn::Linear>(2, 1)};
  CHECK(keys_of(u.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(u.size() == 3);
  CHECK(u[1]->type_name() == "ReLU");
}

TEST_CASE("train()/eval() propagate to every descendant, and replace_module inherits the mode") {
  auto inner = nn::Sequential::named({{"bn", nn::make<nn::BatchNorm1d>(3)}, {"drop", nn::make<nn::Dropout>(0.5f)}});
  auto net = nn::Sequential::named({{"fc", nn::make<nn::Linear>(3, 3)}, {"inner", inner}});
  auto all = [&](bool mode) {
    for (const auto& [p, m] : net->named_modules())
      if (m->is_training() != mode) return false;
    return true;
  };
  CHECK(all(true));
  net->eval();
  CHECK(all(false));
  auto fresh = nn::make<nn::Dropout>(0.3f);
  CHECK(fresh->is_training());
  net->replace_module("inner.drop", fresh);
  CHECK_FALSE(fresh->is_training());
  net->train();
  CHECK(all(true));
  inner->eval();  // only the subtree
  CHECK(net->is_training());
  CHECK(net->get_submodule("fc")->is_training());
  CHECK_FALSE(net->get_submodule("inner.bn")->is_training());
}

TEST_CASE("repr names every child") {
  auto net = cnn(true, 1);
  std::string r = net->repr();
  CHECK(r.rfind("Sequential(", 0) == 0);
  for (const char* part : {"(conv1): Conv2d(1, 32, kernel_size=3, stride=1)", "(bn1): BatchNorm2d(32",
                           "(relu1): ReLU()", "(conv2): Conv2d(32, 64, kernel_size=3, stride=1)", "(bn2): BatchNorm2d(64",
                           "(pool): AvgPool2d(kernel_size=4, stride=4, padding=0)", "(flatten): Flatten(",
                           "(fc1): Linear(in_features=2304, out_features=100, bias=True)",
                           "(fc2): Linear(in_features=100, out_features=10, bias=True)"}) {
    CAPTURE(part);
    CHECK(contains(r, part));
  }
  // nested children are indented one more level
  auto outer = nn::Sequential::named({{"block", nn::Sequential::named({{"lin", nn::make<nn::Linear>(2, 2, false)}})}});
  CHECK(contains(outer->repr(), "\n  (block): Sequential(\n    (lin): Linear(in_features=2, out_features=2, bias=False)"
                                "  # 4 parameters\n  )  # 4 parameters in total\n)  # 4 parameters in total"));
}

TEST_CASE("repr counts parameters per layer and in total") {
  auto net = cnn(true, 1);
  const std::string r = net->repr();
  // conv: out·in·k·k weights + out biases; BatchNorm: weight and bias per channel
  const int64_t conv1 = 32 * 1 * 9 + 32, bn1 = 2 * 32, conv2 = 64 * 32 * 9 + 64, bn2 = 2 * 64, fc1 = 2304 * 100 + 100,
                fc2 = 100 * 10 + 10;
  CHECK(contains(r, "(conv1): Conv2d(1, 32, kernel_size=3, stride=1)  # " + std::to_string(conv1) + " parameters\n"));
  CHECK(contains(r, "  # " + std::to_string(bn1) + " parameters\n"));
  CHECK(contains(r, "(fc1): Linear(in_features=2304, out_features=100, bias=True)  # " + std::to_string(fc1) + " parameters\n"));
  CHECK(contains(r, "(relu1): ReLU()\n"));  // no parameters, no count
  const int64_t total = conv1 + bn1 + conv2 + bn2 + fc1 + fc2;
  CHECK(r.substr(r.rfind(')')) == ")  # " + std::to_string(total) + " parameters in total");
}
