// minidl/compress/gradual.h — gradual magnitude pruning during training
// (Zhu & Gupta 2017, "To prune, or not to prune: exploring the efficacy of
// pruning for model compression", eq. 1).
//
// Sparsity rises from s_i to s_f over n pruning steps spaced Δt apart,
// starting at step t0, along the cubic
//
//   s_t = s_f + (s_i − s_f) · (1 − (t − t0) / (n·Δt))³,   t ∈ {t0, t0+Δt, ..., t0+n·Δt},
//
// which prunes fast while many redundant weights remain and slowly as few are
// left, with training continuing between pruning steps so the network
// recovers. At each such step the smallest-magnitude weights are masked
// until the targets hold round(s_t · numel) masked entries (over all targets
// together when global, else per target); earlier pruned weights stay pruned.
//
// Use: pass it to nn::fit as a callback (FitOptions::callbacks); it acts on
// BatchInfo::global_step, the optimizer steps taken so far. Or call
// on_batch_end(step) yourself after every optimizer step. If steps are
// skipped (resuming, a coarse callback), the next call catches up to the
// latest scheduled point it has passed.
//
// Caution with nn::fit's restore_best: masks are buffers, so restoring the
// best epoch's weights also restores that epoch's (lower) sparsity.
#pragma once

#include <cstdint>
#include <vector>

#include "compress/prune.h"
#include "nn/optim.h"
#include "nn/trainer.h"

namespace minidl::compress {

struct GradualSchedule {
  double initial_sparsity = 0.0;  // s_i, in [0, s_f]
  double final_sparsity = 0.9;    // s_f, in [0, 1]
  int64_t begin_step = 0;         // t0 >= 0
  int64_t num_prunes = 10;        // n >= 1
  int64_t frequency = 100;        // Δt >= 1 (steps between pruning steps)
  int64_t end_step() const { return begin_step + num_prunes * frequency; }
};

class GradualPruner : public nn::Callback {
 public:
  // `optimizer` (optional, not owned): after each pruning step its state
  // (SGD's momentum) is cleared at the newly pruned entries
  // (zero_pruned_optimizer_state → Optimizer::mask_state), so pruned weights
  // stay exactly 0 in weight_orig too.
  GradualPruner(std::vector<PruneTarget> targets, const GradualSchedule& schedule, bool global = true,
                nn::Optimizer* optimizer = nullptr);

  // s_t above for t0 ≤ step ≤ t0 + n·Δt (the formula, also between pruning
  // steps); 0 before t0 (nothing is pruned yet); s_f after the end.
  double target_sparsity(int64_t step) const;
  // Prunes if `step` reached a scheduled point t0 + k·Δt (k ≤ n) not yet
  // acted on; returns whether it pruned.
  bool on_step(int64_t step);
  void on_batch_end(int64_t global_step) { on_step(global_step); }
  // As an nn::fit callback it also uses fit's optimizer (if none was given)
  // to keep pruned entries exactly 0 in weight_orig.
  void on_batch_end(nn::Module&, const nn::BatchInfo& b) override {
    if (!optimizer_) optimizer_ = b.optimizer;
    on_step(b.global_step);
  }

  void set_optimizer(nn::Optimizer* optimizer) { optimizer_ = optimizer; }
  const GradualSchedule& schedule() const { return schedule_; }
  const std::vector<PruneTarget>& targets() const { return targets_; }
  int64_t prunes_done() const { return last_k_ + 1; }  // scheduled points acted on

 private:
  std::vector<PruneTarget> targets_;
  GradualSchedule schedule_;
  bool global_;
  nn::Optimizer* optimizer_;
  int64_t last_k_ = -1;
};

}  // namespace minidl::compress
