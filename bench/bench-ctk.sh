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
# containerd: 1.6's default config padded with commented tables to 2,000 lines, edited in place.
python3 - "$work/config.toml" <<'PY'
import subprocess, sys
text = subprocess.run(["containerd", "config", "default"], capture_output=True, text=True,
                      check=True).stdout
i = 0
while text.count("\n") < 2000:
    text += f"\n# padding {i}\n[plugins.\"x.{i}\"]\n  k = {i}\n"
    i += 1
open(sys.argv[1], "w").write(text)
PY
c=(--runtime=containerd --config "$work/config.toml" --drop-in-config= --nvidia-runtime-path=/bin/true)
echo "# containerd config.toml: $(wc -l <"$work/config.toml") lines"
printf '%-40s %s\n' "containerd configure --dry-run" "$("$t" "$n" "${ctk[@]}" configure "${c[@]}" --dry-run)"
printf '%s\n' '#!/bin/sh' "${ctk[*]} configure ${c[*]} && ${ctk[*]} unconfigure ${c[*]:0:4}" \
        >"$work/pair.sh"
printf '%-40s %s\n' "sh pair.sh (configure; unconfigure)" "$("$t" "$n" sh "$work/pair.sh")"
