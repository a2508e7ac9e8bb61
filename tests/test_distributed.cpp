// Tests for core/communicator.h, nn/data_parallel.h and validate/deal.h
// without MPI: the shard and deal arithmetic, the byte packing, the bit-exact
// transport of fold results, errors raised together, and the gradient
// bucket's average against a hand computation (a fake world of two ranks
// whose other rank's contribution is known). The same pieces under mpirun:
// tests/mpi_distributed.py.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/communicator.h"
#include "nn/data_parallel.h"
#include "test_util.h"
#include "validate/deal.h"

using namespace minidl;

TEST_CASE("shard_range: contiguous shares covering every row once") {
  for (int64_t b = 0; b <= 9; ++b)
    for (int n = 1; n <= 4; ++n) {
      int64_t next = 0;
      for (int r = 0; r < n; ++r) {
        const auto [lo, hi] = nn::shard_range(b, r, n);
        CHECK(lo == next);
        CHECK(hi - lo >= b / n);
        CHECK(hi - lo <= b / n + 1);
        next = hi;
      }
      CHECK(next == b);
    }
  CHECK(test::contains(test::error_of([] { nn::shard_range(8, 2, 2); }), "rank 2 of 2"));
}

TEST_CASE("dealt_jobs: round-robin, every job on exactly one rank") {
  std::vector<int> seen(7, 0);
  for (int r = 0; r < 3; ++r)
    for (int j : validate::dealt_jobs(7, r, 3)) {
      CHECK(j % 3 == r);
      ++seen[size_t(j)];
    }
  for (int s : seen) CHECK(s == 1);
  CHECK(validate::dealt_jobs(2, 3, 4).empty());  // more ranks than jobs: some idle
}

TEST_CASE("pack_strings / unpack_strings round trip; truncation is an error") {
  const std::vector<std::string> parts{"", "abc", std::string("\0\1\2", 3), ""};
  CHECK(unpack_strings(pack_strings(parts)) == parts);
  const std::string packed = pack_strings({"hello"});
  CHECK(test::contains(test::error_of([&] { unpack_strings(packed.substr(0, packed.size() - 1)); }), "overruns"));
}

TEST_CASE("SingleProcess: collectives are the identity; errors raised together") {
  SingleProcess w;
  CHECK(w.world_size() == 1);
  CHECK(allgather(w, "x") == std::vector<std::string>{"x"});
  CHECK_NOTHROW(raise_if_any_failed(w, "", "study"));
  try {
    raise_if_any_failed(w, "fold 2 failed", "study");
    FAIL("no error");
  } catch (const CollectiveError& e) {
    CHECK(std::string(e.what()) == "study: fold 2 failed");
  }
}

static bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST_CASE("fold_bytes: every field back bit for bit, NaN included") {
  validate::FoldResult f;
  f.index = 3, f.repeat = 1, f.fold = 0, f.seed = 0xfedcba9876543210ULL;
  f.train_size = 40, f.val_size = 5, f.test_size = 10;
  f.val_indices = {2, 7, 11};
  f.accuracy = 0.1 + 0.2, f.macro_f1 = 1.0 / 3.0, f.loss = std::nextafter(2.0, 3.0);
  f.confusion = validate::ConfusionMatrix({0, 1, 1, 2}, {0, 1, 2, 2}, 3);
  f.epochs_run = 4, f.best_epoch = 2, f.stopped_early = true;
  f.measurements = {{"sparsity", 0.9000000000000001}};
  f.preprocessing = "ScalePixels(1/255)";
  const validate::FoldResult g = validate::fold_from_bytes(validate::fold_bytes(f));
  CHECK(g.index == 3);
  CHECK(g.seed == f.seed);
  CHECK(g.val_indices == f.val_indices);
  CHECK(same_bits(g.accuracy, f.accuracy));
  CHECK(same_bits(g.macro_f1, f.macro_f1));
  CHECK(same_bits(g.loss, f.loss));
  CHECK(std::isnan(g.train_accuracy));  // not scored: NaN stays NaN
  CHECK(g.confusion.counts() == f.confusion.counts());
  CHECK(same_bits(g.measurements.at("sparsity"), 0.9000000000000001));
  CHECK(g.stopped_early);
  CHECK(g.preprocessing == f.preprocessing);
  CHECK(test::contains(test::error_of([] { validate::fold_from_bytes("junk"); }), "not CBOR"));
}

// A world of two ranks in one process: this is rank 0, and rank 1's
// contribution to every allreduce is `other`.
struct FakePair final : Communicator {
  std::vector<float> other;
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  void allreduce_sum(float* x, int64_t n) override {
    REQUIRE(int64_t(other.size()) == n);
    for (int64_t i = 0; i < n; ++i) x[i] += other[size_t(i)];
  }
  void allreduce_sum(double*, int64_t) override {}
  std::vector<std::string> gather(const std::string& b, int) override { return {b, b}; }
  std::string broadcast(const std::string& b, int) override { return b; }
  void barrier() override {}
  [[noreturn]] void abort(int) override { throw Error("abort"); }
  std::string name() const override { return "fake pair"; }
};

TEST_CASE("GradientBucket: g = (b0 g0 + b1 g1) / (b0 + b1), stats summed, missing gradients created") {
  Tensor w = Tensor::from_vector(std::vector<float>{0, 0}, {2}).requires_grad_();
  Tensor u = Tensor::from_vector(std::vector<float>{0}, {1}).requires_grad_();  // no gradient on rank 0
  w.set_grad(Tensor::from_vector(std::vector<float>{1.f, -2.f}, {2}));
  FakePair pair;
  // rank 1: 1 row, its mean gradients w: (5, 4), u: (8); loss 3; 1 correct.
  // Layout: [b1·g(w) | b1·g(u) | b1·loss, b1, correct | has-gradient flags w, u]
  pair.other = {5.f, 4.f, 8.f, 3.f, 1.f, 1.f, 1.f, 1.f};
  nn::GradientBucket bucket(pair, {w, u});
  CHECK(bucket.bytes() == 8 * 4);
  const nn::GlobalStep s = bucket.allreduce(/*loss=*/1.f, /*count=*/3, /*correct=*/2);
  CHECK(s.count == 4);
  CHECK(s.correct == 3);
  CHECK(s.loss == doctest::Approx((3 * 1.0 + 3.0) / 4));
  CHECK(w.grad().data<float>()[0] == doctest::Approx((3 * 1.0 + 5) / 4));
  CHECK(w.grad().data<float>()[1] == doctest::Approx((3 * -2.0 + 4) / 4));
  REQUIRE(u.grad().defined());
  CHECK(u.grad().data<float>()[0] == doctest::Approx(8.0 / 4));
}

TEST_CASE("shard: rows of the batch, an empty share when the batch is smaller than the world") {
  datasets::Batch b;
  b.x = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {3, 2});
  b.y = Tensor::from_vector(std::vector<int64_t>{7, 8, 9}, {3});
  b.index = {10, 11, 12};
  const datasets::Batch s = nn::shard(b, 1, 2);  // rows [1, 3)
  CHECK(s.y.to_vector<int64_t>() == std::vector<int64_t>{8, 9});
  CHECK(s.x.to_vector<float>() == std::vector<float>{2, 3, 4, 5});
  CHECK(s.index == std::vector<int64_t>{11, 12});
  datasets::Batch one;
  one.x = Tensor::from_vector(std::vector<float>{1, 2}, {1, 2});
  one.y = Tensor::from_vector(std::vector<int64_t>{4}, {1});
  one.index = {0};
  CHECK(nn::shard(one, 0, 2).y.numel() == 0);
  CHECK(nn::shard(one, 1, 2).y.numel() == 1);
}
