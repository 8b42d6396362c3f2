#!/usr/bin/env python3
"""The runtime shim alone (the low-level runtime is /bin/true) in cdi mode: the GPU by a
built-in name (nvidia.com/gpu=0: discovery from the cache and the plan) against the same GPU from
a spec file (bench.nvidia.com/gpu=0 from `nvidia-ctk cdi generate`: the spec dir read and
parsed). What runc then does (the spec's hooks against our one hook) is bench-shim.sh's.
usage: bench/bench-shim-specs.py [BUILD_DIR] [N]"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from containers import make_bundle, make_rootfs, make_sim  # noqa: E402

build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 60
with tempfile.TemporaryDirectory(prefix="nctk-bench-specs-") as work:
    make_sim(f"{work}/sim", "--gpus", "1")
    rootfs = make_rootfs(f"{work}/rootfs", f"{build}/tests/e2e/probe")
    shim = f"{work}/nvidia-container-runtime"
    os.symlink(f"{build}/nctk", shim)
    os.makedirs(f"{work}/cdi")
    hook = f"{work}/nvidia-cdi-hook"
    os.symlink(f"{build}/nctk", hook)
    subprocess.run([f"{build}/nctk", "ctk", "cdi", "generate", "--driver-root", f"{work}/sim",
                    "--proc-root", f"{work}/sim/proc", "--vendor", "bench.nvidia.com",
                    "--nvidia-cdi-hook-path", hook, "--output", f"{work}/cdi/nvidia.yaml"],
                   check=True)
    cfgp = f"{work}/config.toml"
    with open(cfgp, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{work}/sim"\nproc-root = "{work}/sim/proc"\n'
                f'load-kmods = false\n[nvidia-container-runtime]\nmode = "cdi"\n'
                f'runtimes = ["/bin/true"]\n[nvidia-container-runtime.modes.cdi]\n'
                f'spec-dirs = ["{work}/cdi"]\n')
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfgp)
    b = make_bundle(f"{work}/b", rootfs, None, "true")
    orig = open(f"{b}/config.json").read()
    cases = {"built-in nvidia.com/gpu=0": "nvidia.com/gpu=0",
             "spec file bench.nvidia.com/gpu=0": "bench.nvidia.com/gpu=0"}
    t = {k: [] for k in cases}
    for i in range(n + 3):
        for k, dev in cases.items():
            c = json.loads(orig)
            c["process"]["env"].append(f"NVIDIA_VISIBLE_DEVICES={dev}")
            with open(f"{b}/config.json", "w") as f:
                json.dump(c, f)
            t0 = time.perf_counter()
            subprocess.run([shim, "create", "--bundle", b, "x"], check=True, env=env)
            if i >= 3:  # the first fill the NVML cache and the page cache
                t[k].append((time.perf_counter() - t0) * 1e3)
    print(f"# bench-shim-specs: n={n}")
    for k in cases:
        print(f"{k:34s} shim alone median {statistics.median(t[k]):6.2f} ms")
