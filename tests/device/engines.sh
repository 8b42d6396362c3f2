#!/usr/bin/env bash
# Runs on the GPU machine: the OCI hook alone, and the runtime shim in legacy and cdi modes, each
# starting a real runc container on the H200 that runs nvidia-smi and a CUDA program; then the
# start cost of each path against plain runc, interleaved in one run.
# usage: BIN=out/device-bin OUT=dir tests/device/engines.sh
set -uo pipefail
export NCTK_DEVICE_WORK=eng
# shellcheck source=tests/device/common.sh
. "$(dirname "$0")/common.sh"

# 1. The hook alone, as dockerd --gpus would add it.
b=$(bundle hook "$script" yes $gpu_env)
out=$("$BIN/runc" run --bundle "$b" e-hook 2>&1); echo "$out" | tee "$OUT/engines-hook.txt"
check "hook: nvidia-smi -L" "$(echo "$out" | grep -c "UUID: $uuid")" "1"
check "hook: CUDA program" "$(echo "$out" | grep -c '^vecadd ok')" "1"

# 2 and 3. The shim, called as containerd calls runc.
for mode in legacy cdi; do
        cfg=$work/config.toml
        [ "$mode" = cdi ] && cfg=$work/config-cdi.toml
        b=$(bundle "shim-$mode" "$script" no $gpu_env)
        out=$(NVIDIA_CTK_CONFIG_FILE_PATH=$cfg "$work/bin/nvidia-container-runtime" run --bundle "$b" "e-$mode" 2>&1)
        echo "$out" | tee "$OUT/engines-shim-$mode.txt"
        check "shim $mode: nvidia-smi -L" "$(echo "$out" | grep -c "UUID: $uuid")" "1"
        check "shim $mode: CUDA program" "$(echo "$out" | grep -c '^vecadd ok')" "1"
done

# 4. A container without a GPU passes through the shim with config.json untouched.
b=$(bundle plain-through "true" no)
before=$(sha256sum "$b/config.json")
NVIDIA_CTK_CONFIG_FILE_PATH=$work/config.toml "$work/bin/nvidia-container-runtime" run --bundle "$b" e-plain >/dev/null 2>&1
check "shim: no GPU, config.json untouched" "$(sha256sum "$b/config.json")" "$before"

# Timing: plain runc, hook, shim legacy, shim cdi, shim without GPU; 30 rounds interleaved.
tp=$(bundle t-plain "true" no)
th=$(bundle t-hook "true" yes $gpu_env)
tl=$(bundle t-legacy "true" no $gpu_env)
tc=$(bundle t-cdi "true" no $gpu_env)
tn=$(bundle t-nogpu "true" no)
python3 - "$BIN/runc" "$work/bin/nvidia-container-runtime" "$work" "$tp" "$th" "$tl" "$tc" "$tn" <<'PY' | tee "$OUT/engines-timing.txt"
import os, statistics, subprocess, sys, time
runc, shim, work, tp, th, tl, tc, tn = sys.argv[1:]
cases = [("plain runc", [runc], tp, None), ("runc + hook", [runc], th, None),
         ("shim legacy", [shim], tl, f"{work}/config.toml"), ("shim cdi", [shim], tc, f"{work}/config-cdi.toml"),
         ("shim, no GPU", [shim], tn, f"{work}/config.toml")]
t = {c[0]: [] for c in cases}
cs = {c[0]: [] for c in cases}  # create + start, as engines call a runtime
for i in range(30):
    for name, cmd, b, cfg in cases:
        env = dict(os.environ)
        if cfg:
            env["NVIDIA_CTK_CONFIG_FILE_PATH"] = cfg
        cid = f"t{i}{abs(hash(name)) % 1000}"
        t0 = time.perf_counter()
        subprocess.run(cmd + ["run", "--bundle", b, cid], check=True, capture_output=True, env=env)
        t[name].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        # Not captured: the container's init holds create's stdout open until it exits.
        quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(cmd + ["create", "--bundle", b, cid + "c"], check=True, env=env, **quiet)
        subprocess.run(cmd + ["start", cid + "c"], check=True, env=env, **quiet)
        cs[name].append((time.perf_counter() - t0) * 1e3)
        subprocess.run([runc, "delete", "-f", cid + "c"], capture_output=True)
for title, d in (("run", t), ("create+start", cs)):
    base = statistics.median(d["plain runc"])
    print(f"# {title}")
    for name, *_ in cases:
        m = statistics.median(d[name])
        print(f"{name:14s} median {m:6.1f} ms  +{m - base:5.1f} ms  ratio {m / base:.3f}  (30 runs)")
PY
echo "# $pass passed, $fail failed"
rm -rf "$work"
[ "$fail" -eq 0 ]
