#!/usr/bin/env python3
"""Containers become clients of nctk's MPS daemons without image changes: real runc through the
runtime shim on the simulated driver (whose nvidia-cuda-mps-control answers over the pipe
directory). A container given a GPU that has a daemon (`nctk mps start`) gets that daemon's pipe
directory at /tmp/nvidia-mps and the CUDA_MPS_* variables over the image's own, reaches the daemon
from inside; NVIDIA_MPS=disabled, a container without the compute capability or given another
GPU get nothing; one given two GPUs, one of them served, is refused with one line. Legacy mode
writes the same variables into config.json.

usage: test-mps.py NCTK PROBE"""
import atexit
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import make_bundle, make_rootfs, make_sim  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-e2e-mps-")
SIM_ROOT = os.path.join(WORK, "sim")
MPS_ROOT = os.path.join(WORK, "mps")
DESC = make_sim(SIM_ROOT, "--gpus", "2")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
SHIM = os.path.join(BIN, "nvidia-container-runtime")
os.symlink(NCTK, SHIM)
os.symlink(NCTK, os.path.join(BIN, "nvidia-container-runtime-hook"))  # legacy mode's hook
STATE = os.path.join(WORK, "state")
GPU = DESC["gpus"][1]
_n = [0]


def mps(*args, check=True):
    return run([NCTK, "mps", *args, f"--driver-root={SIM_ROOT}", f"--proc-root={SIM_ROOT}/proc",
                f"--root={MPS_ROOT}"], check=check)


def cleanup():
    mps("stop", check=False)
    shutil.rmtree(WORK, ignore_errors=True)


atexit.register(cleanup)
mps("start", f"--device={GPU['index']}", "--thread-percentage=25", "--pinned-memory-limit=2G")
PIPE = os.path.join(MPS_ROOT, GPU["uuid"], "pipe")

# Inside: the variables, the mounted directory, and a command to the daemon through it (the
# simulator's sim_connect registers a client and answers with its server's pid).
SCRIPT = """
env | grep '^CUDA_MPS' | sort | sed 's/^/env: /'
ls /tmp/nvidia-mps 2>&1 | sed 's/^/ls: /'
echo "sim_connect $$" | nvidia-cuda-mps-control 2>&1 | sed 's/^/server: /'
"""


def config(mode="cdi", runtimes=None):
    _n[0] += 1
    path = os.path.join(WORK, f"config{_n[0]}.toml")
    rt = f"runtimes = {json.dumps(runtimes)}\n" if runtimes else ""
    with open(path, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{SIM_ROOT}"\nproc-root = "{SIM_ROOT}/proc"\n'
                f'mps-root = "{MPS_ROOT}"\n\n[nvidia-container-runtime]\nmode = "{mode}"\n{rt}')
    return path


def bundle(env):
    _n[0] += 1
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, SCRIPT)
    path = os.path.join(b, "config.json")
    cfg = json.load(open(path))
    cfg["process"]["env"] += list(env)
    json.dump(cfg, open(path, "w"), indent=1)
    return b


def shim(cfg, *args):
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    env.pop("XDG_CONFIG_HOME", None)
    return subprocess.run([SHIM, "--root", STATE, *args], capture_output=True, text=True, env=env,
                          timeout=120)


def run_in(env, mode="cdi"):
    b = bundle(env)
    cid = "mps-" + uuid.uuid4().hex[:12]
    p = shim(config(mode), "run", "--bundle", b, cid)
    subprocess.run(["runc", "--root", STATE, "delete", "--force", cid], capture_output=True)
    out = {"env": [], "ls": [], "server": []}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(": ")
        if k in out:
            out[k].append(v)
    return p, out, json.load(open(os.path.join(b, "config.json")))


def server_pids():
    return run([os.path.join(SIM_ROOT, "usr/bin/nvidia-cuda-mps-control")],
               env={"CUDA_MPS_PIPE_DIRECTORY": PIPE}, input="get_server_list\n").stdout.split()


@test
def plain_container_becomes_a_client():
    # The image asks for all of the GPU and its own pipe directory: the runtime's values win.
    p, out, spec = run_in([f"NVIDIA_VISIBLE_DEVICES={GPU['index']}",
                           "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
                           "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100",
                           "CUDA_MPS_PIPE_DIRECTORY=/elsewhere"])
    eq(p.returncode, 0, p.stderr)
    eq(out["env"], ["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=2048M",
                    "CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps"], "the client's variables")
    eq(sorted(out["ls"]), ["control", "nvidia-cuda-mps-control.pid"], "the daemon's pipe directory")
    eq(out["server"], server_pids(), "the daemon answered from inside the container")
    # runc 1.1.5 is not trusted with mount targets: then our createContainer hook makes them.
    mounts = [m["source"] for m in spec["mounts"] if m["destination"] == "/tmp/nvidia-mps"]
    hook_args = " ".join(a for h in spec["hooks"].get("createContainer", []) for a in h["args"])
    mounts += [PIPE] * hook_args.count(f"{PIPE}::/tmp/nvidia-mps")
    eq(mounts, [PIPE], "one mount of the pipe directory")
    envs = [e for e in spec["process"]["env"] if e.startswith("CUDA_MPS_ACTIVE")]
    eq(envs, ["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25"], "the image's value replaced in config.json")


@test
def opt_out_and_other_containers_get_nothing():
    for env, what in ((["NVIDIA_MPS=disabled", "NVIDIA_DRIVER_CAPABILITIES=compute"], "opted out"),
                      (["NVIDIA_DRIVER_CAPABILITIES=utility"], "no compute capability"),
                      ([f"NVIDIA_VISIBLE_DEVICES={DESC['gpus'][0]['index']}",
                        "NVIDIA_DRIVER_CAPABILITIES=compute"], "another GPU")):
        if not any(e.startswith("NVIDIA_VISIBLE_DEVICES") for e in env):
            env = env + [f"NVIDIA_VISIBLE_DEVICES={GPU['index']}"]
        p, out, spec = run_in(env)
        eq(p.returncode, 0, f"{what}: {p.stderr}")
        eq(out["env"], [], f"{what}: no CUDA_MPS variables")
        assert PIPE not in json.dumps(spec), f"{what}: no mount"


@test
def two_gpus_one_served_is_refused():
    p, out, spec = run_in(["NVIDIA_VISIBLE_DEVICES=all", "NVIDIA_DRIVER_CAPABILITIES=compute"])
    assert p.returncode != 0, p.stdout
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, p.stderr)
    assert "has an nctk MPS daemon" in lines[0] and "NVIDIA_MPS=disabled" in lines[0], lines[0]


@test
def legacy_mode_writes_the_variables():
    """Legacy mode: the prestart hook mounts, the shim sets the variables in config.json. The
    low-level runtime is a fake that exits at once: config.json is what is checked."""
    fake = os.path.join(WORK, "fake-runc")
    with open(fake, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(fake, 0o755)
    b = bundle([f"NVIDIA_VISIBLE_DEVICES={GPU['uuid']}", "NVIDIA_DRIVER_CAPABILITIES=compute",
                "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=100"])
    p = shim(config("legacy", [fake]), "create", "--bundle", b, "legacy-mps")
    eq(p.returncode, 0, p.stderr)
    spec = json.load(open(os.path.join(b, "config.json")))
    env = [e for e in spec["process"]["env"] if e.startswith("CUDA_MPS")]
    eq(sorted(env), ["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=2048M",
                     "CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps"], "legacy: variables")
    eq(len(spec["hooks"]["prestart"]), 1, "legacy: the prestart hook")


@test
def legacy_mode_with_runc():
    """Legacy mode with real runc: NVIDIA's prestart hook (nctk) mounts the pipe directory, the
    shim wrote the variables."""
    p, out, spec = run_in([f"NVIDIA_VISIBLE_DEVICES={GPU['index']}",
                           "NVIDIA_DRIVER_CAPABILITIES=compute,utility"], mode="legacy")
    eq(p.returncode, 0, p.stderr)
    eq(len(spec["hooks"]["prestart"]), 1, "the prestart hook")
    eq(out["env"], ["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=2048M",
                    "CUDA_MPS_PIPE_DIRECTORY=/tmp/nvidia-mps"], "the variables")
    eq(sorted(out["ls"]), ["control", "nvidia-cuda-mps-control.pid"], "mounted by the hook")
    eq(out["server"], server_pids(), "the daemon answered")


@test
def status_names_the_clients_container():
    """A container's process registered as a client (from the host, by the simulator's
    sim_connect: no CUDA here) is shown by `mps status` with its container."""
    _n[0] += 1
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, "sleep 30")
    path = os.path.join(b, "config.json")
    cfg = json.load(open(path))
    cfg["process"]["env"] += [f"NVIDIA_VISIBLE_DEVICES={GPU['index']}",
                              "NVIDIA_DRIVER_CAPABILITIES=compute"]
    cid = "mpsctr-" + uuid.uuid4().hex[:8]
    cfg["linux"]["cgroupsPath"] = f"/{cid}"
    json.dump(cfg, open(path, "w"), indent=1)
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=config())
    env.pop("XDG_CONFIG_HOME", None)
    ctr = subprocess.Popen([SHIM, "--root", STATE, "run", "--bundle", b, cid], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pid = None
        for _ in range(100):
            st = subprocess.run(["runc", "--root", STATE, "state", cid], capture_output=True,
                                text=True)
            if st.returncode == 0 and json.loads(st.stdout).get("status") == "running":
                pid = json.loads(st.stdout)["pid"]
                break
            time.sleep(0.1)
        assert pid, "the container runs"
        run([os.path.join(SIM_ROOT, "usr/bin/nvidia-cuda-mps-control")],
            env={"CUDA_MPS_PIPE_DIRECTORY": PIPE}, input=f"sim_connect {pid}\n")
        out = mps("status").stdout
        assert f"{pid} (container {cid[:12]})" in out, out
    finally:
        subprocess.run(["runc", "--root", STATE, "kill", cid, "KILL"], capture_output=True)
        ctr.wait(timeout=30)
        subprocess.run(["runc", "--root", STATE, "delete", "--force", cid], capture_output=True)


@test
def stopped_daemon_no_client():
    mps("stop")
    p, out, spec = run_in([f"NVIDIA_VISIBLE_DEVICES={GPU['index']}", "NVIDIA_DRIVER_CAPABILITIES=compute"])
    eq(p.returncode, 0, p.stderr)
    eq(out["env"], [], "no daemon, no variables")


run_all()
