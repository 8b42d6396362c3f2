#!/usr/bin/env bash
# Container-start cost on the simulated driver, as ratios measured in one run:
#  1. `runc run` of a tiny bundle with the GPU prestart hook (configure, 1 GPU, compute+utility)
#     against the same bundle without it;
#  2. `configure` alone with 1, 8 and 64 GPUs (all selected), in a throwaway mount namespace,
#     minus the cost of entering such a namespace and starting a process.
# usage: bench/bench-configure.sh [BUILD_DIR] [N]
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(readlink -f "${1:-build}")
n=${2:-40}
work=$(mktemp -d /tmp/nctk-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$build" <<'PY'
import os, sys
sys.path.insert(0, "tests/e2e")
from containers import make_bundle, make_hook, make_rootfs, make_sim
work, build = sys.argv[1:]
for g in (1, 8, 64):
    make_sim(f"{work}/sim{g}", "--gpus", str(g))
rootfs = make_rootfs(f"{work}/rootfs", f"{build}/tests/e2e/probe")
hook = make_hook(f"{work}/hook.sh")
env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"NCTK={build}/nctk", f"SIM_ROOT={work}/sim1"]
make_bundle(f"{work}/plain", rootfs, None, "true")
make_bundle(f"{work}/hooked", rootfs, None, "true", hook=hook,
            hook_args=["--device=0", "--compute", "--utility"], hook_env=env)
PY
echo "# bench-configure: $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus"
python3 bench/runc-ratio.py runc "$work/plain" "$work/hooked" "$n"
ns="unshare -m --propagation private"
printf '%-34s %s\n' "baseline (unshare + sh + exec)" "$("$build/bench/timeit" "$n" $ns sh -c 'exec true')"
for g in 1 8 64; do
        cp -a "$work/rootfs" "$work/r$g"
        printf '%-34s %s\n' "configure, $g GPUs" "$("$build/bench/timeit" "$n" $ns sh -c \
                "exec $build/nctk nvidia-container-cli --root $work/sim$g --proc-root $work/sim$g/proc configure --pid=\$\$ --no-cgroups --device=all --compute --utility $work/r$g")"
done
