// minidl/validate/study_steps.h — how a study applies each recipe step to a
// fold's model, stores it and reads it back (internal to the study: validate/study*.cpp).
//
// A step works on a Candidate: the model being compressed, the architecture a
// fresh copy needs to load it (structured pruning shrinks conv2), the
// training curves of its stages and the file format it will be stored in.
// Adding a recipe kind = a branch in apply_step, a line in step_available and,
// if it stores differently, a Format.
#pragma once

#include <string>
#include <vector>

#include "compress/report.h"
#include "datasets/dataset.h"
#include "datasets/transforms.h"
#include "nn/module.h"
#include "nn/seed_cnn.h"
#include "nn/trainer.h"
#include "validate/cross_validate.h"
#include "validate/study.h"

namespace minidl::validate::detail {

// One fold's data: cross_validate's FoldData (validate/cross_validate.h),
// without a validation carve-out (val is null).
using validate::FoldData;

enum class Format { safetensors, sparse, int8 };

struct Candidate {
  nn::ModulePtr model;
  nn::SeedCNNOptions arch;
  std::vector<Curve> curves;
  std::string details;
  Format format = Format::safetensors;
  // Parameters/nonzeros/MACs measured before quantization (integer modules
  // are not traced by compress::report); unset: measured on the re-read model.
  compress::LayerStats stats;
  bool has_stats = false;
};

// Whether this build can run recipe steps of `kind`; if not, `why` says what is missing.
// Every float model the study trains or measures: the seed CNN with each
// layer + ReLU pair fused (nn::fuse — bit for bit the same values, gradients
// and checkpoint keys, one pass over the activations fewer: BatchNorm + ReLU
// is a quarter of a BN seed CNN's training step unfused).
nn::ModulePtr fused_seed_cnn(const nn::SeedCNNOptions& arch, Generator& gen);

bool step_available(const std::string& kind, std::string* why);

// Applies one step to `c` (the fold's dense model is `dense`, e.g. a distillation teacher).
void apply_step(const RecipeStep& step, Candidate& c, const FoldData& f, nn::Module& dense, const StudyOptions& o,
                std::ostream* train_log);

// The distill:W step (validate/study_distill.cpp): replaces c.model by a
// student of width `width` trained against `teacher`.
void distill_step(double width, Candidate& c, const FoldData& f, nn::Module& teacher, const StudyOptions& o,
                  std::ostream* log);

// The int8 and qat steps (validate/study_quantize.cpp): c.model becomes the
// integer-only model.
void quantize_step(const RecipeStep& step, Candidate& c, const FoldData& f, const StudyOptions& o,
                   std::ostream* log);

// Writes the candidate's model to `stem` + its format's extension; returns the path.
std::string save_candidate(const Candidate& c, const std::string& stem);
// A fresh model of c.arch with the file's contents.
nn::ModulePtr load_candidate(const Candidate& c, const std::string& path);

// The epochs of a fit() history as a curve.
Curve curve_of(const std::string& stage, const nn::History& h);

// Milliseconds per forward pass at batch 1 and batch 256 of each model, timed
// side by side: every round runs each model once at each batch size, and each
// keeps its best round (a shared machine's speed drifts within a minute; the
// first round only warms caches and is not counted). Returns {b1, b256} per model.
std::vector<std::pair<double, double>> time_side_by_side(const std::vector<nn::Module*>& models, const FoldData& f,
                                                         int rounds, int images);

}  // namespace minidl::validate::detail
