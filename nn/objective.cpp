#include "nn/objective.h"

#include "core/ops.h"

namespace minidl::nn {

StepOutput LossObjective::compute(Module& model, const datasets::Batch& b) {
  Tensor logits = model(b.x);
  Tensor loss = loss_ ? loss_(logits, b.y) : cross_entropy(logits, b.y);
  return {loss, logits};
}

StepOutput checked_step(Objective& objective, Module& model, const datasets::Batch& b) {
  StepOutput out = objective.compute(model, b);
  MINIDL_CHECK(out.loss.defined() && out.loss.numel() == 1, "the objective's loss must be a scalar, got ",
               out.loss.defined() ? to_string(out.loss.shape()) : std::string("an undefined tensor"));
  MINIDL_CHECK(out.logits.defined() && out.logits.dim() == 2 && out.logits.size(0) == b.y.numel(),
               "the objective's logits must be [", b.y.numel(), ", classes], got ",
               out.logits.defined() ? to_string(out.logits.shape()) : std::string("an undefined tensor"));
  return out;
}

}  // namespace minidl::nn
