#!/usr/bin/env python3
"""The demo's container: a tiny image (busybox and the host's glibc), started by runc with
`nvidia-container-cli configure` as its prestart hook, running nvidia-smi -L inside.
usage: demo-container.py NCTK PROBE DRIVER_ROOT"""
import os
import shutil
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "e2e"))
from containers import make_bundle, make_hook, make_rootfs, run_container  # noqa: E402

nctk, probe, root = sys.argv[1:4]
work = tempfile.mkdtemp(prefix="nctk-demo-")
try:
    rootfs = make_rootfs(os.path.join(work, "rootfs"), probe)
    # The driver's own tools still link these compatibility libraries of glibc.
    for lib in ("libpthread.so.0", "libdl.so.2", "librt.so.1"):
        src = os.path.join("/lib/x86_64-linux-gnu", lib)
        if os.path.exists(src):
            shutil.copy(os.path.realpath(src), os.path.join(rootfs, "lib/x86_64-linux-gnu", lib))
    hook = make_hook(os.path.join(work, "hook.sh"))
    env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"NCTK={nctk}", f"SIM_ROOT={root}"]
    script = ("echo '--- inside the container:'; nvidia-smi -L; ls /dev | grep nvidia; "
              "/probe dlopen libcuda.so.1 libnvidia-ml.so.1")
    bundle = make_bundle(os.path.join(work, "bundle"), rootfs, probe, script, hook=hook,
                         hook_args=["--device=all", "--compute", "--utility"], hook_env=env)
    p = run_container("runc", bundle)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    sys.exit(p.returncode)
finally:
    subprocess.run(["rm", "-rf", work])
