#include "validate/recipe.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "core/error.h"

namespace minidl::validate {

namespace {

// Stage of a kind in a recipe: steps must come in non-decreasing stage order.
int stage(const std::string& kind) {
  if (kind == "distill") return 0;
  if (kind == "prune" || kind == "structured") return 1;
  return 2;  // int8, qat
}

double parse_number(const std::string& recipe, const std::string& kind, const std::string& arg) {
  double v = 0;
  const char* end = arg.data() + arg.size();
  const auto r = std::from_chars(arg.data(), end, v);
  MINIDL_CHECK(!arg.empty() && r.ec == std::errc() && r.ptr == end && std::isfinite(v), "recipe '", recipe, "': ",
               kind, " needs a number after ':', got '", arg, "'");
  return v;
}

RecipeStep parse_step(const std::string& recipe, const std::string& text) {
  MINIDL_CHECK(!text.empty(), "recipe '", recipe, "': empty step (two '+' in a row, or one at an end)");
  const size_t colon = text.find(':');
  RecipeStep s;
  s.kind = text.substr(0, colon);
  const bool has_arg = colon != std::string::npos;
  const std::string arg = has_arg ? text.substr(colon + 1) : "";
  if (s.kind == "prune" || s.kind == "structured" || s.kind == "distill") {
    const char* what = s.kind == "prune" ? "sparsity" : s.kind == "structured" ? "fraction of filters" : "width";
    MINIDL_CHECK(has_arg, "recipe '", recipe, "': ", s.kind, " needs a ", what, ", e.g. ", s.kind,
                 s.kind == "distill" ? ":0.25" : ":0.9");
    s.value = parse_number(recipe, s.kind, arg);
    if (s.kind == "distill")
      MINIDL_CHECK(s.value > 0 && s.value <= 1, "recipe '", recipe, "': width ", arg, " is outside (0, 1]");
    else
      MINIDL_CHECK(s.value >= 0 && s.value < 1, "recipe '", recipe, "': ", what, " ", arg, " is outside [0, 1)");
  } else if (s.kind == "int8") {
    s.option = has_arg ? arg : "per-channel";
    MINIDL_CHECK(s.option == "per-channel" || s.option == "per-tensor" || s.option == "7bit", "recipe '", recipe,
                 "': int8 takes 'per-channel', 'per-tensor' or '7bit' after ':', got '", arg, "'");
  } else if (s.kind == "qat") {
    MINIDL_CHECK(!has_arg, "recipe '", recipe, "': qat takes no argument, got '", arg, "'");
  } else {
    throw Error("recipe '" + recipe + "': unknown step '" + text + "'; valid steps: prune:S, structured:F, int8, " +
                "int8:per-tensor, int8:7bit, qat, distill:W, joined by '+' (see --help)");
  }
  return s;
}

}  // namespace

std::string shortest(double v) {
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string RecipeStep::name() const {
  if (kind == "prune" || kind == "structured" || kind == "distill") return kind + ":" + shortest(value);
  if (kind == "int8" && (option == "per-tensor" || option == "7bit")) return "int8:" + option;
  return kind;
}

std::string Recipe::name() const {
  std::string s;
  for (const RecipeStep& st : steps) s += (s.empty() ? "" : "+") + st.name();
  return s;
}

std::string Recipe::file_stem() const {
  std::string s = name();
  for (char& ch : s) {
    if (ch == ':') ch = '-';
    if (ch == '+') ch = '_';
  }
  return s;
}

bool Recipe::has(const std::string& kind) const { return find(kind) != nullptr; }

const RecipeStep* Recipe::find(const std::string& kind) const {
  for (const RecipeStep& s : steps)
    if (s.kind == kind) return &s;
  return nullptr;
}

Recipe parse_recipe(const std::string& text) {
  MINIDL_CHECK(!text.empty(), "empty recipe; valid steps: prune:S, structured:F, int8, int8:per-tensor, qat, "
               "distill:W, joined by '+'");
  MINIDL_CHECK(text != "dense", "recipe 'dense': the dense model is always part of a study (every recipe is "
               "compared to it); give only compression recipes");
  Recipe r;
  size_t begin = 0;
  for (;;) {
    const size_t plus = text.find('+', begin);
    r.steps.push_back(parse_step(text, text.substr(begin, plus == std::string::npos ? std::string::npos : plus - begin)));
    if (plus == std::string::npos) break;
    begin = plus + 1;
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < r.steps.size(); ++i) {
    const std::string& k = r.steps[i].kind;
    MINIDL_CHECK(seen.insert(k).second, "recipe '", text, "': ", k, " appears twice");
    if (i > 0)
      MINIDL_CHECK(stage(r.steps[i - 1].kind) <= stage(k), "recipe '", text, "': ", k, " cannot come after ",
                   r.steps[i - 1].kind, " (order: distill, then prune/structured, then int8/qat)");
  }
  MINIDL_CHECK(!(seen.count("int8") && seen.count("qat")), "recipe '", text,
               "': int8 and qat are two ways to the same int8 model; use one");
  return r;
}

std::vector<Recipe> parse_recipes(const std::vector<std::string>& texts) {
  std::vector<Recipe> out;
  std::set<std::string> names;
  for (const std::string& t : texts) {
    out.push_back(parse_recipe(t));
    MINIDL_CHECK(names.insert(out.back().name()).second, "recipe '", t, "' is given twice (as ", out.back().name(),
                 ")");
  }
  return out;
}

std::string recipe_grammar() {
  return "  prune:S            global magnitude pruning to sparsity S in [0, 1), gradual, with fine-tuning\n"
         "  structured:F       remove the fraction F in [0, 1) of conv2's filters (smallest L1), fine-tune\n"
         "  int8               int8 post-training quantization, per-channel weight scales\n"
         "  int8:per-tensor    the same with one weight scale per tensor\n"
         "  int8:7bit          per-channel, 7-bit activations (reduce_range clamped at 127: faster on AVX2)\n"
         "  qat                quantization-aware fine-tuning, then int8\n"
         "  distill:W          a student of width W in (0, 1] distilled from the fold's dense model\n"
         "  A+B                compositions, in the order distill, prune/structured, int8/qat\n"
         "                     (e.g. prune:0.9+int8, distill:0.25+int8)\n";
}

}  // namespace minidl::validate
