#!/usr/bin/env bash
# Runs on the GPU machine: `nvidia-ctk cdi generate` against the real driver (NVML included).
#  1. The spec, compared item by item with NVIDIA's own specs from this machine
#     (reference/h200/nvidia-cdi*.yaml): the differences are printed and must be among those
#     docs/cdi.md documents.
#  2. Warm speed: the median of 20 runs (NVIDIA's takes 113-134 ms here).
#  3. `cdi validate` of a spec whose hook is a program that exists here: no problem.
# usage: BIN=out/device-bin OUT=dir [REF=dir] tests/device/cdi.sh
set -uo pipefail
BIN=$(readlink -f "${BIN:-out/device-bin}")
OUT=${OUT:-/tmp}
here=$(cd "$(dirname "$0")" && pwd)
# NVIDIA's specs: REF, out/h200-ref (a copy of reference/h200/nvidia-cdi*.yaml, carried: the
# device tool copies only the checkout), or the shared reference folder beside the checkout.
ref=${REF:-$here/../../out/h200-ref}
[ -d "$ref" ] || ref=$here/../../../shared/reference/h200
ref=$(readlink -f "$ref")
rc=0

"$BIN/nctk" ctk cdi generate --output "$OUT/cdi-h200.yaml" || exit 1
"$BIN/nctk" ctk cdi generate --format json --output "$OUT/cdi-h200.json" || exit 1
NCTK=$BIN/nctk python3 - "$OUT/cdi-h200.json" "$ref" "$here/../integration" <<'PY' || rc=1
import json, os, sys
spec, ref, lib = sys.argv[1:]
sys.path.insert(0, lib)
from cdi_compare import EXPECTED, differences  # noqa: E402
ours = json.load(open(spec))
uuid = {d["name"] for d in ours["devices"] if d["name"].startswith("GPU-")}
bad = 0
for version, name in (("1.17", "nvidia-cdi.yaml"), ("1.18", "nvidia-cdi-1.18.yaml")):
    # NVIDIA's files are YAML; our reader turns them into JSON (python3 may lack yaml here).
    import subprocess
    out = subprocess.run([os.environ["NCTK"], "ctk", "cdi", "transform", "root",
                          "--from", "/nonexistent", "--to", "/x", "--input",
                          os.path.join(ref, name), "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    got = differences(ours, json.loads(out), "/", uuid)
    # On the machine the nodes have no hostPath (dev root /): D1 reads "major,minor,type".
    want = {x if x[0] != "node-numbers" else ("node-numbers", "major,minor,type")
            for x in EXPECTED[version]}
    for x in sorted(got):
        print(f"{version}: {x[0]}: {x[1]}")
    extra = got - want
    for x in sorted(extra):
        print(f"FAIL - {version}: undocumented difference {x}")
    for x in sorted(want - got):
        print(f"note - {version}: documented difference not seen here: {x}")
    bad += len(extra)
print(f"{'FAIL' if bad else 'ok'} - the spec against NVIDIA's: {bad} undocumented differences")
sys.exit(1 if bad else 0)
PY

"$BIN/nctk" ctk cdi generate --output "$OUT/cdi-speed.yaml" # warm
times=()
for _ in $(seq 20); do
        t0=$(date +%s%N)
        "$BIN/nctk" ctk cdi generate --output "$OUT/cdi-speed.yaml" || rc=1
        t1=$(date +%s%N)
        times+=($(((t1 - t0) / 1000)))
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 10p)
echo "cdi generate, warm: median ${median} us over 20 runs"
[ "$median" -lt 15000 ] || { echo "FAIL - over 15 ms"; rc=1; }

"$BIN/nctk" ctk cdi generate --nvidia-cdi-hook-path "$BIN/nctk" --output "$OUT/cdi-valid.yaml" || rc=1
if "$BIN/nctk" ctk cdi validate "$OUT/cdi-valid.yaml"; then echo "ok - validate: no problem"
else echo "FAIL - validate"; rc=1; fi
exit $rc
