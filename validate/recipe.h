// minidl/validate/recipe.h — the compression recipes of a study, as strings a
// user can type and the results echo back.
//
//   Recipe r = parse_recipe("prune:0.9+int8");
//   r.name()              // "prune:0.9+int8" (canonical: numbers written shortest)
//   r.steps[0].kind       // "prune", r.steps[0].value == 0.9
//   r.file_stem()         // "prune-0.9_int8" (safe as a file name)
//
// Grammar (whitespace is not allowed, kinds are lower case):
//   recipe := step ('+' step)*            steps run left to right on the fold's dense model
//   step   := 'prune:' S                  global magnitude pruning of every conv/linear weight to
//                                          sparsity S ∈ [0, 1), raised gradually while fine-tuning
//                                          (Zhu & Gupta 2017)
//           | 'structured:' F             remove the fraction F ∈ [0, 1) of conv2's filters with the
//                                          smallest L1 norms (Li et al. 2017), then fine-tune
//           | 'int8' | 'int8:per-channel' int8 post-training quantization (per-output-channel
//           | 'int8:per-tensor'            weight scales unless per-tensor; 7bit: activation codes
//           | 'int8:7bit'                  in [0, 127], QConfig reduce_range + clamp_to_range)
//           | 'qat'                       quantization-aware training, then int8
//           | 'distill:' W                a student of width W ∈ (0, 1] (channels and hidden units
//                                          scaled) trained against the fold's dense model
// Order: distill first, then prune/structured, then int8/qat last; a kind at
// most once; int8 and qat exclude each other. "dense" names the fold's
// uncompressed model and is not a recipe.
//
// parse_recipe checks the grammar and ranges only. Whether this build can run
// a kind (int8, qat and distill need the quantization and distillation
// modules) is the study's question: validate/study.h's check_runnable.
#pragma once

#include <string>
#include <vector>

namespace minidl::validate {

struct RecipeStep {
  std::string kind;    // "prune", "structured", "int8", "qat", "distill"
  double value = 0;    // sparsity, fraction of filters or width; 0 when the kind takes none
  std::string option;  // int8: "per-channel" (default), "per-tensor" or "7bit"
  std::string name() const;  // "prune:0.9", "int8", "int8:per-tensor", "int8:7bit"
};

struct Recipe {
  std::vector<RecipeStep> steps;
  std::string name() const;       // steps' names joined by '+'
  std::string file_stem() const;  // name() with ':' -> '-' and '+' -> '_'
  bool has(const std::string& kind) const;
  const RecipeStep* find(const std::string& kind) const;  // nullptr if absent
};

// Throws minidl::Error with a one-line message naming the recipe, the step and
// what was wrong ("recipe 'prune:1.5': sparsity 1.5 is outside [0, 1)"), and
// listing the valid forms for an unknown kind.
Recipe parse_recipe(const std::string& text);

// Parses every text; also rejects a recipe given twice (by canonical name) or "dense".
std::vector<Recipe> parse_recipes(const std::vector<std::string>& texts);

// The valid forms, one per line, for --help and error messages.
std::string recipe_grammar();

// Shortest decimal that reads back to the same double ("0.9", "0.25", "1e-05").
std::string shortest(double v);

}  // namespace minidl::validate
