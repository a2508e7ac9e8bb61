#!/usr/bin/env bash
# Installs what minidl needs from Debian's archive. Idempotent: packages that
# are already installed are skipped, and `apt-get update` runs only when a
# package is missing and the package lists are absent or out of date.
#   scripts/setup.sh          build dependencies + the Fashion-MNIST data set
#   scripts/setup.sh --test   also what the test suite and bench/ compare against
#                             (PyTorch 1.13, scikit-learn, oneDNN, ONNX's checker from
#                             Debian), headless Chromium, which renders the SVG plots in a
#                             test, ONNX Runtime (npm's onnxruntime-node, pinned, in
#                             /opt/minidl-onnxruntime), which runs the exported .onnx files,
#                             and Open MPI (the mpirun tests; -DMINIDL_MPI is on when found)
#   scripts/setup.sh --fuzz   also clang, its sanitizer/libFuzzer runtimes and
#                             LLVM's OpenMP (scripts/fuzz.sh, the TSan run)
set -euo pipefail

packages=(cmake g++ make libopenblas-dev libstb-dev doctest-dev zlib1g-dev libzstd-dev
          libcli11-dev nlohmann-json3-dev dataset-fashion-mnist)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(python3 python3-numpy python3-torch python3-sklearn libdnnl-dev chromium nodejs python3-onnx
            libopenmpi-dev openmpi-bin)
  # Debian's npm; a nodejs from elsewhere (e.g. NodeSource's) brings its own and conflicts with it.
  if ! command -v npm >/dev/null; then packages+=(npm); fi
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
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
if [[ ${#missing[@]} -gt 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  echo "setup: installing ${missing[*]}"
  if ! $sudo apt-get install -y --no-install-recommends "${missing[@]}"; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  fi
fi

# ONNX Runtime for tests/parity/onnx_export_parity.py: Debian has none, npm's package carries
# the CPU runtime (libonnxruntime.so) inside it, so --ignore-scripts skips only its optional
# download script (GPU providers). A test-only tool at a fixed place, never fetched by a build
# or a test run; the test checks the version.
ORT_VERSION=1.30.0
ORT_PREFIX=/opt/minidl-onnxruntime
if [[ "${1:-}" == "--test" ]] &&
   ! grep -qs "\"version\": \"$ORT_VERSION\"" "$ORT_PREFIX/node_modules/onnxruntime-node/package.json"; then
  echo "setup: installing onnxruntime-node $ORT_VERSION in $ORT_PREFIX"
  $sudo npm install --ignore-scripts --no-audit --no-fund --prefix "$ORT_PREFIX" "onnxruntime-node@$ORT_VERSION"
fi
