#!/usr/bin/env bash
# Runs on the GPU machine: `nctk doctor` on the real host and driver.
#  1. The host as it is: the driver checks, the device nodes and the ld cache must be OK (the
#     H200 has persistence mode on), and the report is valid JSON; the whole run is timed.
#  2. A scratch dev root made by create-device-nodes, then its nvidia-uvm node swapped for one
#     with a stale major: devices.uvm must FAIL with the rm + create-device-nodes fix, and after
#     running that fix line, be OK.
# usage: BIN=out/device-bin OUT=dir tests/device/doctor.sh
set -uo pipefail
BIN=$(readlink -f "${BIN:-out/device-bin}")
OUT=${OUT:-/tmp}
work=$(mktemp -d /tmp/nctk-doctor-XXXXXX)
pass=0
fail=0
check() { # NAME GOT WANT
        if [ "$2" == "$3" ]; then echo "ok - $1: $2"; pass=$((pass + 1));
        else echo "FAIL - $1: got '$2', want '$3'"; fail=$((fail + 1)); fi
}
status_of() { # FILE ID: the first check ID's status
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next((c["status"] for c in d["checks"] if c["id"]==sys.argv[2]), "absent"))' "$1" "$2"
}
field_of() { # FILE ID FIELD
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next((c[sys.argv[3]] for c in d["checks"] if c["id"]==sys.argv[2]), ""))' "$1" "$2" "$3"
}

# 1. The host.
start=$(date +%s%N)
"$BIN/nctk" doctor --json > "$OUT/doctor.json"
echo "exit $?, $(( ($(date +%s%N) - start) / 1000000 )) ms" | tee "$OUT/doctor-time.txt"
"$BIN/nctk" doctor > "$OUT/doctor.txt"
cat "$OUT/doctor.txt"
for id in driver.loaded driver.versions driver.persistence devices.nvidiactl devices.uvm \
          devices.gpus ldconfig.cache; do
        check "$id" "$(status_of "$OUT/doctor.json" "$id")" OK
done
case "$(field_of "$OUT/doctor.json" driver.versions finding)" in
*580.159.04*) check "driver.versions names 580.159.04" yes yes ;;
*) check "driver.versions names 580.159.04" no yes ;;
esac

# 2. A stale nvidia-uvm major in a scratch dev root.
dev=$work/devroot
mkdir -p "$dev/dev"
"$BIN/nctk" ctk system create-device-nodes --control-devices --gpu-devices --dev-root="$dev" >/dev/null
major=$(awk '$2 == "nvidia-uvm" {print $1}' /proc/devices)
rm -f "$dev/dev/nvidia-uvm"
mknod -m 666 "$dev/dev/nvidia-uvm" c $((major - 1)) 0
"$BIN/nctk" doctor --json --dev-root="$dev" > "$OUT/doctor-stale-uvm.json"
check "stale uvm: status" "$(status_of "$OUT/doctor-stale-uvm.json" devices.uvm)" FAIL
fix=$(field_of "$OUT/doctor-stale-uvm.json" devices.uvm fix)
echo "fix: $fix"
mkdir -p "$work/bin" && ln -s "$BIN/nctk" "$work/bin/nvidia-ctk"
PATH=$work/bin:$PATH sh -c "$fix"
"$BIN/nctk" doctor --json --dev-root="$dev" > "$OUT/doctor-fixed-uvm.json"
check "stale uvm: after the fix" "$(status_of "$OUT/doctor-fixed-uvm.json" devices.uvm)" OK

rm -rf "$work"
echo "doctor: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
