// The README's API taste, compiled against an installed minidl: trains the
// seed CNN briefly on a slice of Fashion-MNIST and checks it learned something.
#include <minidl.h>

#include <iostream>

using namespace minidl;

int main() {
  auto train = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, true, 2000));
  auto test = std::make_shared<datasets::TensorDataset>(datasets::load_mnist(datasets::kFashionMnistDir, false, 1000));

  auto net = nn::Sequential::named({
      {"conv1", nn::make<nn::Conv2d>(1, 32, 3)},  {"relu1", nn::make<nn::ReLU>()},
      {"conv2", nn::make<nn::Conv2d>(32, 64, 3)}, {"relu2", nn::make<nn::ReLU>()},
      {"pool", nn::make<nn::AvgPool2d>(4)},       {"flatten", nn::make<nn::Flatten>()},
      {"fc1", nn::make<nn::Linear>(2304, 100)},   {"relu3", nn::make<nn::ReLU>()},
      {"fc2", nn::make<nn::Linear>(100, 10)}});

  nn::TrainConfig recipe;
  recipe.epochs = 2;
  nn::History h = nn::train(*net, train, /*val=*/nullptr, test, recipe, {.log = &std::cout});
  const double acc = h.epochs.back().test_accuracy;
  std::cout << "consumer: test accuracy " << acc << std::endl;
  return acc > 0.6 ? 0 : 1;
}
