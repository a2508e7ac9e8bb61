#!/usr/bin/env bash
# One command for the int8 GEMM benchmark: build (Release), then minidl int8
# vs oneDNN u8s8s32 vs minidl fp32 vs OpenBLAS sgemm at the seed CNN's shapes,
# 2 threads and 1, with the measured int8 peak. Extra arguments go to the
# program (--reps N, --threads T). MINIDL_ISA=avx2|... forces minidl's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j2 --target bench_int8_gemm >/dev/null
exec "$root/build/bench/bench_int8_gemm" "$@"
