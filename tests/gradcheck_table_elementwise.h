// tests/gradcheck_table_elementwise.h — rows of the gradient-check table
// (tests/gradcheck_table.h, which calls the parts in order): binary elementwise ops with broadcasting, scalar and unary ops.
#pragma once

#include "gradcheck_table_common.h"

namespace minidl::test {

// Appends the rows to T, drawing their inputs from g.
inline void add_elementwise_rows(Generator& g, std::vector<Case>& T) {
  auto add = row_adder(T);

  // ---- binary elementwise with broadcasting
  struct Pair {
    Shape a, b;
    const char* name;
  };
  const std::vector<Pair> pairs = {
      {{2, 3}, {2, 3}, "same shape"},
      {{2, 3}, {}, "tensor op 0-d scalar"},
      {{}, {2, 3}, "0-d scalar op tensor"},
      {{2, 3}, {1}, "tensor op [1]"},
      {{2, 3, 4}, {4}, "leading dims [2,3,4] op [4]"},
      {{3}, {2, 2, 3}, "leading dims [3] op [2,2,3]"},
      {{2, 3, 4}, {3, 1}, "[2,3,4] op [3,1]"},
      {{2, 1, 4}, {3, 1}, "both stretch [2,1,4] op [3,1]"},
      {{2, 3, 2, 2}, {1, 3, 1, 1}, "NCHW op [1,C,1,1]"},
      {{1, 3, 1, 1}, {2, 3, 2, 2}, "[1,C,1,1] op NCHW"},
      {{4, 1}, {1, 5}, "outer [4,1] op [1,5]"},
  };
  for (const Pair& p : pairs) {
    add(
        "add", p.name, {randn(p.a, g), randn(p.b, g)}, {true, true},
        [](const auto& x) { return minidl::add(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a + b; }); });
    add(
        "sub", p.name, {randn(p.a, g), randn(p.b, g)}, {true, true},
        [](const auto& x) { return minidl::sub(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a - b; }); });
    add(
        "mul", p.name, {randn(p.a, g), randn(p.b, g)}, {true, true},
        [](const auto& x) { return minidl::mul(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a * b; }); });
    add(
        "div", p.name, {randn(p.a, g), away_from_zero(p.b, g, 0.5f)}, {true, true},
        [](const auto& x) { return minidl::div(x[0], x[1]); },
        [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a / b; }); });
  }
  add(
      "mul", "same tensor twice (x*x)", {randn({3, 4}, g)}, {true},
      [](const auto& x) { return minidl::mul(x[0], x[0]); },
      [](const auto& r) { return ref_binary(r[0], r[0], [](double a, double b) { return a * b; }); });
  add(
      "mul", "only rhs takes grad", {randn({2, 3}, g), randn({3}, g)}, {false, true},
      [](const auto& x) { return minidl::mul(x[0], x[1]); },
      [](const auto& r) { return ref_binary(r[0], r[1], [](double a, double b) { return a * b; }); });

  // ---- scalar and unary
  add(
      "add_scalar", "x + 2.5", {randn({2, 3, 2}, g)}, {true}, [](const auto& x) { return minidl::add(x[0], 2.5f); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return a + 2.5; }); });
  add(
      "mul_scalar", "x * -1.5", {randn({2, 3, 2}, g)}, {true}, [](const auto& x) { return minidl::mul(x[0], -1.5f); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return a * -1.5; }); });
  add(
      "mul_scalar", "operators (3 - x) / 4", {randn({5}, g)}, {true}, [](const auto& x) { return (3.f - x[0]) / 4.f; },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return (3 - a) / 4; }); });
  add(
      "neg", "[3,4]", {randn({3, 4}, g)}, {true}, [](const auto& x) { return minidl::neg(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return -a; }); });
  add(
      "exp", "x in [-2,2]", {uniform({3, 4}, -2.f, 2.f, g)}, {true}, [](const auto& x) { return minidl::exp(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::exp(a); }); });
  add(
      "log", "x in [0.5,2]", {uniform({3, 4}, 0.5f, 2.f, g)}, {true}, [](const auto& x) { return minidl::log(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::log(a); }); });
  add(
      "relu", "|x| >= 0.2", {away_from_zero({4, 5}, g)}, {true}, [](const auto& x) { return minidl::relu(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return a > 0 ? a : 0.0; }); });
  add(
      "sigmoid", "x ~ N(0,4)", {randn({3, 4}, g, 2.f)}, {true}, [](const auto& x) { return minidl::sigmoid(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return 1 / (1 + std::exp(-a)); }); });
  add(
      "tanh", "x ~ N(0,1)", {randn({3, 4}, g)}, {true}, [](const auto& x) { return minidl::tanh(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::tanh(a); }); });
  for (float p : {2.f, 3.f, 0.5f, -1.5f, 1.7f}) {
    add(
        "pow", "x^" + std::to_string(p).substr(0, 4) + ", x in [0.5,2]", {uniform({3, 4}, 0.5f, 2.f, g)}, {true},
        [p](const auto& x) { return minidl::pow(x[0], p); },
        [p](const auto& r) { return ref_unary(r[0], [p](double a) { return std::pow(a, double(p)); }); });
  }
  for (float p : {2.f, 3.f})
    add(
        "pow", "integer exponent " + std::to_string(int(p)) + ", signed x", {randn({3, 4}, g)}, {true},
        [p](const auto& x) { return minidl::pow(x[0], p); },
        [p](const auto& r) { return ref_unary(r[0], [p](double a) { return std::pow(a, double(p)); }); });
  add(
      "sqrt", "x in [0.5,2]", {uniform({3, 4}, 0.5f, 2.f, g)}, {true}, [](const auto& x) { return minidl::sqrt(x[0]); },
      [](const auto& r) { return ref_unary(r[0], [](double a) { return std::sqrt(a); }); });
}

}  // namespace minidl::test
