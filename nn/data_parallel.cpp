#include "nn/data_parallel.h"

#include <cstring>

#include "core/ops.h"

namespace minidl::nn {

std::pair<int64_t, int64_t> shard_range(int64_t batch, int rank, int world_size) {
  MINIDL_CHECK(world_size >= 1 && rank >= 0 && rank < world_size, "shard_range: rank ", rank, " of ", world_size);
  return {batch * rank / world_size, batch * (rank + 1) / world_size};
}

datasets::Batch shard(const datasets::Batch& b, int rank, int world_size) {
  const int64_t rows = b.y.numel();
  const auto [lo, hi] = shard_range(rows, rank, world_size);
  if (lo == 0 && hi == rows) return b;
  datasets::Batch s;
  s.x = b.x.narrow(lo, hi - lo);
  s.y = b.y.narrow(lo, hi - lo).clone();
  s.index.assign(b.index.begin() + lo, b.index.begin() + hi);
  return s;
}

GradientBucket::GradientBucket(Communicator& group, std::vector<Tensor> params)
    : group_(group), params_(std::move(params)) {
  int64_t n = 0;
  for (const Tensor& p : params_) n += p.numel();
  buf_.resize(size_t(n) + 3 + params_.size());
}

GlobalStep GradientBucket::allreduce(float loss, int64_t count, int64_t correct) {
  // Pack b_r·g_r (zeros where this rank has no gradient), then the statistics and the flags.
  const float scale = float(count);
  float* at = buf_.data();
  for (const Tensor& p : params_) {
    const int64_t n = p.numel();
    if (p.grad().defined()) {
      const float* g = p.grad().data<float>();
      for (int64_t i = 0; i < n; ++i) at[i] = g[i] * scale;
    } else {
      std::memset(at, 0, size_t(n) * sizeof(float));
    }
    at += n;
  }
  float* tail = at;
  tail[0] = count > 0 ? loss * scale : 0.f;
  tail[1] = float(count);
  tail[2] = float(correct);
  for (size_t k = 0; k < params_.size(); ++k) tail[3 + k] = params_[k].grad().defined() ? 1.f : 0.f;

  group_.allreduce_sum(buf_.data(), int64_t(buf_.size()));

  // g = Σ b_r·g_r / B, for every parameter some rank had a gradient of.
  GlobalStep s{tail[0] / tail[1], int64_t(tail[1]), int64_t(tail[2])};
  const float inv = 1.f / tail[1];
  at = buf_.data();
  for (size_t k = 0; k < params_.size(); ++k) {
    Tensor& p = params_[k];
    const int64_t n = p.numel();
    if (tail[3 + k] > 0) {
      Tensor g = Tensor::empty(p.shape());  // a fresh tensor: the old gradient may be shared with the graph
      float* pg = g.data<float>();
      for (int64_t i = 0; i < n; ++i) pg[i] = at[i] * inv;
      p.set_grad(g);
    }
    at += n;
  }
  return s;
}

namespace {

void broadcast_tensors(const std::vector<std::pair<std::string, Tensor>>& named, Communicator& group, int root) {
  std::string bytes;
  if (group.rank() == root)
    for (const auto& [name, t] : named) bytes.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  bytes = group.broadcast(bytes, root);
  size_t at = 0;
  for (const auto& [name, t] : named) {
    MINIDL_CHECK(at + t.nbytes() <= bytes.size(), "broadcast_state: rank ", root, "'s model is smaller than this rank's (at ",
                 name, ")");
    std::memcpy(const_cast<Tensor&>(t).raw_data(), bytes.data() + at, t.nbytes());
    at += t.nbytes();
  }
  MINIDL_CHECK(at == bytes.size(), "broadcast_state: rank ", root, " sent ", bytes.size(), " bytes, this rank's model holds ",
               at);
}

}  // namespace

void broadcast_state(Module& model, Communicator& group, int root) {
  if (group.world_size() == 1) return;
  broadcast_tensors(model.named_parameters(), group, root);
  broadcast_tensors(model.named_buffers(), group, root);
}

void broadcast_buffers(Module& model, Communicator& group, int root) {
  if (group.world_size() == 1) return;
  broadcast_tensors(model.named_buffers(), group, root);
}

DistributedEval evaluate_distributed(Module& model, datasets::DataLoader& loader, const LossFn& loss,
                                     Communicator& group) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard ng;
  LossObjective objective(loss);
  double sums[3] = {0, 0, 0};  // loss · rows, correct, rows
  for (auto it = loader.begin(); !(it == loader.end()); ++it) {
    if (it.index() % group.world_size() != group.rank()) continue;
    const datasets::Batch& b = *it;
    const StepOutput out = checked_step(objective, model, b);
    const int64_t n = b.y.numel();
    const Tensor p = argmax(out.logits, 1);
    const int64_t* pp = p.data<int64_t>();
    const int64_t* py = b.y.data<int64_t>();
    int64_t c = 0;
    for (int64_t i = 0; i < n; ++i) c += pp[i] == py[i];
    sums[0] += double(out.loss.item()) * double(n);
    sums[1] += double(c);
    sums[2] += double(n);
  }
  model.train(was_training);
  group.allreduce_sum(sums, 3);
  DistributedEval r;
  r.count = int64_t(sums[2]);
  if (r.count > 0) r.loss = sums[0] / sums[2], r.accuracy = sums[1] / sums[2];
  return r;
}

}  // namespace minidl::nn
