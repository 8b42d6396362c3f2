#!/usr/bin/env python3
"""examples/mps with docker-compose 1.29 against a real private dockerd (scripts/engines.sh)
whose `nvidia` runtime is nctk's shim, on the simulated driver: the images build, `up` starts the
daemon container, which gets the MPS programs and sets its GPU's compute mode (the simulated
driver keeps it in a file that stands for the kernel's state), clients get the pipe volume and
the variables and reach the daemon through the volume, SIGTERM restores DEFAULT, a simulated
Pascal is refused with one line naming its architecture, and `down -v` leaves nothing.

There is no CUDA behind the simulated GPUs, so a client registers itself with the simulated
daemon's `sim_connect` instead of creating a context; tests/device/mps-compose.sh runs the same
containers on the H200.

Suite 'engines': run it under `flock /tmp/nctk-engines.lock` (one engine user at a time).
usage: test-mps-compose.py NCTK PROBE"""
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from containers import make_rootfs, make_sim  # noqa: E402
from tap import eq, run, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "mps")
ENGINES_SH = os.path.join(HERE, "..", "..", "scripts", "engines.sh")
WORK = tmpdir("nctk-mps-compose-")
atexit.register(shutil.rmtree, WORK, True)
SIM_ROOT = os.path.join(WORK, "sim")
CONFIG = os.path.join(WORK, "config.toml")
BASE = "nctk-mps-base"
RUNC = "/usr/sbin/runc"
SHIM = os.path.join(WORK, "shim", "nvidia-container-runtime")
SHIM_HOOK = os.path.join(WORK, "hook", "nvidia-container-runtime-hook")
BIN = os.path.join(WORK, "bin")
PROJECT = f"nctkmps{os.getpid()}"
# The simulated driver keeps compute modes in files of its root, one per GPU UUID; a real driver
# keeps them in the kernel, which every container shares. The daemon sees the root's directory.
MODES = os.path.join(SIM_ROOT, "var/lib/nctk-sim/compute-mode")
GPU = 1
DEFAULT, EXCLUSIVE_PROCESS = 0, 3


def engines(fn, *args, check=True, timeout=300):
    return run(["bash", "-c", '. "$0" && "$@"', ENGINES_SH, fn, *args], check=check,
               env={"NVIDIA_CTK_CONFIG_FILE_PATH": CONFIG}, timeout=timeout)


ENV = dict(l.split("=", 1) for l in engines("engines_env").stdout.splitlines())
DOCKER = os.path.join(ENV["NCTK_ENGINES_BIN"], "docker")
COMPOSE = os.path.join(ENV["NCTK_ENGINES_BIN"], "docker-compose")
SIM = {}


def sh(argv, timeout=180, env=None):
    return run(argv, check=False, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def ok(p, what):
    eq(p.returncode, 0, f"{what}: exit status (stderr: {p.stderr.strip()[-2000:]}; stdout: {p.stdout[-1000:]})")
    return p


def compose(*args, gpus=str(GPU), percentage="33", timeout=180):
    env = {"NVIDIA_VISIBLE_DEVICES": gpus, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE": percentage,
           "MPS_BASE_IMAGE": BASE, "MPS_CLIENT_BASE_IMAGE": BASE}
    return sh([COMPOSE, "-f", os.path.join(EXAMPLE, "docker-compose.yml"), "-f", OVERRIDE,
               "-p", PROJECT, "--project-directory", EXAMPLE, *args], env=env, timeout=timeout)


def mode_of(index):
    """The compute mode the simulated driver holds for GPU INDEX (DEFAULT without a file)."""
    try:
        return int(open(os.path.join(MODES, SIM["gpus"][index]["uuid"])).read())
    except FileNotFoundError:
        return DEFAULT


def ids(service):
    return ok(compose("ps", "-a", "-q", service), f"docker-compose ps {service}").stdout.split()


def inspect(cid):
    return json.loads(ok(sh([DOCKER, "inspect", cid]), "docker inspect").stdout)[0]


def leftovers():
    """The project's containers, volumes and networks, and any volume at all (none existed)."""
    label = f"label=com.docker.compose.project={PROJECT}"
    left = {what: ok(sh([DOCKER, what, "ls", "-q", "--filter", label]), f"docker {what} ls")
            .stdout.split() for what in ("volume", "network")}
    left["container"] = ok(sh([DOCKER, "ps", "-a", "-q", "--filter", label]), "docker ps").stdout.split()
    left["any volume"] = ok(sh([DOCKER, "volume", "ls", "-q"]), "docker volume ls").stdout.split()
    return left


# ---------------------------------------------------------------- TAP
_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def diagnostics():
    for f in (ENV["NCTK_DOCKERD_LOG"], os.path.join(WORK, "runtime.log")):
        if os.path.exists(f):
            print(f"# --- {f} (end)", flush=True)
            for line in open(f, errors="replace").read().splitlines()[-15:]:
                print(f"#   {line}", flush=True)


def run_all():
    failed = 0
    for n, fn in enumerate(_tests, 1):
        t = time.monotonic()
        try:
            fn()
            print(f"ok {n} - {fn.__name__}", flush=True)
        except Exception:  # a failed test reports and the others go on
            failed += 1
            print(f"not ok {n} - {fn.__name__}", flush=True)
            for line in traceback.format_exc().splitlines():
                print(f"# {line}", flush=True)
            diagnostics()
        print(f"# {fn.__name__}: {time.monotonic() - t:.2f} s", flush=True)
    print(f"1..{len(_tests)}", flush=True)
    return failed


# ---------------------------------------------------------------- setup
OVERRIDE = os.path.join(WORK, "override.yml")


def write_files():
    with open(CONFIG, "w") as f:
        f.write(f"""supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
root = "{SIM_ROOT}"
proc-root = "{SIM_ROOT}/proc"
path = "{os.path.join(BIN, 'nvidia-container-cli')}"
load-kmods = false

[nvidia-container-runtime]
debug = "{os.path.join(WORK, 'runtime.log')}"
mode = "legacy"
runtimes = ["{RUNC}"]

[nvidia-container-runtime-hook]
path = "{SHIM_HOOK}"
skip-mode-detection = true
""")
    for d in (BIN, os.path.dirname(SHIM), os.path.dirname(SHIM_HOOK)):
        os.makedirs(d, exist_ok=True)
    os.symlink(NCTK, os.path.join(BIN, "nvidia-container-cli"))
    os.symlink(NCTK, SHIM)
    with open(SHIM_HOOK, "w") as f:
        f.write(f"#!/bin/bash\nexport NVIDIA_CTK_CONFIG_FILE_PATH={CONFIG}\n"
                f"exec -a nvidia-container-runtime-hook {NCTK} \"$@\"\n")
    os.chmod(SHIM_HOOK, 0o755)
    # What only the simulation needs: the driver's compute-mode state for the daemon, and a
    # client command that registers with the daemon as a CUDA context would.
    connect = ("echo sim_connect $$$$ | nvidia-cuda-mps-control | sed 's/^/server: /'; "
               "nvidia-smi -L; ls /usr/bin | grep nvidia-cuda-mps")
    with open(OVERRIDE, "w") as f:
        f.write(f"""version: "2.3"
services:
  mps-daemon:
    volumes:
      - {MODES}:/var/lib/nctk-sim/compute-mode
  client:
    command: ["sh", "-c", {json.dumps(connect)}]
""")


def base_image():
    """busybox with every applet a Debian or Ubuntu base would have as a program."""
    rootfs = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
    applets = run(["/bin/busybox", "--list"]).stdout.split()
    for a in applets:
        p = os.path.join(rootfs, "bin", a)
        if not os.path.lexists(p):
            os.symlink("busybox", p)
    tar = os.path.join(WORK, "base.tar")
    run(["tar", "-C", rootfs, "-cf", tar, "."])
    ok(sh([DOCKER, "import", tar, BASE]), "docker import")


@test
def start_dockerd_with_the_nvidia_runtime():
    write_files()
    SIM.update(make_sim(SIM_ROOT, "--gpus", "2"))
    os.makedirs(MODES, exist_ok=True)
    daemon = os.path.join(WORK, "daemon.json")
    with open(daemon, "w") as f:
        json.dump({"runtimes": {"nvidia": {"path": SHIM, "runtimeArgs": []}}}, f)
    engines("engines_start", daemon)
    base_image()


@test
def the_images_build():
    ok(compose("build", timeout=300), "docker-compose build")
    for image, entry in (("nctk-example/mps-daemon", "/usr/local/bin/mps-daemon"),
                         ("nctk-example/mps-client", "/usr/local/bin/mps-client")):
        cfg = inspect(image)["Config"]
        for var in ("NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_REQUIRE_ARCH=arch>=7.0",
                    "CUDA_MPS_PIPE_DIRECTORY=/run/nvidia-mps"):
            assert var in cfg["Env"], f"{image}: {var} not in {cfg['Env']}"
        eq(cfg["Entrypoint"], [entry], f"{image}: entrypoint")


@test
def up_starts_the_daemon_with_mps_and_exclusive_process():
    eq((mode_of(0), mode_of(1)), (DEFAULT, DEFAULT), "compute modes before")
    ok(compose("up", "-d", "--scale", "client=2"), "docker-compose up -d --scale client=2")
    [daemon] = ids("mps-daemon")
    info = inspect(daemon)
    eq((info["State"]["Status"], info["HostConfig"]["Runtime"]), ("running", "nvidia"),
       "the daemon container")
    assert "SYS_ADMIN" in (info["HostConfig"]["CapAdd"] or []), info["HostConfig"]["CapAdd"]
    p = ok(sh([DOCKER, "exec", daemon, "sh", "-c",
               "for p in nvidia-smi nvidia-cuda-mps-control nvidia-cuda-mps-server; do "
               "command -v $p; done; ls /run/nvidia-mps; nvidia-smi -L; "
               "nvidia-smi --query-gpu=compute_mode --format=csv,noheader"]), "docker exec (daemon)")
    lines = p.stdout.splitlines()
    eq(lines[:3], ["/usr/bin/nvidia-smi", "/usr/bin/nvidia-cuda-mps-control",
                   "/usr/bin/nvidia-cuda-mps-server"], f"the driver's programs ({p.stdout})")
    assert "control" in lines, f"no control endpoint in the pipe directory: {p.stdout}"
    eq([l for l in lines if l.startswith("GPU ")],
       [f"GPU 0: NVIDIA H200 (UUID: {SIM['gpus'][GPU]['uuid']})"], "the daemon's GPUs")
    eq(lines[-1], "Exclusive_Process", "compute mode as the daemon's nvidia-smi reports it")
    eq((mode_of(0), mode_of(GPU)), (DEFAULT, EXCLUSIVE_PROCESS),
       "compute modes in the driver: only the daemon's GPU")
    top = ok(sh([DOCKER, "top", daemon]), "docker top").stdout
    assert re.search(r"nvidia-cuda-mps-control -f", top), top


@test
def clients_get_the_volume_the_variables_and_the_daemon():
    clients = ids("client")
    eq(len(clients), 2, "client containers")
    volume = f"{PROJECT}_nvidia-mps"
    servers = set()
    for cid in clients:
        eq(ok(sh([DOCKER, "wait", cid]), "docker wait").stdout.strip(), "0", "client exit status")
        info = inspect(cid)
        env = info["Config"]["Env"]
        for var in (f"NVIDIA_VISIBLE_DEVICES={GPU}", "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=33",
                    "CUDA_MPS_PIPE_DIRECTORY=/run/nvidia-mps"):
            assert var in env, f"{var} not in {env}"
        eq([(m["Type"], m["Name"], m["Destination"]) for m in info["Mounts"]],
           [("volume", volume, "/run/nvidia-mps")], "the client's mounts")
        eq(info["HostConfig"]["IpcMode"], "private", "the client's own IPC namespace")
        out = ok(sh([DOCKER, "logs", cid]), "docker logs").stdout.splitlines()
        print("".join(f"# client {cid[:12]}: {l}\n" for l in out), end="", flush=True)
        eq(out[0], "mps-client: MPS daemon at /run/nvidia-mps, active thread percentage 33",
           f"the client's first line ({out})")
        servers.update(l.split()[1] for l in out if l.startswith("server: "))
        eq([l for l in out if l.startswith("GPU ")],
           [f"GPU 0: NVIDIA H200 (UUID: {SIM['gpus'][GPU]['uuid']})"], "the client's GPUs")
        eq(out[-2:], ["nvidia-cuda-mps-control", "nvidia-cuda-mps-server"], "the client's MPS programs")
    eq(len(servers), 1, f"one MPS server for both clients: {servers}")
    [daemon] = ids("mps-daemon")
    p = ok(sh([DOCKER, "exec", daemon, "sh", "-c", "echo get_server_list | nvidia-cuda-mps-control"]),
           "get_server_list")
    eq(p.stdout.split(), list(servers), "the daemon's server")
    p = ok(sh([DOCKER, "exec", daemon, "sh", "-c",
               f"echo get_client_list {p.stdout.strip()} | nvidia-cuda-mps-control"]), "get_client_list")
    eq(len(p.stdout.split()), 2, f"the server's clients: {p.stdout}")


@test
def a_client_without_the_daemon_says_so():
    p = sh([DOCKER, "run", "--rm", "--runtime=nvidia", "-e", f"NVIDIA_VISIBLE_DEVICES={GPU}",
            "nctk-example/mps-client", "true"])
    eq(p.returncode, 1, f"a client without the daemon: exit status ({p.stdout} {p.stderr})")
    eq(p.stderr.strip().splitlines(),
       ["mps-client: no MPS control daemon in /run/nvidia-mps: start the mps-daemon service first"],
       "its one line")


@test
def the_daemon_image_without_the_nvidia_runtime_says_so():
    p = sh([DOCKER, "run", "--rm", "nctk-example/mps-daemon"])
    eq(p.returncode, 1, f"exit status ({p.stdout} {p.stderr})")
    eq(p.stderr.strip().splitlines(),
       ["mps-daemon: no nvidia-smi in this container: run it with the nvidia runtime, "
        "NVIDIA_VISIBLE_DEVICES naming the GPUs and NVIDIA_DRIVER_CAPABILITIES=compute,utility"],
       "its one line")


@test
def stop_restores_default():
    [daemon] = ids("mps-daemon")
    ok(compose("stop", "mps-daemon"), "docker-compose stop mps-daemon")
    info = inspect(daemon)["State"]
    eq((info["Status"], info["ExitCode"]), ("exited", 0), "the daemon after SIGTERM")
    logs = ok(sh([DOCKER, "logs", daemon]), "docker logs").stdout
    print("".join(f"# daemon: {l}\n" for l in logs.splitlines()), end="", flush=True)
    assert "mps-daemon: stopped" in logs.splitlines(), logs
    assert re.search(r"Set compute mode to EXCLUSIVE_PROCESS for GPU", logs), logs
    eq(mode_of(GPU), DEFAULT, "compute mode after the daemon")


@test
def down_leaves_nothing():
    ok(compose("down", "-v"), "docker-compose down -v")
    eq(leftovers(), {"container": [], "volume": [], "network": [], "any volume": []}, "the project's objects")


@test
def a_pascal_gpu_is_refused_in_one_line():
    SIM.clear()
    SIM.update(make_sim(SIM_ROOT, "--gpus", "2", "--model", "Tesla P100-SXM2-16GB", "--force"))
    os.makedirs(MODES, exist_ok=True)
    p = compose("up", "-d")
    assert p.returncode != 0, f"up on a Pascal: {p.stdout} {p.stderr}"
    want = "unsatisfied condition: arch>=7.0 (this host's GPU has compute capability 6.0, Pascal)"
    lines = [l for l in p.stderr.splitlines() if want in l]
    assert lines, f"no line names the Pascal: {p.stderr}"
    print(f"# docker-compose up on a Pascal: {lines[0]}", flush=True)
    eq(ids("client"), [], "clients started")
    eq((mode_of(0), mode_of(1)), (DEFAULT, DEFAULT), "compute modes")
    ok(compose("down", "-v"), "docker-compose down -v")
    eq(leftovers(), {"container": [], "volume": [], "network": [], "any volume": []}, "the project's objects")


@test
def stop_leaves_nothing():
    engines("engines_stop")
    marks = (ENV["NCTK_ENGINES_DIR"], ENV["NCTK_ENGINES_RUN"])
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(pid) != os.getpid() and (any(m in cmd for m in marks) or "nvidia-cuda-mps" in cmd):
            procs.append(f"{pid} {cmd}")
    eq(procs, [], "processes left")
    eq([l for l in open("/proc/self/mountinfo") if any(m in l for m in marks + (WORK,))], [],
       "mounts left")
    for p in marks:
        assert not os.path.exists(p), f"{p} is still there"


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if engines("engines_installed", check=False).returncode != 0:
        print("1..0 # SKIP docker.io, containerd, docker-compose not installed "
              "(bash scripts/engines.sh install)")
        sys.exit(0)
    failed = 1
    try:
        failed = run_all()
    finally:
        engines("engines_stop", check=False)
    sys.exit(1 if failed else 0)
