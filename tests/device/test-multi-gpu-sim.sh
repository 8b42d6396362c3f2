#!/usr/bin/env bash
# CI guard for tests/device/multi-gpu.sh, which otherwise only runs on GPU machines: every part
# against a simulated 4-GPU driver (minors shuffled against indices), with real runc containers.
# The CUDA checks are not run there; everything else must pass, and the not-run count must be
# exactly the CUDA peer check, NVSwitch and the fabric manager socket (3).
# usage: test-multi-gpu-sim.sh NCTK PROBE   (as root: mknod, runc)
set -uo pipefail
nctk=$(readlink -f "$1")
probe=$(readlink -f "$2")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/nctk-mg-sim-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

python3 "$here/../sim/nctk-sim" create "$tmp/sim" --gpus 4 --layout nvidia --seed 7 >/dev/null || exit 1
mkdir -p "$tmp/bin" "$tmp/out" "$tmp/nvcc"
ln -s "$nctk" "$tmp/bin/nctk"
ln -s "$probe" "$tmp/bin/probe"
ln -s "$(command -v runc)" "$tmp/bin/runc"
ln -s /bin/busybox "$tmp/bin/busybox"
# common.sh builds the CUDA program for its image; with the simulator nothing runs it, so a
# stand-in compiler writes a placeholder (CI machines need not have CUDA).
cat > "$tmp/nvcc/nvcc" <<'SH'
#!/bin/sh
while [ $# -gt 0 ]; do [ "$1" = -o ] && cp /bin/true "$2"; shift; done
SH
chmod +x "$tmp/nvcc/nvcc"

PATH=$tmp/nvcc:$PATH BIN=$tmp/bin OUT=$tmp/out NCTK_SIM_ROOT=$tmp/sim COST_WARM=2 COST_COLD=1 \
        bash "$here/multi-gpu.sh" all > "$tmp/log" 2>&1
rc=$?
grep -v '^ok - ' "$tmp/log"
summary=$(tail -1 "$tmp/log")
case $summary in
"# multi-gpu (4 GPUs, inventory isolation peer cost): "*" passed, 0 failed, 3 not run") ;;
*) echo "FAIL: unexpected summary: $summary"; exit 1 ;;
esac
[ "$rc" -eq 0 ] || { echo "FAIL: multi-gpu.sh exited $rc"; exit 1; }
echo "multi-gpu.sh on the simulated 4-GPU driver: $summary"
