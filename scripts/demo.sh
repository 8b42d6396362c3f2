#!/usr/bin/env bash
# Builds nctk and starts a runc container that sees a GPU: the host's real GPUs when it has an
# NVIDIA driver, otherwise a simulated driver with two H200s (one in MIG mode) built on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
nctk=$(readlink -f build/nctk)

if [ -r /proc/driver/nvidia/version ]; then
        echo "== the host's driver"
        root=/
else
        root=$(mktemp -d /tmp/nctk-demo-sim-XXXXXX)
        trap 'rm -rf "$root"' EXIT
        python3 tests/sim/nctk-sim create "$root" --gpus 2 --mig 1 >/dev/null
        echo "== no NVIDIA driver on this host: a simulated one in $root"
fi
# The simulated driver's procfs is in its root; a real driver's is the host's /proc.
"$nctk" --root "$root" --proc-root "${root%/}/proc" info
echo
"$nctk" --root "$root" --proc-root "${root%/}/proc" list --libraries --compute | sed -n 1,5p
echo "..."
echo
echo "== runc run, with 'nvidia-container-cli configure --device=all --compute --utility' as prestart hook"
python3 scripts/demo-container.py "$nctk" "$(readlink -f build/tests/e2e/probe)" "$root"
