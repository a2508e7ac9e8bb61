// minidl/core/mpi_communicator.h — the Communicator (core/communicator.h) over MPI.
//
//   // in main(), after the flags are parsed:
//   std::unique_ptr<Communicator> world;
//   if (launcher_world_size() > 0) world = std::make_unique<mpi::MpiCommunicator>();
//   else world = std::make_unique<SingleProcess>();
//
// Part of the optional library minidl_mpi (-DMINIDL_MPI=ON, found with
// find_package(MPI)); libminidl itself never links MPI. The constructor calls
// MPI_Init_thread asking for MPI_THREAD_FUNNELED — a rank runs folds on
// several threads, but only the thread that made the communicator calls MPI —
// and the destructor MPI_Finalize. One per process.
#pragma once

#include "core/communicator.h"

namespace minidl::mpi {

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator();  // MPI_Init_thread on MPI_COMM_WORLD
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  void allreduce_sum(float* x, int64_t n) override;
  void allreduce_sum(double* x, int64_t n) override;
  std::vector<std::string> gather(const std::string& bytes, int root = 0) override;
  std::string broadcast(const std::string& bytes, int root = 0) override;
  void barrier() override;
  [[noreturn]] void abort(int code) override;
  std::string name() const override;

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace minidl::mpi
