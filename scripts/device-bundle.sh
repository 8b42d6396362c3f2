#!/usr/bin/env bash
# Builds what the GPU machine runs (it has no compiler toolchain for us beyond nvcc, and no
# package registry): nctk and the test helpers, plus runc and a static busybox from this
# machine's Debian packages, into out/device-bin, which the device tool carries.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build-release --buildtype=release -Dc_args=-D_FORTIFY_SOURCE=3
mkdir -p out/device-bin
cp build-release/nctk build-release/bench/timeit build-release/tests/e2e/probe out/device-bin/
cp "$(command -v runc)" /bin/busybox out/device-bin/
# The CUDA programs of tests/device/mps-compose.sh and multi-gpu.sh (Hopper code, and PTX for
# other GPUs); without nvcc here, mps-compose.sh builds its program there.
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if [ -x "$nvcc" ]; then
        "$nvcc" -O2 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_75,code=compute_75 \
                -o out/device-bin/mps-work tests/device/mps-work.cu
        "$nvcc" -O2 -gencode arch=compute_90,code=sm_90 -gencode arch=compute_75,code=compute_75 \
                -o out/device-bin/peer tests/device/peer.cu
fi
ls -la out/device-bin
