#!/usr/bin/env bash
# Discovery speed on the simulated driver: `list` and `info` with 1, 8 and 64 GPUs, each beside
# `true` run the same way (the cost of starting any process here), so the numbers can be read as
# a ratio on a noisy machine. usage: bench/bench-discover.sh [BUILD_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
n=${2:-200}
work=$(mktemp -d /tmp/nctk-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "# bench-discover: $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus, n=$n"
printf '%-28s %s\n' "true (process start)" "$("$build/bench/timeit" "$n" true)"
for g in 1 8 64; do
        python3 tests/sim/nctk-sim create "$work/g$g" --gpus "$g" >/dev/null
        for cmd in list info; do
                printf '%-28s %s\n' "$cmd, $g GPUs" \
                        "$("$build/bench/timeit" "$n" "$build/nctk" --root "$work/g$g" \
                                --proc-root "$work/g$g/proc" "$cmd")"
        done
done
