// tests/gradcheck_table_losses.h — rows of the gradient-check table
// (tests/gradcheck_table.h, which calls the parts in order): dropout, the softmax
// family (softmax, log_softmax) and the losses (cross_entropy, kl_div, mse_loss).
#pragma once

#include "gradcheck_table_common.h"

namespace minidl::test {

// Appends the rows to T, drawing their inputs from g.
inline void add_loss_rows(Generator& g, std::vector<Case>& T) {
  auto add = row_adder(T);

  // ---- dropout: a fixed generator seed per forward gives the same mask every time.
  for (float p : {0.3f, 0.5f}) {
    const uint64_t seed = 77;
    add(
        "dropout", "training p=" + std::to_string(p).substr(0, 3), {randn({4, 5}, g)}, {true},
        [p, seed](const auto& x) {
          Generator dg(seed);
          return minidl::dropout(x[0], p, true, dg);
        },
        [p, seed](const auto& r) {
          std::vector<double> mask;
          dropout_mask_draws(int64_t(r[0].v.size()), seed, p, mask);
          Ref y = r[0];
          for (size_t i = 0; i < y.v.size(); ++i) y.v[i] *= mask[i];
          return y;
        });
  }
  add(
      "dropout", "eval is identity", {randn({3, 4}, g)}, {true},
      [](const auto& x) {
        Generator dg(1);
        return minidl::add(minidl::dropout(x[0], 0.5f, false, dg), 0.f);  // add: the identity has no node of its own
      },
      [](const auto& r) { return r[0]; });

  // ---- softmax family and losses
  struct SM {
    Shape x;
    int64_t dim;
  };
  for (const SM& s : std::vector<SM>{
           {{3, 5}, 1}, {{3, 5}, 0}, {{3, 5}, -1}, {{2, 3, 4}, 1}, {{2, 3, 4}, -1}, {{2, 3, 4}, 0}, {{6}, 0}}) {
    const int64_t d = s.dim;
    const std::string nm = str(s.x) + " dim " + std::to_string(d);
    add(
        "softmax", nm, {randn(s.x, g, 1.5f)}, {true}, [d](const auto& x) { return minidl::softmax(x[0], d); },
        [d](const auto& r) { return ref_softmax(r[0], d, false); });
    add(
        "log_softmax", nm, {randn(s.x, g, 1.5f)}, {true}, [d](const auto& x) { return minidl::log_softmax(x[0], d); },
        [d](const auto& r) { return ref_softmax(r[0], d, true); });
  }
  struct CE {
    int64_t N, C;
    float shift;
    const char* name;
  };
  for (const CE& c :
       std::vector<CE>{{4, 5, 0.f, "[4,5]"}, {1, 3, 0.f, "N=1"}, {3, 4, 40.f, "logits shifted by +40 (stability)"}}) {
    std::vector<int64_t> t(size_t(c.N));
    for (auto& v : t) v = int64_t(g.randint(uint64_t(c.C)));
    const Tensor targets = Tensor::from_vector(t, {c.N});
    add(
        "cross_entropy", c.name, {minidl::add(randn({c.N, c.C}, g, 2.f), c.shift)}, {true},
        [targets](const auto& x) { return minidl::cross_entropy(x[0], targets); },
        [t](const auto& r) { return ref_cross_entropy(r[0], t); });
  }
  // kl_div: probabilities as targets kept ≥ 0.05 so that no ±h step reaches
  // log's pole at 0; one case with a zero target and the target constant
  // (0·log 0 = 0, no gradient through it) — distillation's use.
  {
    auto probs = [&](const Shape& s) {  // rows of softmax(N(0, 1)), floored at 0.05, renormalised
      Tensor p = minidl::softmax(randn(s, g), -1);
      float* v = p.data<float>();
      const int64_t C = s.back();
      for (int64_t r = 0; r < p.numel() / C; ++r) {
        double z = 0;
        for (int64_t k = 0; k < C; ++k) z += (v[r * C + k] = std::max(v[r * C + k], 0.05f) + 0.05f);
        for (int64_t k = 0; k < C; ++k) v[r * C + k] = float(v[r * C + k] / z);
      }
      return p;
    };
    add(
        "kl_div", "[4,5] both take grad", {minidl::log_softmax(randn({4, 5}, g), 1), probs({4, 5})}, {true, true},
        [](const auto& x) { return minidl::kl_div(x[0], x[1]); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], false); });
    add(
        "kl_div", "[2,3,4] (batchmean divides by dim 0 only)", {randn({2, 3, 4}, g), probs({2, 3, 4})}, {true, true},
        [](const auto& x) { return minidl::kl_div(x[0], x[1]); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], false); });
    Tensor with_zero = probs({3, 4});
    with_zero.data<float>()[5] = 0.f;
    add(
        "kl_div", "target constant, one zero target", {minidl::log_softmax(randn({3, 4}, g), 1), with_zero},
        {true, false}, [](const auto& x) { return minidl::kl_div(x[0], x[1]); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], false); });
    add(
        "kl_div", "log_target", {minidl::log_softmax(randn({3, 5}, g), 1), minidl::log_softmax(randn({3, 5}, g), 1)},
        {true, true}, [](const auto& x) { return minidl::kl_div(x[0], x[1], true); },
        [](const auto& r) { return ref_kl_div(r[0], r[1], true); });
  }
  add(
      "mse_loss", "[3,4] both take grad", {randn({3, 4}, g), randn({3, 4}, g)}, {true, true},
      [](const auto& x) { return minidl::mse_loss(x[0], x[1]); }, [](const auto& r) { return ref_mse(r[0], r[1]); });
  add(
      "mse_loss", "[5] target constant", {randn({5}, g), randn({5}, g)}, {true, false},
      [](const auto& x) { return minidl::mse_loss(x[0], x[1]); }, [](const auto& r) { return ref_mse(r[0], r[1]); });
}

}  // namespace minidl::test
