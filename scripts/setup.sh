#!/usr/bin/env bash
# Installs what minidl needs from Debian's archive. Idempotent: packages that
# are already installed are skipped, and `apt-get update` runs only when a
# package is missing and the package lists are absent or out of date.
#   scripts/setup.sh          build dependencies + the Fashion-MNIST data set
#   scripts/setup.sh --test   also what the test suite and bench/ compare against
#                             (PyTorch 1.13, scikit-learn, oneDNN from Debian) and
#                             headless Chromium, which renders the SVG plots in a test
#   scripts/setup.sh --fuzz   also clang, its sanitizer/libFuzzer runtimes and
#                             LLVM's OpenMP (scripts/fuzz.sh, the TSan run)
set -euo pipefail

packages=(cmake g++ make libopenblas-dev libstb-dev doctest-dev zlib1g-dev libzstd-dev
          libcli11-dev nlohmann-json3-dev dataset-fashion-mnist)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3 python3-numpy python3-torch python3-sklearn libdnnl-dev chromium)
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  packages+=(clang libclang-rt-dev libomp-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
echo "setup: installing ${missing[*]}"
if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
