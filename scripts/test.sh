#!/usr/bin/env bash
# The test command: installs what the suite needs, builds, runs every test.
#   scripts/test.sh              Release build in build/, the whole suite
#   scripts/test.sh --sanitize   the whole suite built with AddressSanitizer +
#                                UndefinedBehaviorSanitizer in build-sanitize/
#                                (benchmarks not built; any report fails the test)
#   scripts/test.sh --tsan       ThreadSanitizer (clang + LLVM OpenMP with its
#                                Archer tool) over the parallel kernels and the
#                                parallel folds, in build-tsan/ (not part of CI)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
if [[ "${1:-}" == "--sanitize" ]]; then
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1"
  # The install_consumer test builds its consumer with the same CMAKE_CXX_FLAGS
  # (a sanitized libminidl.a needs the sanitizer runtimes at link time).
  # -O1: with the sanitizers, -O3 compiles far slower (on the shared 2-core machine
  # it had built a quarter of the tree after 35 minutes) and runs little faster.
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DMINIDL_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="$san" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} > /dev/null
  cmake --build build-sanitize -j "$(nproc)"
  cd build-sanitize
  # halt_on_error: a UBSan report aborts (non-zero exit) instead of printing and going on.
  # detect_leaks: LeakSanitizer at exit. The Python parity scripts load their
  # own (unsanitized) libraries, so the sanitized programs they start run as usual.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --timeout 900 -j "$(nproc)"
  exit
fi
if [[ "${1:-}" == "--tsan" ]]; then
  scripts/setup.sh --fuzz  # clang, its runtimes, LLVM's OpenMP
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DMINIDL_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -g -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} > /dev/null
  cmake --build build-tsan -j "$(nproc)" --target test_kernels_parallel test_cross_validate
  # Archer makes OpenMP's barriers and tasks visible to TSan. OpenBLAS is not
  # instrumented and synchronises its threads by spinning, which TSan cannot
  # see, so reports whose stack is inside libopenblas are suppressed (listed).
  supp=$(mktemp); trap 'rm -f "$supp"' EXIT
  printf "called_from_lib:libopenblas\nrace:libopenblas\n" > "$supp"
  export OMP_TOOL_LIBRARIES=$(ls /usr/lib/llvm-*/lib/libarcher.so | tail -1)
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp"
  build-tsan/tests/test_kernels_parallel
  build-tsan/tests/test_cross_validate -tc="*parallel*"
  exit
fi
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
