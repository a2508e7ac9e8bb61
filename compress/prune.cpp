#include "compress/prune.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "core/autograd.h"
#include "core/ops.h"
#include "nn/checkpoint.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace minidl::compress {

// ---------------------------------------------------------------- Amount

Amount Amount::fraction(double f) {
  MINIDL_CHECK(f >= 0.0 && f <= 1.0, "Amount::fraction: amount must be a fraction in [0, 1], got ", f);
  return Amount(true, f, 0);
}

Amount Amount::count(int64_t n) {
  MINIDL_CHECK(n >= 0, "Amount::count: amount must be a count >= 0, got ", n);
  return Amount(false, 0.0, n);
}

int64_t Amount::resolve(int64_t available, const std::string& what, const char* unit) const {
  if (is_fraction_) return int64_t(std::nearbyint(fraction_ * double(available)));  // ties to even, like round()
  MINIDL_CHECK(count_ <= available, what, ": amount = ", count_, " must be a count in [0, ", available, "] (", unit,
               ")");
  return count_;
}

std::string Amount::str() const {
  std::ostringstream os;
  if (is_fraction_) os << "fraction " << fraction_;
  else os << "count " << count_;
  return os.str();
}

// ---------------------------------------------------------------- masks

PruningMask::PruningMask(Tensor mask) {
  MINIDL_CHECK(mask.defined() && mask.dtype() == DType::Float32, "PruningMask: the mask must be a float32 tensor");
  register_buffer("mask", std::move(mask));
}

Tensor PruningMask::forward(const Tensor& previous) {
  const Tensor& k = buffer("mask");
  MINIDL_CHECK(previous.shape() == k.shape(), label(), ": mask shape ", to_string(k.shape()),
               " does not match the parameter's ", to_string(previous.shape()));
  return mul(previous, k);
}

std::shared_ptr<PruningMask> pruning_mask(const nn::Module& m, const std::string& param) {
  return m.find_parametrization<PruningMask>(param);
}

bool is_pruned(const nn::Module& m, const std::string& param) { return pruning_mask(m, param) != nullptr; }

Tensor mask_of(const nn::Module& m, const std::string& param) {
  auto pm = pruning_mask(m, param);
  MINIDL_CHECK(pm, m.label(), ": \"", param, "\" is not pruned (no ", param, "_mask)");
  return pm->mask();
}

Tensor original_of(nn::Module& m, const std::string& param) {
  return m.parameter(m.is_parametrized(param) ? param + "_orig" : param);
}

Tensor install_mask(nn::Module& m, const std::string& param) {
  if (auto pm = pruning_mask(m, param)) return pm->mask();
  MINIDL_CHECK(m.is_parametrized(param) || m.has_parameter(param), m.label(), ": no parameter named \"", param,
               "\" to prune");
  const Tensor& w = original_of(m, param);
  MINIDL_CHECK(w.defined() && w.dtype() == DType::Float32, m.label(), ": \"", param,
               "\" must be a defined float32 parameter to be pruned");
  auto pm = std::make_shared<PruningMask>(Tensor::ones(w.shape()));
  m.register_parametrization(param, pm);
  return pm->mask();
}

std::vector<std::string> pruned_parameters(const nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& p : m.parametrized_parameters())
    if (is_pruned(m, p)) out.push_back(p);
  return out;
}

// ---------------------------------------------------------------- ranking

namespace {

struct Slot {
  nn::Module* module;
  std::string param;
  Tensor orig, mask;
  std::string what;  // "Conv2d conv1.weight" for messages
};

using RawTarget = std::pair<nn::Module*, std::string>;

std::vector<RawTarget> raw(const std::vector<PruneTarget>& targets) {
  std::vector<RawTarget> out;
  for (const auto& [m, p] : targets) out.emplace_back(m.get(), p);
  return out;
}

// Check every target first, then install the masks (all ones where new).
std::vector<Slot> make_slots(const std::vector<RawTarget>& targets, const char* fn) {
  MINIDL_CHECK(!targets.empty(), fn, ": no parameters to prune");
  std::set<RawTarget> seen;
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& [m, p] = targets[i];
    MINIDL_CHECK(m != nullptr, fn, ": target ", i, " has a null module");
    MINIDL_CHECK(seen.insert(targets[i]).second, fn, ": ", m->label(), ".", p, " is listed twice");
    const bool has = m->is_parametrized(p) || m->has_parameter(p);
    const bool ok = has && original_of(*m, p).defined() && original_of(*m, p).dtype() == DType::Float32;
    MINIDL_CHECK(ok, fn, ": ", m->label(), " has no float32 parameter \"", p, "\" that can be pruned");
  }
  std::vector<Slot> slots;
  for (const auto& [m, p] : targets) {
    Tensor mask = install_mask(*m, p);
    slots.push_back({m, p, original_of(*m, p), mask, m->label() + "." + p});
  }
  return slots;
}

// One unpruned entry: ordered by (|w|, target, index) — a strict total order,
// so the pruned set does not depend on the sort algorithm.
struct Candidate {
  float mag;
  uint32_t slot;
  int64_t index;
  bool operator<(const Candidate& o) const {
    if (mag != o.mag) return mag < o.mag;
    if (slot != o.slot) return slot < o.slot;
    return index < o.index;
  }
};

void collect(const Slot& s, uint32_t id, std::vector<Candidate>& out) {
  const float* w = s.orig.data<float>();
  const float* k = s.mask.data<float>();
  for (int64_t j = 0, n = s.orig.numel(); j < n; ++j) {
    if (k[j] == 0.f) continue;
    MINIDL_CHECK(std::isfinite(w[j]), "pruning ", s.what, ": value at flat index ", j, " is ", w[j],
                 "; magnitude pruning needs finite weights");
    out.push_back({std::fabs(w[j]), id, j});
  }
}

// Prune the k smallest candidates: mask 0 and weight_orig +0.
void prune_smallest(std::vector<Slot>& slots, std::vector<Candidate>& cand, int64_t k) {
  if (k <= 0) return;
  std::nth_element(cand.begin(), cand.begin() + (k - 1), cand.end());
  for (int64_t i = 0; i < k; ++i) {
    const Candidate& c = cand[size_t(i)];
    slots[c.slot].mask.data<float>()[c.index] = 0.f;
    slots[c.slot].orig.data<float>()[c.index] = 0.f;
  }
}

// Entries equal to 0 (±0): the masked entries of a mask, the zeros of a weight.
int64_t count_zeros(const Tensor& t) {
  const float* v = t.data<float>();
  int64_t z = 0;
  for (int64_t j = 0, n = t.numel(); j < n; ++j) z += v[j] == 0.f;
  return z;
}

}  // namespace

void l1_unstructured(nn::Module& m, const std::string& param, Amount amount) {
  auto slots = make_slots({{&m, param}}, "l1_unstructured");
  std::vector<Candidate> cand;
  collect(slots[0], 0, cand);
  const int64_t k = amount.resolve(int64_t(cand.size()), "l1_unstructured(" + slots[0].what + ")");
  prune_smallest(slots, cand, k);
}

void global_unstructured(const std::vector<PruneTarget>& targets, Amount amount) {
  auto slots = make_slots(raw(targets), "global_unstructured");
  std::vector<Candidate> cand;
  for (uint32_t i = 0; i < slots.size(); ++i) collect(slots[i], i, cand);
  const int64_t k = amount.resolve(int64_t(cand.size()), "global_unstructured");
  prune_smallest(slots, cand, k);
}

void prune_to_sparsity(const std::vector<PruneTarget>& targets, double s, bool global) {
  MINIDL_CHECK(s >= 0.0 && s <= 1.0, "prune_to_sparsity: sparsity must be in [0, 1], got ", s);
  auto slots = make_slots(raw(targets), "prune_to_sparsity");
  if (global) {
    int64_t total = 0, masked = 0;
    std::vector<Candidate> cand;
    for (uint32_t i = 0; i < slots.size(); ++i) {
      total += slots[i].mask.numel();
      masked += count_zeros(slots[i].mask);
      collect(slots[i], i, cand);
    }
    const int64_t want = int64_t(std::nearbyint(s * double(total)));
    prune_smallest(slots, cand, std::min<int64_t>(want - masked, int64_t(cand.size())));
    return;
  }
  for (auto& slot : slots) {
    std::vector<Slot> one{slot};
    std::vector<Candidate> cand;
    collect(slot, 0, cand);
    const int64_t want = int64_t(std::nearbyint(s * double(slot.mask.numel())));
    prune_smallest(one, cand, std::min<int64_t>(want - count_zeros(slot.mask), int64_t(cand.size())));
  }
}

std::vector<PruneTarget> prunable_weights(nn::Module& model) {
  std::vector<PruneTarget> out;
  for (auto& [path, m] : model.named_modules())
    if (dynamic_cast<nn::Conv2d*>(m.get()) || dynamic_cast<nn::Linear*>(m.get())) out.emplace_back(m, "weight");
  return out;
}

// ---------------------------------------------------------------- remove

void remove(nn::Module& m, const std::string& param) {
  auto pm = pruning_mask(m, param);
  MINIDL_CHECK(pm, "remove: ", m.label(), ".", param, " is not pruned");
  Tensor orig = m.parameter(param + "_orig");
  float* w = orig.data<float>();
  const float* k = pm->mask().data<float>();
  for (int64_t j = 0, n = orig.numel(); j < n; ++j)
    if (k[j] == 0.f) w[j] = 0.f;  // +0.0f: all bits zero, whatever weight_orig drifted to
  // weight_orig (the same tensor object the optimizer holds) already holds
  // the baked values; when the mask was its only parametrization it becomes
  // "weight" again.
  m.remove_parametrization(param, *pm, /*bake=*/false);
}

void remove_all(nn::Module& model) {
  for (auto& [path, m] : model.named_modules())
    for (const auto& p : pruned_parameters(*m)) remove(*m, p);
}

// ---------------------------------------------------------------- measuring

double sparsity(const nn::Module& m, const std::string& param) {
  NoGradGuard ng;
  Tensor w = m.param(param);
  MINIDL_CHECK(w.defined(), "sparsity: ", m.label(), " has no parameter \"", param, "\"");
  return w.numel() ? double(count_zeros(w)) / double(w.numel()) : 0.0;
}

double sparsity(const std::vector<PruneTarget>& targets) {
  NoGradGuard ng;
  int64_t zeros = 0, total = 0;
  for (const auto& [m, p] : targets) {
    Tensor w = m->param(p);
    MINIDL_CHECK(w.defined(), "sparsity: ", m->label(), " has no parameter \"", p, "\"");
    zeros += count_zeros(w);
    total += w.numel();
  }
  return total ? double(zeros) / double(total) : 0.0;
}

int64_t num_masked(const nn::Module& m, const std::string& param) {
  auto pm = pruning_mask(m, param);
  return pm ? count_zeros(pm->mask()) : 0;
}

// ---------------------------------------------------------------- optimizer

void zero_pruned_optimizer_state(nn::Module& model, nn::Optimizer& opt) {
  for (auto& [path, m] : model.named_modules())
    for (const auto& p : pruned_parameters(*m)) {
      Tensor orig = m->parameter(p + "_orig");
      const Tensor mask = mask_of(*m, p);
      const float* k = mask.data<float>();
      float* w = orig.data<float>();
      for (int64_t j = 0, n = orig.numel(); j < n; ++j)
        if (k[j] == 0.f) w[j] = 0.f;
      opt.mask_state(orig, mask);
    }
}

// ---------------------------------------------------------------- checkpoints

std::vector<std::string> prepare_for_state_dict(nn::Module& model, const nn::StateDict& state) {
  std::set<std::string> keys;
  for (const auto& [n, t] : state) keys.insert(n);
  std::vector<std::string> installed;
  for (auto& [path, m] : model.named_modules()) {
    const std::string prefix = path.empty() ? "" : path + ".";
    for (const auto& [p, t] : m->named_parameters(false)) {
      if (is_pruned(*m, p) || !keys.count(prefix + p + "_orig") || !keys.count(prefix + p + "_mask")) continue;
      install_mask(*m, p);
      installed.push_back(prefix + p);
    }
  }
  return installed;
}

void check_masks(const nn::StateDict& state, const std::string& source) {
  for (const auto& [n, t] : state) {
    if (n.size() <= 5 || n.compare(n.size() - 5, 5, "_mask") != 0) continue;
    MINIDL_CHECK(t.defined() && t.dtype() == DType::Float32, source, ": mask \"", n, "\" must be float32");
    const float* k = t.data<float>();
    for (int64_t j = 0, sz = t.numel(); j < sz; ++j)
      MINIDL_CHECK(k[j] == 0.f || k[j] == 1.f, source, ": mask \"", n, "\" holds ", k[j], " at flat index ", j,
                   "; masks must hold only 0 and 1");
  }
}

void load_pruned_state(nn::Module& model, const nn::StateDict& state, const std::string& source, bool strict) {
  check_masks(state, source);
  prepare_for_state_dict(model, state);
  try {
    model.load_state_dict(state, strict);
  } catch (const Error& e) {
    detail::fail(source, ": ", e.what());
  }
}

void load_pruned(nn::Module& model, const std::string& path, bool strict) {
  load_pruned_state(model, nn::load_safetensors(path), path, strict);
}

}  // namespace minidl::compress
