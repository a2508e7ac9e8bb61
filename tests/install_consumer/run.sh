#!/usr/bin/env bash
# ctest driver: install the built minidl into a scratch prefix, build the
# consumer project against it with find_package(minidl), run it.
set -euo pipefail
# CXX_FLAGS and CXX (optional): the flags and compiler minidl was built with,
# e.g. the sanitizer lane's clang -fsanitize=..., which the consumer needs too.
# MPIEXEC (optional, given when minidl was built with MINIDL_MPI): the MPI
# consumer (minidl::mpi) must be built and run on 2 ranks with it.
build_dir=$1; cxx_flags=${2:-}; cxx=${3:-}; mpiexec=${4:-}; src_dir=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" > /dev/null
cmake -S "$src_dir" -B "$scratch/build" -DCMAKE_PREFIX_PATH="$scratch/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$cxx_flags" ${cxx:+-DCMAKE_CXX_COMPILER=$cxx} > /dev/null
cmake --build "$scratch/build" > /dev/null
"$scratch/build/consumer"
if [[ -n "$mpiexec" ]]; then
  [[ -x "$scratch/build/consumer_mpi" ]] || { echo "run.sh: minidl::mpi was not installed" >&2; exit 1; }
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    "$mpiexec" --oversubscribe -np 2 --mca btl self,vader,tcp --mca btl_tcp_if_include lo \
    --mca oob_tcp_if_include lo "$scratch/build/consumer_mpi"
fi
