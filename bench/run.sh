#!/usr/bin/env bash
# One command for the seed CNN benchmark: build minidl (Release), then run
# minidl and PyTorch side by side for 2 and 1 threads and print the table.
# Extra arguments go to bench/compare.py (e.g. --threads 2 --rounds 5 --json out.json).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" -j2 --target bench_seed_cnn >/dev/null
exec /usr/bin/python3 "$root/bench/compare.py" --minidl "$root/build/bench/bench_seed_cnn" "$@"
