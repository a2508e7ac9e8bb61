// tests/gradcheck_table_shape.h — rows of the gradient-check table
// (tests/gradcheck_table.h, which calls the parts in order): reductions (sum, mean,
// sum_to) and the shape and indexing ops (reshape, flatten, transpose,
// permute, index_select0, take).
#pragma once

#include "gradcheck_table_common.h"

namespace minidl::test {

// Appends the rows to T, drawing their inputs from g.
inline void add_shape_rows(Generator& g, std::vector<Case>& T) {
  auto add = row_adder(T);

  // ---- reductions
  const std::vector<std::vector<int64_t>> dim_sets = {{},     {0},      {1},    {2},       {-1},
                                                      {0, 2}, {-3, -1}, {1, 2}, {0, 1, 2}, {-2}};
  for (const auto& dims : dim_sets)
    for (bool keep : {false, true}) {
      std::string dn = "dims ";
      for (int64_t d : dims) dn += std::to_string(d) + " ";
      if (dims.empty()) dn = "all dims ";
      dn += keep ? "keepdim" : "no keepdim";
      add(
          "sum", dn, {randn({2, 3, 4}, g)}, {true},
          [dims, keep](const auto& x) { return minidl::sum(x[0], dims, keep); },
          [dims, keep](const auto& r) { return ref_reduce(r[0], dims, keep, false); });
      add(
          "mean", dn, {randn({2, 3, 4}, g)}, {true},
          [dims, keep](const auto& x) { return minidl::mean(x[0], dims, keep); },
          [dims, keep](const auto& r) { return ref_reduce(r[0], dims, keep, true); });
    }
  add(
      "sum", "0-d input", {randn({}, g)}, {true}, [](const auto& x) { return minidl::sum(x[0], {}); },
      [](const auto& r) { return ref_reduce(r[0], {}, false, false); });
  add(
      "sum", "Tensor::sum() of [7]", {randn({7}, g)}, {true}, [](const auto& x) { return x[0].sum(); },
      [](const auto& r) { return ref_reduce(r[0], {}, false, false); });
  add(
      "mean", "Tensor::mean() of [2,5]", {randn({2, 5}, g)}, {true}, [](const auto& x) { return x[0].mean(); },
      [](const auto& r) { return ref_reduce(r[0], {}, false, true); });
  for (const Shape& to :
       std::vector<Shape>{{3, 4}, {4}, {1, 4}, {3, 1}, {2, 1, 4}, {2, 3, 1}, {1, 1, 1}, {}, {2, 3, 4}})
    add(
        "sum_to", "[2,3,4] -> " + str(to), {randn({2, 3, 4}, g)}, {true},
        [to](const auto& x) { return minidl::sum_to(x[0], to); }, [to](const auto& r) { return ref_sum_to(r[0], to); });

  // ---- shape
  for (const Shape& s : std::vector<Shape>{{6, 4}, {-1, 2}, {24}, {4, -1, 3}, {1, 24, 1}}) {
    Shape real = s;
    for (auto& d : real)
      if (d == -1) d = 24 / -count(s);
    add(
        "reshape", str(s), {randn({2, 3, 4}, g)}, {true}, [s](const auto& x) { return minidl::reshape(x[0], s); },
        [real](const auto& r) { return ref_reshape(r[0], real); });
  }
  add(
      "reshape", "Tensor::view", {randn({2, 6}, g)}, {true},
      [](const auto& x) {
        return x[0].view({3, 4});
      },
      [](const auto& r) {
        return ref_reshape(r[0], {3, 4});
      });
  struct Fl {
    int64_t a, b;
    Shape out;
  };
  for (const Fl& fl :
       std::vector<Fl>{{0, -1, {48}}, {1, -1, {2, 24}}, {0, 1, {6, 4, 2}}, {-2, -1, {2, 3, 8}}, {1, 2, {2, 12, 2}}})
    add(
        "flatten", "flatten(" + std::to_string(fl.a) + ", " + std::to_string(fl.b) + ")", {randn({2, 3, 4, 2}, g)},
        {true}, [fl](const auto& x) { return minidl::flatten(x[0], fl.a, fl.b); },
        [fl](const auto& r) { return ref_reshape(r[0], fl.out); });
  for (const auto& dims : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {1, -1}, {0, 1}, {2, 2}}) {
    const int64_t d0 = dims.first, d1 = dims.second;  // (clang 14 cannot capture structured bindings)
    add(
        "transpose", "[2,3,4] (" + std::to_string(d0) + ", " + std::to_string(d1) + ")", {randn({2, 3, 4}, g)}, {true},
        [d0, d1](const auto& x) { return minidl::transpose(x[0], d0, d1); },
        [d0, d1](const auto& r) { return ref_transpose(r[0], d0, d1); });
  }
  add(
      "transpose", "Tensor::t() of [3,5]", {randn({3, 5}, g)}, {true}, [](const auto& x) { return x[0].t(); },
      [](const auto& r) { return ref_transpose(r[0], 0, 1); });
  for (const std::vector<int64_t>& p : std::vector<std::vector<int64_t>>{{2, 0, 1}, {1, 0, 2}, {-1, 0, 1}, {0, 1, 2}}) {
    std::string pn;
    for (int64_t d : p) pn += std::to_string(d) + " ";
    add(
        "permute", "[2,3,4] {" + pn + "}", {randn({2, 3, 4}, g)}, {true},
        [p](const auto& x) { return minidl::permute(x[0], p); }, [p](const auto& r) { return ref_permute(r[0], p); });
  }
  add(
      "permute", "NCHW -> NHWC", {randn({2, 3, 2, 4}, g)}, {true},
      [](const auto& x) {
        return minidl::permute(x[0], {0, 2, 3, 1});
      },
      [](const auto& r) {
        return ref_permute(r[0], {0, 2, 3, 1});
      });
  {
    const std::vector<int64_t> idx = {2, 0, 2, 3, 2};  // repeats accumulate; row 1 is never picked (zero grad)
    add(
        "index_select0", "[4,3] rows {2,0,2,3,2}", {randn({4, 3}, g)}, {true},
        [idx](const auto& x) { return minidl::index_select0(x[0], idx); },
        [idx](const auto& r) { return ref_index_select0(r[0], idx); });
    add(
        "index_select0", "[3,2,2] rows {1}", {randn({3, 2, 2}, g)}, {true},
        [](const auto& x) { return minidl::index_select0(x[0], {1}); },
        [](const auto& r) { return ref_index_select0(r[0], {1}); });
  }
  {
    // A 4-centroid codebook gathered into a [2,3] weight: centroid 1 is used three times
    // (its gradient is the sum of three), centroid 3 never (zero), −1 is a pruned weight.
    const std::vector<int64_t> idx = {1, 0, -1, 1, 2, 1};
    const Tensor index = Tensor::from_vector(idx, {2, 3});
    add(
        "take", "codebook [4] -> [2,3], -1 pruned", {randn({4}, g)}, {true},
        [index](const auto& x) { return minidl::take(x[0], index); },
        [idx](const auto& r) { return ref_take(r[0], idx, {2, 3}); });
    const std::vector<int64_t> idx2 = {5, 0, 5, 2};
    add(
        "take", "[2,3] -> [4]", {randn({2, 3}, g)}, {true},
        [idx2](const auto& x) { return minidl::take(x[0], Tensor::from_vector(idx2, {4})); },
        [idx2](const auto& r) { return ref_take(r[0], idx2, {4}); });
  }
}

}  // namespace minidl::test
