// minidl/compress/prune.h — unstructured magnitude pruning, with the mask as
// part of the layer.
//
// Pruning a parameter ("weight" of conv1) does what torch.nn.utils.prune does:
//   - the parameter is renamed "weight_orig" (same tensor object, so an
//     optimizer built before pruning keeps training it);
//   - a float32 buffer "weight_mask" of 0s and 1s is registered on the layer;
//   - a parametrization makes the layer compute with weight_orig ⊙ weight_mask.
// state_dicts and checkpoints therefore carry "conv1.weight_orig" and
// "conv1.weight_mask", exactly the keys PyTorch's pruned models have.
//
// Why masked weights stay exactly zero (the guarantee, step by step):
//   1. The layer computes with w = weight_orig ⊙ mask, so w = 0 wherever
//      mask = 0, whatever weight_orig holds (it is always finite: see 3).
//   2. The gradient of weight_orig is ∂L/∂w ⊙ mask: exactly 0 at pruned entries.
//   3. Pruning also writes 0 into weight_orig at the entries it prunes. SGD's
//      update there is then d = g + λ·w = 0 + λ·0 = 0, so weight decay cannot
//      move it. A momentum buffer filled *before* pruning could (b ← μb + d
//      keeps its old value); zero_pruned_optimizer_state() clears those
//      entries, after which weight_orig stays exactly 0 under SGD with any
//      momentum, dampening, Nesterov and weight decay. Without that call,
//      weight_orig may drift at pruned entries, but the computed weight (1)
//      and the baked weight (4) are still exactly zero.
//   4. remove() bakes the mask in: the parameter becomes "weight" again and
//      holds +0.0f (all bits zero) wherever the mask was 0, and weight_orig's
//      value bit for bit elsewhere.
//
// Ranking (Han et al. 2015, "Learning both Weights and Connections for
// Efficient Neural Networks"; Deep Compression, Han et al. 2016): the entries
// with the smallest |weight_orig| among the still-unpruned ones are pruned.
// Ties are broken deterministically: for equal magnitudes the target listed
// first, then the lower flat (row-major) index, is pruned first. Non-finite
// weights are an error (they have no magnitude order).
//
// Composition: pruning an already-pruned parameter ranks only its
// still-unpruned entries, and a fractional amount applies to those remaining
// entries (PyTorch's PruningContainer semantics): pruning 50% and then 50%
// again leaves 25% of the weights. The new mask is the product of the old
// one and the new decision, so a pruned weight never comes back.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "nn/module.h"
#include "nn/optim.h"

namespace minidl::compress {

// How much to prune: a fraction of the candidate entries, rounded to the
// nearest integer with ties to even (as Python's round() in PyTorch's
// prune), or an exact count.
class Amount {
 public:
  static Amount fraction(double f);  // f in [0, 1], else minidl::Error
  static Amount count(int64_t n);    // n >= 0, else minidl::Error; checked against the candidates when used
  bool is_fraction() const { return is_fraction_; }
  double value() const { return is_fraction_ ? fraction_ : double(count_); }
  // How many of `available` candidates (`unit`: "unpruned entries",
  // "filters") to prune. A count above `available` is an error naming
  // `what` and the range [0, available].
  int64_t resolve(int64_t available, const std::string& what, const char* unit = "unpruned entries") const;
  std::string str() const;

 private:
  Amount(bool is_fraction, double f, int64_t n) : is_fraction_(is_fraction), fraction_(f), count_(n) {}
  bool is_fraction_;
  double fraction_;
  int64_t count_;
};

// A parameter of a module: {conv1, "weight"}.
using PruneTarget = std::pair<nn::ModulePtr, std::string>;

// The parametrization w ↦ w ⊙ mask, as a Module owning its float32 0/1
// buffer "mask" (tag "mask", so the owner's state_dict key is "<param>_mask",
// torch.nn.utils.prune's). Loading a state_dict copies into that buffer;
// structured pruning replaces it by a shrunk one.
class PruningMask : public nn::Parametrization {
 public:
  explicit PruningMask(Tensor mask);
  Tensor forward(const Tensor& previous) override;
  std::string type_name() const override { return "PruningMask"; }
  std::string tag() const override { return "mask"; }
  bool commutes_with_channel_scale() const override { return true; }  // (s ⊙ w) ⊙ m = s ⊙ (w ⊙ m)
  Tensor& mask() { return buffer("mask"); }
};

// ---- masks
// The PruningMask in param's chain, or null.
std::shared_ptr<PruningMask> pruning_mask(const nn::Module& module, const std::string& param);
bool is_pruned(const nn::Module& module, const std::string& param);
// The mask buffer of a pruned parameter (state_dict key <param>_mask).
Tensor mask_of(const nn::Module& module, const std::string& param);
// The trained tensor: <param>_orig if parametrized, else <param>.
Tensor original_of(nn::Module& module, const std::string& param);
// Prune nothing, but set up the mask (all ones) if the parameter has none:
// appended to the parameter's chain, after any other parametrizations.
// Returns the mask buffer.
Tensor install_mask(nn::Module& module, const std::string& param);
// Names of the pruned parameters of one module (not its children).
std::vector<std::string> pruned_parameters(const nn::Module& module);

// ---- pruning
// L1 (magnitude) pruning of one parameter.
void l1_unstructured(nn::Module& module, const std::string& param, Amount amount);
// Global magnitude pruning: all targets' unpruned entries ranked together
// (torch.nn.utils.prune.global_unstructured with L1Unstructured). A
// fractional amount is a fraction of all the targets' unpruned entries.
void global_unstructured(const std::vector<PruneTarget>& targets, Amount amount);
// Prune until the masks hold round(sparsity · numel) zeros: over all targets
// together (global = true) or per target. Does nothing where that many are
// already pruned (pruning never un-prunes). Used by GradualPruner.
void prune_to_sparsity(const std::vector<PruneTarget>& targets, double sparsity, bool global = true);
// Every Conv2d and Linear weight in the tree, depth first.
std::vector<PruneTarget> prunable_weights(nn::Module& model);

// ---- making it permanent
// Bake the mask into the parameter (see 4 above) and drop the mask; other
// parametrizations of the parameter stay, in order.
void remove(nn::Module& module, const std::string& param);
// remove() every pruned parameter in the tree.
void remove_all(nn::Module& model);

// ---- measuring
// Fraction of exactly-zero entries of the tensor the layer computes with.
double sparsity(const nn::Module& module, const std::string& param);
double sparsity(const std::vector<PruneTarget>& targets);  // over all targets together
// Entries whose mask is 0 (0 for an unpruned parameter).
int64_t num_masked(const nn::Module& module, const std::string& param);

// ---- training with masks
// For every pruned parameter in `model`: write 0 into <param>_orig wherever
// the mask is 0, and let the optimizer do the same to its state for that
// tensor (Optimizer::mask_state: SGD's momentum buffer, Adam's moments). Call it after
// pruning a model whose optimizer already has momentum; from then on SGD
// keeps those entries exactly 0 (see 3 above).
void zero_pruned_optimizer_state(nn::Module& model, nn::Optimizer& optimizer);

// ---- loading pruned checkpoints
// A pruned checkpoint holds "<p>_orig" and "<p>_mask" where a fresh model has
// "<p>". For each such pair in `state`, install an (all-ones) mask on the
// model's parameter so that load_state_dict finds the same keys. Returns the
// dotted names of the parameters it set up ("conv1.weight").
std::vector<std::string> prepare_for_state_dict(nn::Module& model, const nn::StateDict& state);
// Every "*_mask" tensor of `state` must be float32 and hold only 0s and 1s.
void check_masks(const nn::StateDict& state, const std::string& source);
// load_state_dict for a state that may be pruned: checks the masks, installs
// them (prepare_for_state_dict) and loads; errors are prefixed with `source`.
void load_pruned_state(nn::Module& model, const nn::StateDict& state, const std::string& source, bool strict = true);
// nn::load for checkpoints that may be pruned: reads the safetensors file and
// calls load_pruned_state.
void load_pruned(nn::Module& model, const std::string& path, bool strict = true);

}  // namespace minidl::compress
