#!/usr/bin/env python3
"""`nvidia-container-cli configure` as the prestart hook of real runc and crun containers, on the
simulated driver: what the container sees, what it can open, what it cannot, and that a failed
configure leaves nothing behind.

usage: test-runtime.py NCTK PROBE"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import (parse_probe as parse, host_mounts_mentioning, make_bundle, make_hook, make_rootfs,  # noqa: E402
                        make_sim, prepare_crun, run_container)
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-e2e-")
SIM_ROOT = os.path.join(WORK, "sim")
DESC = make_sim(SIM_ROOT, "--gpus", "4", "--mig", "3")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
HOOK = make_hook(os.path.join(WORK, "hook.sh"))
HOOK_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"NCTK={NCTK}", f"SIM_ROOT={SIM_ROOT}"]
_n = [0]

SCRIPT = """
nvidia-smi -L 2>&1 | sed 's/^/smi: /'
for f in /dev/nvidia*; do echo "dev: $f"; done
/probe dlopen libcuda.so.1 libnvidia-ml.so.1
/probe open /dev/nvidiactl {open_nodes}
/probe mknod-open /tmp/other 195 {other_minor}
"""


def container(runtime, hook_args, script=None, rootfs=ROOTFS):
    _n[0] += 1
    gpus = DESC["gpus"]
    script = script or SCRIPT.format(
        open_nodes=" ".join(f"/dev/nvidia{g['minor']}" for g in gpus),
        other_minor=gpus[0]["minor"])
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), rootfs, PROBE, script, hook=HOOK,
                    hook_args=hook_args, hook_env=HOOK_ENV)
    p = run_container(runtime, b)
    return p, b


def check_one_gpu(runtime):
    g = DESC["gpus"][1]
    p, bundle = container(runtime, ["--device=1", "--compute", "--utility"])
    eq(p.returncode, 0, f"{runtime} run: {p.stderr}")
    r = parse(p.stdout)
    eq(r["smi"], [f"GPU 0: {g['model']} (UUID: {g['uuid']})"], "nvidia-smi -L")
    nodes = sorted(d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d))
    eq(nodes, [f"/dev/nvidia{g['minor']}"], "GPU nodes")
    for n in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"):
        assert n in r["dev"], (n, r["dev"])
    for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
        assert r["dlopen"][lib].endswith(".so." + DESC["driver_version"]), r["dlopen"]
    # Allowed nodes reach the (absent) driver: ENXIO. Others are stopped by the cgroup: EPERM.
    eq(r["open"]["/dev/nvidiactl"], "ENXIO", "nvidiactl")
    eq(r["open"][f"/dev/nvidia{g['minor']}"], "ENXIO", "selected GPU")
    eq(r["mknod-open"]["/tmp/other"], "EPERM", "a GPU that was not given")
    eq(host_mounts_mentioning(bundle), [], "mounts visible on the host")


@test
def runc_one_gpu():
    check_one_gpu("runc")


@test
def crun_one_gpu():
    prepare_crun()
    check_one_gpu("crun")


@test
def all_gpus_and_mig():
    p, _ = container("runc", ["--device=all", "--compute", "--utility"])
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    want = [g["uuid"] for g in DESC["gpus"]]
    got = [re.search(r"UUID: (GPU-[^)]*)", l).group(1) for l in r["smi"] if l.startswith("GPU ")]
    eq(got, want, "GPUs in the container")
    p, _ = container("runc", ["--device=3:0", "--compute", "--utility"],
                     script="for f in /dev/nvidia* /dev/nvidia-caps/*; do echo \"dev: $f\"; done")
    eq(p.returncode, 0, p.stderr)
    m = DESC["gpus"][3]["mig_devices"][0]
    devs = parse(p.stdout)["dev"]
    assert m["gi_cap_node"] in devs and m["ci_cap_node"] in devs, devs
    assert f"/dev/nvidia{DESC['gpus'][3]['minor']}" in devs, "the MIG device's parent"


@test
def device_none_gives_no_gpu():
    p, _ = container("runc", ["--device=none", "--compute", "--utility"])
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    eq([d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d)], [], "GPU nodes")
    assert r["dlopen"]["libcuda.so.1"] != "error", "the driver libraries are still there"


@test
def utility_only():
    p, _ = container("runc", ["--device=0", "--utility"])
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    eq(r["dlopen"]["libcuda.so.1"], "error", "no compute library")
    assert r["dlopen"]["libnvidia-ml.so.1"] != "error"
    assert "/dev/nvidia-uvm" not in r["dev"], r["dev"]
    eq(len(r["smi"]), 1, "nvidia-smi works with utility")


@test
def unsatisfied_requirement_fails_cleanly():
    p, bundle = container("runc", ["--device=0", "--compute", "--require=cuda>=99.0"])
    assert p.returncode != 0, "the container must not start"
    lines = [l for l in p.stderr.splitlines() if "nvidia-container-cli" in l]
    eq(len(lines), 1, f"one error line: {p.stderr}")
    assert "unsatisfied condition: cuda>=99.0" in lines[0], lines[0]
    assert DESC["cuda_version"] in lines[0], lines[0]
    eq(host_mounts_mentioning(bundle), [], "mounts left on the host")
    assert not os.path.exists(os.path.join(bundle, "rootfs/usr/lib/x86_64-linux-gnu/libcuda.so.1"))


@test
def failure_midway_is_undone():
    bad = os.path.join(WORK, "rootfs-bad")
    run(["cp", "-a", ROOTFS, bad])
    os.makedirs(os.path.join(bad, "usr/bin/nvidia-smi"))  # a directory where a binary goes
    p, bundle = container("runc", ["--device=0", "--compute", "--utility"], rootfs=bad)
    assert p.returncode != 0, "the container must not start"
    assert "nvidia-smi" in p.stderr, p.stderr
    eq(host_mounts_mentioning(bundle), [], "mounts left on the host")
    rootfs = os.path.join(bundle, "rootfs")
    leftovers = [d for d in ("usr/lib/x86_64-linux-gnu", "dev/nvidiactl")
                 if os.path.lexists(os.path.join(rootfs, d))]
    eq(leftovers, [], "files created before the failure")


@test
def forward_compat_without_mounting_from_the_image():
    img = os.path.join(WORK, "rootfs-compat")
    run(["cp", "-a", ROOTFS, img])
    compat = os.path.join(img, "usr/local/cuda/compat")
    os.makedirs(compat)
    run(["cc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o",
         os.path.join(compat, "libcuda.so.999.10.01"), "-x", "c", "/dev/null"])
    os.symlink("libcuda.so.999.10.01", os.path.join(compat, "libcuda.so.1"))
    p, bundle = container("runc", ["--device=0", "--compute", "--utility"], rootfs=img,
                          script="/probe dlopen libcuda.so.1; cat /proc/self/mountinfo")
    eq(p.returncode, 0, p.stderr)
    eq(parse(p.stdout)["dlopen"]["libcuda.so.1"], "/usr/local/cuda/compat/libcuda.so.999.10.01",
       "compat libcuda")
    assert "/usr/local/cuda/compat" not in p.stdout.split("dlopen", 1)[1].split("\n", 1)[1], \
        "nothing mounted from the image"


@test
def no_ldconfig_from_the_image_runs():
    img = os.path.join(WORK, "rootfs-trojan")
    run(["cp", "-a", ROOTFS, img])
    canary = os.path.join(WORK, "canary")
    os.makedirs(os.path.join(img, "sbin"), exist_ok=True)
    for name in ("ldconfig", "ldconfig.real"):
        with open(os.path.join(img, "sbin", name), "w") as f:
            f.write(f"#!/bin/sh\necho ran > {canary}\necho ran > /ran-{name}\n")
        os.chmod(os.path.join(img, "sbin", name), 0o755)
    p, bundle = container("runc", ["--device=0", "--compute", "--ldconfig=@/sbin/ldconfig"], rootfs=img,
                          script="/probe dlopen libcuda.so.1")
    eq(p.returncode, 0, p.stderr)
    assert not os.path.exists(canary), "a binary of the image ran on the host side"
    assert not any(os.path.exists(os.path.join(bundle, "rootfs", f"ran-{n}")) for n in ("ldconfig", "ldconfig.real"))
    assert parse(p.stdout)["dlopen"]["libcuda.so.1"] != "error"


@test
def rootless_in_a_user_namespace():
    """As an unprivileged user's container would be: in a user namespace, without cgroups; device
    nodes are bind mounts (mknod is impossible there)."""
    img = os.path.join(WORK, "rootfs-userns")
    run(["cp", "-a", ROOTFS, img])
    g = DESC["gpus"][2]
    script = (f"{NCTK} nvidia-container-cli --root {SIM_ROOT} --proc-root {SIM_ROOT}/proc "
              f"configure --pid=$$ --no-cgroups "
              f"--device=2 --compute --utility {img} || exit 1; "
              f"for f in {img}/dev/nvidia*; do echo \"dev: ${{f#{img}}}\"; done; "
              f"chroot {img} /probe dlopen libcuda.so.1; chroot {img} /probe open /dev/nvidia{g['minor']}; "
              f"chroot {img} /usr/bin/nvidia-smi -L | sed 's/^/smi: /'")
    p = run(["unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
             "sh", "-c", script], check=False)
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    eq(sorted(d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d)), [f"/dev/nvidia{g['minor']}"], "nodes")
    eq(r["open"][f"/dev/nvidia{g['minor']}"], "ENXIO", "the bound node reaches the (absent) driver")
    assert r["dlopen"]["libcuda.so.1"].endswith(DESC["driver_version"]), r["dlopen"]
    eq(r["smi"], [f"GPU 0: {g['model']} (UUID: {g['uuid']})"], "nvidia-smi -L")
    eq(host_mounts_mentioning(img), [], "mounts visible on the host")


@test
def nvml_cache_follows_the_driver_state():
    """configure reuses NVML's answer only while /proc shows the same driver, GPUs and MIG tree."""
    sim = os.path.join(WORK, "sim-cache")
    make_sim(sim, "--gpus", "2")
    img = os.path.join(WORK, "rootfs-cache")
    run(["cp", "-a", ROOTFS, img])
    log = os.path.join(WORK, "cache-debug.log")

    def source():
        if os.path.exists(log):
            os.unlink(log)
        p = run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                 f"exec {NCTK} nvidia-container-cli --debug={log} --root {sim} "
                 f"--proc-root {sim}/proc configure --pid=$$ "
                 f"--no-cgroups --device=0 --utility {img}"], check=False)
        eq(p.returncode, 0, p.stderr)
        text = open(log).read()
        return "cache" if "NVML answer from the cache" in text else "nvml" if "NVML: " in text else "?"

    source()
    eq(source(), "cache", "second start, nothing changed")
    os.makedirs(os.path.join(sim, "proc/driver/nvidia/capabilities/gpu0/mig/gi9"))
    eq(source(), "nvml", "a MIG instance appeared")
    eq(source(), "cache", "and is cached again")
    vfile = os.path.join(sim, "proc/driver/nvidia/version")
    open(vfile, "a").write("\n")
    eq(source(), "nvml", "the kernel module changed")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
