// The study's distill:W step: a seed CNN student of width W trained against
// the fold's dense model with Hinton et al.'s loss (compress/distill.h).
//
// fit()'s objective sees only (logits, labels), so the teacher is run by a
// thin wrapper module around the student: its forward runs the teacher on the
// very batch the student sees (eval mode, no graph) and keeps the teacher's
// logits for the loss that follows. The wrapper registers only the student,
// so the optimizer trains only the student and the teacher stays in eval
// mode. (Once fit's objective receives the whole batch — the groundwork
// issue — compress's Distiller objective replaces this wrapper.)
#include <cmath>

#include "compress/distill.h"
#include "core/autograd.h"
#include "core/error.h"
#include "nn/seed_cnn.h"
#include "validate/study_steps.h"

namespace minidl::validate::detail {

namespace {

class TeacherTap : public nn::Module {
 public:
  TeacherTap(nn::ModulePtr student, nn::Module& teacher) : teacher_(teacher) {
    register_module("student", std::move(student));
  }
  Tensor forward(const Tensor& x) override {
    {
      NoGradGuard ng;
      teacher_.eval();
      teacher_logits = teacher_(x);
    }
    return (*named_children()[0].second)(x);
  }
  std::string type_name() const override { return "TeacherTap"; }
  Tensor teacher_logits;  // of the last forward's batch

 private:
  nn::Module& teacher_;
};

}  // namespace

void distill_step(double width, Candidate& c, const FoldData& f, nn::Module& teacher, const StudyOptions& o,
                  std::ostream* log) {
  // T = 4, α = 0.9: Hinton et al.'s regime of a high temperature with most
  // weight on the soft targets (the distillation issue's grid includes it).
  const float temperature = 4.f, alpha = 0.9f;
  nn::SeedCNNOptions arch = c.arch;
  arch.width = width;
  arch = nn::scaled(arch);  // explicit sizes, so later steps (structured) and loading see them
  Generator gen(f.seed ^ 0xd157111ULL);
  nn::ModulePtr student = nn::seed_cnn(arch, gen);
  auto tap = std::make_shared<TeacherTap>(student, teacher);
  nn::TrainConfig cfg = o.train;  // the student trains as long as the dense model did
  cfg.seed = f.seed;
  nn::FitOptions fo;
  fo.log = log;
  fo.progress_bar = false;
  TeacherTap* t = tap.get();
  fo.loss = [t, temperature, alpha](const Tensor& logits, const Tensor& labels) {
    return compress::distillation_loss(logits, t->teacher_logits, labels, temperature, alpha);
  };
  const nn::History h = nn::train(*tap, f.fit, nullptr, f.test, cfg, fo);
  c.model = student;
  c.arch = arch;
  c.curves.push_back(curve_of("distill:" + shortest(width) + " student", h));
  c.details += (c.details.empty() ? "" : "; ") + std::string("student conv ") + std::to_string(arch.conv1_channels) +
               "/" + std::to_string(arch.conv2_channels) + ", hidden " + std::to_string(arch.hidden) + ", T=4, alpha=0.9";
}

}  // namespace minidl::validate::detail
