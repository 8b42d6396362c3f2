#!/usr/bin/env bash
# Everything the GPU machine checks, in one device call: discovery, then containers.
# Prepare on the build machine with scripts/device-bundle.sh; then, through the device tool:
#   bash tests/device/run.sh      (with carry: out/device-bin; logs land in $OUT)
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
export BIN=out/device-bin OUT=${OUT:-/tmp/nctk-device-out}
mkdir -p "$OUT"
rc=0
bash tests/device/discover.sh 2>&1 | tee "$OUT/discover.log" || rc=1
bash tests/device/container.sh 2>&1 | tee "$OUT/container.log" || rc=1
bash tests/device/engines.sh 2>&1 | tee "$OUT/engines.log" || rc=1
bash tests/device/ctk.sh 2>&1 | tee "$OUT/ctk.log" || rc=1
bash tests/device/cdi-spec.sh 2>&1 | tee "$OUT/cdi-spec.log" || rc=1
bash tests/device/cdi.sh 2>&1 | tee "$OUT/cdi.log" || rc=1
bash tests/device/doctor.sh 2>&1 | tee "$OUT/doctor.log" || rc=1
exit $rc
