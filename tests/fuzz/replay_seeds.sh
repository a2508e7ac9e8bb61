#!/usr/bin/env bash
# ctest driver: generate the seed corpora, replay each through its harness.
#   replay_seeds.sh MAKE_SEEDS BIN_DIR TARGET...
set -euo pipefail
make_seeds=$1; bin_dir=$2; shift 2
scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
"$make_seeds" "$scratch" > /dev/null
for t in "$@"; do
  "$bin_dir/fuzz_replay_$t" "$scratch/$t" 2> /dev/null
done
