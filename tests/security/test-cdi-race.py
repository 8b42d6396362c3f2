#!/usr/bin/env python3
"""The runtime shim against an image that races it: while `nvidia-container-runtime run` creates
the container, a process swaps the image's library directory (where the plan mounts the driver's
libraries) between a real directory and a symlink to a host directory, with one atomic
renameat2(RENAME_EXCHANGE) after another. runc older than 1.1.14 resolves a bind mount's target
and then creates it by path (CVE-2024-45310's class): a swap in between makes it create an empty
file in the host directory. After every round no host file may have been created, changed or
mounted over, and no host mount may have appeared. Through cdi mode on the installed runc (the
shim must keep the mounts out of its hands), crun, and legacy mode (the configure hook).

The runc rounds run again with openat2 and the new mount API failing with ENOSYS (seccomp, as
in test-hostile.py, inherited by runc and our hook), to prove the fallbacks just as safe.

usage: test-cdi-race.py NCTK PROBE NO_SYSCALLS [ROUNDS]"""
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from tap import eq, run_all, test, tmpdir  # noqa: E402
from containers import make_bundle, make_rootfs, make_sim, parse_probe, prepare_crun  # noqa: E402

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
NO_SYSCALLS = os.path.abspath(sys.argv[3])
ROUNDS = int(sys.argv[4]) if len(sys.argv) > 4 else 300
WRAPPERS = {"plain": [], "no-openat2-no-newmount": [NO_SYSCALLS, "--openat2", "--newmount"]}
WORK = tmpdir("nctk-cdi-race-")
SIM = os.path.join(WORK, "sim")
make_sim(SIM, "--gpus", "1")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
SHIM = os.path.join(BIN, "nvidia-container-runtime")
HOOK = os.path.join(BIN, "nvidia-container-runtime-hook")
os.symlink(NCTK, SHIM)
os.symlink(NCTK, HOOK)
# Two host directories the image's link points at: an empty scratch directory, and one that
# stands for /etc (files that must keep their bytes).
SCRATCH = os.path.join(WORK, "host-scratch")
ETC = os.path.join(WORK, "host-etc")
os.makedirs(SCRATCH)
os.makedirs(ETC)
for name, data in (("passwd", "root:x:0:0::/root:/bin/sh\n"), ("ld.so.cache", "host cache\n")):
    with open(os.path.join(ETC, name), "w") as f:
        f.write(data)
LIBDIR = "usr/lib/x86_64-linux-gnu"  # where the plan mounts libraries in a Debian image

# What the container checks: its driver library and its GPU's node are there.
CHECK = "/probe dlopen libcuda.so.1; /probe open /dev/nvidia0"

FLIPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = sys.argv[1].encode(), sys.argv[2].encode()
while True:
    libc.renameat2(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
"""


def config(mode, runtimes, extra=""):
    path = os.path.join(WORK, f"config-{uuid.uuid4().hex[:8]}.toml")
    with open(path, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{SIM}"\nproc-root = "{SIM}/proc"\n'
                f'load-kmods = false\n'
                f'[nvidia-container-runtime]\nmode = "{mode}"\n'
                f'runtimes = {json.dumps(runtimes)}\n{extra}'
                f'[nvidia-container-runtime-hook]\npath = "{HOOK}"\n')
    return path


def host_state(host, only=""):
    """The host directory's files (those whose names start with ONLY) and their bytes, and every
    host mount under WORK."""
    files = {}
    for d, _, fs in os.walk(host):
        for f in fs:
            if not f.startswith(only):
                continue
            p = os.path.join(d, f)
            st = os.lstat(p)
            files[p] = (hashlib.sha256(open(p, "rb").read()).hexdigest() if os.path.isfile(p)
                        else oct(st.st_mode))
    with open("/proc/self/mountinfo") as f:
        mounts = sorted(line.split(" ")[4] for line in f if WORK in line.split(" ")[4])
    return files, mounts


def hostile_bundle(name, host, swap=LIBDIR, no_dev_mount=False):
    """A GPU container whose directory SWAP is a real directory, with a symlink to HOST beside it
    for the flipper to exchange it with. NO_DEV_MOUNT: config.json mounts nothing on /dev, so
    that the device nodes go into the image's own /dev."""
    b = make_bundle(os.path.join(WORK, name), ROOTFS, PROBE, CHECK)
    lib = os.path.join(b, "rootfs", swap)
    os.makedirs(lib, exist_ok=True)
    os.symlink(host, lib + ".swap")
    cfg_path = os.path.join(b, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["process"]["env"] += ["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=all"]
    if no_dev_mount:
        cfg["mounts"] = [m for m in cfg["mounts"] if not m["destination"].startswith("/dev")]
    json.dump(cfg, open(cfg_path, "w"), indent=1)
    return b, lib


def restore(host, before):
    """Puts HOST back as it was after an escape, so that every round counts on its own."""
    for p in set(host_state(host)[0]) - set(before[0]):
        os.unlink(p)
    for f in os.listdir(host):  # runc's own /dev links, in the /dev race
        p = os.path.join(host, f)
        if os.path.islink(p) and p not in before[0]:
            os.unlink(p)
    for m in host_state(host)[1]:
        subprocess.run(["umount", "-l", m], capture_output=True)


def race(mode, runtime, host, rounds, extra="", want_escapes=False, wrapper="plain", swap=LIBDIR,
         only=""):
    """ROUNDS containers through the shim while the flipper runs: none may touch the host (or,
    with WANT_ESCAPES, some must: the race is real). Returns how many were refused. SWAP: the
    image's directory that the flipper swaps ("dev": config.json has no /dev mount); ONLY: count
    only host files whose names start with it."""
    state = os.path.join(WORK, f"state-{runtime}")
    cfg = config(mode, [runtime], extra)
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    b, lib = hostile_bundle(f"b-{mode}-{runtime}-{os.path.basename(host)}-{uuid.uuid4().hex[:6]}",
                            host, swap, swap == "dev")
    before = host_state(host, only)
    # Unraced, the container starts: the refusals below are the race's doing.
    cid = f"calm-{uuid.uuid4().hex[:8]}"
    shim = WRAPPERS[wrapper] + [SHIM]
    p = subprocess.run(shim + ["--root", state, "run", "--bundle", b, cid], capture_output=True,
                       text=True, env=env, timeout=60)
    subprocess.run([runtime, "--root", state, "delete", "--force", cid], capture_output=True)
    eq(p.returncode, 0, f"{mode} mode, {runtime}, {wrapper}, no race: {p.stderr}")
    r = parse_probe(p.stdout)
    assert r["dlopen"]["libcuda.so.1"].startswith(f"/{LIBDIR}/libcuda.so."), p.stdout
    eq(r["open"]["/dev/nvidia0"], "ENXIO", "the GPU node reaches the (absent) driver")
    flipper = subprocess.Popen([sys.executable, "-c", FLIPPER, lib, lib + ".swap"])
    escapes, refused, escaped_how = 0, 0, []
    try:
        for i in range(rounds):
            cid = f"race-{i}-{uuid.uuid4().hex[:8]}"
            p = subprocess.run(shim + ["--root", state, "run", "--bundle", b, cid],
                               capture_output=True, text=True, env=env, timeout=60)
            subprocess.run([runtime, "--root", state, "delete", "--force", cid],
                           capture_output=True)
            refused += p.returncode != 0
            now = host_state(host, only)
            if now != before:
                escapes += 1
                escaped_how.append(sorted(set(now[0].items()) ^ set(before[0].items())) or now[1])
                restore(host, before)
    finally:
        flipper.kill()
        flipper.wait()
    setting = extra.strip() or "default settings"
    print(f"# {mode} mode, {runtime}, {wrapper}, {setting}, /{swap} -> {os.path.basename(host)}: "
          f"{escapes} of {rounds} rounds touched the host, {refused} containers refused",
          flush=True)
    if want_escapes:
        assert escapes > 0, "the race never won: the test would not see an escape"
        return refused
    eq(escapes, 0, f"rounds that created, changed or mounted over a host file "
       f"(first: {escaped_how[:3]})")
    return refused


FAKE_RUNC = """#!/bin/sh
# runc that says it is VERSION; everything else goes to the real one.
[ "$1" = --version ] && {{ echo "runc version {version}"; exit 0; }}
exec runc "$@"
"""


def who_mounts(runtime, setting=None):
    """Runs a container through the shim with RUNTIME (and mount-in-hook = SETTING) and
    says who was given the mounts: "runtime" (config.json) or "hook" (our hook's --mount)."""
    extra = f'mount-in-hook = "{setting}"\n' if setting else ""
    cfg = config("cdi", [runtime], extra)
    b, _ = hostile_bundle(f"who-{uuid.uuid4().hex[:8]}", SCRATCH)
    state = os.path.join(WORK, "state-who")
    cid = f"who-{uuid.uuid4().hex[:8]}"
    p = subprocess.run([SHIM, "--root", state, "run", "--bundle", b, cid], capture_output=True,
                       text=True, env=dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg),
                       timeout=60)
    subprocess.run(["runc", "--root", state, "delete", "--force", cid], capture_output=True)
    subprocess.run(["crun", "--root", state, "delete", "--force", cid], capture_output=True)
    eq(p.returncode, 0, f"{runtime} {setting}: {p.stderr}")
    r = parse_probe(p.stdout)
    assert r["dlopen"]["libcuda.so.1"].startswith(f"/{LIBDIR}/libcuda.so."), p.stdout
    eq(r["open"]["/dev/nvidia0"], "ENXIO", "the GPU node")
    s = json.load(open(os.path.join(b, "config.json")))
    in_spec = [m for m in s["mounts"] if m["source"].startswith(SIM)]
    nodes = [d for d in s["linux"].get("devices", []) if d["path"].startswith("/dev/nvidia")]
    args = s["hooks"]["createContainer"][-1]["args"]
    in_hook = [a for a in args if a in ("--mount", "--node")]
    rules = s["linux"]["resources"]["devices"]
    assert any(r.get("major") == 195 and r["allow"] for r in rules), "cgroup rules stay"
    if in_spec:
        assert nodes and not in_hook, (nodes, args)
        return "runtime"
    assert not nodes and "--mount" in in_hook and "--node" in in_hook, (nodes, args)
    return "hook"


@test
def who_makes_the_mounts():
    """auto: the installed runc (1.1.5) gets no mounts, crun and a runc that says 1.1.14 get
    them; the answer follows the binary (cached per path, size, mtime); always and never
    override; another value stops the container with one line."""
    prepare_crun()
    eq(who_mounts("runc"), "hook", "runc 1.1.5")
    eq(who_mounts("crun"), "runtime", "crun")
    fake = os.path.join(BIN, "runc-fake")
    for version, want in (("1.1.14", "runtime"), ("1.1.13", "hook"), ("1.2.0-rc.2", "hook"),
                          ("1.2.0-rc.3", "runtime"), ("1.2.3", "runtime"), ("1.0.0", "hook")):
        with open(fake + ".tmp", "w") as f:
            f.write(FAKE_RUNC.format(version=version))
        os.chmod(fake + ".tmp", 0o755)
        os.rename(fake + ".tmp", fake)
        eq(who_mounts(fake), want, f"runc {version}")
    eq(who_mounts("crun", "always"), "hook", "crun, always")
    eq(who_mounts("runc", "never"), "runtime", "runc, never")
    cfg = config("cdi", ["runc"], 'mount-in-hook = "sometimes"\n')
    b, _ = hostile_bundle("bad-setting", SCRATCH)
    before = open(os.path.join(b, "config.json")).read()
    p = subprocess.run([SHIM, "run", "--bundle", b, "bad-setting"], capture_output=True,
                       text=True, env=dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg))
    assert p.returncode != 0
    eq(p.stderr, "nvidia-container-runtime: nvidia-container-runtime.mount-in-hook 'sometimes' "
       "is not supported (auto, always, never)\n", "one line")
    eq(open(os.path.join(b, "config.json")).read(), before, "config.json untouched")


@test
def cdi_runc_scratch_dir():
    race("cdi", "runc", SCRATCH, ROUNDS)


@test
def cdi_runc_etc_dir():
    race("cdi", "runc", ETC, ROUNDS)


def runc_version():
    out = subprocess.run(["runc", "--version"], capture_output=True, text=True).stdout
    return tuple(int(x) for x in out.split()[2].split("+")[0].split("-")[0].split("."))


@test
def cdi_runc_without_openat2_and_new_mount_api():
    race("cdi", "runc", SCRATCH, ROUNDS // 3, wrapper="no-openat2-no-newmount")
    race("cdi", "runc", ETC, ROUNDS // 3, wrapper="no-openat2-no-newmount")


@test
def cdi_runc_never_is_the_vulnerable_path():
    """Proof that the race is real and that the rounds above would see it: with mount-in-hook =
    "never" runc itself makes the targets, and runc < 1.1.14 lets the image create files in the
    host directory (5 to 10 of 100 rounds here; 150 rounds all missing is below 1e-4)."""
    if runc_version() >= (1, 1, 14):
        race("cdi", "runc", SCRATCH, ROUNDS // 2, 'mount-in-hook = "never"\n')
    else:
        race("cdi", "runc", SCRATCH, 150, 'mount-in-hook = "never"\n', want_escapes=True)


@test
def cdi_runc_device_nodes():
    """runc < 1.1.14 mknods linux.devices by path too: with no /dev mount in config.json (the
    nodes then go into the image's /dev) and /dev swapped for a link to a host directory, runc
    itself made GPU nodes there (15 of 150 here, with mount-in-hook = "never"). By default our
    hook binds them through fds: none may appear. Only nvidia* names count: runc also makes its
    own /dev/fd, /dev/stdin... links there, for any container without a /dev mount, GPU or not;
    that is runc's alone (every engine mounts a tmpfs on /dev)."""
    race("cdi", "runc", SCRATCH, ROUNDS // 2, swap="dev", only="nvidia")
    if runc_version() < (1, 1, 14):
        race("cdi", "runc", SCRATCH, 150, 'mount-in-hook = "never"\n', want_escapes=True,
             swap="dev", only="nvidia")


@test
def cdi_crun():
    prepare_crun()
    race("cdi", "crun", SCRATCH, ROUNDS // 2)
    race("cdi", "crun", ETC, ROUNDS // 2)


@test
def legacy_runc():
    race("legacy", "runc", SCRATCH, ROUNDS // 2)
    race("legacy", "runc", ETC, ROUNDS // 2)


if __name__ == "__main__":
    t0 = time.time()
    try:
        run_all()
    finally:
        print(f"# {time.time() - t0:.0f} s", flush=True)
        subprocess.run(["rm", "-rf", WORK])
