// minidl::mpi, linked from an installed minidl (find_package(minidl COMPONENTS
// mpi)) and run on 2 ranks: each contributes rank + 1, the sum must be 3 on
// both, and rank 0 gathers both ranks' names.
#include <minidl.h>

#include <core/mpi_communicator.h>

#include <iostream>

int main() {
  minidl::mpi::MpiCommunicator world;
  double x = world.rank() + 1.0;
  world.allreduce_sum(&x, 1);
  const std::vector<std::string> names = world.gather("rank " + std::to_string(world.rank()));
  const bool ok = world.world_size() == 2 && x == 3.0 && (world.rank() != 0 || names.size() == 2);
  if (world.rank() == 0) std::cout << "consumer_mpi: " << world.name() << ", sum " << x << (ok ? " ok" : " WRONG") << std::endl;
  return ok ? 0 : 1;
}
