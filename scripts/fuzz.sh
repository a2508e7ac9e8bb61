#!/usr/bin/env bash
# Fuzzes minidl's file loaders with libFuzzer + ASan + UBSan (clang).
#   scripts/fuzz.sh                 every target, 60 s each
#   scripts/fuzz.sh TARGET [SECONDS]  one target (idx idx_gz cifar10 csv image_folder safetensors sparse dc)
#   scripts/fuzz.sh all SECONDS     every target, SECONDS each, one after the other
# Builds into build-fuzz/ (scripts/sanitized_build.sh), seeds build-fuzz/corpus/<target>/ from minidl's own
# writers (tests/fuzz/make_seeds.cpp), then runs one fuzzer process at a time
# with the issue's limits: no allocation above 256 MiB (-malloc_limit_mb),
# 2 GiB RSS, 10 s per input. Crashes land in build-fuzz/crashes/<target>/;
# once fixed, copy the input to tests/fuzz/regressions/<target>/ (ctest replays it).
# The last line of the log has exec/s and coverage: build-fuzz/logs/<target>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(idx idx_gz cifar10 csv image_folder safetensors sparse dc)
what=${1:-all}; seconds=${2:-60}
if [[ "$what" != all ]]; then
  [[ " ${targets[*]} " == *" $what "* ]] || { echo "fuzz.sh: unknown target '$what' (${targets[*]})" >&2; exit 2; }
  targets=("$what")
fi
scripts/sanitized_build.sh
cmake --build build-fuzz -j "$(nproc)" --target fuzz_make_seeds "${targets[@]/#/fuzz_}"
rm -rf build-fuzz/seeds && build-fuzz/tests/fuzz/fuzz_make_seeds build-fuzz/seeds > /dev/null
mkdir -p build-fuzz/logs
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus/$t; crashes=build-fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  cp -n build-fuzz/seeds/"$t"/* "$corpus"/ 2> /dev/null || true
  dirs=("$corpus")  # new inputs go to the first; the regressions are read too
  [[ -d tests/fuzz/regressions/$t ]] && dirs+=("tests/fuzz/regressions/$t")
  echo "fuzz.sh: $t for ${seconds}s (log build-fuzz/logs/$t.log)"
  if ! build-fuzz/tests/fuzz/fuzz_"$t" "${dirs[@]}" \
      -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=256 -timeout=10 \
      -artifact_prefix="$crashes/" -print_final_stats=1 > "build-fuzz/logs/$t.log" 2>&1; then
    echo "fuzz.sh: $t FAILED — see build-fuzz/logs/$t.log and $crashes/" >&2
    status=1
  fi
  grep -E "^#[0-9]+.*(DONE|pulse|NEW|REDUCE)" "build-fuzz/logs/$t.log" | tail -1 || true
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" "build-fuzz/logs/$t.log" || true
done
exit $status
