#!/usr/bin/env bash
# The test command: installs what the suite needs, builds, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 -j "$(nproc)"
