#!/usr/bin/env bash
# The main job: install what is needed, build, and train the seed CNN on
# Fashion-MNIST with the default recipe (see README.md). Extra arguments go
# to examples/train_seed_cnn, e.g. scripts/demo.sh --epochs 2.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/examples/train_seed_cnn --bn --out build/seed_cnn_bn.safetensors --history build/seed_cnn_bn "$@"
