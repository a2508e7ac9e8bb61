#include "compress/distill.h"

#include <algorithm>
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

Distiller::Distiller(nn::ModulePtr teacher, DistillOptions options) : teacher_(std::move(teacher)), options_(options) {
  MINIDL_CHECK(teacher_ != nullptr, "Distiller: no teacher");
  set_options(options);
  teacher_->eval();
}

void Distiller::set_options(const DistillOptions& options) {
  check_temperature(options.temperature);
  check_alpha(options.alpha);
  MINIDL_CHECK(options.verify_every >= 0, "Distiller: verify_every must be >= 0, got ", options.verify_every);
  options_ = options;
  lookups_ = 0;
}

Tensor Distiller::run_teacher(const Tensor& x) {
  NoGradGuard ng;
  teacher_->eval();  // (again: someone may have switched it since)
  return teacher_->forward(x);
}

void Distiller::precompute(const datasets::DatasetPtr& data, const std::vector<datasets::TransformPtr>& transforms,
                           int64_t batch_size) {
  MINIDL_CHECK(data && data->size() > 0, "Distiller::precompute: empty data set");
  datasets::DataLoader loader(data, {.batch_size = batch_size, .transforms = transforms});
  Tensor table;
  for (const datasets::Batch& b : loader) {
    Tensor z = run_teacher(b.x);
    MINIDL_CHECK(z.dim() == 2, "Distiller::precompute: the teacher's output ", to_string(z.shape()), " is not [B, C] logits");
    if (!table.defined()) table = Tensor::empty({data->size(), z.size(1)});
    const int64_t C = z.size(1);
    for (size_t k = 0; k < b.index.size(); ++k)
      std::copy_n(z.data<float>() + int64_t(k) * C, C, table.data<float>() + b.index[k] * C);
  }
  table_ = table;
  lookups_ = 0;
}

Tensor Distiller::teacher_logits(const datasets::Batch& batch) {
  if (!table_.defined()) return run_teacher(batch.x);
  const int64_t n = table_.size(0), C = table_.size(1);
  MINIDL_CHECK(int64_t(batch.index.size()) == batch.x.size(0), "Distiller: the batch carries ", batch.index.size(),
               " sample indices for ", batch.x.size(0), " rows; precomputed logits need the loader's Batch::index");
  Tensor z = Tensor::empty({batch.x.size(0), C});
  for (size_t k = 0; k < batch.index.size(); ++k) {
    const int64_t i = batch.index[k];
    MINIDL_CHECK(i >= 0 && i < n, "Distiller: sample index ", i, " is outside the precomputed table of ", n,
                 " samples (the training data set is not the one passed to precompute)");
    std::copy_n(table_.data<float>() + i * C, C, z.data<float>() + int64_t(k) * C);
  }
  const bool verify = lookups_ == 0 || (options_.verify_every > 0 && lookups_ % options_.verify_every == 0);
  ++lookups_;
  if (verify) {
    const Tensor live = run_teacher(batch.x);
    MINIDL_CHECK(live.shape() == z.shape(), "Distiller: teacher output ", to_string(live.shape()), " vs table rows ",
                 to_string(z.shape()));
    for (int64_t j = 0; j < z.numel(); ++j) {
      const float a = z.data<float>()[j], b = live.data<float>()[j];
      MINIDL_CHECK(std::abs(a - b) <= 1e-3f * (1.f + std::abs(b)), "Distiller: precomputed teacher logit ", a,
                   " of sample ", batch.index[size_t(j / C)], " differs from the teacher's ", b,
                   " on this batch — the training batches are augmented or transformed differently from the "
                   "precompute pass, where precomputed logits are not valid");
    }
  }
  return z;
}

nn::StepOutput Distiller::compute(nn::Module& student, const datasets::Batch& batch) {
  Tensor logits = student.forward(batch.x);
  if (options_.alpha == 0.f) return {cross_entropy(logits, batch.y), logits};
  return {distillation_loss(logits, teacher_logits(batch), batch.y, options_.temperature, options_.alpha), logits};
}

}  // namespace minidl::compress
