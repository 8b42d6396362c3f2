#!/usr/bin/env python3
"""A busy host: 100 GPU containers started at once through nvidia-container-runtime (real runc),
in legacy and in cdi mode, on a simulated 8-GPU driver, while other processes rename files and
directories in /tmp as fast as they can. The image's library directory is reached through a ".."
link (usr/lib/x86_64-linux-gnu -> ../../lib/x86_64-linux-gnu), so every lookup nctk makes in it
walks "..": openat2(RESOLVE_IN_ROOT) answers EAGAIN when a rename (or mount) anywhere on the
system races that step, and nctk has to retry. Each container must see exactly the GPU it asked
for, and nothing may be left behind: no mount on the host, no container state.

usage: test-busy.py NCTK PROBE"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import (parse_probe as parse, host_mounts_mentioning, make_bundle, make_rootfs,  # noqa: E402
                        make_sim)
from tap import eq, run_all, test, tmpdir  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP runc bundles and the simulated driver's device nodes need root")
    sys.exit(0)

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
N_GPUS = 8
N_CONTAINERS = int(os.environ.get("NCTK_BUSY_CONTAINERS", "100"))
N_RENAMERS = int(os.environ.get("NCTK_BUSY_RENAMERS", "2"))
WORK = tmpdir("nctk-busy-")
SIM_ROOT = os.path.join(WORK, "sim")
DESC = make_sim(SIM_ROOT, "--gpus", str(N_GPUS))
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
SHIM = os.path.join(BIN, "nvidia-container-runtime")
os.symlink(NCTK, SHIM)
STATE = os.path.join(WORK, "state")

SCRIPT = """
nvidia-smi -L 2>&1 | sed 's/^/smi: /'
for f in /dev/nvidia*; do echo "dev: $f"; done
/probe dlopen libcuda.so.1
"""

# Each renamer moves a file and a directory back and forth in a directory of its own. Every
# rename bumps the kernel's global rename_lock sequence, which is what a RESOLVE_IN_ROOT ".."
# step checks.
RENAMER = """
import os, sys, tempfile
d = tempfile.mkdtemp(prefix="nctk-busy-renamer-", dir="/tmp")
a, b, c, e = (os.path.join(d, n) for n in ("a", "b", "c", "e"))
open(a, "w").close()
os.mkdir(c)
print(d, flush=True)
rename = os.rename
while True:
    rename(a, b); rename(c, e); rename(b, a); rename(e, c)
"""


def write_config(path, mode):
    """The one place that writes config.toml: the simulated driver, no kernel modules, MODE."""
    with open(path, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{SIM_ROOT}"\nproc-root = "{SIM_ROOT}/proc"\n'
                f'load-kmods = false\n\n'
                f'[nvidia-container-runtime]\nmode = "{mode}"\n')
    return path


def make_image(path):
    """The test rootfs with its real library directory at lib/x86_64-linux-gnu, and the one
    nctk writes into, usr/lib/x86_64-linux-gnu, a relative link that climbs with "..". """
    make_rootfs(path, PROBE)
    os.makedirs(os.path.join(path, "usr/lib"), exist_ok=True)
    assert os.path.isdir(os.path.join(path, "lib/x86_64-linux-gnu"))
    os.symlink("../../lib/x86_64-linux-gnu", os.path.join(path, "usr/lib/x86_64-linux-gnu"))
    return path


IMAGE = make_image(os.path.join(WORK, "image"))
TEMPLATE = json.load(open(os.path.join(
    make_bundle(os.path.join(WORK, "template"), IMAGE, PROBE, SCRIPT), "config.json")))


def make_bundles(mode):
    """N_CONTAINERS bundles, container i asking for GPU i % N_GPUS, each with its own rootfs."""
    bundles = []
    for i in range(N_CONTAINERS):
        b = os.path.join(WORK, mode, f"b{i}")
        rootfs = os.path.join(b, "rootfs")
        shutil.copytree(IMAGE, rootfs, symlinks=True)
        cfg = json.loads(json.dumps(TEMPLATE))
        cfg["root"]["path"] = rootfs
        cfg["process"]["env"].append(f"NVIDIA_VISIBLE_DEVICES={i % N_GPUS}")
        with open(os.path.join(b, "config.json"), "w") as f:
            json.dump(cfg, f)
        bundles.append(b)
    return bundles


class Renamers:
    """N_RENAMERS processes renaming in /tmp; started and stopped by pid, their dirs removed."""

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", RENAMER], stdout=subprocess.PIPE,
                                       text=True) for _ in range(N_RENAMERS)]
        self.dirs = [p.stdout.readline().strip() for p in self.procs]
        return self

    def __exit__(self, *exc):
        alive = [p.poll() is None for p in self.procs]
        for p in self.procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
        for d in self.dirs:
            if d.startswith("/tmp/nctk-busy-renamer-"):
                shutil.rmtree(d, ignore_errors=True)
        assert all(alive), "a renamer died before the containers finished"


def start_all(cfg, bundles):
    """Runs every bundle at once through the shim (`--root STATE run --bundle B ID`, as
    containerd calls runc); returns [(seconds, CompletedProcess-like)] in bundle order."""
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    env.pop("XDG_CONFIG_HOME", None)
    results = [None] * len(bundles)
    go = threading.Barrier(len(bundles))

    def one(i, b):
        go.wait()
        t0 = time.monotonic()
        try:
            p = subprocess.run([SHIM, "--root", STATE, "run", "--bundle", b, f"busy-{i}"],
                               capture_output=True, text=True, env=env, timeout=150)
            results[i] = (time.monotonic() - t0, p.returncode, p.stdout, p.stderr)
        except subprocess.TimeoutExpired as e:
            results[i] = (time.monotonic() - t0, "timeout", e.stdout or "", e.stderr or "")

    threads = [threading.Thread(target=one, args=(i, b)) for i, b in enumerate(bundles)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def check_container(i, result):
    """None when container I saw exactly its GPU, else why not."""
    _, rc, out, err = result
    if rc != 0:
        return f"exit {rc}: {err.strip()}"
    g = DESC["gpus"][i % N_GPUS]
    r = parse(out)
    want = [f"GPU 0: {g['model']} (UUID: {g['uuid']})"]
    if r["smi"] != want:
        return f"nvidia-smi -L: {r['smi']}, want {want}"
    nodes = sorted(d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d))
    if nodes != [f"/dev/nvidia{g['minor']}"]:
        return f"GPU nodes {nodes}, want /dev/nvidia{g['minor']}"
    lib = r["dlopen"].get("libcuda.so.1", "missing")
    if not lib.endswith(".so." + DESC["driver_version"]):
        return f"libcuda.so.1: {lib}"
    return None


def busy_start(mode):
    bundles = make_bundles(mode)
    cfg = write_config(os.path.join(WORK, f"{mode}.toml"), mode)
    with Renamers():
        results = start_all(cfg, bundles)
    bad = {i: why for i, r in enumerate(results) if (why := check_container(i, r))}
    eagain = sum("Resource temporarily unavailable" in why or "EAGAIN" in why
                 for why in bad.values())
    ms = sorted(r[0] * 1000 for r in results)
    print(f"# {mode}: p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms "
          f"({N_CONTAINERS} at once, {N_RENAMERS} renamers)", flush=True)
    print(f"# {mode}: {N_CONTAINERS - len(bad)}/{N_CONTAINERS} correct, "
          f"{eagain} failed with EAGAIN", flush=True)
    for i, why in list(bad.items())[:5]:
        print(f"# {mode}: container {i}: {why}", flush=True)
    leftovers = host_mounts_mentioning(WORK)
    state = os.listdir(STATE) if os.path.isdir(STATE) else []
    for i in range(N_CONTAINERS):  # whatever a failed run left, so the next mode starts clean
        subprocess.run(["runc", "--root", STATE, "delete", "--force", f"busy-{i}"],
                       capture_output=True)
    problems = [f"{len(bad)}/{N_CONTAINERS} containers failed or saw the wrong GPU"] if bad else []
    problems += [f"{len(leftovers)} mounts left on the host"] if leftovers else []
    problems += [f"container state left in {STATE}: {state}"] if state else []
    eq(problems, [], mode)
    shutil.rmtree(os.path.join(WORK, mode))


@test
def legacy_100_at_once():
    busy_start("legacy")


@test
def cdi_100_at_once():
    busy_start("cdi")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
