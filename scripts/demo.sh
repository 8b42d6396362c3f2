#!/usr/bin/env bash
# Builds nctk and shows what it finds: the host's NVIDIA driver and GPUs when there are some,
# otherwise a simulated driver with two H200s (one in MIG mode) built on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
nctk=build/nctk

if [ -r /proc/driver/nvidia/version ]; then
        echo "== the host's driver"
        args=()
else
        sim=$(mktemp -d /tmp/nctk-demo-XXXXXX)
        trap 'rm -rf "$sim"' EXIT
        python3 tests/sim/nctk-sim create "$sim" --gpus 2 --mig 1 >/dev/null
        echo "== no NVIDIA driver on this host: a simulated one in $sim"
        args=(--root "$sim")
fi
set -x
"$nctk" "${args[@]}" info
"$nctk" "${args[@]}" list
