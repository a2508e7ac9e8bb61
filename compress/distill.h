// minidl/compress/distill.h — knowledge distillation (Hinton, Vinyals & Dean
// 2015, "Distilling the Knowledge in a Neural Network").
//
// A small student learns from a trained teacher's *softened* class
// probabilities as well as from the true labels:
//
//   L = α · T² · KL( softmax(z_t / T) ‖ softmax(z_s / T) ) + (1 − α) · CE(z_s, y)
//
// z_s, z_t: student and teacher logits [N, C]; y: labels [N]; KL per example,
// averaged over the batch (kl_div's 'batchmean').
//   * The temperature T > 1 flattens the teacher's distribution, so the
//     relative probabilities of the *wrong* classes (a shirt looks more like a
//     T-shirt than like a boot) — the "dark knowledge" — carry weight. At
//     T = 1 a well-trained teacher is nearly one-hot on its training data and
//     the soft targets add little beyond the labels.
//   * The gradient of the soft term w.r.t. a student logit is
//     (q_i − p_i) / T  (q, p the student's and teacher's softened
//     probabilities), and for large T, q_i − p_i ≈ (z_si − z_ti) / (C·T),
//     so the soft gradient shrinks like 1/T². Multiplying by T² keeps its
//     size independent of T, so changing T does not silently re-weight the
//     two terms (the paper, §2 and §2.1).
//   * The teacher gets no gradient: its logits are detached here, and the
//     Distiller objective runs it in eval mode under NoGradGuard.
//
// Why the seeds' snippet is wrong. /work/shared/seeds/000_*.txt §4.3 trains
//
//     teacher_outputs = teacher_model(input)
//     loss = nn.CrossEntropyLoss()(student_outputs, teacher_outputs)
//
//   1. CrossEntropyLoss's target must be class indices or (PyTorch ≥ 1.10)
//      class *probabilities*. Raw logits are neither: they are unnormalised
//      and usually have negative entries. Read as "probabilities",
//      −Σ_k z_tk · log q_k has gradient (Σ_k z_tk)·q − z_t w.r.t. the student
//      logits; with any z_tk < 0 the loss is unbounded below (push q_k → 0 for
//      that class and −z_tk·log q_k → −∞), so training has no minimum at
//      the teacher's distribution — or at any distribution. (PyTorch < 1.10
//      rejects the float target outright.) The target must be
//      softmax(z_t / T).
//   2. The teacher runs in training mode with autograd on: its dropout and
//      BatchNorm behave as in training (BN even updates its running
//      statistics from the student's batches), and a graph is built through
//      the teacher for nothing.
//   3. There is no temperature, no T² and no hard-label term, so neither the
//      dark knowledge nor the true labels are used as the paper does.
//
// Use with nn::fit (the Distiller is fit's objective; everything else —
// callbacks, pruning schedules, early stopping, history — is unchanged):
//
//   compress::Distiller d(teacher, {.temperature = 4, .alpha = 0.9});
//   nn::FitOptions fo;  fo.objective = &d;
//   nn::fit(*student, opt, train_loader, fo);
//
// Every training batch goes through the teacher in eval mode under
// NoGradGuard — the very batch (after augmentation) the student sees, so the
// soft targets match the inputs. With precompute(), the teacher's logits for
// every sample are computed once and looked up by Batch::index instead, which
// saves one teacher forward per batch. That is valid only when the training
// batches are the un-augmented samples of that same dataset under the same
// transforms (shuffling is fine): with augmentation the student would learn
// the teacher's answer for a different image. The Distiller checks this on
// the first batch and every `verify_every` batches after it by running the
// teacher anyway, and throws if the table disagrees.
#pragma once

#include <vector>

#include "core/tensor.h"
#include "datasets/dataset.h"
#include "datasets/loader.h"
#include "datasets/transforms.h"
#include "nn/module.h"
#include "nn/trainer.h"

namespace minidl::compress {

// The loss above. T > 0 (finite), α ∈ [0, 1]; student and teacher logits
// [N, C] of the same shape (a different class count is an error naming
// both); labels int64 [N] (may be undefined when α = 1). α = 0 is plain
// cross-entropy (bit for bit; the teacher is not looked at beyond its shape).
Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                         float temperature, float alpha);

// Argument checks shared with the Distiller (throw minidl::Error naming the value).
void check_temperature(float temperature);
void check_alpha(float alpha);

struct DistillOptions {
  float temperature = 4.f;    // T > 0
  float alpha = 0.9f;         // weight of the soft term, in [0, 1]; 0 trains from the labels alone
  int64_t verify_every = 200; // precomputed: re-run the teacher on every N-th batch to check the table (0: first only)
};

class Distiller : public nn::Objective {
 public:
  // The teacher is put in eval mode and never receives gradients; it is
  // shared, not copied (one teacher can serve several students in turn).
  explicit Distiller(nn::ModulePtr teacher, DistillOptions options = {});

  // Teacher logits for every sample of `data` under `transforms` (which must
  // be what the training loader applies, and deterministic), in batches.
  void precompute(const datasets::DatasetPtr& data, const std::vector<datasets::TransformPtr>& transforms,
                  int64_t batch_size = 256);
  bool precomputed() const { return table_.defined(); }

  // The teacher's logits for this batch [B, C]: a forward in eval mode with no
  // graph, or rows of the precomputed table (checked as described above).
  Tensor teacher_logits(const datasets::Batch& batch);
  // One step: the student's forward on batch.x and distillation_loss against
  // the teacher (α = 0: cross-entropy alone, the teacher is not run).
  nn::StepOutput compute(nn::Module& student, const datasets::Batch& batch) override;

  const DistillOptions& options() const { return options_; }
  // New T and α (checked), keeping the teacher and any precomputed table: a
  // grid over T and α on one training set computes the table once.
  void set_options(const DistillOptions& options);
  nn::Module& teacher() { return *teacher_; }

 private:
  Tensor run_teacher(const Tensor& x);
  nn::ModulePtr teacher_;
  DistillOptions options_;
  Tensor table_;  // [n, C] precomputed logits
  int64_t lookups_ = 0;
};

}  // namespace minidl::compress
