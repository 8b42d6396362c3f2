#!/usr/bin/env bash
# Runs on the GPU machine: what nvidia-ctk and docker-args do against the real driver.
#  1. `nctk docker-args --format=json` for GPU 0, turned into a plain runc bundle exactly as docker
#     turns --device/--volume/--env into one (no hook, no runtime shim): nvidia-smi -L and a CUDA
#     program must work inside.
#  2. `nvidia-ctk system create-device-nodes` into a scratch dev root: every node the host has is
#     made with the host's type, numbers and mode; a second run changes nothing.
#  3. `nvidia-ctk system create-dev-char-symlinks` into a scratch directory: each link reaches a
#     node with the numbers its name says.
# usage: BIN=out/device-bin OUT=dir tests/device/ctk.sh
set -uo pipefail
BIN=$(readlink -f "${BIN:-out/device-bin}")
OUT=${OUT:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/nctk-ctk-XXXXXX)
pass=0
fail=0
check() { # NAME GOT WANT
        if [ "$2" == "$3" ]; then echo "ok - $1: $2"; pass=$((pass + 1));
        else echo "FAIL - $1: got '$2', want '$3'"; fail=$((fail + 1)); fi
}

# 1. docker-args on plain runc. The image: busybox and the CUDA program's own C++ runtime; the
#    driver (libraries, nvidia-smi) comes only from docker-args' volumes.
nvcc -O2 -o "$work/vecadd" "$here/vecadd.cu" || exit 1
rootfs=$work/bundle/rootfs
mkdir -p "$rootfs"/{bin,dev,proc,sys,tmp,usr/bin}
cp "$BIN/busybox" "$rootfs/bin/"
for c in sh ls cat echo grep; do ln -s busybox "$rootfs/bin/$c"; done
cp "$work/vecadd" "$rootfs/"
for f in $(ldd "$work/vecadd" | grep -o '/[^ :]*' | sort -u) /lib/x86_64-linux-gnu/lib{pthread.so.0,dl.so.2,rt.so.1,m.so.6}; do
        mkdir -p "$rootfs$(dirname "$f")"
        cp -L "$f" "$rootfs$f"
done
"$BIN/nctk" docker-args --device=0 --format=json > "$OUT/ctk-docker-args.json" || exit 1
(cd "$work/bundle" && "$BIN/runc" spec)
python3 - "$work/bundle" "$OUT/ctk-docker-args.json" <<'PY'
import json, os, stat, sys
b, args = sys.argv[1], json.load(open(sys.argv[2]))
c = json.load(open(f"{b}/config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", "nvidia-smi -L; /vecadd"]
c["root"] = {"path": f"{b}/rootfs", "readonly": False}
res = c["linux"].setdefault("resources", {}).setdefault("devices", [{"allow": False, "access": "rwm"}])
for a in args:
    opt, _, val = a.partition("=")
    if opt == "--device":        # HOST:CONTAINER:PERMS, as dockerd makes it
        host, ctr, perms = val.split(":")
        st = os.stat(host)
        maj, mnr = os.major(st.st_rdev), os.minor(st.st_rdev)
        c["linux"].setdefault("devices", []).append(
            {"path": ctr, "type": "c", "major": maj, "minor": mnr, "fileMode": 0o666})
        res.append({"allow": True, "type": "c", "major": maj, "minor": mnr, "access": perms})
    elif opt == "--volume":      # HOST:CONTAINER[:ro]
        parts = val.split(":")
        o = ["rbind"] + (["ro"] if parts[2:] == ["ro"] else [])
        c["mounts"].append({"destination": parts[1], "type": "bind", "source": parts[0], "options": o})
    elif opt == "--env":
        c["process"]["env"].append(val)
    else:
        raise SystemExit(f"unknown docker argument {a}")
json.dump(c, open(f"{b}/config.json", "w"), indent=1)
PY
out=$("$BIN/runc" run --bundle "$work/bundle" ctk-docker-args 2>&1); echo "$out" | tee "$OUT/ctk-docker-args-run.txt"
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
check "docker-args on plain runc: nvidia-smi -L" "$(echo "$out" | grep -c "UUID: $uuid")" "1"
check "docker-args on plain runc: CUDA program" "$(echo "$out" | grep -c '^vecadd ok')" "1"
check "docker-args: no hook, no nvidia runtime in the bundle" \
        "$(grep -c 'nvidia-container-runtime' "$work/bundle/config.json")" "0"

# 2. create-device-nodes into a scratch dev root.
dr=$work/devroot
mkdir -p "$dr/dev"
"$BIN/nctk" ctk system create-device-nodes --control-devices --gpu-devices --dev-root "$dr" \
        2>&1 | tee "$OUT/ctk-create-device-nodes.txt"
same=0 total=0
for n in /dev/nvidiactl /dev/nvidia-uvm /dev/nvidia-uvm-tools /dev/nvidia[0-9]*; do
        [ -c "$n" ] || continue
        total=$((total + 1))
        [ "$(stat -c '%F %t:%T %a' "$n")" == "$(stat -c '%F %t:%T %a' "$dr$n" 2>/dev/null)" ] && same=$((same + 1))
done
check "create-device-nodes: host's nodes made alike (type, numbers, mode)" "$same/$total" "$total/$total"
again=$("$BIN/nctk" ctk system create-device-nodes --control-devices --gpu-devices --dev-root "$dr" 2>&1)
check "create-device-nodes: a second run changes nothing" "$again" ""

# 3. create-dev-char-symlinks into a scratch directory, for the host's own nodes.
dc=$work/char
mkdir -p "$dc"
"$BIN/nctk" ctk system create-dev-char-symlinks --dev-char-path "$dc" 2>&1 | tee "$OUT/ctk-dev-char.txt"
good=0 links=0
for l in "$dc"/*; do
        [ -L "$l" ] || continue
        links=$((links + 1))
        name=$(basename "$l")
        [ "$(stat -L -c '%t:%T' "$l" | python3 -c 'import sys; a, b = sys.stdin.read().split(":"); print(f"{int(a, 16)}:{int(b, 16)}")')" == "$name" ] && good=$((good + 1))
done
check "create-dev-char-symlinks: each link reaches its MAJ:MIN" "$good/$links" "$links/$links"
check "create-dev-char-symlinks: one link per host node at least" "$([ "$links" -ge "$total" ] && echo yes)" "yes"

echo "# $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
