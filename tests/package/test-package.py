#!/usr/bin/env python3
"""The Debian package, installed as a user installs it: `bash scripts/package.sh` builds it from
this tree; a fresh Debian 12 minbase tree (debootstrap, Debian's archive only) with docker.io gets
it by `apt-get install`; inside that tree, in namespaces of its own (mount, pid, net, ipc, uts),
`nvidia-ctk runtime configure --runtime=docker`, dockerd and GPU containers on the simulated
driver; `apt-get purge` leaves nothing but the engine configuration the user asked for; an upgrade
from the previous version keeps a changed config.toml.

Every command of the README's user section (fenced ```sh user:NAME blocks) is run here, in the
order below; a user block this test does not know, or a shell block of that section without the
tag, fails the test.

usage: test-package.py SOURCE_ROOT BUILD_ROOT

The debootstrap tree (with docker.io installed) is cached in BUILD_ROOT/package-test-cache for
the next run of this test in the same CI run; scripts/test.sh deletes it when it starts. Starts
dockerd: run under `flock /tmp/nctk-engines.lock`, as the other engine tests (suite 'engines')."""
import ctypes
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from containers import make_sim  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

SRC = os.path.abspath(sys.argv[1])
BUILD = os.path.abspath(sys.argv[2])
CACHE = os.path.join(BUILD, "package-test-cache")
TREE_CACHE = os.path.join(CACHE, "bookworm-docker")  # minbase + docker.io
IMAGE_TAR = os.path.join(CACHE, "debian-12.tar")    # minbase alone: the image debian:12
WORK = None
PR_SET_PDEATHSIG = 1
T0 = time.monotonic()

# Paths the engines themselves create and keep (their state, logs, keys), and apt's caches: not
# ours to remove.
ENGINE_STATE = ("/var/lib/docker", "/var/lib/containerd", "/run/docker", "/run/containerd",
                "/opt/containerd", "/var/cache/apt",
                "/run/docker.pid", "/run/docker.sock", "/etc/docker/key.json", "/root/.docker",
                "/var/log/dockerd.log")
# The engine configuration that the README's commands ask for, and what they keep beside it.
ENGINE_CONFIG = ("/etc/docker", "/etc/docker/daemon.json", "/etc/docker/daemon.json.nctk.bak",
                 "/etc/containerd/config.toml", "/etc/containerd/config.toml.nctk.bak",
                 "/etc/containerd/conf.d", "/etc/containerd/conf.d/99-nvidia.toml",
                 "/etc/containerd/conf.d/99-nvidia.toml.nctk.bak")


class S:
    tree = None      # the test's copy of the cached tree
    mnt = None       # bound at TREE/mnt: out/ and prev/ (the packages), debian-12.tar
    sim = None       # the simulated driver, bound at the same path inside the tree
    simd = None      # its description (nctk-sim describe)
    ns = None        # the unshare process holding the namespaces
    nslog = None     # its stderr
    cgroups = set()  # docker cgroups there before
    nspid = None     # pid 1 of those namespaces, as the host sees it
    deb = None       # out/nctk_VERSION_ARCH.deb
    prev = None      # the same tree as version VERSION~prev1
    version = None
    blocks = {}      # README user blocks by name
    before = None    # the tree's files before the first install
    ran = set()      # user blocks run


def say(msg):
    print(f"# {msg} ({time.monotonic() - T0:.0f} s)", flush=True)


def sh(argv, timeout=600, **kw):
    return run(argv, timeout=timeout, **kw)


# ---------------------------------------------------------------- the README's user section
FENCE = re.compile(r"^([ \t]*)```(\S*)(?:[ \t]+(\S+))?[ \t]*$")


def readme_blocks():
    """The user section (from '## Install and use' to the next '## ') and its sh user:NAME
    blocks, in order; any other sh/bash/shell/console block there is an error."""
    text = open(os.path.join(SRC, "README.md")).read().splitlines()
    start = next((i for i, l in enumerate(text) if l.startswith("## Install and use")), None)
    assert start is not None, "README.md has no '## Install and use' section"
    end = next((i for i in range(start + 1, len(text)) if text[i].startswith("## ")), len(text))
    blocks, i = [], start
    while i < end:
        m = FENCE.match(text[i])
        if not m or not m.group(2):
            i += 1
            continue
        indent, lang, tag = len(m.group(1)), m.group(2), m.group(3) or ""
        j = next(k for k in range(i + 1, end) if text[k].lstrip().startswith("```"))
        body = "".join(l[indent:] + "\n" for l in text[i + 1:j])
        if lang in ("sh", "bash", "shell", "console"):
            assert lang == "sh" and tag.startswith("user:"), \
                f"README.md line {i + 1}: a command block of the user section must be ```sh user:NAME (run by tests/package)"
            blocks.append((tag[5:], body))
        i = j + 1
    return blocks


def block(name):
    got = [b for n, b in S.blocks if n == name]
    assert got, f"README.md has no ```sh user:{name} block"
    S.ran.add(name)
    return "".join(got)


# ---------------------------------------------------------------- the Debian 12 tree
def mirror():
    """Debian's archive as this machine's apt sources name it (deb.debian.org by default)."""
    for f in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"]:
        try:
            text = open(f).read()
        except OSError:
            continue
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
            if re.match(r"https?://[^/]*debian\.org/debian/?$", uri):
                return uri
    return "http://deb.debian.org/debian"


def in_chroot_once(tree, script):
    """SCRIPT in TREE with /proc and /dev, in a mount and pid namespace of its own."""
    sh(["unshare", "--mount", "--pid", "--fork", "--propagation", "private", "sh", "-euc",
        'mount -t proc proc "$1/proc"; mount --rbind /dev "$1/dev"; chroot "$1" /bin/sh -euc "$2"',
        "sh", tree, script], timeout=900)


def make_cache():
    """debootstrap --variant=minbase bookworm, the image tar of it, then docker.io."""
    if os.path.isdir(TREE_CACHE) and os.path.isfile(IMAGE_TAR):
        say("debootstrap tree: cached in this CI run")
        return
    shutil.rmtree(CACHE, ignore_errors=True)
    os.makedirs(CACHE)
    new = os.path.join(CACHE, "new")
    say(f"debootstrap --variant=minbase bookworm from {mirror()}")
    sh(["debootstrap", "--variant=minbase", "bookworm", new, mirror()], timeout=900)
    # The image: the tree as it is, without apt's downloaded lists and packages.
    sh(["tar", "-C", new, "--exclude=./var/lib/apt/lists/*", "--exclude=./var/cache/apt/*",
        "-cf", IMAGE_TAR + ".new", "."])
    # No init system: the packages' postinst must not try to start daemons (Debian's
    # policy-rc.d convention); apt answers yes, as a user would.
    with open(os.path.join(new, "usr/sbin/policy-rc.d"), "w") as f:
        f.write("#!/bin/sh\nexit 101\n")
    os.chmod(os.path.join(new, "usr/sbin/policy-rc.d"), 0o755)
    with open(os.path.join(new, "etc/apt/apt.conf.d/90nctk-test"), "w") as f:
        f.write('APT::Get::Assume-Yes "true";\n')
    shutil.copy("/etc/resolv.conf", os.path.join(new, "etc/resolv.conf"))
    say("apt-get install docker.io in the tree")
    in_chroot_once(new, "export DEBIAN_FRONTEND=noninteractive; apt-get install -qq --no-install-recommends "
                   "docker.io >/dev/null; apt-get clean")
    os.rename(IMAGE_TAR + ".new", IMAGE_TAR)
    os.rename(new, TREE_CACHE)


# ---------------------------------------------------------------- namespaces around the tree
HOLDER = r"""
set -eu
T=$1 SIM=$2
# The tree becomes the namespace's root (pivot_root, not chroot: the hook enters a container's
# mount namespace, and a process that does takes that namespace's root as its own).
mount --bind "$T" "$T"
mount -t proc proc "$T/proc"
mount --rbind /dev "$T/dev"
mount -t sysfs sysfs "$T/sys"
# The cgroup hierarchies, on a tmpfs of our own: whatever is made there beside them stays here.
mount -t tmpfs -o mode=755 cgroup "$T/sys/fs/cgroup"
for d in /sys/fs/cgroup/*; do
        if mountpoint -q "$d"; then
                mkdir "$T$d"
                mount --bind "$d" "$T$d"
        fi
done
mount --bind "$T.mnt" "$T/mnt"
mount --bind "$SIM" "$T$SIM"
ip link set lo up 2>/dev/null || true
cd "$T"
pivot_root . .
umount -l .
cd /
echo ready
exec sleep infinity
"""


def ns_start():
    S.nslog = open(os.path.join(WORK, "namespaces.log"), "w")
    # However this test ends, the namespaces' processes (dockerd, containerd, shims) end with
    # it: unshare dies with this process, and pid 1 of the namespace with unshare.
    S.ns = subprocess.Popen(["unshare", "--mount", "--pid", "--net", "--ipc", "--uts", "--fork",
                             "--kill-child", "--propagation", "private",
                             "sh", "-c", HOLDER, "sh", S.tree, S.sim],
                            stdout=subprocess.PIPE, stderr=S.nslog, text=True,
                            preexec_fn=lambda: ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
    line = S.ns.stdout.readline()
    assert line == "ready\n", \
        f"the namespaces did not come up (exit status {S.ns.poll()}): {open(S.nslog.name).read()}"
    kids = open(f"/proc/{S.ns.pid}/task/{S.ns.pid}/children").read().split()
    eq(len(kids), 1, "unshare's one child")
    S.nspid = int(kids[0])


# The cgroups dockerd makes (cgroupfs driver: docker/ID) in the host's hierarchies: removed at the
# end when they were not there before, as scripts/engines.sh does.
def docker_cgroups():
    return set(glob.glob("/sys/fs/cgroup/*/docker"))


def ns_stop():
    if S.ns is None:
        return
    inside("kill -TERM $(cat /run/docker.pid 2>/dev/null) 2>/dev/null; "
           "for i in $(seq 100); do [ -e /run/docker.pid ] || break; sleep 0.2; done", check=False)
    # pid 1 of the namespace gone: the kernel kills every process left in it.
    os.kill(S.nspid, signal.SIGKILL)
    S.ns.wait(timeout=60)
    S.ns = None
    for d in docker_cgroups() - S.cgroups:
        subprocess.run(["find", d, "-depth", "-type", "d", "-exec", "rmdir", "{}", "+"],
                       capture_output=True)


ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
       "LANG=C.UTF-8", "DEBIAN_FRONTEND=noninteractive"]


def inside(script, check=True, timeout=600, cwd="/mnt"):
    """SCRIPT run by bash -e in the tree, its namespaces' root, from CWD (/mnt: out/ is there, as
    in the checkout the README's commands run in)."""
    p = subprocess.run(["nsenter", "-t", str(S.nspid), "-m", "-p", "-n", "-i", "-u", "-r", "-w",
                        "--", "env", "-i", *ENV, "bash", "-euo", "pipefail", "-c",
                        f"cd {cwd}\n{script}"],
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise AssertionError(f"in the tree: {script.strip()[:300]!r} exited {p.returncode}\n"
                             f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")
    return p


def files():
    """Every path of the tree, as the host sees it: the namespaces' mounts (/proc, /sys, /dev,
    /mnt, the simulated driver) are not there, only the directories they cover."""
    out = {}
    for d, dirs, names in os.walk(S.tree):
        for n in dirs + names:
            full = os.path.join(d, n)
            p = "/" + os.path.relpath(full, S.tree)
            out[p] = "l:" + os.readlink(full) if os.path.islink(full) else "d" if os.path.isdir(full) else "f"
    return out


def leftovers():
    """What is in the tree now and was not before the first install, engines' state aside."""
    now = files()
    return sorted(p for p in now if p not in S.before
                  and not any(p == s or p.startswith(s + "/") for s in ENGINE_STATE))


def start_docker():
    """What `systemctl restart docker` does on a machine with systemd: dockerd, reading
    /etc/docker/daemon.json, nvidia-container-runtime-hook on its PATH. No bridge and no
    iptables rules: the containers need no network. Its own containerd (none runs here)."""
    inside("setsid dockerd --iptables=false --ip-masq=false --bridge=none "
           ">>/var/log/dockerd.log 2>&1 </dev/null &\n"
           "for i in $(seq 300); do docker info >/dev/null 2>&1 && exit 0; sleep 0.2; done\n"
           "tail -n 20 /var/log/dockerd.log >&2; exit 1")


def stop_docker():
    inside("ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids >/dev/null\n"
           "kill -TERM $(cat /run/docker.pid)\n"
           "for i in $(seq 150); do [ -e /run/docker.pid ] || exit 0; sleep 0.2; done; exit 1")


def sim_config():
    """The user's change to config.toml: the driver is the simulated one (the tests' way, as
    test-engines.py does it); load-kmods off, the sim has no kernel module."""
    inside(f"nvidia-ctk config -i --set nvidia-container-cli.root={S.sim} "
           f"--set nvidia-container-cli.proc-root={S.sim}/proc "
           "--set nvidia-container-cli.load-kmods=false")


def smi_uuids(out):
    return re.findall(r"^GPU \d+: NVIDIA H200 \(UUID: (GPU-[0-9a-f-]+)\)$", out, re.M)


def sha(path):
    return hashlib.sha256(open(os.path.join(S.tree, path.lstrip("/")), "rb").read()).hexdigest()


# ---------------------------------------------------------------- the tests
@test
def readme_user_section():
    S.blocks = readme_blocks()
    names = [n for n, _ in S.blocks]
    known = {"build", "install", "docker", "run", "containerd", "kubernetes", "troubleshoot", "remove"}
    eq(sorted(set(names) - known), [], "user blocks this test does not run")


@test
def build_the_packages():
    """The README's build command, in the checkout; then the same tree as the previous
    version, for the upgrade."""
    global WORK
    WORK = tmpdir("nctk-package-")
    # The tree meanwhile: debootstrap waits on the network, the build on the CPUs.
    CACHING.start()
    p = sh(["bash", "-euo", "pipefail", "-c", f"cd {SRC}\n{block('build')}"], timeout=900)
    debs = re.findall(r"^(/\S+\.deb)$", p.stdout, re.M)
    eq(len(debs), 1, f"the .deb that scripts/package.sh printed ({p.stdout} {p.stderr})")
    S.deb = debs[0]
    S.version = run(["dpkg-deb", "-f", S.deb, "Version"]).stdout.strip()
    eq(os.path.basename(S.deb), f"nctk_{S.version}_{run(['dpkg', '--print-architecture']).stdout.strip()}.deb", "name")
    p = sh(["bash", os.path.join(SRC, "scripts/package.sh"), "--version", f"{S.version}~prev1",
            "--output", os.path.join(WORK, "prev")], timeout=900)
    S.prev = p.stdout.strip().splitlines()[-1]
    say("built both packages")
    eq(run(["dpkg-deb", "-f", S.prev, "Version"]).stdout.strip(), f"{S.version}~prev1", "previous version")
    fields = {k: run(["dpkg-deb", "-f", S.deb, k]).stdout.strip() for k in ("Provides", "Conflicts", "Replaces")}
    ref = ["libnvidia-container-tools", "nvidia-container-toolkit", "nvidia-container-toolkit-base", "nvidia-docker2"]
    for k, v in fields.items():
        eq(sorted(x.strip() for x in v.split(",")), ref, k)


def cache_in_background():
    try:
        make_cache()
    except BaseException as e:  # reported by debootstrap_tree
        CACHING.error = e


CACHING = threading.Thread(target=cache_in_background, daemon=True)
CACHING.error = None


@test
def debootstrap_tree():
    if not CACHING.is_alive() and CACHING.ident is None:
        CACHING.start()
    CACHING.join()
    if CACHING.error:
        raise CACHING.error
    S.tree = os.path.join(WORK, "tree")
    sh(["cp", "-a", TREE_CACHE, S.tree])
    S.mnt = S.tree + ".mnt"
    for d, f in (("out", S.deb), ("prev", S.prev)):
        os.makedirs(os.path.join(S.mnt, d))
        shutil.copy(f, os.path.join(S.mnt, d))
    try:
        os.link(IMAGE_TAR, os.path.join(S.mnt, "debian-12.tar"))
    except OSError:
        shutil.copy(IMAGE_TAR, os.path.join(S.mnt, "debian-12.tar"))
    S.sim = os.path.join(WORK, "sim")
    S.simd = make_sim(S.sim, "--gpus", "2")
    os.makedirs(S.tree + S.sim)
    S.cgroups = docker_cgroups()
    ns_start()
    S.before = files()
    eq(inside("cat /etc/debian_version").stdout.split(".")[0], "12", "Debian 12")


@test
def install():
    p = inside(block("install"))
    eq(inside("dpkg-query -W -f '${Version} ${Status}' nctk").stdout, f"{S.version} install ok installed", "installed")
    # The postinst says what to run, and changes no engine.
    assert "nvidia-ctk runtime configure --runtime=docker" in p.stdout, p.stdout
    assert not os.path.exists(os.path.join(S.tree, "etc/docker/daemon.json")), "the package wrote daemon.json"
    eq(inside("dpkg-query -W -f '${Conffiles}' nctk").stdout.split()[0],
       "/etc/nvidia-container-runtime/config.toml", "the conffile")
    eq(inside("nvidia-ctk config default | cmp - /etc/nvidia-container-runtime/config.toml").returncode, 0, "config.toml is the default")
    names = ["nvidia-container-cli", "nvidia-container-runtime", "nvidia-container-runtime-hook",
             "nvidia-container-toolkit", "nvidia-ctk", "nvidia-docker", "nvidia-cdi-hook"]
    for n in names:
        eq(os.readlink(os.path.join(S.tree, "usr/bin", n)), "nctk", f"/usr/bin/{n}")
    for f in ("lib/systemd/system/nvidia-cdi-refresh.service", "lib/systemd/system/nvidia-cdi-refresh.path",
              "lib/udev/rules.d/60-nvidia-cdi-refresh.rules", "usr/libexec/nctk/nvidia-cdi-refresh"):
        assert os.path.exists(os.path.join(S.tree, f)), f
    # Enabled as systemd would have it (no systemd runs here).
    assert os.path.islink(os.path.join(S.tree, "etc/systemd/system/multi-user.target.wants/nvidia-cdi-refresh.path"))


@test
def docker_gpu_containers():
    sim_config()
    p = inside(block("docker"))
    cfg = json.load(open(os.path.join(S.tree, "etc/docker/daemon.json")))
    eq(cfg["runtimes"]["nvidia"]["path"], "nvidia-container-runtime", "daemon.json")
    assert "restart docker" in p.stdout + p.stderr, p
    start_docker()
    # The image debian:12: Debian's docker.io has no registry here; the same minbase tree.
    inside("docker import /mnt/debian-12.tar debian:12 >/dev/null")
    p = inside(block("run"), timeout=300)
    u = [g["uuid"] for g in sorted(S.simd["gpus"], key=lambda g: g["index"])]
    eq(smi_uuids(p.stdout), [u[0], u[1], u[1], u[0]], f"nvidia-smi -L in the README's containers (stdout: {p.stdout}; stderr: {p.stderr})")


@test
def containerd_and_kubernetes():
    inside(block("containerd"))
    dump = inside("containerd config dump").stdout
    assert re.search(r'runtimes\.nvidia\]', dump) and "/usr/bin/nvidia-container-runtime" in dump, dump[-3000:]
    inside(block("kubernetes"))
    dump = inside("containerd config dump").stdout
    assert re.search(r'default_runtime_name = "nvidia"', dump), dump[-3000:]


@test
def troubleshoot():
    p = inside(block("troubleshoot"))
    runtimes = [l for l in p.stdout.splitlines() if "Runtimes:" in l]
    assert len(runtimes) == 1 and "nvidia" in runtimes[0].split(), p.stdout
    eq([l for l in p.stdout.splitlines() if l not in runtimes], [], "--dry-run on a configured docker")


@test
def purge_keeps_only_the_engine_config():
    stop_docker()
    inside("apt-get purge -qq nctk >/dev/null")
    left = leftovers()
    say(f"left by the purge: {' '.join(left)}")
    eq([p for p in left if p not in ENGINE_CONFIG], [], "left by the purge")
    assert "/etc/docker/daemon.json" in left, left
    eq(inside("dpkg-query -W -f '${Status}' nctk 2>/dev/null || true").stdout in ("", "unknown ok not-installed"), True, "purged")


@test
def upgrade_keeps_a_changed_config():
    inside(f"apt-get install -qq ./prev/{os.path.basename(S.prev)} >/dev/null")
    sim_config()
    changed = sha("/etc/nvidia-container-runtime/config.toml")
    inside(f"apt-get install -qq ./out/{os.path.basename(S.deb)} >/dev/null")
    eq(inside("dpkg-query -W -f '${Version}' nctk").stdout, S.version, "upgraded")
    eq(sha("/etc/nvidia-container-runtime/config.toml"), changed, "config.toml after the upgrade")
    eq(glob.glob(os.path.join(S.tree, "etc/nvidia-container-runtime/*.dpkg-*")), [], "dpkg's conffile copies")
    # The kept config works: a GPU container on the simulated driver after the upgrade.
    start_docker()
    p = inside("docker run --rm --runtime=nvidia -e NVIDIA_VISIBLE_DEVICES=all debian:12 nvidia-smi -L")
    eq(len(smi_uuids(p.stdout)), 2, f"GPUs after the upgrade ({p.stdout} {p.stderr})")
    stop_docker()


@test
def remove():
    """The README's way out: the engines' registration taken out, then the purge."""
    inside(block("remove"))
    left = leftovers()
    eq([p for p in left if p not in ENGINE_CONFIG], [], "left by the purge")
    assert "nvidia" not in open(os.path.join(S.tree, "etc/docker/daemon.json")).read()


@test
def every_user_block_ran():
    eq(sorted({n for n, _ in S.blocks} - S.ran), [], "README user blocks no test ran")


def main():
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (debootstrap, chroot, namespaces, dockerd)")
        return
    # meson's timeout sends SIGTERM: clean up as on any other end.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run_all()
    finally:
        ns_stop()
        if WORK:
            # The bind mounts lived in the namespaces only; nothing of the host is below WORK.
            shutil.rmtree(WORK, ignore_errors=True)
        say("total")


main()
