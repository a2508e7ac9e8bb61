// minidl/nn/objective.h — what training minimises, computed from the model
// and the whole batch.
//
//   nn::FitOptions fo;
//   fo.objective = &my_objective;   // null: cross-entropy (or fo.loss)
//   nn::fit(*student, opt, loader, fo);
//
// An Objective runs the model itself, so it sees everything the batch holds:
// a distillation objective runs its teacher on the same (possibly augmented)
// batch.x the student gets (compress/distill.h's Distiller), e.g.
//
//   struct KD : nn::Objective {
//     nn::ModulePtr teacher;
//     nn::StepOutput compute(nn::Module& student, const datasets::Batch& b) override {
//       Tensor s = student(b.x), t;
//       { NoGradGuard ng; t = teacher->forward(b.x); }
//       return {my_kd_loss(s, t, b.y), s};
//     }
//   };
//
// fit() calls compute once per training batch, then loss.backward() and the
// optimizer step. The returned logits ([B, classes]) are what accuracy is
// counted from. Validation and test loaders are scored with the plain loss
// of (logits, labels) — FitOptions::loss, cross-entropy by default — so that
// a distilled student's validation loss means the same as a dense model's.
#pragma once

#include <functional>

#include "datasets/loader.h"
#include "nn/module.h"

namespace minidl::nn {

struct StepOutput {
  Tensor loss;    // scalar; its graph reaches the parameters being trained
  Tensor logits;  // [B, classes], for accuracy bookkeeping
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual StepOutput compute(Module& model, const datasets::Batch& batch) = 0;
};

// A loss of the logits and labels only: logits, labels -> scalar.
using LossFn = std::function<Tensor(const Tensor& logits, const Tensor& labels)>;

// loss = loss_fn(model(x), y); an empty loss_fn is cross_entropy (PyTorch's
// nn.CrossEntropyLoss, mean over the batch).
class LossObjective : public Objective {
 public:
  explicit LossObjective(LossFn loss = {}) : loss_(std::move(loss)) {}
  StepOutput compute(Module& model, const datasets::Batch& batch) override;

 private:
  LossFn loss_;
};

// The objective's output checked against the batch: a scalar loss and
// [B, classes] logits; anything else is an error naming the shapes.
StepOutput checked_step(Objective& objective, Module& model, const datasets::Batch& batch);

}  // namespace minidl::nn
