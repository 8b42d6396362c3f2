#!/usr/bin/env bash
# Runs on the GPU machine: a container whose GPU comes from a CDI spec that nctk generated on
# this host (`nvidia-ctk cdi generate`, under a vendor of its own so that the name resolves from
# the spec file, hooks run by nctk as nvidia-cdi-hook), through the runtime shim's cdi mode and
# runc: nvidia-smi and the CUDA program must work, and config.json must hold one nctk hook (the
# spec's nvidia-cdi-hook hooks folded into it); then create+start against plain runc, the shim's
# built-in name for the same GPU, and the same spec with its hooks run apart (their path a copy
# of nctk, which is never folded: the cost before folding), interleaved.
# usage: BIN=out/device-bin OUT=dir tests/device/cdi-spec.sh
set -uo pipefail
export NCTK_DEVICE_WORK=cdispec
# shellcheck source=tests/device/common.sh
. "$(dirname "$0")/common.sh"


# The spec, in a directory of its own that the shim's config names.
mkdir -p "$work/cdi"
ln -s "$BIN/nctk" "$work/bin/nvidia-cdi-hook"
"$BIN/nctk" ctk cdi generate --vendor h200.nctk.test --nvidia-cdi-hook-path "$work/bin/nvidia-cdi-hook" \
        --output "$work/cdi/h200.yaml" || exit 1
mkdir -p "$work/copy"
cp "$BIN/nctk" "$work/copy/nvidia-cdi-hook"
"$BIN/nctk" ctk cdi generate --vendor apart.nctk.test --nvidia-cdi-hook-path "$work/copy/nvidia-cdi-hook" \
        --output "$work/cdi/apart.yaml" || exit 1
cat >> "$work/config-cdi.toml" <<TOML

[nvidia-container-runtime.modes.cdi]
spec-dirs = ["$work/cdi"]
TOML
# The spec puts programs where the host has them (/usr/local/nvidia/bin here), as NVIDIA's does:
# CUDA images have that directory on their PATH.
b=$(bundle spec "PATH=\$PATH:/usr/local/nvidia/bin; $script" no NVIDIA_VISIBLE_DEVICES=h200.nctk.test/gpu=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility)
out=$(NVIDIA_CTK_CONFIG_FILE_PATH=$work/config-cdi.toml "$work/bin/nvidia-container-runtime" run --bundle "$b" e-spec 2>&1)
echo "$out" | tee "$OUT/cdi-spec-run.txt"
check "GPU from the spec: nvidia-smi -L" "$(echo "$out" | grep -c "UUID: $uuid")" "1"
check "GPU from the spec: CUDA program" "$(echo "$out" | grep -c '^vecadd ok')" "1"
check "GPU from the spec: one createContainer hook (spec hooks folded)" \
        "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["hooks"]["createContainer"]))' "$b/config.json")" "1"
ba=$(bundle spec-apart "PATH=\$PATH:/usr/local/nvidia/bin; $script" no NVIDIA_VISIBLE_DEVICES=apart.nctk.test/gpu=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility)
out=$(NVIDIA_CTK_CONFIG_FILE_PATH=$work/config-cdi.toml "$work/bin/nvidia-container-runtime" run --bundle "$ba" e-apart 2>&1)
check "GPU from the spec, hooks apart: CUDA program" "$(echo "$out" | grep -c '^vecadd ok')" "1"

tp=$(bundle t-plain "true" no)
tb=$(bundle t-builtin "true" no $gpu_env)
ts=$(bundle t-spec "true" no NVIDIA_VISIBLE_DEVICES=h200.nctk.test/gpu=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility)
ta=$(bundle t-apart "true" no NVIDIA_VISIBLE_DEVICES=apart.nctk.test/gpu=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility)
python3 - "$BIN/runc" "$work/bin/nvidia-container-runtime" "$work" "$tp" "$tb" "$ts" "$ta" <<'PY' | tee "$OUT/cdi-spec-timing.txt"
import os, statistics, subprocess, sys, time
runc, shim, work, tp, tb, ts, ta = sys.argv[1:]
cases = [("plain runc", [runc], tp), ("shim cdi, built-in", [shim], tb), ("shim cdi, spec", [shim], ts),
         ("shim cdi, spec, apart", [shim], ta)]
cs = {c[0]: [] for c in cases}
env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=f"{work}/config-cdi.toml")
quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for i in range(30):
    for name, cmd, b in cases:
        cid = f"s{i}{abs(hash(name)) % 1000}"
        t0 = time.perf_counter()
        subprocess.run(cmd + ["create", "--bundle", b, cid], check=True, env=env, **quiet)
        subprocess.run(cmd + ["start", cid], check=True, env=env, **quiet)
        cs[name].append((time.perf_counter() - t0) * 1e3)
        subprocess.run([runc, "delete", "-f", cid], capture_output=True)
base = statistics.median(cs["plain runc"])
print("# create+start")
for name, *_ in cases:
    m = statistics.median(cs[name])
    print(f"{name:22s} median {m:6.1f} ms  +{m - base:5.1f} ms  ratio {m / base:.3f}  (30 runs)")
PY
echo "# $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
