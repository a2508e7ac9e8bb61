#!/usr/bin/env bash
# The test command: installs what the suite needs, builds, runs every test.
#   scripts/test.sh              Release build in build/, the whole suite
#   scripts/test.sh --sanitize   the whole suite built with AddressSanitizer +
#                                UndefinedBehaviorSanitizer in build-sanitize/
#                                (benchmarks not built; any report fails the test)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
if [[ "${1:-}" == "--sanitize" ]]; then
  san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g1"
  # The install_consumer test builds its consumer with the same CMAKE_CXX_FLAGS
  # (a sanitized libminidl.a needs the sanitizer runtimes at link time).
  cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Release -DMINIDL_BUILD_BENCH=OFF \
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
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
