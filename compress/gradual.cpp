#include "compress/gradual.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace minidl::compress {

GradualPruner::GradualPruner(std::vector<PruneTarget> targets, const GradualSchedule& s, bool global,
                             nn::Optimizer* optimizer)
    : targets_(std::move(targets)), schedule_(s), global_(global), optimizer_(optimizer) {
  MINIDL_CHECK(!targets_.empty(), "GradualPruner: no parameters to prune");
  MINIDL_CHECK(s.final_sparsity >= 0.0 && s.final_sparsity <= 1.0,
               "GradualPruner: final_sparsity must be in [0, 1], got ", s.final_sparsity);
  MINIDL_CHECK(s.initial_sparsity >= 0.0 && s.initial_sparsity <= s.final_sparsity,
               "GradualPruner: initial_sparsity must be in [0, final_sparsity] = [0, ", s.final_sparsity, "], got ",
               s.initial_sparsity);
  MINIDL_CHECK(s.begin_step >= 0, "GradualPruner: begin_step must be >= 0, got ", s.begin_step);
  MINIDL_CHECK(s.num_prunes >= 1, "GradualPruner: num_prunes must be >= 1, got ", s.num_prunes);
  MINIDL_CHECK(s.frequency >= 1, "GradualPruner: frequency must be >= 1, got ", s.frequency);
  for (const auto& [m, p] : targets_) {
    MINIDL_CHECK(m != nullptr, "GradualPruner: a target has a null module");
    MINIDL_CHECK(m->has_parameter(p) || m->is_parametrized(p), "GradualPruner: ", m->label(), " has no parameter \"", p,
                 "\"");
  }
}

double GradualPruner::target_sparsity(int64_t step) const {
  const auto& s = schedule_;
  if (step < s.begin_step) return 0.0;
  if (step >= s.end_step()) return s.final_sparsity;
  const double x = double(step - s.begin_step) / double(s.num_prunes * s.frequency);
  const double r = 1.0 - x;
  return s.final_sparsity + (s.initial_sparsity - s.final_sparsity) * r * r * r;
}

bool GradualPruner::on_step(int64_t step) {
  const auto& s = schedule_;
  if (step < s.begin_step) return false;
  const int64_t k = std::min((step - s.begin_step) / s.frequency, s.num_prunes);
  if (k <= last_k_) return false;
  last_k_ = k;
  prune_to_sparsity(targets_, target_sparsity(s.begin_step + k * s.frequency), global_);
  if (optimizer_) {
    // Clear momentum at pruned entries of the targets' modules only.
    std::set<nn::Module*> done;
    for (const auto& [m, p] : targets_)
      if (done.insert(m.get()).second) zero_pruned_optimizer_state(*m, *optimizer_);
  }
  return true;
}

}  // namespace minidl::compress
