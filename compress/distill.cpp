#include "compress/distill.h"

#include <cmath>

#include "core/autograd.h"
#include "core/error.h"
#include "core/ops.h"

namespace minidl::compress {

void check_temperature(float temperature) {
  MINIDL_CHECK(std::isfinite(temperature) && temperature > 0.f,
               "distillation: temperature must be a finite number > 0, got ", temperature);
}

void check_alpha(float alpha) {
  MINIDL_CHECK(alpha >= 0.f && alpha <= 1.f, "distillation: alpha must be in [0, 1], got ", alpha);
}

Tensor distillation_loss(const Tensor& student_logits, const Tensor& teacher_logits, const Tensor& labels,
                         float temperature, float alpha) {
  check_temperature(temperature);
  check_alpha(alpha);
  MINIDL_CHECK(student_logits.defined() && student_logits.dim() == 2, "distillation_loss: student logits must be [N, C], got ",
               student_logits.defined() ? to_string(student_logits.shape()) : std::string("undefined"));
  MINIDL_CHECK(teacher_logits.defined() && teacher_logits.dim() == 2, "distillation_loss: teacher logits must be [N, C], got ",
               teacher_logits.defined() ? to_string(teacher_logits.shape()) : std::string("undefined"));
  MINIDL_CHECK(student_logits.size(1) == teacher_logits.size(1), "distillation_loss: the student has ",
               student_logits.size(1), " classes but the teacher has ", teacher_logits.size(1), " (logits ",
               to_string(student_logits.shape()), " vs ", to_string(teacher_logits.shape()), ")");
  MINIDL_CHECK(student_logits.size(0) == teacher_logits.size(0), "distillation_loss: student logits ",
               to_string(student_logits.shape()), " and teacher logits ", to_string(teacher_logits.shape()),
               " disagree on the batch size");
  MINIDL_CHECK(alpha == 1.f || labels.defined(), "distillation_loss: labels are needed when alpha < 1 (alpha = ", alpha, ")");
  Tensor hard = alpha < 1.f ? cross_entropy(student_logits, labels) : Tensor();
  if (alpha == 0.f) return hard;
  const float inv_t = 1.f / temperature;
  Tensor p;  // the teacher's softened distribution: a constant target
  {
    NoGradGuard ng;
    p = softmax(mul(teacher_logits.detach(), inv_t), 1);
  }
  // α·T²·KL(p ‖ q), q = softmax(z_s / T): d/dz_s = α·T·(q − p)/N.
  Tensor soft = mul(kl_div(log_softmax(mul(student_logits, inv_t), 1), p), alpha * temperature * temperature);
  if (alpha == 1.f) return soft;
  return add(soft, mul(hard, 1.f - alpha));
}

}  // namespace minidl::compress
