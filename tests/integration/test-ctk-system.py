#!/usr/bin/env python3
"""`nvidia-ctk system create-device-nodes` and `create-dev-char-symlinks` against a temporary dev
root and a simulated procfs (a `devices` file and `driver/nvidia` tree written here): real mknod
and symlinks (the suite runs as root), checked by lstat/readlink; dry runs, idempotence, wrong
nodes and links, missing majors.

usage: test-ctk-system.py NCTK_BINARY"""
import atexit
import os
import shutil
import stat
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Skip, eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
NV, UVM, CAPS = 195, 510, 511
WORK = tmpdir("nctk-ctk-system-")
atexit.register(shutil.rmtree, WORK, ignore_errors=True)


def workdir():
    d = tempfile.mkdtemp(dir=WORK)
    os.chmod(d, 0o755)
    return d


def ctk(*args, check=True, umask=None):
    pre = None
    if umask is not None:
        def pre():
            os.umask(umask)
    return run([NCTK, "ctk", *args], check=check, preexec_fn=pre)


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root for mknod")


def make_proc(root, gpus=(0, 3), uvm=True, nvidia=True, params=None, mig=None):
    """A procfs with the driver's files: majors, one information file per GPU minor."""
    proc = os.path.join(root, "proc")
    os.makedirs(os.path.join(proc, "driver/nvidia/gpus"))
    lines = ["Character devices:", "  1 mem", "  5 /dev/tty"]
    if nvidia:
        lines += [f"{NV} nvidia-frontend", f"{NV} nvidia"]
    if uvm:
        lines.append(f"{UVM} nvidia-uvm")
    lines += [f"{CAPS} nvidia-caps", "", "Block devices:", f"{UVM} notachar"]
    with open(os.path.join(proc, "devices"), "w") as f:
        f.write("\n".join(lines) + "\n")
    for i, minor in enumerate(gpus):
        d = os.path.join(proc, f"driver/nvidia/gpus/0000:{i + 1:02x}:00.0")
        os.makedirs(d)
        with open(os.path.join(d, "information"), "w") as f:
            f.write(f"Model: \t NVIDIA H200\nGPU UUID: \t GPU-{i}\n"
                    f"Bus Location: \t 0000:{i + 1:02x}:00.0\nDevice Minor: \t {minor}\n")
    if params:
        with open(os.path.join(proc, "driver/nvidia/params"), "w") as f:
            f.write("".join(f"{k}: {v}\n" for k, v in params.items()))
    for name, minor in (mig or {}).items():
        d = os.path.join(proc, "driver/nvidia/capabilities/mig")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write(f"DeviceFileMinor: {minor}\nDeviceFileMode: 292\nDeviceFileModify: 1\n")
    return proc


def setup(**kw):
    root = workdir()
    proc = make_proc(root, **kw)
    os.mkdir(os.path.join(root, "dev"))
    return root, proc


def nodes(root, proc, *flags, check=True, umask=None):
    return ctk("system", "create-device-nodes", "--dev-root", root, "--proc-root", proc, *flags,
               check=check, umask=umask)


def links(root, proc, *flags, char=None, check=True):
    char = char or os.path.join(root, "dev/char")
    return ctk("system", "create-dev-char-symlinks", "--dev-root", root, "--proc-root", proc,
               "--dev-char-path", char, *flags, check=check)


def assert_node(path, major, minor, mode=0o666, uid=0, gid=0):
    st = os.lstat(path)
    assert stat.S_ISCHR(st.st_mode), f"{path} is not a character device"
    eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (major, minor), path)
    eq(stat.S_IMODE(st.st_mode), mode, f"{path} mode")
    eq((st.st_uid, st.st_gid), (uid, gid), f"{path} owner")


def one_line_error(p, *needles):
    assert p.returncode == 1, f"exit {p.returncode}, want 1: {p.stdout} {p.stderr}"
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, f"stderr lines ({p.stderr!r})")
    assert lines[0].startswith("nvidia-ctk: "), lines[0]
    for n in needles:
        assert n in lines[0], f"{n!r} not in {lines[0]!r}"


CONTROL = [("nvidiactl", NV, 255), ("nvidia-modeset", NV, 254), ("nvidia-uvm", UVM, 0),
           ("nvidia-uvm-tools", UVM, 1)]
GPUS = [("nvidia0", NV, 0), ("nvidia3", NV, 3)]


@test
def nodes_dry_run_creates_nothing():
    need_root()
    root, proc = setup()
    p = nodes(root, proc, "--control-devices", "--gpu-devices", "--dry-run")
    want = [f"would create {root}/dev/{n} (char {a}:{b}, mode 0666, owner 0:0)"
            for n, a, b in CONTROL + GPUS]
    eq(p.stdout.splitlines(), want, "dry-run plan")
    eq(os.listdir(os.path.join(root, "dev")), [], "dev after a dry run")


@test
def nodes_created_with_type_numbers_mode_owner():
    need_root()
    root, proc = setup()
    # umask 077: the mode must come from chmod, not from mknod.
    p = nodes(root, proc, "--control-devices", "--gpu-devices", umask=0o077)
    eq(len(p.stdout.splitlines()), 6, "created lines")
    eq(p.stderr, "", "stderr")
    for n, a, b in CONTROL + GPUS:
        assert_node(os.path.join(root, "dev", n), a, b)
    eq(sorted(os.listdir(os.path.join(root, "dev"))), sorted(n for n, _, _ in CONTROL + GPUS))


@test
def nodes_control_only_and_gpus_only():
    need_root()
    root, proc = setup()
    nodes(root, proc, "--control-devices")
    eq(sorted(os.listdir(os.path.join(root, "dev"))), sorted(n for n, _, _ in CONTROL))
    root, proc = setup()
    nodes(root, proc, "--gpu-devices")
    eq(sorted(os.listdir(os.path.join(root, "dev"))), ["nvidia0", "nvidia3"])


@test
def nodes_owner_and_mode_from_driver_params():
    need_root()
    root, proc = setup(params={"DeviceFileUID": 1000, "DeviceFileGID": 44,
                               "DeviceFileMode": 0o660, "ModifyDeviceFiles": 1})
    nodes(root, proc, "--control-devices", "--gpu-devices")
    assert_node(os.path.join(root, "dev/nvidiactl"), NV, 255, 0o660, 1000, 44)
    assert_node(os.path.join(root, "dev/nvidia3"), NV, 3, 0o660, 1000, 44)
    # nvidia-uvm's nodes do not follow the nvidia module's parameters (nvidia-modprobe).
    assert_node(os.path.join(root, "dev/nvidia-uvm"), UVM, 0)


@test
def nodes_second_run_changes_nothing():
    need_root()
    root, proc = setup()
    nodes(root, proc, "--control-devices", "--gpu-devices")
    before = {n: os.lstat(os.path.join(root, "dev", n)) for n in os.listdir(root + "/dev")}
    p = nodes(root, proc, "--control-devices", "--gpu-devices")
    eq((p.stdout, p.stderr), ("", ""), "second run output")
    for n, st in before.items():
        now = os.lstat(os.path.join(root, "dev", n))
        eq((now.st_ino, now.st_ctime_ns), (st.st_ino, st.st_ctime_ns), f"{n} untouched")


@test
def nodes_wrong_existing_node_reported_and_kept():
    need_root()
    root, proc = setup()
    uvm = os.path.join(root, "dev/nvidia-uvm")
    os.mknod(uvm, 0o600 | stat.S_IFCHR, os.makedev(10, 5))
    with open(os.path.join(root, "dev/nvidiactl"), "w") as f:
        f.write("not a device")
    p = nodes(root, proc, "--control-devices", check=False)
    assert p.returncode == 1, p.returncode
    errs = p.stderr.strip().splitlines()
    eq(errs, [f"nvidia-ctk: '{root}/dev/nvidiactl' is a regular file, not char 195:255; "
              "remove it and run again",
              f"nvidia-ctk: '{uvm}' is char 10:5, not char 510:0; remove it and run again"],
       "one line per wrong node")
    assert_node(uvm, 10, 5, 0o600)
    with open(os.path.join(root, "dev/nvidiactl")) as f:
        eq(f.read(), "not a device", "regular file kept")
    # The right ones were still made.
    assert_node(os.path.join(root, "dev/nvidia-modeset"), NV, 254)
    assert_node(os.path.join(root, "dev/nvidia-uvm-tools"), UVM, 1)


@test
def nodes_missing_major_is_one_line():
    need_root()
    root, proc = setup(uvm=False)
    p = nodes(root, proc, "--control-devices", check=False)
    one_line_error(p, f"'{proc}/devices'", "'nvidia-uvm'", "--load-kernel-modules")
    eq(os.listdir(os.path.join(root, "dev")), [], "nothing made")
    root, proc = setup(nvidia=False)
    p = nodes(root, proc, "--gpu-devices", check=False)
    one_line_error(p, "lists no 'nvidia' major")


@test
def nodes_missing_proc_devices_or_dev_root():
    root, proc = setup()
    os.unlink(os.path.join(proc, "devices"))
    one_line_error(nodes(root, proc, "--control-devices", check=False),
                   f"cannot read '{proc}/devices'")
    one_line_error(nodes(root + "/nope", proc, "--control-devices", check=False),
                   f"'{root}/nope'")
    root, proc = setup()
    os.rmdir(os.path.join(root, "dev"))  # a dev root without dev/: one line, not one a node
    one_line_error(nodes(root, proc, "--control-devices", check=False),
                   f"cannot open '{root}/dev'")
    one_line_error(ctk("system", "create-device-nodes", "--bogus", check=False), "'--bogus'")
    one_line_error(ctk("system", "make-coffee", check=False), "'system make-coffee'")


@test
def nodes_without_a_set_does_nothing():
    root, proc = setup()
    p = nodes(root, proc)
    eq(p.returncode, 0, "exit")
    assert "--control-devices" in p.stderr, p.stderr
    eq(os.listdir(os.path.join(root, "dev")), [], "nothing made")


@test
def load_kernel_modules_dry_run_names_modprobe():
    root, proc = setup()
    p = nodes(root, proc, "--load-kernel-modules", "--dry-run", "--control-devices")
    want = [f"would run: modprobe {m}" for m in ("nvidia", "nvidia-uvm", "nvidia-modeset")
            if not os.path.isdir("/sys/module/" + m.replace("-", "_"))]
    eq([ln for ln in p.stdout.splitlines() if "modprobe" in ln], want, "modprobe plan")
    eq(os.listdir(os.path.join(root, "dev")), [], "nothing made")


def made_links(char):
    return {n: os.readlink(os.path.join(char, n)) for n in sorted(os.listdir(char))}


def assert_resolves(char, name, major, minor):
    st = os.stat(os.path.join(char, name))
    assert stat.S_ISCHR(st.st_mode), name
    eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (major, minor), name)


@test
def links_for_existing_nodes():
    need_root()
    root, proc = setup()
    nodes(root, proc, "--control-devices", "--gpu-devices")
    dev = os.path.join(root, "dev")
    os.mknod(dev + "/nvidia-nvswitch0", 0o666 | stat.S_IFCHR, os.makedev(NV + 1, 0))
    os.mknod(dev + "/nvidia-fs0", 0o666 | stat.S_IFCHR, os.makedev(NV + 2, 0))
    os.mkdir(dev + "/nvidia-caps")
    os.mknod(dev + "/nvidia-caps/nvidia-cap1", 0o400 | stat.S_IFCHR, os.makedev(CAPS, 1))
    with open(dev + "/nvidia-notanode", "w"):
        pass
    char = os.path.join(dev, "char")
    p = links(root, proc)
    want = {"195:0": "../nvidia0", "195:3": "../nvidia3", "195:254": "../nvidia-modeset",
            "195:255": "../nvidiactl", "510:0": "../nvidia-uvm", "510:1": "../nvidia-uvm-tools",
            "511:1": "../nvidia-caps/nvidia-cap1"}
    eq(made_links(char), want, "links (nvswitch, nvidia-fs and non-nodes left out)")
    for name in want:
        major, minor = map(int, name.split(":"))
        assert_resolves(char, name, major, minor)
    eq(len(p.stdout.splitlines()), len(want), "one line per link")
    assert f"created {char}/195:3 -> ../nvidia3" in p.stdout.splitlines(), p.stdout
    eq(oct(stat.S_IMODE(os.stat(char).st_mode)), oct(0o755), "dev/char mode")


@test
def links_second_run_and_dry_run():
    need_root()
    root, proc = setup()
    nodes(root, proc, "--control-devices")
    char = os.path.join(root, "dev/char")
    p = links(root, proc, "--dry-run")
    eq(len(p.stdout.splitlines()), 4, "dry-run lines")
    assert all(ln.startswith("would create ") for ln in p.stdout.splitlines()), p.stdout
    assert not os.path.exists(char), "dry run made the directory"
    links(root, proc)
    inodes = {n: os.lstat(os.path.join(char, n)).st_ino for n in os.listdir(char)}
    p = links(root, proc)
    eq((p.stdout, p.stderr), ("", ""), "second run output")
    eq({n: os.lstat(os.path.join(char, n)).st_ino for n in os.listdir(char)}, inodes,
       "links untouched")


@test
def links_stale_replaced_foreign_kept_blocked_reported():
    need_root()
    root, proc = setup()
    nodes(root, proc, "--control-devices")
    char = os.path.join(root, "dev/char")
    os.mkdir(char)
    os.symlink("../nvidia-gone", os.path.join(char, "195:255"))     # dangling: replaced
    os.symlink("../nvidia-uvm", os.path.join(char, "195:254"))      # wrong device: replaced
    os.symlink(root + "/dev/nvidia-uvm", os.path.join(char, "510:0"))  # same device: kept
    with open(os.path.join(char, "510:1"), "w") as f:                # no link: reported
        f.write("x")
    p = links(root, proc, check=False)
    one_line_error(p, f"'{char}/510:1' is a regular file", "remove it")
    eq(sorted(p.stdout.splitlines()),
       [f"replaced {char}/195:254 -> ../nvidia-modeset (was '../nvidia-uvm')",
        f"replaced {char}/195:255 -> ../nvidiactl (was '../nvidia-gone')"], "stdout")
    eq(os.readlink(os.path.join(char, "510:0")),
       root + "/dev/nvidia-uvm", "a link to the right device is kept as it is")
    assert_resolves(char, "195:255", NV, 255)
    assert_resolves(char, "195:254", NV, 254)
    with open(os.path.join(char, "510:1")) as f:
        eq(f.read(), "x", "blocking file kept")
    assert not [n for n in os.listdir(char) if n.startswith(".")], "temporary left behind"


@test
def links_create_all_with_nodes_and_mig_caps():
    need_root()
    root, proc = setup(mig={"config": 1, "monitor": 2})
    char = os.path.join(root, "dev/char")
    p = links(root, proc, "--create-all")
    want = {"195:255": "../nvidiactl", "195:254": "../nvidia-modeset", "510:0": "../nvidia-uvm",
            "510:1": "../nvidia-uvm-tools", "511:1": "../nvidia-caps/nvidia-cap1",
            "511:2": "../nvidia-caps/nvidia-cap2", "195:0": "../nvidia0", "195:3": "../nvidia3"}
    eq(made_links(char), dict(sorted(want.items())), "every possible link")
    eq(os.listdir(os.path.join(root, "dev")), ["char"], "--create-all alone makes no node")
    root, proc = setup()
    char = os.path.join(root, "dev/char")
    p = links(root, proc, "--create-all", "--create-device-nodes")
    for n, a, b in CONTROL:
        assert_node(os.path.join(root, "dev", n), a, b)
        assert_resolves(char, f"{a}:{b}", a, b)
    assert "created " + root + "/dev/nvidiactl" in p.stdout, p.stdout


@test
def links_elsewhere_are_absolute():
    need_root()
    root, proc = setup()
    nodes(root, proc, "--gpu-devices")
    char = os.path.join(workdir(), "a/b/char")
    links(root, proc, char=char)
    eq(made_links(char), {"195:0": root + "/dev/nvidia0", "195:3": root + "/dev/nvidia3"},
       "absolute targets outside <dev root>/dev/char")


@test
def links_flags_need_create_all():
    root, proc = setup()
    p = links(root, proc, "--load-kernel-modules", "--create-device-nodes")
    eq(p.returncode, 0, "exit")
    assert "apply only with --create-all" in p.stderr, p.stderr
    assert "no NVIDIA device nodes" in p.stderr, p.stderr
    assert not os.path.exists(os.path.join(root, "dev/char")), "made a directory for nothing"


@test
def nodes_from_the_h200_procfs():
    """/proc/devices as the H200 machine's 580 driver writes it (nvidiactl has a line of its
    own; nvswitch, nvlink and IMEX majors beside), with its params."""
    need_root()
    root, proc = setup(gpus=(0,), params={"ModifyDeviceFiles": 1, "DeviceFileUID": 0,
                                          "DeviceFileGID": 0, "DeviceFileMode": 438})
    with open(os.path.join(proc, "devices"), "w") as f:
        f.write("Character devices:\n  1 mem\n  4 /dev/vc/0\n  5 /dev/tty\n"
                "195 nvidia\n195 nvidiactl\n238 nvidia-uvm\n239 nvidia-nvswitch\n"
                "240 nvidia-nvlink\n241 nvidia-caps\n242 nvidia-caps-imex-channels\n\n"
                "Block devices:\n  7 loop\n259 blkext\n")
    nodes(root, proc, "--control-devices", "--gpu-devices")
    for n, a, b in [("nvidiactl", 195, 255), ("nvidia-modeset", 195, 254),
                    ("nvidia-uvm", 238, 0), ("nvidia-uvm-tools", 238, 1), ("nvidia0", 195, 0)]:
        assert_node(os.path.join(root, "dev", n), a, b)


run_all()
