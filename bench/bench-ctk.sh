#!/usr/bin/env bash
# `nvidia-ctk runtime configure --runtime=docker` on a 2,400-line daemon.json (300 runtimes, 300
# log options), beside `true` run the same way: the edit as --dry-run (scan, edit, diff), configure
# of a file that needs nothing, and a real configure + unconfigure pair (lock, backup, fsync,
# rename, twice) against `sh -c true`. usage: bench/bench-ctk.sh [BUILD_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
n=${2:-200}
work=$(mktemp -d /tmp/nctk-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work/daemon.json" <<'PY'
import json, sys
doc = {"log-opts": {f"k{i}": str(i) for i in range(300)},
       "runtimes": {f"rt{i}": {"path": f"/usr/bin/rt{i}", "runtimeArgs": ["--a", "--b"]}
                    for i in range(300)}}
open(sys.argv[1], "w").write(json.dumps(doc, indent=2) + "\n")
PY
ctk=("$build/nctk" ctk --quiet runtime)
t=$build/bench/timeit
echo "# bench-ctk: $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus, n=$n, $(wc -l <"$work/daemon.json") lines"
printf '%-40s %s\n' "true (process start)" "$("$t" "$n" true)"
printf '%-40s %s\n' "configure --dry-run" "$("$t" "$n" "${ctk[@]}" configure --config "$work/daemon.json" --dry-run)"
cp "$work/daemon.json" "$work/done.json"
"${ctk[@]}" configure --config "$work/done.json"
printf '%-40s %s\n' "configure, nothing to change" "$("$t" "$n" "${ctk[@]}" configure --config "$work/done.json")"
printf '%-40s %s\n' "sh -c true" "$("$t" "$n" sh -c true)"
printf '%-40s %s\n' "sh -c 'configure; unconfigure' (writes)" \
        "$("$t" "$n" sh -c '"$@" configure --config "$0" && "$@" unconfigure --config "$0"' \
                "$work/daemon.json" "${ctk[@]}")"
