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
#pragma once

#include "core/tensor.h"

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

}  // namespace minidl::compress
