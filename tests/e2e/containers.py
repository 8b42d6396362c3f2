"""Shared pieces of the end-to-end tests: a simulated driver, container root filesystems built from
busybox and the host's glibc, OCI bundles, and a way to run them with runc or crun."""
import json
import os
import shutil
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from tap import run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "..", "sim", "nctk-sim")
GLIBC = ["/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6",
         "/lib/x86_64-linux-gnu/libm.so.6"]


def make_sim(path, *args):
    run([sys.executable, SIM, "create", path, *args])
    return json.loads(run([sys.executable, SIM, "describe", path]).stdout)


def make_rootfs(path, probe, debian=True):
    """A tiny glibc image: busybox, the host's libc and loader, the probe, /etc basics."""
    os.makedirs(os.path.join(path, "bin"))
    shutil.copy("/bin/busybox", os.path.join(path, "bin/busybox"))
    for cmd in ("sh", "ls", "cat", "echo", "grep", "readlink", "head", "wc", "test", "stat", "sort"):
        os.symlink("busybox", os.path.join(path, "bin", cmd))
    for f in GLIBC:
        real = os.path.realpath(f)
        dst = os.path.join(path, f.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy(real, dst)
    os.makedirs(os.path.join(path, "etc/ld.so.conf.d"))
    with open(os.path.join(path, "etc/ld.so.conf"), "w") as f:
        f.write("include /etc/ld.so.conf.d/*.conf\n")
    if debian:
        with open(os.path.join(path, "etc/debian_version"), "w") as f:
            f.write("12.0\n")
    for d in ("dev", "proc", "sys", "tmp", "usr/bin"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy(probe, os.path.join(path, "probe"))
    return path


HOOK = """#!/bin/sh
# A minimal OCI prestart hook: the container's pid from the state JSON on stdin, then configure.
# Only shell built-ins, so that the hook costs one process start besides nctk.
IFS= read -r state
pid=${state#*\\"pid\\":}
pid=${pid#"${pid%%[! ]*}"}
pid=${pid%%[!0-9]*}
exec "$NCTK" nvidia-container-cli --root "$SIM_ROOT" --proc-root "${SIM_ROOT%/}/proc" \\
        configure --pid="$pid" "$@"
"""


def make_hook(path):
    with open(path, "w") as f:
        f.write(HOOK)
    os.chmod(path, 0o755)
    return path


def make_bundle(path, rootfs_template, probe, script, hook=None, hook_args=(), hook_env=()):
    """An OCI bundle whose container runs SCRIPT with /bin/sh; the hook gets HOOK_ARGS."""
    os.makedirs(path)
    rootfs = os.path.join(path, "rootfs")
    run(["cp", "-a", rootfs_template, rootfs])
    run(["runc", "spec", "--bundle", path])
    cfg_path = os.path.join(path, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["/bin/sh", "-c", script]
    cfg["process"]["env"] = ["PATH=/usr/bin:/bin", "HOME=/"]
    cfg["root"] = {"path": rootfs, "readonly": False}
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    # mknod, so that a test can make a node of a GPU it was not given and show the cgroup
    # refusing to open it.
    for kind in ("bounding", "effective", "permitted"):
        cfg["process"]["capabilities"][kind].append("CAP_MKNOD")
    if hook:
        cfg["hooks"] = {"prestart": [{"path": hook, "args": ["hook", *hook_args, rootfs],
                                      "env": list(hook_env)}]}
    json.dump(cfg, open(cfg_path, "w"), indent=1)
    return path


def run_container(runtime, bundle):
    cid = "nctk-" + uuid.uuid4().hex[:12]
    p = subprocess.run([runtime, "run", "--bundle", bundle, cid], capture_output=True, text=True,
                       timeout=120)
    subprocess.run([runtime, "delete", "--force", cid], capture_output=True)
    return p


def parse_probe(out):
    """What a container printed: "smi: ..." and "dev: ..." lines (lists), and the probe's
    "dlopen NAME PATH", "open PATH RESULT", "mknod-open PATH RESULT" lines (dicts by name)."""
    r = {"smi": [], "dev": [], "dlopen": {}, "open": {}, "mknod-open": {}}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k in ("smi:", "dev:"):
            r[k[:-1]].append(v)
        elif k in ("dlopen", "open", "mknod-open"):
            name, _, res = v.partition(" ")
            r[k][name] = res
    return r


def host_mounts_mentioning(path):
    with open("/proc/self/mountinfo") as f:
        return [l for l in f if path in l]


def prepare_crun():
    """crun refuses cgroup v1 hybrid hosts whose cgroup2 tree still holds controllers; move
    those (here: hugetlb) to a v1 hierarchy of their own, as a hybrid system would."""
    try:
        ctrls = open("/sys/fs/cgroup/unified/cgroup.controllers").read().split()
    except OSError:
        return
    for c in ctrls:
        d = f"/sys/fs/cgroup/{c}"
        os.makedirs(d, exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", c, "cgroup", d], capture_output=True)
