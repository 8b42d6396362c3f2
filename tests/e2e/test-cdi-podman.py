#!/usr/bin/env python3
"""Real podman 4.3 (scripts/engines.sh) with a spec from `nvidia-ctk cdi generate` for a
simulated 3-GPU driver: `podman run --device VENDOR/gpu=1` and `=all` see exactly those GPUs'
nodes, the device cgroup refuses another GPU's node, and the driver's libraries are mounted
where the spec says and load. The spec goes to /var/run/cdi (podman 4.3 reads only /etc/cdi and
/var/run/cdi) under a vendor of its own, so that no other spec there can conflict; it is removed
at the end. The first spec leaves the hooks out (--disable-hook all), so that the devices and
mounts are shown alone; a second one, under another vendor, has them, run by podman's runc as
nvidia-cdi-hook (nctk by that name): nvidia-smi and a dlopen by SONAME work only when the hooks
made the links and the ld cache.

usage: test-cdi-podman.py NCTK PROBE"""
import atexit
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from containers import make_rootfs, make_sim  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
ENGINES_SH = os.path.join(HERE, "..", "..", "scripts", "engines.sh")
WORK = tmpdir("nctk-cdi-podman-")
atexit.register(shutil.rmtree, WORK, True)
VENDOR = "nctktest.example.com"
SPEC = f"/var/run/cdi/nctktest-{os.getpid()}.yaml"
HOOK_VENDOR = "nctkhook.example.com"
HOOK_SPEC = f"/var/run/cdi/nctkhook-{os.getpid()}.yaml"
IMAGE = "nctk-cdi-probe"
PODMAN_RUN = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]


def engines(fn, *args, check=True):
    return run(["bash", "-c", '. "$0" && "$@"', ENGINES_SH, fn, *args], check=check, timeout=300)


def cleanup():
    for spec in (SPEC, HOOK_SPEC):
        if os.path.exists(spec):
            os.unlink(spec)
    engines("engines_stop", check=False)


ENV = dict(l.split("=", 1) for l in engines("engines_env").stdout.splitlines())
PODMAN = os.path.join(ENV["NCTK_ENGINES_BIN"], "podman")
SIM = make_sim(os.path.join(WORK, "sim"), "--gpus", "3", "--seed", "5")
GPUS = sorted(SIM["gpus"], key=lambda g: g["nvml_index"])
LIBDIR = SIM["paths"]["libdir"]


def podman(device, script, vendor=VENDOR):
    p = run([PODMAN, "--runtime", "runc", "run", "--rm", *PODMAN_RUN, "--cap-add", "MKNOD",
             "--device", f"{vendor}/gpu={device}", f"localhost/{IMAGE}", "/bin/sh", "-c", script],
            check=False, timeout=120, stdin=subprocess.DEVNULL)
    eq(p.returncode, 0, f"podman run --device {vendor}/gpu={device}: {p.stderr[-2000:]}")
    return p.stdout


def gpu_check(device, want):
    """The container of DEVICE has the nodes of the GPUs WANT (NVML indices) and no other, can
    open them and nvidiactl, cannot use another GPU's node, and loads the driver's libcuda."""
    other = [g for g in GPUS if g["nvml_index"] not in want]
    minor = other[0]["minor"] if other else 200
    mine = [g for g in GPUS if g["nvml_index"] in want][0]["minor"]
    lib = f"{LIBDIR}/libcuda.so.{SIM['driver_version']}"
    out = podman(device, "ls /dev | grep '^nvidia[0-9]' | sed 's/^/dev: /'; "
                         f"/probe open /dev/nvidiactl {' '.join(g['device_node'] for g in GPUS)}; "
                         f"/probe mknod-open /tmp/other 195 {minor}; "
                         f"/probe mknod-open /tmp/mine 195 {mine}; /probe dlopen {lib}")
    lines = out.splitlines()
    devs = sorted(l[5:] for l in lines if l.startswith("dev: "))
    eq(devs, sorted(os.path.basename(g["device_node"]) for g in GPUS if g["nvml_index"] in want),
       f"GPU nodes ({out})")
    # The simulated nodes have no driver behind them: an open the device cgroup allows ends in
    # ENXIO, one it refuses in EPERM.
    res = {l.split()[1]: l.split()[2] for l in lines if l.startswith(("open ", "mknod-open "))}
    for g in GPUS:
        ok = ("ok", "ENXIO") if g["nvml_index"] in want else ("ENOENT",)
        assert res[g["device_node"]] in ok, f"{g['device_node']}: {out}"
    assert res["/dev/nvidiactl"] in ("ok", "ENXIO"), out
    assert res["/tmp/other"] in ("EPERM", "mknod:EPERM"), f"another GPU's node: {out}"
    assert res["/tmp/mine"] in ("ok", "ENXIO"), f"its own GPU's node: {out}"
    assert f"dlopen {lib} {lib}" in lines, f"libcuda: {out}"


@test
def start_and_write_spec():
    engines("engines_start")
    rootfs = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
    tar = os.path.join(WORK, "image.tar")
    run(["tar", "-C", rootfs, "-cf", tar, "."])
    engines("engines_import", tar, IMAGE)
    os.makedirs(os.path.dirname(SPEC), exist_ok=True)
    root = os.path.join(WORK, "sim")
    run([NCTK, "ctk", "cdi", "generate", "--driver-root", root, "--proc-root",
         os.path.join(root, "proc"), "--vendor", VENDOR, "--disable-hook", "all", "--output", SPEC])
    p = run([NCTK, "ctk", "cdi", "validate", "--proc-root", os.path.join(root, "proc"), SPEC],
            check=False)
    eq((p.returncode, p.stdout), (0, ""), "the spec is valid here")
    names = run([NCTK, "ctk", "cdi", "list", "--spec-dir", "/var/run/cdi"]).stdout.splitlines()
    for want in (f"{VENDOR}/gpu=1", f"{VENDOR}/gpu={GPUS[1]['uuid']}", f"{VENDOR}/gpu=all"):
        assert want in names, names


@test
def podman_gpu_1():
    gpu_check("1", {1})


@test
def podman_gpu_by_uuid():
    gpu_check(GPUS[2]["uuid"], {2})


@test
def podman_gpu_all():
    gpu_check("all", {0, 1, 2})


@test
def podman_gpu_with_the_hooks():
    """The spec as NVIDIA's would be, hooks included (create-symlinks, enable-cuda-compat,
    update-ldcache, disable-device-node-modification), with nctk as nvidia-cdi-hook."""
    hook = os.path.join(WORK, "bin", "nvidia-cdi-hook")
    os.makedirs(os.path.dirname(hook), exist_ok=True)
    os.symlink(NCTK, hook)
    root = os.path.join(WORK, "sim")
    run([NCTK, "ctk", "cdi", "generate", "--driver-root", root, "--proc-root",
         os.path.join(root, "proc"), "--vendor", HOOK_VENDOR, "--nvidia-cdi-hook-path", hook,
         "--output", HOOK_SPEC])
    out = podman("1", "nvidia-smi -L; /probe dlopen libcuda.so.1 libnvidia-ml.so.1",
                 vendor=HOOK_VENDOR)
    got = sorted(line.split("UUID: ")[1].rstrip(")") for line in out.splitlines()
                 if line.startswith("GPU "))
    eq(got, [GPUS[1]["uuid"]], f"nvidia-smi -L ({out})")
    lines = out.splitlines()
    for soname in ("libcuda.so.1", "libnvidia-ml.so.1"):
        assert any(line.startswith(f"dlopen {soname} /") for line in lines), f"{soname}: {out}"


@test
def podman_unknown_device():
    p = run([PODMAN, "--runtime", "runc", "run", "--rm", *PODMAN_RUN, "--device",
             f"{VENDOR}/gpu=9", f"localhost/{IMAGE}", "/probe", "open", "/dev/null"],
            check=False, timeout=120, stdin=subprocess.DEVNULL)
    assert p.returncode != 0 and "gpu=9" in p.stderr, p.stderr


try:
    run_all()
finally:
    cleanup()
