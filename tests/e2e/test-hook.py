#!/usr/bin/env python3
"""nctk as nvidia-container-runtime-hook: real runc (and crun) bundles whose prestart hook is the
nctk binary called by that name, with the reference's arguments ("prestart", state on stdin), its
config.toml found through NVIDIA_CTK_CONFIG_FILE_PATH, and the request in the container's
environment, on the simulated driver.

usage: test-hook.py NCTK PROBE"""
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import (parse_probe as parse, host_mounts_mentioning, make_bundle, make_rootfs,  # noqa: E402
                        make_sim, prepare_crun, run_container)
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP runc bundles and the simulated driver's device nodes need root")
    sys.exit(0)

NCTK = os.path.abspath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-hook-")
SIM_ROOT = os.path.join(WORK, "sim")
DESC = make_sim(SIM_ROOT, "--gpus", "4")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
# The name dockerd looks up on its PATH; nctk dispatches on it.
os.makedirs(os.path.join(WORK, "bin"))
HOOK = os.path.join(WORK, "bin", "nvidia-container-runtime-hook")
os.symlink(NCTK, HOOK)
os.symlink(NCTK, os.path.join(WORK, "bin", "nvidia-container-toolkit"))
PREFIX = "nvidia-container-runtime-hook: "
DEVICE_ROOT = "/var/run/nvidia-container-devices"
_n = [0]

SCRIPT = """
nvidia-smi -L 2>&1 | sed 's/^/smi: /'
for f in /dev/nvidia*; do test -e "$f" && echo "dev: $f"; done
/probe dlopen libcuda.so.1 libnvidia-ml.so.1
/probe open /dev/nvidiactl {open_nodes}
/probe mknod-open /tmp/other 195 {other_minor}
"""


def config(**top):
    """A config.toml: the top-level keys given (True/False/str), the driver root of the
    simulator, and no kernel modules (there is no driver behind the simulated nodes)."""
    _n[0] += 1
    path = os.path.join(WORK, f"config{_n[0]}.toml")
    with open(path, "w") as f:
        f.write("# written by test-hook.py\n")
        for k, v in top.items():
            k = k.replace("_", "-")
            f.write(f"{k} = {str(v).lower() if isinstance(v, bool) else json.dumps(v)}\n")
        f.write(f'\n[nvidia-container-cli]\nroot = "{SIM_ROOT}"\nproc-root = "{SIM_ROOT}/proc"\n'
                'load-kmods = false\n')
    return path


DEFAULT_CONFIG = config()


def container(env, runtime="runc", cfg=None, privileged=False, mounts=(), script=None):
    """Runs a container whose image environment is ENV, with the hook as its prestart hook."""
    _n[0] += 1
    gpus = DESC["gpus"]
    script = script or SCRIPT.format(
        open_nodes=" ".join(f"/dev/nvidia{g['minor']}" for g in gpus),
        other_minor=gpus[0]["minor"])
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, script)
    path = os.path.join(b, "config.json")
    spec = json.load(open(path))
    spec["process"]["env"] += list(env)
    if privileged:
        spec["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    spec["mounts"] += [{"destination": d, "type": "bind", "source": s, "options": ["bind", "ro"]}
                       for s, d in mounts]
    spec["hooks"] = {"prestart": [{
        "path": HOOK, "args": ["nvidia-container-runtime-hook", "prestart"],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                f"NVIDIA_CTK_CONFIG_FILE_PATH={cfg or DEFAULT_CONFIG}"]}]}
    json.dump(spec, open(path, "w"), indent=1)
    return run_container(runtime, b), b


def smi_uuids(r):
    return [m.group(1) for m in (re.search(r"UUID: (GPU-[^)]*)", l) for l in r["smi"]) if m]


def gpu_nodes(r):
    return sorted(d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d))


def started(p):
    eq(p.returncode, 0, f"the container must start: {p.stderr}")
    return parse(p.stdout)


def refused(p, bundle, want):
    """The container did not start, runc reports our one line, and nothing is left behind."""
    assert p.returncode != 0, f"the container must not start: {p.stdout}"
    eq(p.stderr.count(PREFIX), 1, f"one line of ours in: {p.stderr}")
    line = p.stderr[p.stderr.index(PREFIX):].splitlines()[0]
    assert want in line, f"{want!r} not in {line!r}"
    eq(host_mounts_mentioning(bundle), [], "mounts left on the host")
    assert not os.path.lexists(os.path.join(bundle, "rootfs/usr/bin/nvidia-smi")), "files left"
    return line


def untouched(p, bundle):
    r = started(p)
    eq(r["dev"], [], "device nodes")
    assert len(r["smi"]) == 1 and "not found" in r["smi"][0], f"no nvidia-smi: {r['smi']}"
    eq(r["dlopen"], {"libcuda.so.1": "error", "libnvidia-ml.so.1": "error"}, "driver libraries")
    eq(p.stderr, "", "the hook says nothing")
    assert not os.path.lexists(os.path.join(bundle, "rootfs/usr/bin/nvidia-smi"))


def check_one_gpu(runtime):
    g = DESC["gpus"][1]
    p, bundle = container(["NVIDIA_VISIBLE_DEVICES=1",
                           "NVIDIA_DRIVER_CAPABILITIES=compute,utility"], runtime=runtime)
    r = started(p)
    eq(r["smi"], [f"GPU 0: {g['model']} (UUID: {g['uuid']})"], "nvidia-smi -L")
    eq(gpu_nodes(r), [f"/dev/nvidia{g['minor']}"], "GPU nodes")
    for n in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"):
        assert n in r["dev"], (n, r["dev"])
    for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
        assert r["dlopen"][lib].endswith(".so." + DESC["driver_version"]), r["dlopen"]
    eq(r["open"][f"/dev/nvidia{g['minor']}"], "ENXIO", "the selected GPU reaches the driver")
    eq(r["mknod-open"]["/tmp/other"], "EPERM", "a GPU that was not given (device cgroup)")
    eq(host_mounts_mentioning(bundle), [], "mounts visible on the host")


@test
def runc_one_gpu_by_index():
    check_one_gpu("runc")


@test
def crun_one_gpu_by_index():
    prepare_crun()
    check_one_gpu("crun")


@test
def all_gpus():
    r = started(container(["NVIDIA_VISIBLE_DEVICES=all"])[0])
    eq(smi_uuids(r), [g["uuid"] for g in DESC["gpus"]], "GPUs in the container")
    eq(len(gpu_nodes(r)), len(DESC["gpus"]), "GPU nodes")


@test
def none_gives_the_driver_but_no_gpu():
    r = started(container(["NVIDIA_VISIBLE_DEVICES=none"])[0])
    eq(gpu_nodes(r), [], "GPU nodes")
    assert "/dev/nvidiactl" in r["dev"], r["dev"]
    assert r["dlopen"]["libcuda.so.1"].endswith(DESC["driver_version"]), r["dlopen"]


@test
def void_empty_and_unset_leave_the_container_alone():
    for env in (["NVIDIA_VISIBLE_DEVICES=void"], ["NVIDIA_VISIBLE_DEVICES="], [],
                ["NVIDIA_VISIBLE_DEVICES=0,void"]):
        untouched(*container(env))


@test
def legacy_cuda_image_gets_every_gpu():
    """CUDA_VERSION without NVIDIA_REQUIRE_CUDA: all GPUs, all capabilities, cuda>=12.4."""
    r = started(container(["CUDA_VERSION=12.4.1"])[0])
    eq(smi_uuids(r), [g["uuid"] for g in DESC["gpus"]], "GPUs in the container")
    p, b = container([f"CUDA_VERSION={int(DESC['cuda_version'].split('.')[0]) + 1}.0"])
    refused(p, b, "unsatisfied condition: cuda>=")


@test
def unsatisfied_requirement_refuses_the_container():
    p, bundle = container(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99.0"])
    line = refused(p, bundle, "requirement error: unsatisfied condition: cuda>=99.0")
    assert DESC["cuda_version"] in line, line


@test
def disable_require_starts_it():
    r = started(container(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99.0",
                           "NVIDIA_DISABLE_REQUIRE=true"])[0])
    eq(smi_uuids(r), [DESC["gpus"][0]["uuid"]], "GPUs")
    cfg = config(disable_require=True)
    r = started(container(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99.0"],
                          cfg=cfg)[0])
    eq(smi_uuids(r), [DESC["gpus"][0]["uuid"]], "GPUs with disable-require")


@test
def malformed_device_lists_are_refused():
    for value, item in (("GPU-nope", "GPU-nope"), ("1,,x", "x"), ("0;reboot", "0;reboot")):
        p, b = container([f"NVIDIA_VISIBLE_DEVICES={value}"])
        refused(p, b, f"invalid NVIDIA_VISIBLE_DEVICES '{value}': '{item}' is not a GPU index")
    p, b = container(["NVIDIA_VISIBLE_DEVICES=7"])
    refused(p, b, "device error: unknown device '7'")


@test
def unknown_capability_is_refused():
    p, b = container(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=compute,foo"])
    refused(p, b, "invalid NVIDIA_DRIVER_CAPABILITIES 'compute,foo': 'foo' is not a supported "
                  "driver capability")


@test
def utility_only():
    r = started(container(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_DRIVER_CAPABILITIES=utility"])[0])
    eq(r["dlopen"]["libcuda.so.1"], "error", "no compute library")
    assert "/dev/nvidia-uvm" not in r["dev"], r["dev"]
    eq(len(smi_uuids(r)), 1, "nvidia-smi works with utility")


@test
def unprivileged_env_requests_dropped_when_configured():
    cfg = config(accept_nvidia_visible_devices_envvar_when_unprivileged=False)
    untouched(*container(["NVIDIA_VISIBLE_DEVICES=all"], cfg=cfg))
    r = started(container(["NVIDIA_VISIBLE_DEVICES=all"], cfg=cfg, privileged=True)[0])
    eq(len(smi_uuids(r)), len(DESC["gpus"]), "a privileged container keeps its request")


@test
def mig_requests_need_a_privileged_container():
    p, b = container(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_MIG_CONFIG_DEVICES=all"])
    refused(p, b, "NVIDIA_MIG_CONFIG_DEVICES is honoured only in privileged containers")


@test
def volume_mount_device_list():
    g = DESC["gpus"][2]
    mounts = [("/dev/null", f"{DEVICE_ROOT}/{g['uuid']}")]
    cfg = config(accept_nvidia_visible_devices_as_volume_mounts=True,
                 accept_nvidia_visible_devices_envvar_when_unprivileged=False)
    r = started(container(["NVIDIA_VISIBLE_DEVICES=all"], cfg=cfg, mounts=mounts)[0])
    eq(smi_uuids(r), [g["uuid"]], "the mounted list wins over the environment")
    eq(gpu_nodes(r), [f"/dev/nvidia{g['minor']}"], "GPU nodes")
    # without the switch the mounts mean nothing: the environment's request counts
    r = started(container(["NVIDIA_VISIBLE_DEVICES=0"], mounts=mounts)[0])
    eq(smi_uuids(r), [DESC["gpus"][0]["uuid"]], "mounts ignored by default")
    # only mounts of /dev/null name devices
    r = started(container([], cfg=cfg, mounts=[("/etc/hostname", f"{DEVICE_ROOT}/1")])[0])
    eq(r["dev"], [], "a mount of another file names nothing")


@test
def the_container_environment_does_not_configure_the_hook():
    """DESIGN rule 3: the image's NVIDIA_CTK_CONFIG_FILE_PATH or XDG_CONFIG_HOME do not reach the
    hook; only its request is read from there."""
    evil = os.path.join(WORK, "evil.toml")
    with open(evil, "w") as f:
        f.write('[nvidia-container-cli]\nroot = "/nonexistent"\n')
    r = started(container(["NVIDIA_VISIBLE_DEVICES=0", f"NVIDIA_CTK_CONFIG_FILE_PATH={evil}",
                           f"XDG_CONFIG_HOME={WORK}"])[0])
    eq(smi_uuids(r), [DESC["gpus"][0]["uuid"]], "configured from the hook's own environment")


def hook(args, stdin, env=None, name="nvidia-container-runtime-hook"):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NVIDIA_CTK_CONFIG_FILE_PATH": DEFAULT_CONFIG}
    e.update(env or {})
    return subprocess.run([os.path.join(WORK, "bin", name), *args], input=stdin,
                          capture_output=True, text=True, env=e, cwd=WORK, timeout=60)


def bundle_with(env, name):
    b = make_bundle(os.path.join(WORK, name), ROOTFS, PROBE, "true")
    spec = json.load(open(os.path.join(b, "config.json")))
    spec["process"]["env"] += env
    json.dump(spec, open(os.path.join(b, "config.json"), "w"))
    return b


@test
def direct_calls():
    """The hook's own command line and inputs, without a runtime."""
    void = bundle_with(["NVIDIA_VISIBLE_DEVICES=void"], "direct-void")
    state = json.dumps({"ociVersion": "1.0.2", "id": "x", "status": "creating", "pid": 1,
                        "bundle": void})
    for args in (["prestart"], ["-debug", "prestart"], ["--config", DEFAULT_CONFIG, "prestart"],
                 [f"-config={DEFAULT_CONFIG}", "prestart"]):
        p = hook(args, state)
        eq((p.returncode, p.stdout, p.stderr), (0, "", ""), f"void container, {args}")
    p = hook(["prestart"], json.dumps({"pid": 1, "bundlePath": void}), name="nvidia-container-toolkit")
    eq((p.returncode, p.stderr), (0, ""), "pre-1.0 bundlePath, the other name")
    p = run([NCTK, "hook", "prestart"], input=state, check=False,
            env={"NVIDIA_CTK_CONFIG_FILE_PATH": DEFAULT_CONFIG})
    eq((p.returncode, p.stderr), (0, ""), "nctk hook")
    for cmd in ("poststart", "poststop"):
        eq(hook([cmd], "").returncode, 0, cmd)
    p = hook(["-version"], "")
    assert p.returncode == 0 and "NVIDIA Container Runtime Hook version" in p.stdout, p
    eq(hook([], "").returncode, 2, "no command")
    eq(hook(["-bogus", "prestart"], "").returncode, 2, "unknown flag")
    errors = {
        "not json": ("prestart", "{", "cannot parse the container state on stdin"),
        "no bundle": ("prestart", '{"pid": 1}', "no absolute 'bundle' path"),
        "relative bundle": ("prestart", '{"pid": 1, "bundle": "b"}', "no absolute 'bundle'"),
        "no pid": ("prestart", json.dumps({"bundle": void}), "no valid 'pid'"),
        "huge state": ("prestart", " " * (2 << 20), "larger than 1 MiB"),
    }
    for what, (cmd, stdin, want) in errors.items():
        p = hook([cmd], stdin)
        eq(p.returncode, 1, what)
        eq(p.stderr.count(PREFIX), 1, f"{what}: {p.stderr}")
        assert want in p.stderr, (what, p.stderr)
    # config.json as a link is not followed
    linked = bundle_with(["NVIDIA_VISIBLE_DEVICES=0"], "direct-link")
    os.rename(os.path.join(linked, "config.json"), os.path.join(linked, "real.json"))
    os.symlink("real.json", os.path.join(linked, "config.json"))
    p = hook(["prestart"], json.dumps({"pid": 1, "bundle": linked}))
    assert p.returncode == 1 and "cannot open" in p.stderr and "config.json" in p.stderr, p.stderr
    # a missing config file named explicitly is an error; the default path may be missing
    p = hook(["prestart"], state, env={"NVIDIA_CTK_CONFIG_FILE_PATH": "/nonexistent.toml"})
    assert p.returncode == 1 and "config error" in p.stderr, p.stderr
    p = hook(["prestart"], state, env={"NVIDIA_CTK_CONFIG_FILE_PATH": "",
                                       "XDG_CONFIG_HOME": "/nonexistent"})
    eq((p.returncode, p.stderr), (0, ""), "missing default config")


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
