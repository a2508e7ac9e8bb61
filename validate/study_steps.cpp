#include "validate/study_steps.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "compress/gradual.h"
#include "compress/prune.h"
#if __has_include("compress/quantize.h")  // the int8 issue (#11); see study_quantize.cpp
#include "compress/quantized_checkpoint.h"
#define MINIDL_STUDY_INT8 1
#else
#define MINIDL_STUDY_INT8 0
#endif
#include "compress/sparse_format.h"
#include "compress/structured.h"
#include "core/autograd.h"
#include "core/error.h"
#include "datasets/loader.h"
#include "nn/checkpoint.h"
#include "nn/fuse.h"
#include "nn/seed_cnn.h"

namespace minidl::validate::detail {

namespace {

nn::TrainConfig finetune_config(const StudyOptions& o, uint64_t seed) {
  nn::TrainConfig ft = o.finetune;
  ft.seed = seed;
  return ft;
}

nn::FitOptions fit_options(std::ostream* train_log) {
  nn::FitOptions fo;
  fo.log = train_log;
  fo.progress_bar = false;
  return fo;
}

// Gradual global magnitude pruning to `sparsity` during fine-tuning: Zhu &
// Gupta's cubic schedule over the first two thirds of the fine-tuning steps in
// ten pruning steps (examples/prune.cpp does the same), so the last third
// trains the final sparse network.
void prune_step(double sparsity, Candidate& c, const FoldData& f, const StudyOptions& o, std::ostream* log) {
  const nn::TrainConfig ft = finetune_config(o, f.seed);
  const int64_t steps = (f.fit->size() + ft.batch_size - 1) / ft.batch_size * std::max(1, ft.epochs);
  const int64_t n = 10, freq = std::max<int64_t>(1, steps * 2 / 3 / n);
  compress::GradualPruner pruner(compress::prunable_weights(*c.model), compress::GradualSchedule{0.0, sparsity, 0, n, freq},
                                 true);
  nn::FitOptions fo = fit_options(log);
  fo.callbacks = {&pruner};
  const nn::History h = nn::train(*c.model, f.fit, nullptr, f.test, ft, fo);
  // Reach the final sparsity even when fine-tuning had fewer steps than the
  // schedule. fit's optimizer, which the pruner picked up, is gone by now.
  pruner.set_optimizer(nullptr);
  pruner.on_step(pruner.schedule().end_step());
  c.curves.push_back(curve_of("prune:" + shortest(sparsity) + " fine-tuning", h));
  c.details += (c.details.empty() ? "" : "; ") + std::string("global sparsity ") +
               std::to_string(compress::sparsity(compress::prunable_weights(*c.model))).substr(0, 6) + " after " +
               std::to_string(h.epochs.size()) + " fine-tuning epochs";
  c.format = Format::sparse;
}

// Li et al. 2017: remove conv2's filters with the smallest L1 norms (shrinking
// bn2 and fc1 with it), then fine-tune the smaller dense network.
void structured_step(double fraction, Candidate& c, const FoldData& f, const StudyOptions& o, std::ostream* log) {
  auto* seq = dynamic_cast<nn::Sequential*>(c.model.get());
  MINIDL_CHECK(seq, "structured pruning needs a Sequential model");
  const compress::StructuredPruneResult r =
      compress::prune_conv_filters(*seq, "conv2", compress::Amount::fraction(fraction), 1);
  c.arch.conv2_channels = int64_t(r.kept.size());
  const nn::History h = nn::train(*c.model, f.fit, nullptr, f.test, finetune_config(o, f.seed), fit_options(log));
  c.curves.push_back(curve_of("structured:" + shortest(fraction) + " fine-tuning", h));
  c.details += (c.details.empty() ? "" : "; ") + std::string("conv2: ") + std::to_string(r.kept.size()) + " of " +
               std::to_string(r.kept.size() + r.removed.size()) + " filters kept";
}

}  // namespace

nn::ModulePtr fused_seed_cnn(const nn::SeedCNNOptions& arch, Generator& gen) {
  auto net = nn::seed_cnn(arch, gen);
  nn::fuse(*net);
  return net;
}

bool step_available(const std::string& kind, std::string* why) {
  if (kind == "prune" || kind == "structured" || kind == "distill") return true;
  if (kind == "int8" || kind == "qat") {
    if (MINIDL_STUDY_INT8) return true;
    if (why) *why = kind + " needs int8 quantization (compress/quantize.h, issue #11), which this build does not have yet";
    return false;
  }
  if (why) *why = "unknown recipe step '" + kind + "'";
  return false;
}

void apply_step(const RecipeStep& s, Candidate& c, const FoldData& f, nn::Module& dense, const StudyOptions& o,
                std::ostream* train_log) {
  std::string why;
  MINIDL_CHECK(step_available(s.kind, &why), why);
  if (s.kind == "distill") distill_step(s.value, c, f, dense, o, train_log);
  else if (s.kind == "prune") prune_step(s.value, c, f, o, train_log);
  else if (s.kind == "structured") structured_step(s.value, c, f, o, train_log);
#if MINIDL_STUDY_INT8
  else if (s.kind == "int8" || s.kind == "qat") quantize_step(s, c, f, o, train_log);
#endif
}

std::string save_candidate(const Candidate& c, const std::string& stem) {
#if MINIDL_STUDY_INT8
  if (c.format == Format::int8) {
    const std::string path = stem + ".int8.safetensors";
    compress::save_quantized(*c.model, path);
    return path;
  }
#endif
  if (c.format == Format::sparse) {
    const std::string path = stem + ".sparse";
    compress::save_sparse(*c.model, path);
    return path;
  }
  const std::string path = stem + ".safetensors";
  nn::save(*c.model, path);
  return path;
}

nn::ModulePtr load_candidate(const Candidate& c, const std::string& path) {
#if MINIDL_STUDY_INT8
  if (c.format == Format::int8) return compress::load_quantized(path);
#endif
  Generator gen(0);  // every weight is overwritten by the file
  nn::ModulePtr m = fused_seed_cnn(c.arch, gen);
  if (c.format == Format::sparse) compress::load_sparse(*m, path);
  else compress::load_pruned(*m, path);
  return m;
}

Curve curve_of(const std::string& stage, const nn::History& h) {
  Curve c;
  c.stage = stage;
  for (const nn::EpochStats& e : h.epochs) c.epochs.push_back({e.train_loss, e.train_accuracy, e.test_accuracy});
  return c;
}

std::vector<std::pair<double, double>> time_side_by_side(const std::vector<nn::Module*>& models, const FoldData& f,
                                                         int rounds, int images) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<double, double>> best(models.size(), {nan, nan});
  if (rounds <= 0) return best;
  using Clock = std::chrono::steady_clock;
  auto first = [&](int64_t n) {
    std::vector<int64_t> idx(size_t(std::min<int64_t>(n, f.test->size())));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = int64_t(i);
    return std::make_shared<datasets::Subset>(f.test, idx);
  };
  std::vector<Tensor> singles, big;
  for (const auto& b : datasets::DataLoader(first(images), {.batch_size = 1, .transforms = f.eval_transforms})) singles.push_back(b.x);
  for (const auto& b : datasets::DataLoader(first(256), {.batch_size = 256, .transforms = f.eval_transforms})) big.push_back(b.x);
  NoGradGuard ng;
  std::vector<double> b1(models.size(), 1e300), b256(models.size(), 1e300);
  for (int r = 0; r <= rounds; ++r)  // round 0 warms up
    for (size_t m = 0; m < models.size(); ++m) {
      nn::Module& net = *models[m];
      net.eval();
      auto t0 = Clock::now();
      for (const Tensor& x : singles) net(x);
      auto t1 = Clock::now();
      net(big[0]);
      auto t2 = Clock::now();
      if (r == 0) continue;
      b1[m] = std::min(b1[m], std::chrono::duration<double, std::milli>(t1 - t0).count() / double(singles.size()));
      b256[m] = std::min(b256[m], std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
  for (size_t m = 0; m < models.size(); ++m) best[m] = {b1[m], b256[m]};
  return best;
}

}  // namespace minidl::validate::detail
