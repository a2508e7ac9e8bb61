// minidl/nn/data_parallel.h — data-parallel training across the ranks of a
// Communicator, PyTorch's DistributedDataParallel done inside fit().
//
//   nn::FitOptions fo;
//   fo.process_group = world.get();   // core/communicator.h; null or 1 rank: one process
//   nn::fit(*net, opt, loader, fo);   // the same loader (same seed) on every rank
//
// Every rank iterates the same global batches (the loader's order is a pure
// function of its seed and epoch) and trains on its contiguous share of each:
// rows [⌊rB/N⌋, ⌊(r+1)B/N⌋) of a batch of B rows on rank r of N. The batch is
// loaded and transformed whole before it is cut, so augmentation draws exactly
// what a single process would. After backward, one bucket per step —
//     [ b_r·g_r for every parameter | b_r·loss_r, b_r, correct_r, has_grad flags ]
// (g_r the gradient of rank r's mean loss over its b_r rows) — goes through a
// single allreduce_sum (MPI_Allreduce), and every rank sets
//     g = Σ_r b_r·g_r / B,
// the gradient of the mean loss over the whole global batch. So with the same
// global batch the update equals the single-process one up to float rounding:
// the batch sum is split into per-rank partial sums (each reassociated by the
// GEMM kernels), scaled by b_r and divided by B, and the ranks' sums are
// added in MPI's order (with 2 ranks one addition, x₀ + x₁, the same bits on
// both ranks). All ranks get the same bits, take the same optimizer step and
// keep the same weights.
//
// BatchNorm: each rank normalises with the statistics of its own shard, as
// DistributedDataParallel does without SyncBatchNorm, so a BatchNorm model
// does not equal the single-process run (its per-batch statistics are over
// b_r, not B, rows). Running statistics: rank 0's are broadcast to all ranks
// at the start and after every training epoch (DDP's broadcast_buffers), so
// every rank evaluates and saves rank 0's.
//
// Evaluation (validation and test loaders): each rank scores every N-th batch
// and the loss sums and correct counts are summed over ranks, so accuracy is
// exact and the loss differs from a single process by the order of its
// double-precision sum. Decisions (best epoch, early stopping, divergence)
// use those global figures and so agree on every rank.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/communicator.h"
#include "datasets/loader.h"
#include "nn/module.h"
#include "nn/objective.h"

namespace minidl::nn {

// Rows [first, second) of a global batch of `batch` rows for `rank` of `world_size`.
std::pair<int64_t, int64_t> shard_range(int64_t batch, int rank, int world_size);
// Those rows of `b` (views of x, copies of y and index); possibly empty.
datasets::Batch shard(const datasets::Batch& b, int rank, int world_size);

// One step's figures over all ranks.
struct GlobalStep {
  float loss = 0;       // mean over the global batch
  int64_t count = 0;    // rows of the global batch
  int64_t correct = 0;  // of them, classified right
};

// The per-step bucket: packs the gradients of `params` (scaled by this rank's
// rows), the step's statistics and which gradients exist, allreduces it in
// one call and writes the averaged gradients back (see the header comment).
class GradientBucket {
 public:
  GradientBucket(Communicator& group, std::vector<Tensor> params);
  // loss: this rank's mean loss over its `count` rows (0 rows: loss ignored).
  GlobalStep allreduce(float loss, int64_t count, int64_t correct);
  int64_t bytes() const { return int64_t(buf_.size() * sizeof(float)); }  // sent per step

 private:
  Communicator& group_;
  std::vector<Tensor> params_;
  std::vector<float> buf_;
};

// Every rank gets `root`'s parameters and buffers (DDP's initial broadcast).
void broadcast_state(Module& model, Communicator& group, int root = 0);
// Only the buffers (BatchNorm running statistics, ...).
void broadcast_buffers(Module& model, Communicator& group, int root = 0);

// Loss and accuracy of `model` over all of `loader`'s batches, each rank
// scoring every world_size-th one (no per-example predictions).
struct DistributedEval {
  double loss = 0, accuracy = 0;
  int64_t count = 0;
};
DistributedEval evaluate_distributed(Module& model, datasets::DataLoader& loader, const LossFn& loss,
                                     Communicator& group);

}  // namespace minidl::nn
