#!/usr/bin/env bash
# The test command: installs what the suite needs, builds, runs every test.
#   scripts/test.sh              Release build in build/, the whole suite
#   scripts/test.sh --sanitize   the whole suite built with AddressSanitizer +
#                                UndefinedBehaviorSanitizer (clang) in build-fuzz/,
#                                the tree scripts/fuzz.sh uses (benchmarks not
#                                built; any sanitizer report fails the test)
#   scripts/test.sh --tsan       ThreadSanitizer (clang + LLVM OpenMP with its
#                                Archer tool) over the parallel kernels (GEMM,
#                                Winograd) and the parallel folds, in build-tsan/
#                                (not part of CI)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
if [[ "${1:-}" == "--sanitize" ]]; then
  # The sanitized tree of scripts/fuzz.sh (clang, ASan + UBSan), all targets
  # but the benchmarks; the install_consumer test builds its consumer with the
  # same compiler and flags (a sanitized libminidl.a needs their runtimes).
  scripts/sanitized_build.sh
  cmake --build build-fuzz -j "$(nproc)"
  cd build-fuzz
  # halt_on_error: a UBSan report aborts (non-zero exit) instead of printing and
  # going on; LeakSanitizer runs at every program's exit. The Python parity
  # scripts run the sanitized programs like the normal build's.
  # (per-test timeout 2400 s, generous: the longest sanitized tests took ~390 s
  # (torch_quant_parity) and ~285 s (test_training) on 2 cores; the lane's tests ~10 min)
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --timeout 2400 -j "$(nproc)"
  exit
fi
if [[ "${1:-}" == "--tsan" ]]; then
  scripts/setup.sh --fuzz  # clang, its runtimes, LLVM's OpenMP
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DMINIDL_BUILD_BENCH=OFF \
    -DCMAKE_CXX_FLAGS="-fsanitize=thread -g -fno-omit-frame-pointer" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" \
    ${CMAKE_CXX_COMPILER_LAUNCHER:+-DCMAKE_CXX_COMPILER_LAUNCHER=$CMAKE_CXX_COMPILER_LAUNCHER} > /dev/null
  cmake --build build-tsan -j "$(nproc)" --target test_kernels_parallel test_winograd test_cross_validate test_cv_pipeline
  # Archer makes OpenMP's barriers and tasks visible to TSan. OpenBLAS is not
  # instrumented and synchronises its threads by spinning, which TSan cannot
  # see, so reports whose stack is inside libopenblas are suppressed (listed).
  # (Not called_from_lib: libopenblas is mapped twice, and TSan aborts when
  # such a suppression matches two libraries.)
  supp=$(mktemp); trap 'rm -f "$supp"' EXIT
  printf "race:libopenblas\nthread:libopenblas\n" > "$supp"
  export OMP_TOOL_LIBRARIES=$(ls /usr/lib/llvm-*/lib/libarcher.so | tail -1)
  # ignore_noninstrumented_modules: the mutexes LLVM's OpenMP runtime creates
  # and takes inside itself (a worker initialises one, the main thread locks it
  # in the next parallel region with another team size, as Winograd's forward
  # does) are ordered by the runtime's own atomics, which TSan does not see; the
  # calls made from uninstrumented libraries are ignored, races in minidl's code
  # (parallel_range bodies included) are still reported — checked with a body
  # that adds to a shared variable unsynchronised.
  export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp ignore_noninstrumented_modules=1"
  build-tsan/tests/test_kernels_parallel
  build-tsan/tests/test_winograd
  build-tsan/tests/test_cross_validate -tc="*parallel*"
  build-tsan/tests/test_cv_pipeline -tc="*parallel*"
  exit
fi
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
