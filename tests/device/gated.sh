#!/usr/bin/env bash
# Runs on the GPU machine: the feature-gated devices (NVIDIA_GDRCOPY and friends) with real runc
# on cgroup v2, where the device rules are eBPF programs (CI's machine is cgroup v1 hybrid).
# That machine has no gdrdrv, NVSwitch or InfiniBand node, so /dev/gdrdrv is made for the run
# with the numbers of a harmless device that opens without privilege and that runc does not allow
# by default (loop-control or the like), and removed afterwards.
#  1. NVIDIA_GDRCOPY=enabled, through the hook and the shim's legacy mode: the node is in the
#     container with the host's major:minor and opens; the GPU works beside it.
#  2. Without the variable: no node, and one made inside the container (runc's CAP_MKNOD) does
#     not open: the device cgroup refuses it ("Operation not permitted").
#  3. NVIDIA_NVSWITCH=enabled and NVIDIA_MOFED=enabled: the container starts and the GPU works;
#     for a kind the host has none of, the warning is in the debug log.
#  4. NVIDIA_MOFED=enabled where the host has real InfiniBand nodes: each is in the container
#     with its numbers and opens; without the variable there is no /dev/infiniband.
# usage: BIN=out/device-bin OUT=dir tests/device/gated.sh
set -uo pipefail
export NCTK_DEVICE_WORK=gated
# shellcheck source=tests/device/common.sh
. "$(dirname "$0")/common.sh"
made=""
cleanup() {
        [ -z "$made" ] || rm -f "$made"
        rm -rf "$work"
}
trap cleanup EXIT

src=""
for c in /dev/loop-control /dev/cpu_dma_latency /dev/rfkill /dev/vga_arbiter; do
        if [ -c "$c" ]; then src=$c; break; fi
done
if [ -e /dev/gdrdrv ]; then
        echo "# the host has a /dev/gdrdrv of its own: using it"
elif [ -n "$src" ]; then
        mknod /dev/gdrdrv c "$(stat -c %Hr "$src")" "$(stat -c %Lr "$src")" && made=/dev/gdrdrv
        echo "# /dev/gdrdrv made with the numbers of $src"
else
        echo "FAIL - no device to stand in for gdrdrv"; exit 1
fi
mm="$(stat -c %Hr /dev/gdrdrv):$(stat -c %Lr /dev/gdrdrv)"
ls -l /dev/gdrdrv /dev/infiniband /dev/nvidia-nvswitch* 2>&1 | sed 's/^/# host: /'

refuse="busybox mknod /tmp/g c ${mm%:*} ${mm#*:}; busybox cat /tmp/g 2>&1 | busybox head -1;"
refuse+=" [ -e /dev/gdrdrv ] && echo node-present || echo node-absent"

shim() { # CONFIG BUNDLE ID
        NVIDIA_CTK_CONFIG_FILE_PATH=$1 "$work/bin/nvidia-container-runtime" run --bundle "$2" "$3" 2>&1
}
node_of() { # what busybox stat printed, in decimal
        echo "$1" | grep -o 'node [0-9a-fx]*:[0-9a-fx]*' | head -1 | {
                read -r _ t || { echo absent; exit; }
                printf '%d:%d\n' "0x${t%%:*}" "0x${t##*:}"
        }
}

# 1. Asked for, through the hook and through the shim.
# shellcheck disable=SC2086 # gpu_env is a list of variables
b=$(bundle hook-on "busybox stat -c 'node %t:%T' /dev/gdrdrv; (exec 3</dev/gdrdrv) && echo open-ok || echo open-failed; /vecadd" yes $gpu_env NVIDIA_GDRCOPY=enabled)
out=$("$BIN/runc" run --bundle "$b" g-hook-on 2>&1)
echo "$out" | sed 's/^/# hook, enabled: /'
check "hook, NVIDIA_GDRCOPY=enabled: /dev/gdrdrv is the host's node" "$(node_of "$out")" "$mm"
check "hook, NVIDIA_GDRCOPY=enabled: it opens through the cgroup" "$(echo "$out" | grep -c '^open-ok')" 1
check "hook, NVIDIA_GDRCOPY=enabled: the CUDA program runs" "$(echo "$out" | grep -c '^vecadd ok')" 1
# shellcheck disable=SC2086
b=$(bundle shim-on "busybox stat -c 'node %t:%T' /dev/gdrdrv; (exec 3</dev/gdrdrv) && echo open-ok || echo open-failed; /vecadd" no $gpu_env NVIDIA_GDRCOPY=enabled)
out=$(shim "$work/config.toml" "$b" g-shim-on)
echo "$out" | sed 's/^/# shim legacy, enabled: /'
check "shim legacy, NVIDIA_GDRCOPY=enabled: /dev/gdrdrv is the host's node" "$(node_of "$out")" "$mm"
check "shim legacy, NVIDIA_GDRCOPY=enabled: it opens" "$(echo "$out" | grep -c '^open-ok')" 1
check "shim legacy, NVIDIA_GDRCOPY=enabled: the CUDA program runs" "$(echo "$out" | grep -c '^vecadd ok')" 1

# 2. Not asked for: absent, and refused by the cgroup when made anyway.
# shellcheck disable=SC2086
b=$(bundle hook-off "$refuse; /vecadd" yes $gpu_env NVIDIA_GDRCOPY=disabled)
# runc's default capabilities lack CAP_MKNOD: give it, so that only the cgroup can refuse.
python3 - "$b/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
for kind in c["process"]["capabilities"].values():
    kind.append("CAP_MKNOD")
json.dump(c, open(sys.argv[1], "w"), indent=1)
PY
out=$("$BIN/runc" run --bundle "$b" g-hook-off 2>&1)
echo "$out" | sed 's/^/# hook, not enabled: /'
check "hook, NVIDIA_GDRCOPY=disabled: no /dev/gdrdrv" "$(echo "$out" | grep -c '^node-absent')" 1
check "hook, not enabled: a node made inside is refused by the cgroup" \
        "$(echo "$out" | grep -c 'Operation not permitted')" 1
check "hook, not enabled: the CUDA program runs" "$(echo "$out" | grep -c '^vecadd ok')" 1

# 3. Asked for on a host without them: a warning, and the container runs.
cp "$work/config.toml" "$work/config-debug.toml"
printf '\n[nvidia-container-cli]\ndebug = "%s"\n' "$work/cli-debug.log" >> "$work/config-debug.toml"
# shellcheck disable=SC2086
b=$(bundle shim-missing "nvidia-smi -L; /vecadd" no $gpu_env NVIDIA_NVSWITCH=enabled NVIDIA_MOFED=enabled)
out=$(shim "$work/config-debug.toml" "$b" g-missing)
echo "$out" | sed 's/^/# shim legacy, nvswitch+mofed: /'
grep -i 'enabled but' "$work/cli-debug.log" | sed 's/^/# debug log: /'
check "NVSwitch and MOFED asked on a host with neither: the CUDA program runs" \
        "$(echo "$out" | grep -c '^vecadd ok')" 1
if ls /dev/nvidia-nvswitch* >/dev/null 2>&1; then
        echo "# this host has NVSwitch nodes: no warning expected for them"
else
        check "the NVSwitch warning is in the debug log" \
                "$(grep -c 'NVIDIA_NVSWITCH=enabled but' "$work/cli-debug.log")" 1
fi
if [ -d /dev/infiniband ]; then
        echo "# this host has /dev/infiniband: no warning expected for it"
else
        check "the MOFED warning is in the debug log" \
                "$(grep -c 'NVIDIA_MOFED=enabled but' "$work/cli-debug.log")" 1
fi

# 4. A real InfiniBand node where the host has one (the H200 machine has rdma_cm, no uverbs).
if [ -c /dev/infiniband/rdma_cm ]; then
        want="$(stat -c %Hr /dev/infiniband/rdma_cm):$(stat -c %Lr /dev/infiniband/rdma_cm)"
        n_host=$(find /dev/infiniband -maxdepth 1 \( -name 'uverbs*' -o -name rdma_cm \) -type c | wc -l)
        # shellcheck disable=SC2086
        b=$(bundle mofed "busybox stat -c 'node %t:%T' /dev/infiniband/rdma_cm; (exec 3</dev/infiniband/rdma_cm) && echo open-ok || echo open-failed; echo entries \$(busybox ls /dev/infiniband | busybox wc -l); /vecadd" yes $gpu_env NVIDIA_MOFED=enabled)
        out=$("$BIN/runc" run --bundle "$b" g-mofed 2>&1)
        echo "$out" | sed 's/^/# hook, NVIDIA_MOFED=enabled: /'
        check "hook, NVIDIA_MOFED=enabled: rdma_cm is the host's node" "$(node_of "$out")" "$want"
        check "hook, NVIDIA_MOFED=enabled: it opens" "$(echo "$out" | grep -c '^open-ok')" 1
        check "hook, NVIDIA_MOFED=enabled: every uverbs*/rdma_cm node of the host" \
                "$(echo "$out" | sed -n 's/^entries //p')" "$n_host"
        check "hook, NVIDIA_MOFED=enabled: the CUDA program runs" "$(echo "$out" | grep -c '^vecadd ok')" 1
        # shellcheck disable=SC2086
        b=$(bundle mofed-off "busybox ls /dev/infiniband 2>&1 | busybox head -1; /vecadd" yes $gpu_env)
        out=$("$BIN/runc" run --bundle "$b" g-mofed-off 2>&1)
        check "hook, no NVIDIA_MOFED: no /dev/infiniband" "$(echo "$out" | grep -c 'No such file')" 1
else
        echo "# no /dev/infiniband/rdma_cm on this host: the real InfiniBand case is not run"
fi

echo "# gated: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
