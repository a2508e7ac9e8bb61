// tests/gradcheck_table.h — the rows of tests/test_gradcheck.cpp: every
// differentiable op of core/ops.h with its cases, float32 inputs, and a
// double-precision reference (tests/gradcheck_reference.h). How each row is
// checked, with the tolerances and why, is at the top of test_gradcheck.cpp;
// what this file guarantees the checker is the kink rule there: inputs are
// drawn so that no ±h step (h = 1e-2) crosses a kink of the op.
//
// The rows are split by topic into tests/gradcheck_table_*.h; build_table()
// below calls the parts in this order, all drawing from one generator, so the
// table is the same rows, with the same inputs, every run.
#pragma once

#include <vector>

#include "gradcheck_table_common.h"
#include "gradcheck_table_conv.h"
#include "gradcheck_table_elementwise.h"
#include "gradcheck_table_losses.h"
#include "gradcheck_table_quantize.h"
#include "gradcheck_table_shape.h"

namespace minidl::test {

// ------------------------------------------------------------------ the table
inline std::vector<Case> build_table() {
  Generator g(20240601);
  std::vector<Case> T;
  add_elementwise_rows(g, T);     // binary elementwise with broadcasting, scalar and unary
  add_shape_rows(g, T);           // reductions, shape
  add_conv_rows(g, T);            // linear algebra, convolution, pooling, batch norm, fused, Winograd
  add_loss_rows(g, T);            // dropout, softmax family and losses
  add_fake_quantize_rows(g, T);   // fake_quantize (straight-through estimator)
  return T;
}

}  // namespace minidl::test
