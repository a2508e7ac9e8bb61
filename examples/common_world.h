// examples/common_world.h — the processes of this run: one, or the ranks mpirun started.
//
//   std::unique_ptr<Communicator> world = examples::make_world();
//   if (world->rank() == 0) write_the_results();
//
// A program started by mpirun/mpiexec (the launcher announces a world size
// in the environment) initialises MPI and joins the world when minidl was
// built with minidl_mpi (-DMINIDL_MPI=ON); started directly it is one process
// and never touches MPI. Started by mpirun in a build without MPI, it refuses
// to run (N copies would each do the whole job and write the same files).
#pragma once

#include <iostream>
#include <memory>
#include <string>

#include "core/communicator.h"
#ifdef MINIDL_HAVE_MPI
#include "core/mpi_communicator.h"
#endif

namespace minidl::examples {

inline std::unique_ptr<Communicator> make_world() {
  const int launched = launcher_world_size();
#ifdef MINIDL_HAVE_MPI
  if (launched > 0) return std::make_unique<mpi::MpiCommunicator>();
#else
  MINIDL_CHECK(launched <= 1, "started by mpirun with ", launched,
               " processes, but this build has no MPI support (configure with -DMINIDL_MPI=ON and libopenmpi-dev)");
#endif
  return std::make_unique<SingleProcess>();
}

// "rank 1: " in a world of several ranks, "" otherwise: the prefix of a rank's messages.
inline std::string rank_prefix(const Communicator& w) {
  return w.world_size() > 1 ? "rank " + std::to_string(w.rank()) + ": " : "";
}

// The end of main after an error: one line on stderr, then exit code 1 —
// returned normally when every rank has the same error (a CollectiveError),
// otherwise by ending the whole job (MPI_Abort), since the other ranks may be
// waiting for this one in a collective and would never return.
inline int fail(Communicator* w, const std::string& program, const std::exception& e, int code) {
  const bool collective = dynamic_cast<const CollectiveError*>(&e) != nullptr;
  if (w && collective && w->rank() != 0) return code;  // a collective error is printed once, by rank 0
  // One write of the whole line: std::cerr is unbuffered, and ranks share the terminal.
  const std::string line = program + ": error: " + (w && !collective ? rank_prefix(*w) : "") + e.what() + "\n";
  std::cerr << line << std::flush;
  if (w && w->world_size() > 1 && !collective) w->abort(code);
  return code;
}

}  // namespace minidl::examples
