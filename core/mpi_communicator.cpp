#include "core/mpi_communicator.h"

#include <mpi.h>

#include <climits>
#include <cstdio>

namespace minidl::mpi {

namespace {

// MPI counts are ints: a message must fit.
int count_of(int64_t n, const char* what) {
  MINIDL_CHECK(n >= 0 && n <= INT_MAX, "MPI ", what, ": ", n, " elements do not fit an MPI count (at most ", INT_MAX,
               ")");
  return int(n);
}

void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(std::string(call) + " failed: " + std::string(text, size_t(len)));
}

}  // namespace

MpiCommunicator::MpiCommunicator() {
  int initialised = 0;
  MPI_Initialized(&initialised);
  MINIDL_CHECK(!initialised, "MpiCommunicator: MPI is already initialised (make one communicator per process)");
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  // Errors come back as codes (check() turns them into minidl::Error) instead of aborting inside MPI.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiCommunicator::~MpiCommunicator() { MPI_Finalize(); }

void MpiCommunicator::allreduce_sum(float* x, int64_t n) {
  check(MPI_Allreduce(MPI_IN_PLACE, x, count_of(n, "allreduce"), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

void MpiCommunicator::allreduce_sum(double* x, int64_t n) {
  check(MPI_Allreduce(MPI_IN_PLACE, x, count_of(n, "allreduce"), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
}

std::vector<std::string> MpiCommunicator::gather(const std::string& bytes, int root) {
  // The sizes first (MPI_Gather), then the bytes at their offsets (MPI_Gatherv).
  const int mine = count_of(int64_t(bytes.size()), "gather");
  std::vector<int> sizes(rank_ == root ? size_t(size_) : 0), offsets(sizes.size());
  check(MPI_Gather(&mine, 1, MPI_INT, sizes.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "MPI_Gather");
  int64_t total = 0;
  for (size_t r = 0; r < sizes.size(); ++r) offsets[r] = count_of(total, "gather"), total += sizes[r];
  std::string all(size_t(count_of(total, "gather")), '\0');
  check(MPI_Gatherv(bytes.data(), mine, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, root,
                    MPI_COMM_WORLD),
        "MPI_Gatherv");
  std::vector<std::string> out;
  for (size_t r = 0; r < sizes.size(); ++r) out.emplace_back(all, size_t(offsets[r]), size_t(sizes[r]));
  return out;
}

std::string MpiCommunicator::broadcast(const std::string& bytes, int root) {
  long long n = rank_ == root ? (long long)bytes.size() : 0;
  check(MPI_Bcast(&n, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD), "MPI_Bcast");
  std::string out = rank_ == root ? bytes : std::string(size_t(n), '\0');
  check(MPI_Bcast(out.data(), count_of(n, "broadcast"), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

void MpiCommunicator::barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void MpiCommunicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // not reached
}

std::string MpiCommunicator::name() const {
  char version[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(version, &len);
  std::string v(version, size_t(len));
  v = v.substr(0, v.find_first_of(",\n"));
  return "MPI (" + v + "), " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks");
}

}  // namespace minidl::mpi
