#!/usr/bin/env bash
# Runs on the GPU machine (through the device tool): real runc containers with
# `nvidia-container-cli configure` as their prestart hook, on the real H200. Checks nvidia-smi and
# a CUDA program inside, --device=none, an unsatisfied requirement, the /proc mask, and measures
# the hook's cost against plain runc in the same run.
# usage: BIN=out/device-bin OUT=dir tests/device/container.sh
set -uo pipefail
BIN=$(readlink -f "${BIN:-out/device-bin}")
OUT=${OUT:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/nctk-dev-XXXXXX)
pass=0
fail=0
check() { # NAME GOT WANT
        if [ "$2" == "$3" ]; then echo "ok - $1: $2"; pass=$((pass + 1));
        else echo "FAIL - $1: got '$2', want '$3'"; fail=$((fail + 1)); fi
}

# The test image: busybox, the probe, a CUDA program built here, and the libraries they need.
nvcc -O2 -o "$work/vecadd" "$here/vecadd.cu" || exit 1
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,dev,proc,sys,tmp,usr/bin,usr/lib/x86_64-linux-gnu,lib64}
cp "$BIN/busybox" "$rootfs/bin/"
for c in sh ls cat echo grep head wc sed; do ln -s busybox "$rootfs/bin/$c"; done
cp "$work/vecadd" "$BIN/probe" "$rootfs/"
# What a real glibc image has: the C library with its compatibility stubs (the driver's own
# binaries and libcuda still link libpthread, libdl, librt).
for f in $(ldd "$work/vecadd" "$BIN/probe" /usr/local/nvidia/bin/nvidia-smi | grep -o '/[^ :]*' | grep -v "^$work\|^$BIN" | sort -u) \
         /lib/x86_64-linux-gnu/lib{pthread.so.0,dl.so.2,rt.so.1,m.so.6}; do
        mkdir -p "$rootfs$(dirname "$f")"
        cp -L "$f" "$rootfs$f"
done
echo 12 > "$rootfs/etc/debian_version"
echo 'include /etc/ld.so.conf.d/*.conf' > "$rootfs/etc/ld.so.conf"
mkdir -p "$rootfs/etc/ld.so.conf.d"

cat > "$work/hook.sh" <<HOOK
#!/bin/sh
IFS= read -r state
pid=\${state#*\\"pid\\":}
pid=\${pid#"\${pid%%[! ]*}"}
pid=\${pid%%[!0-9]*}
exec $BIN/nctk nvidia-container-cli \${NCTK_DEBUG:+--debug=\$NCTK_DEBUG} configure --pid="\$pid" "\$@"
HOOK
chmod +x "$work/hook.sh"

# bundle NAME SCRIPT [HOOK ARGS...]: an OCI bundle; without hook args, no hook at all.
bundle() {
        local b=$work/$1 script=$2
        shift 2
        mkdir -p "$b"
        cp -a "$rootfs" "$b/rootfs"
        (cd "$b" && "$BIN/runc" spec)
        python3 - "$b" "$script" "$work/hook.sh" "$@" <<'PY'
import json, sys
b, script, hook, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
p = f"{b}/config.json"
c = json.load(open(p))
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/sh", "-c", script]
c["root"] = {"path": f"{b}/rootfs", "readonly": False}
if args:
    c["hooks"] = {"prestart": [{"path": hook, "args": ["hook", *args, f"{b}/rootfs"],
                                "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                                        "NCTK_DEBUG=" + __import__("os").environ.get("NCTK_DEBUG", "")]}]}
json.dump(c, open(p, "w"), indent=1)
PY
        echo "$b"
}
runit() { "$BIN/runc" run --bundle "$1" "nctk-$(basename "$1")" 2>&1; }

uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
"$BIN/nctk" nvidia-container-cli --debug="$OUT/configure-debug.log" list >/dev/null
b=$(bundle gpu "nvidia-smi -L; /vecadd; cat /proc/driver/nvidia/params | grep ModifyDeviceFiles; ls /proc/driver/nvidia/gpus | wc -l; ls /dev | grep nvidia" --device=0 --compute --utility)
out=$(runit "$b"); echo "$out" | tee "$OUT/container-gpu.txt"
check "nvidia-smi -L in the container" "$(echo "$out" | grep -c "UUID: $uuid")" "1"
check "CUDA program in the container" "$(echo "$out" | grep -c '^vecadd ok')" "1"
check "params: ModifyDeviceFiles" "$(echo "$out" | grep ModifyDeviceFiles)" "ModifyDeviceFiles: 0"
check "mounts left on the host" "$(grep -c "$work" /proc/self/mountinfo)" "0"

b=$(bundle none "nvidia-smi -L; /vecadd; ls /dev | grep -c '^nvidia[0-9]'" --device=none --compute --utility)
out=$(runit "$b"); echo "$out" | tee "$OUT/container-none.txt"
check "--device=none: no GPU node" "$(echo "$out" | tail -1)" "0"
check "--device=none: CUDA finds no device" "$(echo "$out" | grep -c '^vecadd ok')" "0"

b=$(bundle req "true" --device=0 --compute "--require=cuda>=99.0")
out=$(runit "$b"); echo "$out" | tee "$OUT/container-require.txt"
check "--require cuda>=99.0 refused" "$(echo "$out" | grep -c 'unsatisfied condition: cuda>=99.0')" "1"

# One hooked start with debug timestamps, cache warm, to see where the time goes.
b=$(bundle dbg "true" --device=0 --compute --utility)
runit "$b" >/dev/null
NCTK_DEBUG="$OUT/hook-debug.log" runit "$(NCTK_DEBUG="$OUT/hook-debug.log" bundle dbg2 "true" --device=0 --compute --utility)" >/dev/null

# Timing: a tiny container with and without the hook, interleaved, same run.
plain=$(bundle tplain "true")
hooked=$(bundle thook "true" --device=0 --compute --utility)
python3 - "$BIN/runc" "$plain" "$hooked" <<'PY' | tee "$OUT/container-timing.txt"
import statistics, subprocess, sys, time
runc, plain, hooked = sys.argv[1:]
t = {plain: [], hooked: []}
for i in range(40):
    for b in (plain, hooked):
        t0 = time.perf_counter()
        subprocess.run([runc, "run", "--bundle", b, f"t{i}-{len(t[b])}{'h' if b == hooked else 'p'}"],
                       check=True, capture_output=True)
        t[b].append((time.perf_counter() - t0) * 1e3)
mp, mh = statistics.median(t[plain]), statistics.median(t[hooked])
print(f"runc run, median of 40: plain {mp:.1f} ms, with the GPU hook {mh:.1f} ms, "
      f"overhead {mh - mp:.1f} ms, ratio {mh / mp:.3f}")
PY
echo "# $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
