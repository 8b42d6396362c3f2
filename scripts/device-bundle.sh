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
# multi-gpu.sh's peer-access program (sm_90: H100, H200; later GPUs JIT its PTX).
nvcc -O2 -arch=sm_90 -o out/device-bin/peer tests/device/peer.cu
ls -la out/device-bin
