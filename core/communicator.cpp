#include "core/communicator.h"

#include <cstdlib>
#include <cstring>

namespace minidl {

void SingleProcess::abort(int code) { std::exit(code); }

std::string pack_strings(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    const uint64_t n = p.size();
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    out += p;
  }
  return out;
}

std::vector<std::string> unpack_strings(const std::string& packed) {
  std::vector<std::string> parts;
  for (size_t at = 0; at < packed.size();) {
    uint64_t n = 0;
    MINIDL_CHECK(packed.size() - at >= sizeof n, "unpack_strings: truncated length at byte ", at);
    std::memcpy(&n, packed.data() + at, sizeof n);
    at += sizeof n;
    MINIDL_CHECK(packed.size() - at >= n, "unpack_strings: a part of ", n, " bytes overruns the ", packed.size(),
                 "-byte message");
    parts.emplace_back(packed, at, n);
    at += n;
  }
  return parts;
}

std::vector<std::string> allgather(Communicator& c, const std::string& bytes) {
  if (c.world_size() == 1) return {bytes};
  const std::vector<std::string> at_root = c.gather(bytes, 0);
  return unpack_strings(c.broadcast(c.rank() == 0 ? pack_strings(at_root) : std::string(), 0));
}

void raise_if_any_failed(Communicator& c, const std::string& error, const std::string& what) {
  const std::vector<std::string> errors = allgather(c, error);
  std::string all;
  for (size_t r = 0; r < errors.size(); ++r) {
    if (errors[r].empty()) continue;
    all += (all.empty() ? "" : "; ") + (c.world_size() > 1 ? "rank " + std::to_string(r) + ": " : "") + errors[r];
  }
  if (!all.empty()) throw CollectiveError(what.empty() ? all : what + ": " + all);
}

int launcher_world_size() {
  // Open MPI's mpirun, MPICH/Hydra's mpiexec and PMI launchers (srun) set these.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (const char* v = std::getenv(var); v && *v) {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 0;
}

}  // namespace minidl
