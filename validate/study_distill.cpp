// The study's distill:W step: a seed CNN student of width W trained against
// the fold's dense model with Hinton et al.'s loss, through compress's
// Distiller objective (compress/distill.h), so fit's history, curves and
// callbacks are the ones every other step uses.
//
// Without augmentation (the study's default) every epoch shows the student
// the same un-augmented training images, so the teacher's logits are computed
// once per fold (Distiller::precompute) instead of one teacher forward per
// batch — a third of a dense training step saved on every student step. With
// --augment the teacher runs live on the very (augmented) batch the student
// sees; the table would otherwise answer for a different image.
#include <cmath>

#include "compress/distill.h"
#include "core/error.h"
#include "nn/seed_cnn.h"
#include "validate/study_steps.h"

namespace minidl::validate::detail {

void distill_step(double width, Candidate& c, const FoldData& f, nn::Module& teacher, const StudyOptions& o,
                  std::ostream* log) {
  // T = 4, α = 0.9: Hinton et al.'s regime of a high temperature with most
  // weight on the soft targets (the distillation issue's grid includes it).
  const compress::DistillOptions d_opts{.temperature = 4.f, .alpha = 0.9f};
  nn::SeedCNNOptions arch = c.arch;
  arch.width = width;
  arch = nn::scaled(arch);  // explicit sizes, so later steps (structured) and loading see them
  Generator gen(f.seed ^ 0xd157111ULL);
  nn::ModulePtr student = fused_seed_cnn(arch, gen);
  nn::TrainConfig cfg = o.train;  // the student trains as long as the dense model did
  cfg.seed = f.seed;
  // The fold's dense model outlives this step; the Distiller only borrows it.
  compress::Distiller distiller(nn::ModulePtr(&teacher, [](nn::Module*) {}), d_opts);
  if (!cfg.augment) distiller.precompute(f.fit, nn::make_transforms(cfg, *f.fit, true));
  nn::FitOptions fo;
  fo.log = log;
  fo.progress_bar = false;
  fo.objective = &distiller;
  const nn::History h = nn::train(*student, f.fit, nullptr, f.test, cfg, fo);
  c.model = student;
  c.arch = arch;
  c.curves.push_back(curve_of("distill:" + shortest(width) + " student", h));
  c.details += (c.details.empty() ? "" : "; ") + std::string("student conv ") + std::to_string(arch.conv1_channels) +
               "/" + std::to_string(arch.conv2_channels) + ", hidden " + std::to_string(arch.hidden) + ", T=4, alpha=0.9" +
               (cfg.augment ? ", teacher run on every batch" : ", teacher logits precomputed");
}

}  // namespace minidl::validate::detail
