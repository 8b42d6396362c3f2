#!/usr/bin/env bash
# Runs on the GPU machine (through the device tool): `info`, `list` and `--json` against the real
# driver, each field checked against nvidia-smi, the library list against the driver's files,
# and timings. Expects the binaries built on the CI machine in $BIN (nctk, timeit).
# usage: BIN=out/device-bin OUT=dir tests/device/discover.sh
set -uo pipefail
BIN=${BIN:-out/device-bin}
OUT=${OUT:-/tmp}
nctk=$BIN/nctk
cli() { "$nctk" nvidia-container-cli "$@"; }
pass=0
fail=0
check() { # check NAME GOT WANT
        if [ "$2" == "$3" ]; then
                echo "ok - $1: $2"
                pass=$((pass + 1))
        else
                echo "FAIL - $1: got '$2', want '$3'"
                fail=$((fail + 1))
        fi
}

echo "# $(date -u +%FT%TZ) $(uname -r) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
cli info | tee "$OUT/info.txt"
cli info --csv > "$OUT/info.csv"
cli info --json > "$OUT/info.json"
cli list | tee "$OUT/list.txt"
cli list --json > "$OUT/list.json"

# Field by field against nvidia-smi.
n=$(nvidia-smi --query-gpu=count --format=csv,noheader | head -1)
check "gpu count" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["gpus"]))' "$OUT/info.json")" "$n"
check "driver version" "$(sed -n 's/^NVRM version: *//p' "$OUT/info.txt")" \
        "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)"
check "cuda version" "$(sed -n 's/^CUDA version: *//p' "$OUT/info.txt")" \
        "$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -1)"
i=0
while IFS=, read -r uuid bus name cc; do
        minor=$(nvidia-smi -q -i "$i" | sed -n 's/^ *Minor Number *: *//p')
        row=$(sed -n "$((i + 5))p" "$OUT/info.csv")
        check "gpu $i csv row" "$row" \
                "$i,$minor,$(echo $name),$(cut -d, -f4 <<<"$row"),$(echo $uuid),$(echo $bus),$(echo $cc)"
        i=$((i + 1))
done < <(nvidia-smi --query-gpu=uuid,pci.bus_id,name,compute_cap --format=csv,noheader)

# Every library of this driver version in the driver's directory, and nothing else.
ver=$(sed -n 's/^NVRM version: *//p' "$OUT/info.txt")
libdir=$(dirname "$(readlink -f "$(ldconfig -p | sed -n 's/.*libnvidia-ml.so.1 (libc6,x86-64) => //p' | head -1)")")
check "libraries vs $libdir" "$(grep "\.so\.$ver\$" "$OUT/list.txt" | grep -v i386 | xargs -n1 basename | sort | tr '\n' ' ')" \
        "$(find "$libdir" -maxdepth 1 -name "*.so.$ver" -printf '%f\n' | sort | tr '\n' ' ')"
check "binaries are ELF" "$(grep /bin/ "$OUT/list.txt" | xargs file -L | grep -vc ELF)" "0"
check "nvidia-smi from a daemon's PATH" \
        "$(PATH=/usr/sbin:/usr/bin:/sbin:/bin cli list --binaries | grep -c 'nvidia/bin/nvidia-smi$')" "1"
check "firmware" "$(grep -c 'gsp_.*\.bin$' "$OUT/list.txt")" \
        "$(find "/usr/local/nvidia/firmware/nvidia/$ver" "/lib/firmware/nvidia/$ver" -maxdepth 1 -name 'gsp_*.bin' 2>/dev/null | wc -l)"
check "unknown device error" "$(cli list --device=99 2>&1 >/dev/null | wc -l)" "1"
check "device 0 by uuid" "$(cli list --device="$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)" | grep -c '^/dev/nvidia[0-9]')" "1"

echo "# timings (median of 100 runs, ms)"
for c in "true" "$nctk info" "$nctk list" "nvidia-smi -L"; do
        printf '%-24s %s\n' "${c##*/}" "$("$BIN/timeit" 100 $c)"
done
echo "# $pass passed, $fail failed"
[ "$fail" -eq 0 ]
