#!/usr/bin/env python3
"""Driver discovery end to end: `nvidia-container-cli info` and `list` against simulated driver
roots (tests/sim), checked field by field against the simulator's own description, and every
bad-input path: no driver, corrupt ld cache, lost GPU, version mismatch, unknown device.

usage: test-discover.py NCTK_BINARY"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Skip, eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
SIM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim", "nctk-sim")
WORK = tmpdir("nctk-discover-")
_roots = {}


def sim(name, *args):
    """A simulated driver root made once per distinct argument list."""
    key = (name,) + args
    if key not in _roots:
        root = os.path.join(WORK, name)
        run([sys.executable, SIM, "create", root, *args])
        desc = json.loads(run([sys.executable, SIM, "describe", root]).stdout)
        _roots[key] = (root, desc)
    return _roots[key]


def cli(root, *args, check=True, env=None, proc=True):
    """nvidia-container-cli on ROOT and, unless PROC is false, the simulator's procfs in it."""
    g = ["--root", root] if root else []
    if root and proc:
        g += ["--proc-root", root + "/proc"]
    return run([NCTK, "nvidia-container-cli", *g, *args], check=check, env=env)


def info_json(root):
    return json.loads(cli(root, "info", "--json").stdout)


def list_lines(root, *args, env=None):
    return cli(root, "list", *args, env=env).stdout.splitlines()


def one_line_error(p, needle):
    """A failure is exactly one stderr line, naming the problem."""
    assert p.returncode != 0, f"expected failure, got success: {p.stdout}"
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, f"stderr lines ({p.stderr!r})")
    assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert "nvidia-container-cli: " in lines[0], lines[0]


# NVML brand enum -> the names the reference CLI prints.
BRANDS = ["Unknown", "Quadro", "Tesla", "NVS", "GRID", "GeForce", "TITAN", "VApps", "VPC", "VCS",
          "VWS", "CloudGaming", "QuadroRTX", "NvidiaRTX", "Nvidia", "GeForceRTX", "TitanRTX"]


def brand(g):
    return BRANDS[g["brand_id"]]


def gpus_by_uuid(desc):
    return {g["uuid"]: g for g in desc["gpus"]}


@test
def info_text_matches_simulator():
    root, desc = sim("one", "--gpus", "1")
    out = cli(root, "info").stdout
    g = desc["gpus"][0]
    want = (
        f"NVRM version:   {desc['driver_version']}\n"
        f"CUDA version:   {desc['cuda_version']}\n"
        "\n"
        "Device Index:   0\n"
        f"Device Minor:   {g['minor']}\n"
        f"Model:          {g['model']}\n"
        f"Brand:          {brand(g)}\n"
        f"GPU UUID:       {g['uuid']}\n"
        f"Bus Location:   {g['busid']}\n"
        f"Architecture:   {g['cc']}\n"
    )
    eq(out, want, "info output")


@test
def info_csv_format():
    root, desc = sim("one", "--gpus", "1")
    lines = cli(root, "info", "--csv").stdout.splitlines()
    eq(lines[0], "NVRM version,CUDA version")
    eq(lines[1], f"{desc['driver_version']},{desc['cuda_version']}")
    eq(lines[3], "Device Index,Device Minor,Model,Brand,GPU UUID,Bus Location,Architecture")
    g = desc["gpus"][0]
    eq(lines[4], f"0,{g['minor']},{g['model']},{brand(g)},{g['uuid']},{g['busid']},{g['cc']}")


@test
def eight_gpus_minor_is_not_index():
    root, desc = sim("eight", "--gpus", "8")
    j = info_json(root)
    eq(len(j["gpus"]), 8, "gpu count")
    want = gpus_by_uuid(desc)
    assert any(g["index"] != g["minor"] for g in j["gpus"]), "simulator must permute minors"
    for g in j["gpus"]:
        w = want[g["uuid"]]
        eq((g["index"], g["minor"], g["bus_id"], g["model"]),
           (w["index"], w["minor"], w["busid"], w["model"]), g["uuid"])
    eq([g["bus_id"] for g in j["gpus"]], sorted(g["bus_id"] for g in j["gpus"]), "PCI order")


@test
def sixty_four_gpus():
    root, desc = sim("many", "--gpus", "64")
    j = info_json(root)
    eq(len(j["gpus"]), 64, "gpu count")
    devs = [l for l in list_lines(root, "--device=all") if l.startswith(root + "/dev/nvidia")]
    minors = sorted(int(l[len(root + "/dev/nvidia"):]) for l in devs if l[len(root + "/dev/nvidia"):].isdigit())
    eq(minors, sorted(g["minor"] for g in desc["gpus"]), "device nodes")


@test
def zero_gpus():
    root, desc = sim("zero", "--gpus", "0")
    j = info_json(root)
    eq(j["gpus"], [], "gpus")
    eq(j["driver_version"], desc["driver_version"], "version")
    lines = list_lines(root)
    assert root + "/dev/nvidiactl" in lines, lines
    assert not any(l.startswith(root + "/dev/nvidia") and l[len(root + "/dev/nvidia"):].isdigit() for l in lines)


def expected_libs(root, desc, want32):
    return sorted(root + l["path"] for l in desc["libraries"]
                  if l["current"] and (l["arch"] != "x86_64") == want32)


@test
def list_libraries_debian_layout():
    root, desc = sim("one", "--gpus", "1")
    libs = list_lines(root, "--libraries")
    eq(sorted(libs), expected_libs(root, desc, False), "64-bit libraries")
    for l in libs:
        assert l.endswith(".so." + desc["driver_version"]), l
        assert desc["old_version"] not in l, l
    libs32 = [l for l in list_lines(root, "--libraries", "--compat32") if l not in libs]
    eq(sorted(libs32), expected_libs(root, desc, True), "32-bit libraries")


@test
def list_order_follows_reference():
    root, desc = sim("one", "--gpus", "1")
    lines = list_lines(root)
    kinds = []
    for l in lines:
        rel = l[len(root):]
        k = ("dev" if rel.startswith("/dev/") else "bin" if "/bin/" in rel else
             "fw" if "/firmware/" in rel else "lib" if ".so." in rel else "ipc")
        if not kinds or kinds[-1] != k:
            kinds.append(k)
    eq(kinds, ["dev", "bin", "lib", "ipc", "fw"], "section order")
    eq(lines[0], root + "/dev/nvidiactl")


@test
def nvidia_layout_like_the_gpu_machine():
    root, desc = sim("nvlayout", "--gpus", "1", "--layout", "nvidia")
    lines = list_lines(root)
    libs = [l for l in lines if ".so." in l]
    eq(sorted(l for l in libs if "/lib64/" in l), expected_libs(root, desc, False), "libraries")
    assert not any(l.startswith(root + "/lib/lib") for l in libs), "duplicate /lib links must resolve"
    bins = [l for l in lines if "/bin/" in l]
    assert root + "/usr/local/nvidia/bin/nvidia-smi" in bins, bins
    assert root + "/usr/bin/nvidia-smi" not in bins, "a wrapper script is not the binary"
    fw = [l for l in lines if "/firmware/" in l]
    assert fw and all(l.startswith(root + "/usr/local/nvidia/firmware/nvidia/") for l in fw), fw
    j = info_json(root)
    configs = [c["path"] for c in j["configs"]]
    assert any(c.endswith("/nvidia_icd.json") for c in configs), configs
    assert any(c.endswith("/10_nvidia.json") for c in configs), configs


@test
def list_device_selection():
    root, desc = sim("eight", "--gpus", "8")
    g3 = desc["gpus"][3]
    short = "0:" + g3["busid"].split(":", 1)[1]  # leading zeros are optional
    for sel in ("3", g3["uuid"], g3["uuid"].lower(), g3["busid"], short):
        devs = [l for l in list_lines(root, "--device", sel) if l[len(root + "/dev/nvidia"):].isdigit()]
        eq(devs, [f"{root}/dev/nvidia{g3['minor']}"], f"--device={sel}")
    devs = [l for l in list_lines(root, "--device=1", "--device=2,,") if l[len(root + "/dev/nvidia"):].isdigit()]
    eq(len(devs), 2, "repeated --device")


@test
def unknown_device_is_one_clear_line():
    root, _ = sim("eight", "--gpus", "8")
    for bad in ("8", "GPU-nope", "0000:ff:00.0", "7:9", "x"):
        p = cli(root, "list", "--device", bad, check=False)
        one_line_error(p, f"unknown device '{bad}'")
        eq(p.stdout, "", "no partial output")


@test
def capability_filter():
    root, desc = sim("one", "--gpus", "1")
    libs = list_lines(root, "--libraries", "--utility")
    names = sorted(os.path.basename(l).split(".so")[0] for l in libs)
    assert "libnvidia-ml" in names and "libcuda" not in names, names
    libs = list_lines(root, "--libraries", "--video")
    names = [os.path.basename(l).split(".so")[0] for l in libs]
    assert "libcuda" in names and "libnvcuvid" in names, "video implies compute libraries"


@test
def mig_devices():
    root, desc = sim("mig", "--gpus", "2", "--mig", "1")
    j = info_json(root)
    g = j["gpus"][1]
    assert g["mig_enabled"] and len(g["mig_devices"]) >= 1, g
    want = desc["gpus"][1]["mig_devices"]
    eq(sorted(m["uuid"] for m in g["mig_devices"]), sorted(m["uuid"] for m in want), "MIG UUIDs")
    m = g["mig_devices"][0]
    w = {x["uuid"]: x for x in want}[m["uuid"]]
    eq((m["gi"], m["ci"], m["gi_caps_minor"], m["ci_caps_minor"]),
       (w["gi"], w["ci"], w["gi_cap_minor"], w["ci_cap_minor"]), "MIG ids and caps minors")
    for sel in (f"1:{m['index']}", m["uuid"]):
        lines = list_lines(root, "--device", sel)
        assert root + m["gi_caps"] in lines and root + m["ci_caps"] in lines, lines
        assert f"{root}/dev/nvidia-caps/nvidia-cap{m['gi_caps_minor']}" in lines, lines
        assert not any(l[len(root + "/dev/nvidia"):].isdigit() for l in lines), "MIG is not the GPU"
    lines = list_lines(root, "--device=all", "--mig-config=all")
    assert root + "/proc/driver/nvidia/capabilities/mig/config" in lines, lines
    p = cli(root, "list", "--mig-config=0", check=False)
    one_line_error(p, "only 'all'")


@test
def mig_config_and_monitor_nodes():
    """The global MIG config and monitor capabilities come with their /dev/nvidia-caps nodes."""
    root, desc = sim("mig", "--gpus", "2", "--mig", "1")
    nodes = {d["path"] for d in desc["devices"]}
    for flag, what in (("--mig-config=all", "config"), ("--mig-monitor=all", "monitor")):
        lines = list_lines(root, "--device=all", flag)
        assert root + "/proc/driver/nvidia/capabilities/mig/" + what in lines, lines
        cap = [l for l in lines if l.startswith(root + "/dev/nvidia-caps/")]
        assert cap and all(l[len(root):] in nodes for l in cap), (cap, nodes)
        j = json.loads(cli(root, "list", "--device=all", flag, "--json").stdout)
        eq(sorted(j["mig"]), sorted(l for l in lines if "/proc/" in l), f"{flag} json")


@test
def imex_channels_that_exist():
    """--imex-channel gives the channel nodes that exist with the driver's IMEX major; a missing
    one is a warning, a malformed one an input error."""
    root, desc = sim("imex", "--gpus", "1")
    major = desc["majors"]["nvidia-caps-imex-channels"]
    d = os.path.join(root, "dev/nvidia-caps-imex-channels")
    os.makedirs(d, exist_ok=True)
    os.mknod(os.path.join(d, "channel3"), 0o20666, os.makedev(major, 3))
    os.mknod(os.path.join(d, "channel5"), 0o20666, os.makedev(major + 7, 5))  # wrong major
    p = cli(root, "list", "--imex-channel=3,4", "--imex-channel=5")
    imex = [l for l in p.stdout.splitlines() if "imex-channels" in l]
    eq(imex, [d + "/channel3"], "only the channel that exists with the right numbers")
    for ch in (4, 5):
        assert f"missing IMEX channel device '{d}/channel{ch}'" in p.stderr, p.stderr
    one_line_error(cli(root, "list", "--imex-channel=x", check=False), "invalid --imex-channel 'x'")


@test
def no_driver_is_one_clear_line():
    root, _ = sim("nonvml", "--gpus", "1", "--no-nvml")
    one_line_error(cli(root, "info", check=False), "no NVIDIA driver found")
    one_line_error(cli(root, "list", check=False), "no NVIDIA driver found")


@test
def missing_root_and_garbage_cache():
    one_line_error(cli(os.path.join(WORK, "does-not-exist"), "info", check=False), "driver root")
    root, _ = sim("one", "--gpus", "1")
    bad = os.path.join(WORK, "bad-root")
    run(["cp", "-a", root, bad])
    cache = os.path.join(bad, "etc/ld.so.cache")
    data = open(cache, "rb").read()
    for cut in (0, 10, len(data) // 2):
        with open(cache, "wb") as f:
            f.write(data[:cut])
        p = cli(bad, "info", check=False)
        one_line_error(p, "ld.so.cache")
    with open(cache, "wb") as f:
        f.write(b"\x7fELF" + b"\xff" * 4096)
    one_line_error(cli(bad, "info", check=False), "ld.so.cache")


@test
def lost_gpu_and_rm_mismatch():
    root, _ = sim("lost", "--gpus", "2", "--lost", "1")
    one_line_error(cli(root, "info", check=False), "lost")
    root, _ = sim("mismatch", "--gpus", "1", "--rm-mismatch")
    one_line_error(cli(root, "info", check=False), "version mismatch")


def kmod_mismatch_root():
    """A copy of the "one" root whose proc/driver/nvidia/version names kernel module 999.1.2."""
    root, desc = sim("one", "--gpus", "1")
    bad = os.path.join(WORK, "kmod-mismatch")
    if not os.path.exists(bad):
        run(["cp", "-a", root, bad])
        vfile = os.path.join(bad, "proc/driver/nvidia/version")
        text = open(vfile).read().replace(desc["driver_version"], "999.1.2")
        open(vfile, "w").write(text)
    return bad, desc


@test
def kernel_module_and_library_versions_differ():
    bad, desc = kmod_mismatch_root()
    p = cli(bad, "info", check=False)
    one_line_error(p, "version mismatch")
    assert "999.1.2" in p.stderr and desc["driver_version"] in p.stderr, p.stderr


@test
def host_proc_is_the_default():
    """A driver root holds the driver's files, not the kernel's state: without --proc-root the
    host's /proc is read, even when the root has a proc/driver/nvidia of its own."""
    bad, _ = kmod_mismatch_root()
    p = cli(bad, "info", "--json", check=False, proc=False)
    assert "999.1.2" not in p.stdout + p.stderr, f"the root's /proc was read: {p.stderr}"
    if p.returncode == 0:
        eq(json.loads(p.stdout)["proc_root"], "/proc", "default proc root")
    else:  # only a host whose own driver is not the simulated version may refuse
        assert os.path.exists("/proc/driver/nvidia/version"), p.stderr
        one_line_error(p, "version mismatch")
    root, _ = sim("one", "--gpus", "1")
    eq(info_json(root)["proc_root"], root + "/proc", "--proc-root")


@test
def load_kmods_creates_missing_nodes():
    root, desc = sim("nodev", "--gpus", "2", "--no-dev")
    os.makedirs(os.path.join(root, "dev"), exist_ok=True)
    # modprobe cannot load a module on this machine: that is a warning, then the nodes are made
    # from the majors the (simulated) /proc/devices lists.
    p = cli(root, "--load-kmods", "list", "--device=all", check=False)
    assert p.returncode == 0, p.stderr
    for g in desc["gpus"]:
        st = os.stat(os.path.join(root, f"dev/nvidia{g['minor']}"))
        eq((os.major(st.st_rdev), os.minor(st.st_rdev)), (195, g["minor"]), "node numbers")
        eq(st.st_mode & 0o777, 0o666, "mode")
    assert f"{root}/dev/nvidia-uvm" in p.stdout.splitlines(), p.stdout


def in_initial_user_namespace():
    try:
        return open("/proc/self/uid_map").read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


@test
def load_kmods_runs_modprobe_only_for_missing_modules():
    """--load-kmods asks modprobe only for the modules that /sys/module does not list, so a
    container start on a host with the driver loaded spawns no process. In a private mount
    namespace, a modprobe that records its arguments is mounted over /usr/sbin (and /sbin when
    that is a directory of its own), and a directory of the loaded modules over /sys/module."""
    if os.geteuid() != 0 or not in_initial_user_namespace():
        return  # modprobe is never run in a user namespace
    root, _ = sim("one", "--gpus", "1")
    sbin = os.path.join(WORK, "fake-sbin")
    calls = os.path.join(WORK, "modprobe.calls")
    os.makedirs(sbin, exist_ok=True)
    with open(os.path.join(sbin, "modprobe"), "w") as f:
        f.write(f'#!/bin/sh\necho "$*" >> {calls}\n')
    os.chmod(os.path.join(sbin, "modprobe"), 0o755)

    def modprobe_calls(loaded):
        sysmod = os.path.join(WORK, "sys-module-" + "+".join(loaded))
        for m in loaded:
            os.makedirs(os.path.join(sysmod, m), exist_ok=True)
        os.makedirs(sysmod, exist_ok=True)
        if os.path.exists(calls):
            os.unlink(calls)
        mounts = f"mount --bind {sbin} /usr/sbin && mount --bind {sysmod} /sys/module"
        if not os.path.islink("/sbin"):
            mounts += f" && mount --bind {sbin} /sbin"
        p = run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                 f"{mounts} && exec {NCTK} nvidia-container-cli --load-kmods --root {root} "
                 f"--proc-root {root}/proc info"], check=False)
        eq(p.returncode, 0, p.stderr)
        return open(calls).read().splitlines() if os.path.exists(calls) else []

    eq(modprobe_calls([]), ["-q nvidia", "-q nvidia_uvm", "-q nvidia_modeset"], "none loaded")
    eq(modprobe_calls(["nvidia"]), ["-q nvidia_uvm", "-q nvidia_modeset"], "nvidia loaded")
    eq(modprobe_calls(["nvidia", "nvidia_uvm", "nvidia_modeset"]), [], "all loaded")


@test
def compatibility_name_and_json():
    root, _ = sim("one", "--gpus", "1")
    link = os.path.join(WORK, "nvidia-container-cli")
    if not os.path.exists(link):
        os.symlink(NCTK, link)
    a = run([link, "--root", root, "--proc-root", root + "/proc", "list"]).stdout
    b = cli(root, "list").stdout
    eq(a, b, "argv[0] dispatch")
    j = json.loads(cli(root, "list", "--json").stdout)
    eq(j["library"], list_lines(root, "--libraries"), "json libraries")
    assert j["device"][0] == root + "/dev/nvidiactl", j


@test
def walk_fallback_gives_same_answers():
    root, _ = sim("nvlayout", "--gpus", "1", "--layout", "nvidia")
    a = cli(root, "list").stdout
    b = cli(root, "list", env={"NCTK_TEST_NO_OPENAT2": "1"}).stdout
    eq(b, a, "openat2 vs walk")


@test
def unprivileged_list():
    if os.geteuid() != 0:
        raise Skip("needs root, to run nctk as another user (setpriv)")
    root, _ = sim("one", "--gpus", "1")
    p = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NCTK,
             "nvidia-container-cli", "--root", root, "--proc-root", root + "/proc", "list"],
            check=False)
    eq(p.returncode, 0, f"unprivileged list: {p.stderr}")
    eq(p.stdout, cli(root, "list").stdout, "same output unprivileged")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
