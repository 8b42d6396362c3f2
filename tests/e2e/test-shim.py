#!/usr/bin/env python3
"""nvidia-container-runtime in front of real runc and crun, called exactly as containerd and
dockerd call runc (`--root STATE [--log F --log-format json] run|create --bundle B ID`), on the
simulated driver: containers without GPUs pass through with config.json byte-identical, cdi mode
gives a container exactly its GPU through config.json alone (the cgroup programmed by the runtime
itself), legacy mode adds the prestart hook, and a bad request stops the container with one line
and config.json untouched.

usage: test-shim.py NCTK PROBE"""
import hashlib
import json
import os
import re
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import (parse_probe as parse, host_mounts_mentioning, make_bundle, make_rootfs,  # noqa: E402
                        make_sim, prepare_crun)
from tap import eq, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-shim-")
SIM_ROOT = os.path.join(WORK, "sim")
DESC = make_sim(SIM_ROOT, "--gpus", "4")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
SHIM = os.path.join(BIN, "nvidia-container-runtime")
os.symlink(NCTK, SHIM)
STATE = os.path.join(WORK, "state")
_n = [0]

SCRIPT = """
nvidia-smi -L 2>&1 | sed 's/^/smi: /'
for f in /dev/nvidia*; do echo "dev: $f"; done
/probe dlopen libcuda.so.1 libnvidia-ml.so.1
/probe open /dev/nvidiactl {open_nodes}
/probe mknod-open /tmp/other 195 {other_minor}
"""

DOCKER_HOOK = {"path": "/usr/bin/nvidia-container-runtime-hook",
               "args": ["nvidia-container-runtime-hook", "prestart"]}


def config(mode="cdi", runtimes=None, extra=""):
    """A config.toml, as /etc/nvidia-container-runtime/config.toml would be."""
    _n[0] += 1
    path = os.path.join(WORK, f"config{_n[0]}.toml")
    rt = f"runtimes = {json.dumps(runtimes)}\n" if runtimes else ""
    with open(path, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{SIM_ROOT}"\nproc-root = "{SIM_ROOT}/proc"\n\n'
                f'[nvidia-container-runtime]\nmode = "{mode}"\n{rt}{extra}')
    return path


def bundle(env=(), script="echo hello", hooks=None):
    _n[0] += 1
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, script)
    cfg_path = os.path.join(b, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["process"]["env"] += list(env)
    if hooks:
        cfg["hooks"] = hooks
    json.dump(cfg, open(cfg_path, "w"), indent=1)
    return b


def sha(b):
    return hashlib.sha256(open(os.path.join(b, "config.json"), "rb").read()).hexdigest()


def spec(b):
    return json.load(open(os.path.join(b, "config.json")))


def shim(cfg, *args, state=STATE):
    """ARGS as containerd passes them to runc, after --root STATE."""
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    env.pop("XDG_CONFIG_HOME", None)
    p = subprocess.run([SHIM, "--root", state, *args], capture_output=True, text=True, env=env,
                       timeout=120)
    return p


def run_in(cfg, b, runtime="runc", state=STATE):
    cid = "shim-" + uuid.uuid4().hex[:12]
    p = shim(cfg, "run", "--bundle", b, cid, state=state)
    subprocess.run([runtime, "--root", state, "delete", "--force", cid], capture_output=True)
    return p


def gpu_script(g):
    # mknod of another GPU: allowed by runc's default "c *:* m", refused on open by the cgroup.
    other = next(o for o in DESC["gpus"] if o["minor"] != g["minor"])
    return SCRIPT.format(open_nodes=f"/dev/nvidia{g['minor']}", other_minor=other["minor"])


def check_one_gpu(runtime, cfg, state=STATE, hooks=None):
    g = DESC["gpus"][1]
    b = bundle([f"NVIDIA_VISIBLE_DEVICES={g['index']}"], gpu_script(g), hooks=hooks)
    p = run_in(cfg, b, runtime, state)
    eq(p.returncode, 0, f"{runtime} through the shim: {p.stderr}")
    r = parse(p.stdout)
    eq(r["smi"], [f"GPU 0: {g['model']} (UUID: {g['uuid']})"], "nvidia-smi -L")
    eq(sorted(d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d)), [f"/dev/nvidia{g['minor']}"],
       "GPU nodes")
    for n in ("/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"):
        assert n in r["dev"], (n, r["dev"])
    for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
        assert r["dlopen"][lib].endswith(".so." + DESC["driver_version"]), r["dlopen"]
    eq(r["open"]["/dev/nvidiactl"], "ENXIO", "nvidiactl reaches the (absent) driver")
    eq(r["open"][f"/dev/nvidia{g['minor']}"], "ENXIO", "the selected GPU")
    eq(r["mknod-open"]["/tmp/other"], "EPERM", "another GPU, refused by the runtime's cgroup")
    eq(host_mounts_mentioning(b), [], "mounts visible on the host")
    s = spec(b)
    rules = s["linux"]["resources"]["devices"]
    assert {"allow": True, "type": "c", "major": 195, "minor": g["minor"], "access": "rw"} in rules, rules
    assert not any(h["path"].endswith("nvidia-container-runtime-hook")
                   for h in s.get("hooks", {}).get("prestart", [])), "no legacy hook in cdi mode"
    hook = s["hooks"]["createContainer"][-1]
    eq(hook["path"], NCTK, "the createContainer hook is nctk itself")
    eq(hook["env"], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "hook env")
    return b


@test
def no_gpu_passes_through_untouched():
    cfg = config("cdi")
    for env in ([], ["NVIDIA_VISIBLE_DEVICES=void"], ["NVIDIA_VISIBLE_DEVICES="]):
        b = bundle(env)
        before = sha(b)
        p = run_in(cfg, b)
        eq(p.returncode, 0, p.stderr)
        eq(p.stdout, "hello\n", f"the container ran ({env})")
        eq(sha(b), before, f"config.json byte-identical ({env})")
        eq(sorted(os.listdir(b)), ["config.json", "rootfs"], "nothing left in the bundle")


@test
def runc_cdi_one_gpu():
    check_one_gpu("runc", config("cdi"))


@test
def crun_cdi_one_gpu():
    prepare_crun()
    check_one_gpu("crun", config("cdi", ["crun"]), state=os.path.join(WORK, "crun-state"))


@test
def cdi_replaces_dockers_gpus_hook():
    """dockerd --gpus adds NVIDIA's prestart hook; in cdi mode the edits replace it (the hook's
    binary does not even exist here, so the container only starts if it is gone)."""
    check_one_gpu("runc", config("cdi"), hooks={"prestart": [DOCKER_HOOK]})


@test
def cdi_all_and_none():
    b = bundle(["NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=utility"],
               "nvidia-smi -L; for f in /dev/nvidia*; do echo \"dev: $f\"; done")
    p = run_in(config("cdi"), b)
    eq(p.returncode, 0, p.stderr)
    eq(len([l for l in p.stdout.splitlines() if l.startswith("GPU ")]), len(DESC["gpus"]), "all GPUs")
    assert "dev: /dev/nvidia-uvm" not in p.stdout, "utility only: no UVM"
    b = bundle(["NVIDIA_VISIBLE_DEVICES=none"],
               "for f in /dev/nvidia*; do echo \"dev: $f\"; done; /probe dlopen libcuda.so.1")
    p = run_in(config("cdi"), b)
    eq(p.returncode, 0, p.stderr)
    r = parse(p.stdout)
    eq([d for d in r["dev"] if re.fullmatch(r"/dev/nvidia\d+", d)], [], "no GPU node")
    assert r["dlopen"]["libcuda.so.1"] != "error", "the driver is still there"


@test
def cdi_device_names():
    """Fully qualified CDI names of NVIDIA's kinds select this host's GPUs in cdi mode; another
    vendor's kind that no spec file of the spec dirs has is refused in one line (the spec files
    themselves: test-shim-specs.py)."""
    g = DESC["gpus"][2]
    for name in (f"nvidia.com/gpu={g['index']}", f"runtime.nvidia.com/gpu={g['uuid']}"):
        b = bundle([f"NVIDIA_VISIBLE_DEVICES={name}"], "nvidia-smi -L")
        p = run_in(config("cdi"), b)
        eq(p.returncode, 0, f"{name}: {p.stderr}")
        eq([l for l in p.stdout.splitlines() if l.startswith("GPU ")],
           [f"GPU 0: {g['model']} (UUID: {g['uuid']})"], name)
    b = bundle(["NVIDIA_VISIBLE_DEVICES=vendor.com/fpga=0"])
    p = run_in(config("cdi"), b)
    assert p.returncode != 0, "another vendor's CDI device"
    assert "CDI device 'vendor.com/fpga=0' is in no spec of /etc/cdi,/var/run/cdi" in p.stderr, p.stderr


FAKE_RUNTIME = """#!/bin/sh
# Records how the shim called it, and the bundle's config.json at that moment.
printf '%s\\n' "$0" "$@" > {out}.argv
exit 0
"""


def fake_runtime():
    path = os.path.join(WORK, "fake-runc")
    with open(path, "w") as f:
        f.write(FAKE_RUNTIME.format(out=os.path.join(WORK, "fake")))
    os.chmod(path, 0o755)
    return path


@test
def legacy_adds_the_prestart_hook():
    """Legacy mode: the hook front-end is not in this branch, so the low-level runtime is a fake
    that records its arguments; what the shim wrote is checked in config.json."""
    fake = fake_runtime()
    cfg = config("legacy", [fake])
    b = bundle(["NVIDIA_VISIBLE_DEVICES=1"])
    os.chmod(os.path.join(b, "config.json"), 0o600)
    args = ["--log", os.path.join(WORK, "log.json"), "--log-format", "json", "create", "--bundle",
            b, "--pid-file", os.path.join(WORK, "pid"), "legacy-id"]
    p = shim(cfg, *args)
    eq(p.returncode, 0, p.stderr)
    eq(open(os.path.join(WORK, "fake.argv")).read().splitlines(), [fake, "--root", STATE, *args],
       "the runtime gets the original arguments")
    s = spec(b)
    hooks = s["hooks"]["prestart"]
    eq(len(hooks), 1, "one prestart hook")
    eq(hooks[0]["path"], NCTK, "the nctk binary, as nvidia-container-runtime-hook")
    eq(hooks[0]["args"], ["nvidia-container-runtime-hook", "prestart"], "hook args")
    eq(hooks[0]["env"], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                         f"NVIDIA_CTK_CONFIG_FILE_PATH={cfg}"], "explicit, minimal env")
    eq(os.stat(os.path.join(b, "config.json")).st_mode & 0o7777, 0o600, "mode kept")
    assert "mounts" in s and s["process"]["args"] == ["/bin/sh", "-c", "echo hello"], "rest kept"
    # A second create of the same bundle adds nothing (and rewrites nothing).
    before = sha(b)
    eq(shim(cfg, *args).returncode, 0)
    eq(sha(b), before, "second create: config.json unchanged")
    # dockerd's --gpus hook already there: left alone, the file not even rewritten.
    b = bundle(["NVIDIA_VISIBLE_DEVICES=1"], hooks={"prestart": [DOCKER_HOOK]})
    before = sha(b)
    eq(shim(cfg, "create", "--bundle", b, "id2").returncode, 0)
    eq(sha(b), before, "dockerd's hook kept, config.json byte-identical")


@test
def other_subcommands_do_not_read_the_spec():
    fake = fake_runtime()
    cfg = config("cdi", [fake])
    b = bundle(["NVIDIA_VISIBLE_DEVICES=99"])  # would fail if it were read
    before = sha(b)
    for args in (["state", "x"], ["start", "x"], ["delete", "--force", "x"], ["--bundle", b],
                 ["kill", "x", "KILL"]):
        p = subprocess.run([SHIM, *args], capture_output=True, text=True, cwd=b,
                           env=dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg))
        eq(p.returncode, 0, f"{args}: {p.stderr}")
        eq(open(os.path.join(WORK, "fake.argv")).read().splitlines(), [fake, *args], f"{args}")
    eq(sha(b), before, "config.json untouched")


@test
def unknown_device_fails_cleanly():
    cfg = config("cdi")
    b = bundle(["NVIDIA_VISIBLE_DEVICES=7"])
    before = sha(b)
    log = os.path.join(WORK, "err-log.json")
    cid = "shim-bad-" + uuid.uuid4().hex[:8]
    p = shim(cfg, "--log", log, "--log-format", "json", "create", "--bundle", b, cid)
    assert p.returncode != 0, "the container must not be created"
    lines = p.stderr.splitlines()
    eq(len(lines), 1, f"one error line: {p.stderr!r}")
    assert lines[0].startswith("nvidia-container-runtime: NVIDIA_VISIBLE_DEVICES: unknown device '7'"), lines[0]
    eq(sha(b), before, "config.json unchanged")
    eq(sorted(os.listdir(b)), ["config.json", "rootfs"], "no temporary file left")
    st = subprocess.run(["runc", "--root", STATE, "state", cid], capture_output=True, text=True)
    assert st.returncode != 0, "no container"
    entry = json.loads(open(log).read().splitlines()[-1])
    eq(entry["level"], "error", "runc log entry")
    assert "unknown device '7'" in entry["msg"], entry


@test
def missing_runtime_is_one_line():
    b = bundle()
    p = shim(config("cdi", ["/nonexistent/runc", "no-such-runtime"]), "run", "--bundle", b, "x")
    eq(p.returncode, 1, p.stderr)
    eq(len(p.stderr.splitlines()), 1, p.stderr)
    assert p.stderr.startswith("nvidia-container-runtime: no low-level runtime found"), p.stderr


@test
def hostile_image_stays_inside():
    """The image's library directory is an absolute link to a host directory. With the mounts
    in config.json (mount-in-hook = "never"), the runtime resolves the link inside the rootfs
    and makes the missing directories there; our hook's links and ld cache land inside too.
    With the mounts made by our hook (the default on this runc, < 1.1.14), a link that leads
    nowhere inside the rootfs is refused in one line, as `configure` refuses it. Either way
    nothing is created or mounted on the host."""
    escape = os.path.join(WORK, "escape")
    os.makedirs(escape)
    img = os.path.join(WORK, "rootfs-hostile")
    subprocess.run(["cp", "-a", ROOTFS, img], check=True)
    os.makedirs(os.path.join(img, "usr/lib"), exist_ok=True)
    os.symlink(escape, os.path.join(img, "usr/lib/x86_64-linux-gnu"))
    for setting in ("never", "auto"):
        _n[0] += 1
        b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), img, PROBE, "/probe dlopen libcuda.so.1")
        cfg = spec(b)
        cfg["process"]["env"].append("NVIDIA_VISIBLE_DEVICES=0")
        json.dump(cfg, open(os.path.join(b, "config.json"), "w"))
        p = run_in(config("cdi", extra=f'mount-in-hook = "{setting}"\n'), b)
        if setting == "never":
            eq(p.returncode, 0, p.stderr)
            assert parse(p.stdout)["dlopen"]["libcuda.so.1"].endswith(DESC["driver_version"]), p.stdout
        else:
            assert p.returncode != 0, p.stdout
            assert "nctk hook-finalize: mount target '/usr/lib/x86_64-linux-gnu/" in p.stderr, p.stderr
            assert "No such file or directory" in p.stderr, p.stderr
        eq(os.listdir(escape), [], f"nothing created on the host ({setting})")
        eq(host_mounts_mentioning(escape), [], f"nothing mounted on the host ({setting})")


@test
def debug_log_when_configured():
    log = os.path.join(WORK, "runtime-debug.log")
    b = bundle(["NVIDIA_VISIBLE_DEVICES=0"], "true")
    p = run_in(config("cdi", extra=f'debug = "{log}"\n'), b)
    eq(p.returncode, 0, p.stderr)
    text = open(log).read()
    assert "cdi:" in text and "mounts" in text, text


if __name__ == "__main__":
    try:
        run_all()
    finally:
        subprocess.run(["rm", "-rf", WORK])
