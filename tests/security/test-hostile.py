#!/usr/bin/env python3
"""Hostile images against `configure`: symlinks to /, `..` chains, absolute links, links into
/proc/self/root, targets swapped for links by a racing process, a symlinked ld.so.cache. Each case
runs configure in a throwaway mount namespace (unshare -m) and then proves that no host file was
created, changed or mounted over. Every case runs again with openat2 and the new mount API made to
fail with ENOSYS through seccomp, to prove the fallbacks just as safe.

usage: test-hostile.py NCTK NO_SYSCALLS"""
import hashlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from tap import eq, run, run_all, test, tmpdir  # noqa: E402
from containers import make_sim  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
NO_SYSCALLS = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-hostile-")
SIM = os.path.join(WORK, "sim")
make_sim(SIM, "--gpus", "2")
CLI = f"{NCTK} nvidia-container-cli --root {SIM} --proc-root {SIM}/proc"
CANARY = os.path.join(WORK, "host-canary")  # stands for any host directory
os.makedirs(CANARY)
HOST_FILE = os.path.join(WORK, "host-file")
with open(HOST_FILE, "w") as f:
    f.write("host data\n")
WRAPPERS = {"plain": [], "no-openat2": [NO_SYSCALLS, "--openat2"],
            "no-openat2-no-newmount": [NO_SYSCALLS, "--openat2", "--newmount"]}


def host_state():
    """What must never change: the canary tree, the host file, the host's mount table."""
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(CANARY) for f in fs)
    digest = hashlib.sha256(open(HOST_FILE, "rb").read()).hexdigest()
    mounts = sorted(l.split(" ")[4] for l in open("/proc/self/mountinfo"))
    return files, digest, mounts


def make_rootfs(name):
    root = os.path.join(WORK, name)
    for d in ("etc", "usr/bin", "usr/lib", "dev", "tmp", "proc"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    open(os.path.join(root, "etc/debian_version"), "w").write("12\n")
    return root


def configure(rootfs, wrapper="plain", extra="", args=("--device=0", "--compute", "--utility")):
    """Runs configure in a private mount namespace; EXTRA runs there too, after it."""
    pre = " ".join(WRAPPERS[wrapper])
    cmd = (f"{pre} {CLI} configure --pid=$$ --no-cgroups "
           f"{' '.join(args)} {rootfs}; echo rc=$?; {extra}")
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd],
                          capture_output=True, text=True, timeout=60)


def rc_of(p):
    for line in p.stdout.splitlines():
        if line.startswith("rc="):
            return int(line[3:])
    raise AssertionError(f"no rc in {p.stdout!r} {p.stderr!r}")


def contained(p):
    """A hostile tree may make configure fail (a dangling link where a directory must be), but
    then with one clear line; either way each_wrapper proves the host untouched."""
    rc = rc_of(p)
    if rc != 0:
        lines = p.stderr.strip().splitlines()
        eq(len(lines), 1, f"one error line: {p.stderr!r}")
        assert lines[0].startswith("nvidia-container-cli: "), lines
    return rc


def each_wrapper(fn):
    def wrapped():
        for w in WRAPPERS:
            before = host_state()
            fn(w)
            eq(host_state(), before, f"host state after {fn.__name__} [{w}]")
    wrapped.__name__ = fn.__name__
    return test(wrapped)


@each_wrapper
def libdir_is_a_link_to_root(w):
    r = make_rootfs(f"to-root-{w}")
    os.symlink("/", os.path.join(r, "usr/lib/x86_64-linux-gnu"))
    p = configure(r, w, extra=f"ls {r}")
    eq(rc_of(p), 0, p.stderr)
    assert "libcuda.so.1" in p.stdout, "libraries land at the rootfs' top, inside it"
    assert not os.path.exists("/libcuda.so.1")


@each_wrapper
def dotdot_chain_to_a_host_dir(w):
    r = make_rootfs(f"dotdot-{w}")
    os.symlink("../" * 20 + CANARY.lstrip("/"), os.path.join(r, "usr/lib/x86_64-linux-gnu"))
    contained(configure(r, w))


@each_wrapper
def absolute_links_for_dev_and_bin(w):
    r = make_rootfs(f"abs-{w}")
    os.rmdir(os.path.join(r, "dev"))
    os.symlink(CANARY, os.path.join(r, "dev"))
    os.rmdir(os.path.join(r, "usr/bin"))
    os.symlink(CANARY, os.path.join(r, "usr/bin"))
    os.makedirs(r + CANARY)  # the links' targets, inside the rootfs
    p = configure(r, w, extra=f"ls {r}{CANARY}")
    eq(rc_of(p), 0, p.stderr)
    assert "nvidia-smi" in p.stdout and "nvidiactl" in p.stdout, p.stdout


@each_wrapper
def mount_target_is_a_link_to_a_host_file(w):
    r = make_rootfs(f"target-{w}")
    os.symlink(HOST_FILE, os.path.join(r, "usr/bin/nvidia-smi"))
    contained(configure(r, w))


@each_wrapper
def link_through_proc_self_root(w):
    r = make_rootfs(f"magic-{w}")
    os.rmdir(os.path.join(r, "usr/bin"))
    os.symlink("/proc/self/root" + CANARY, os.path.join(r, "usr/bin"))
    # A real procfs in the rootfs, as runc mounts one before hooks run.
    cmd_pre = f"mount -t proc proc {r}/proc && "
    pre = " ".join(WRAPPERS[w])
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                        cmd_pre + f"{pre} {CLI} configure "
                        f"--pid=$$ --no-cgroups --device=0 --utility {r}; echo rc=$?"],
                       capture_output=True, text=True, timeout=60)
    assert rc_of(p) != 0, "a magic link must not be followed"
    eq(len(p.stderr.strip().splitlines()), 1, f"one error line: {p.stderr}")


@each_wrapper
def ld_so_cache_is_a_link_to_a_host_file(w):
    r = make_rootfs(f"ldcache-{w}")
    os.symlink(HOST_FILE, os.path.join(r, "etc/ld.so.cache"))
    p = configure(r, w)
    # Either written inside the rootfs or refused: the host file is checked by each_wrapper.
    assert rc_of(p) in (0, 1), p.stderr


@each_wrapper
def shared_rootfs_mount_keeps_our_mounts_inside(w):
    """A rootfs that is a shared mount would send our mounts to its peers (the host); configure
    makes it a slave first. The outer namespace below plays the host: it must see none."""
    r = make_rootfs(f"shared-{w}")
    pre = " ".join(WRAPPERS[w])
    inner = (f"{pre} {CLI} configure --pid=$$ --no-cgroups "
             f"--device=0 --compute --utility {r}")
    outer = (f"mount --bind {r} {r} && mount --make-shared {r} && "
             f"unshare -m --propagation unchanged sh -c '{inner}'; echo rc=$?; "
             f"grep -c ' {r}' /proc/self/mountinfo")
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", outer],
                       capture_output=True, text=True, timeout=60)
    eq(rc_of(p), 0, p.stderr)
    eq(p.stdout.strip().splitlines()[-1], "1", "mounts the 'host' sees under the rootfs (its own bind)")


@test
def racing_link_swaps():
    """A process swaps the library directory, atomically and as fast as it can, between a link
    to a real directory of the image and links out of the rootfs (absolute, and a `..` chain),
    while configure runs 200 times."""
    before = host_state()
    r = make_rootfs("race")
    os.makedirs(os.path.join(r, "usr/lib/real"))
    lib = os.path.join(r, "usr/lib/x86_64-linux-gnu")
    os.symlink("real", lib)
    flipper = subprocess.Popen([sys.executable, "-c", f"""
import os
lib = {lib!r}
targets = ["real", {CANARY!r}, "../../../../../../../.." + {CANARY!r}]
i = 0
while True:
    tmp = lib + ".tmp"
    try:
        os.symlink(targets[i % 3], tmp)
        os.rename(tmp, lib)
    except OSError:
        pass
    i += 1
"""])
    failures = 0
    try:
        for _ in range(200):
            p = configure(r, "plain")
            failures += contained(p) != 0
    finally:
        flipper.kill()
        flipper.wait()
    eq(host_state(), before, "host state after 200 racing configures")
    print(f"# {failures} of 200 configures refused a swapped tree, none escaped")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
