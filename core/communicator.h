// minidl/core/communicator.h — the processes of a distributed run, without MPI.
//
//   Communicator& world = ...;            // examples: examples/common_world.h
//   world.allreduce_sum(grad, n);         // grad[i] = Σ over ranks of grad[i], on every rank
//   auto all = world.gather(bytes);       // rank 0: every rank's bytes, in rank order
//   std::string b = world.broadcast(bytes);  // every rank: rank 0's bytes
//
// A Communicator is the set of processes ("ranks" 0 .. world_size − 1) of one
// run, in the vocabulary of torch.distributed. The library (nn/ for
// data-parallel training, validate/ for dealing folds and studies) talks only
// to this interface, so libminidl never links MPI: the MPI implementation is
// the separate, optional library minidl_mpi (core/mpi_communicator.h), built
// with -DMINIDL_MPI=ON. SingleProcess is the trivial world of one rank, where
// every collective is the identity.
//
// Every call is a collective: every rank of the world must make the same
// calls in the same order, or the run hangs. Code that may fail on one rank
// only therefore catches the error, keeps going to the next collective and
// lets raise_if_any_failed() turn it into the same CollectiveError on every
// rank; an error that cannot wait for that ends the whole job with abort().
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

namespace minidl {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place on every rank: x[i] = Σ_r x_r[i] (MPI_Allreduce with MPI_SUM).
  // Every rank gets the same bits.
  virtual void allreduce_sum(float* x, int64_t n) = 0;
  virtual void allreduce_sum(double* x, int64_t n) = 0;
  // On `root`: every rank's bytes, in rank order; on the others: empty.
  virtual std::vector<std::string> gather(const std::string& bytes, int root = 0) = 0;
  // On every rank: root's bytes (the others' argument is ignored).
  virtual std::string broadcast(const std::string& bytes, int root = 0) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job at once with `code` (MPI_Abort); for errors
  // one rank cannot report through a collective.
  [[noreturn]] virtual void abort(int code) = 0;
  virtual std::string name() const = 0;  // "single process", "MPI (Open MPI v4.1.4), 2 ranks"
};

// The world of one process: rank 0 of 1.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  std::vector<std::string> gather(const std::string& bytes, int) override { return {bytes}; }
  std::string broadcast(const std::string& bytes, int) override { return bytes; }
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
  std::string name() const override { return "single process"; }
};

// An error that every rank of the world raised together (after a collective
// told each of them), so each may report it and exit normally instead of
// aborting the job.
class CollectiveError : public Error {
 public:
  using Error::Error;
};

// Every rank's bytes on every rank, in rank order (gather to 0, then broadcast).
std::vector<std::string> allgather(Communicator& c, const std::string& bytes);

// A collective: each rank passes its error ("" for none); if any rank has
// one, every rank throws the same CollectiveError "<what>: rank 1: <its error>;
// rank 3: ..." (just "<what>: <error>" in a world of one).
void raise_if_any_failed(Communicator& c, const std::string& error, const std::string& what);

// The world size a launcher (mpirun/mpiexec of Open MPI or MPICH, srun with
// PMI) announces in this process's environment; 0 when not started by one.
// Lets a program tell "run under mpirun" from "run directly" without
// initialising MPI.
int launcher_world_size();

// Length-prefixed packing of several byte strings into one, and back.
std::string pack_strings(const std::vector<std::string>& parts);
std::vector<std::string> unpack_strings(const std::string& packed);

}  // namespace minidl
