#!/usr/bin/env bash
# Runs on the GPU machine: a container whose GPU comes from a CDI spec that nctk generated on
# this host (`nvidia-ctk cdi generate`, under a vendor of its own so that the name resolves from
# the spec file, hooks run by nctk as nvidia-cdi-hook), through the runtime shim's cdi mode and
# runc: nvidia-smi and the CUDA program must work; then create+start against plain runc and the
# shim's built-in name for the same GPU, interleaved.
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

tp=$(bundle t-plain "true" no)
tb=$(bundle t-builtin "true" no $gpu_env)
ts=$(bundle t-spec "true" no NVIDIA_VISIBLE_DEVICES=h200.nctk.test/gpu=0 NVIDIA_DRIVER_CAPABILITIES=compute,utility)
python3 - "$BIN/runc" "$work/bin/nvidia-container-runtime" "$work" "$tp" "$tb" "$ts" <<'PY' | tee "$OUT/cdi-spec-timing.txt"
import os, statistics, subprocess, sys, time
runc, shim, work, tp, tb, ts = sys.argv[1:]
cases = [("plain runc", [runc], tp), ("shim cdi, built-in", [shim], tb), ("shim cdi, spec", [shim], ts)]
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
    print(f"{name:20s} median {m:6.1f} ms  +{m - base:5.1f} ms  ratio {m / base:.3f}  (30 runs)")
PY
echo "# $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
