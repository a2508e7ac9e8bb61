#!/usr/bin/env bash
# Configures build-fuzz/: the one sanitized build tree (clang, AddressSanitizer +
# UndefinedBehaviorSanitizer, libFuzzer coverage instrumentation), shared by
# scripts/fuzz.sh (the fuzz_<target> harnesses) and scripts/test.sh --sanitize
# (the whole suite), so the sanitized library is compiled once. Coverage
# instrumentation without the libFuzzer engine is inert: ordinary programs
# link and run as usual. Without MPI: Open MPI's own allocations would trip
# LeakSanitizer in every mpirun test (the MPI-free parts, test_distributed, still run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --fuzz
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
  -DMINIDL_FUZZ=ON -DMINIDL_BUILD_BENCH=OFF -DMINIDL_MPI=OFF \
  -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} > /dev/null
