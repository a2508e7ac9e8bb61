// The study's int8 and qat steps (compress/quantize.h): int8 post-training
// quantization calibrated on the fold's fit part, or quantization-aware
// fine-tuning on it, then conversion to the integer-only model, stored as an
// int8 safetensors file (compress/quantized_checkpoint.h).
//
// Calibration uses the first 1,000 images of the fold's *fit* part (never the
// held-out part: activation ranges are statistics of data, like Normalize's).
// A pruned model's masks are baked in first; its zeros stay exactly zero
// under symmetric weight quantization (q = round(0 / s) = 0). The stored file
// is a dense int8 one: the sparse format's index coding is for float32
// tensors, so prune+int8 pays 1 byte per weight, zeros included.
//
// Compiled only when compress/quantize.h exists (the int8 issue, #11): until
// then validate/study_steps.cpp reports the int8 and qat recipes unavailable.
#if __has_include("compress/quantize.h")
#include <algorithm>

#include "compress/prune.h"
#include "compress/quantize.h"
#include "compress/quantized_checkpoint.h"
#include "compress/report.h"
#include "core/error.h"
#include "datasets/loader.h"
#include "validate/study_steps.h"

namespace minidl::validate::detail {

namespace {

// Parameters, nonzeros and MACs of the float model about to be quantized
// (the integer modules are not traced by compress::report).
void keep_float_stats(Candidate& c, const FoldData& f) {
  const Shape s = f.fit->item_shape();
  c.stats = compress::report(*c.model, {1, s[0], s[1], s[2]}).total;
  c.has_stats = true;
}

}  // namespace

void quantize_step(const RecipeStep& step, Candidate& c, const FoldData& f, const StudyOptions& o,
                   std::ostream* log) {
  compress::remove_all(*c.model);  // bake pruning masks: a plain float model
  keep_float_stats(c, f);
  compress::QConfig qc;
  qc.per_channel = step.option != "per-tensor";
  qc.reduce_range = qc.clamp_to_range = step.option == "7bit";
  nn::ModulePtr prepared;
  if (step.kind == "qat") {
    qc.activation = "moving_average";
    prepared = compress::prepare_qat(*c.model, qc);
    nn::TrainConfig ft = o.finetune;
    ft.seed = f.seed;
    // Ranges and BatchNorm statistics freeze for the last fine-tuning epoch
    // (with a single epoch: never), so it trains on the inference arithmetic.
    compress::QATFreeze freeze(ft.epochs > 1 ? ft.epochs : 0, ft.epochs > 1 ? ft.epochs : 0);
    nn::FitOptions fo;
    fo.log = log;
    fo.progress_bar = false;
    fo.callbacks = {&freeze};
    const nn::History h = nn::train(*prepared, f.fit, nullptr, f.test, ft, fo);
    c.curves.push_back(curve_of("qat fine-tuning", h));
  } else {
    qc.activation = "histogram";
    prepared = compress::prepare(*c.model, qc);
    std::vector<int64_t> first(size_t(std::min<int64_t>(1000, f.fit->size())));
    for (size_t i = 0; i < first.size(); ++i) first[i] = int64_t(i);
    datasets::DataLoader calib(std::make_shared<datasets::Subset>(f.fit, first),
                               {.batch_size = 100, .transforms = f.eval_transforms});
    compress::calibrate(*prepared, calib, calib.size());
  }
  c.model = compress::convert(*prepared);
  c.format = Format::int8;
  c.details += (c.details.empty() ? "" : "; ") + std::string(step.kind == "qat" ? "QAT" : "PTQ") + " int8, " +
               (qc.per_channel ? "per-channel" : "per-tensor") + " weights, " + qc.activation + " activations" +
               (qc.clamp_to_range ? " (7-bit)" : "");
}

}  // namespace minidl::validate::detail

#endif  // __has_include("compress/quantize.h")
