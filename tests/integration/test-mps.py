#!/usr/bin/env python3
"""`nvidia-ctk mps start|stop|status` on simulated drivers (tests/sim: a fake
nvidia-cuda-mps-control that daemonizes and answers the MPS commands, nvidia-smi with a persisted
compute mode): daemons per GPU, their directories, the compute mode, the defaults given to the
daemon, idempotence, a daemon that died or hangs, and bad input (pre-Volta and MIG GPUs, thread
percentages and memory limits out of range, unknown GPUs, a pipe directory that is a link): one
line each, nothing left behind.

usage: test-mps.py NCTK_BINARY"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tap import Skip, eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "..", "sim", "nctk-sim")
WORK = tmpdir("nctk-mps-")
SIMS = {}


def cleanup():
    # Daemons the tests left (a failing test): ended by their pid files, only ours.
    for dirpath, _, files in os.walk(WORK):
        if "nvidia-cuda-mps-control.pid" in files:
            try:
                with open(os.path.join(dirpath, "nvidia-cuda-mps-control.pid")) as f:
                    os.kill(int(f.read()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
    shutil.rmtree(WORK, ignore_errors=True)


atexit.register(cleanup)


def sim(name, *args):
    """A simulated driver root (made once per name) and its description."""
    if name not in SIMS:
        if os.geteuid() != 0:
            raise Skip("the simulated driver needs root (mknod)")
        path = os.path.join(WORK, name)
        run([sys.executable, SIM, "create", path, *args])
        SIMS[name] = (path, json.loads(run([sys.executable, SIM, "describe", path]).stdout))
    return SIMS[name]


def mps(root, mps_root, *args, check=True, env=None):
    return run([NCTK, "mps", *args, f"--driver-root={root}", f"--proc-root={root}/proc",
                f"--root={mps_root}"], check=check, env=env)


def compute_modes(root):
    out = run(["chroot", root, "nvidia-smi", "--query-gpu=compute_mode",
               "--format=csv,noheader"]).stdout
    return out.split()


def control(pipe, cmd):
    return run([os.path.join(ROOT_OF[pipe], "usr/bin/nvidia-cuda-mps-control")],
               env={"CUDA_MPS_PIPE_DIRECTORY": pipe}, input=cmd + "\n", timeout=10).stdout


ROOT_OF = {}


def state(mps_root, uuid):
    with open(os.path.join(mps_root, uuid, "state")) as f:
        return dict(l.split("=", 1) for l in f.read().splitlines())


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def fresh(name="h200", *args):
    root, desc = sim(name, "--gpus", "2", *args)
    mps_root = tmpdir(prefix=os.path.join(WORK, "root-"))
    return root, desc, mps_root


def one_line_error(p, *words):
    assert p.returncode != 0, f"exit status 0\n{p.stdout}"
    lines = p.stderr.strip().splitlines()
    eq(len(lines), 1, f"one line on stderr: {p.stderr!r}")
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


@test
def start_status_stop():
    root, desc, mr = fresh()
    uuid = desc["gpus"][1]["uuid"]
    p = mps(root, mr, "start", "--device=1", "--thread-percentage=25", "--pinned-memory-limit=2G")
    assert "started" in p.stdout, p.stdout
    s = state(mr, uuid)
    eq(s["thread-percentage"], "25", "state")
    eq(s["pinned-memory-limit"], "2048M", "state")
    pipe = os.path.join(mr, uuid, "pipe")
    ROOT_OF[pipe] = root
    assert os.path.exists(os.path.join(pipe, "control")), "control endpoint"
    assert os.path.isfile(os.path.join(mr, uuid, "log", "control.log")), "control.log"
    eq(compute_modes(root), ["Default", "Exclusive_Process"], "only GPU 1 is EXCLUSIVE_PROCESS")
    # The defaults went through the control interface, and the daemon sees only its GPU.
    eq(control(pipe, "get_default_active_thread_percentage").strip(), "25.0", "percentage")
    eq(control(pipe, "get_default_device_pinned_mem_limit 0").strip(), "2048M", "limit")
    with open(os.path.join(mr, uuid, "log", "control.log")) as f:
        assert f"CUDA_VISIBLE_DEVICES={uuid}" in f.read(), "CUDA_VISIBLE_DEVICES"
    # A client (registered through the simulator's sim_connect), shown by status.
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        server = control(pipe, f"sim_connect {sleeper.pid}").strip()
        out = mps(root, mr, "status").stdout
        assert f"{uuid} (GPU 1, " in out and "running, control daemon " + s["pid"] in out, out
        assert f"server {server}, clients: {sleeper.pid} (host)" in out, out
        assert "thread percentage 25, pinned memory limit 2048M" in out, out
    finally:
        sleeper.kill()
        sleeper.wait()
    out = mps(root, mr, "stop").stdout
    assert f"{uuid}: MPS control daemon {s['pid']} stopped, compute mode DEFAULT" in out, out
    assert not alive(int(s["pid"])), "daemon ended"
    assert not alive(int(server)), "server ended"
    eq(os.listdir(mr), [], "nothing left under the root")
    eq(compute_modes(root), ["Default", "Default"], "DEFAULT restored")


@test
def idempotent():
    root, desc, mr = fresh()
    mps(root, mr, "start", "--device=0")
    pid = state(mr, desc["gpus"][0]["uuid"])["pid"]
    p = mps(root, mr, "start", "--device=0,1")
    assert f"MPS control daemon {pid} already running" in p.stdout, p.stdout
    assert p.stdout.count("started") == 1, p.stdout
    eq(sorted(os.listdir(mr)), sorted(g["uuid"] for g in desc["gpus"]), "two daemons")
    mps(root, mr, "stop")
    p = mps(root, mr, "stop")
    assert "no MPS daemons under" in p.stdout, p.stdout
    p = mps(root, mr, "stop", "--device=0")
    assert "no MPS daemon" in p.stdout, p.stdout
    eq(mps(root, mr, "status").stdout.strip(), f"no MPS daemons under {mr}", "status")


@test
def daemon_died():
    root, desc, mr = fresh()
    uuid = desc["gpus"][0]["uuid"]
    mps(root, mr, "start", "--device=0")
    pid = int(state(mr, uuid)["pid"])
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    out = mps(root, mr, "status").stdout
    assert f"not running: control daemon {pid} is gone" in out, out
    # start replaces it; stop of a dead one cleans up.
    p = mps(root, mr, "start", "--device=0")
    assert "started" in p.stdout, p.stdout
    new = int(state(mr, uuid)["pid"])
    assert new != pid and alive(new), (pid, new)
    os.kill(new, signal.SIGKILL)
    time.sleep(0.2)
    out = mps(root, mr, "stop").stdout
    assert "was gone; cleaned up" in out, out
    eq(os.listdir(mr), [], "nothing left")
    eq(compute_modes(root), ["Default", "Default"], "DEFAULT restored")


@test
def daemon_hangs_at_start():
    root, desc, mr = fresh()
    t = time.monotonic()
    p = mps(root, mr, "start", "--device=0", check=False, env={"NCTK_SIM_MPS_HANG": "1"})
    took = time.monotonic() - t
    one_line_error(p, "did not answer 'get_server_list' within 5 s")
    assert took < 20, f"bounded: {took:.1f} s"
    eq(os.listdir(mr), [], "nothing half-started")
    eq(compute_modes(root), ["Default", "Default"], "DEFAULT restored")
    out = run(["ps", "-eo", "pid,args"]).stdout
    assert mr not in out, "no daemon left"


@test
def daemon_hangs_at_stop():
    root, desc, mr = fresh()
    uuid = desc["gpus"][0]["uuid"]
    mps(root, mr, "start", "--device=0")
    pid = int(state(mr, uuid)["pid"])
    pipe = os.path.join(mr, uuid, "pipe")
    ROOT_OF[pipe] = root
    control(pipe, "sim_hang")
    out = mps(root, mr, "status").stdout
    assert "the daemon does not answer" in out, out
    t = time.monotonic()
    mps(root, mr, "stop")
    assert time.monotonic() - t < 20, "bounded"
    time.sleep(0.2)
    assert not alive(pid), "the hung daemon was killed"
    eq(os.listdir(mr), [], "nothing left")


@test
def start_rolls_back_every_gpu():
    """GPU 1's daemon cannot start (its directory is taken by a link): GPU 0, started by the
    same command, is stopped again."""
    root, desc, mr = fresh()
    target = tmpdir(prefix=os.path.join(WORK, "elsewhere-"))
    os.makedirs(os.path.join(mr, desc["gpus"][1]["uuid"]))
    os.symlink(target, os.path.join(mr, desc["gpus"][1]["uuid"], "pipe"))
    p = mps(root, mr, "start", "--device=0,1", check=False)
    one_line_error(p, "symbolic link")
    eq(os.listdir(mr), [desc["gpus"][1]["uuid"]], "GPU 0's daemon was undone, the link kept")
    eq(os.listdir(target), [], "nothing written through the link")
    eq(compute_modes(root), ["Default", "Default"], "DEFAULT")


@test
def pipe_dir_is_a_link():
    root, desc, mr = fresh()
    target = tmpdir(prefix=os.path.join(WORK, "elsewhere-"))
    os.symlink(target, os.path.join(mr, desc["gpus"][0]["uuid"]))
    p = mps(root, mr, "start", "--device=0", check=False)
    one_line_error(p, "symbolic link")
    eq(os.listdir(target), [], "nothing made through the link")
    eq(compute_modes(root), ["Default", "Default"], "compute mode untouched")


@test
def bad_input():
    root, desc, mr = fresh()
    cases = [
        (["--device=7"], "unknown device '7'"),
        (["--device=0", "--thread-percentage=0"], "from 1 to 100"),
        (["--device=0", "--thread-percentage=101"], "from 1 to 100"),
        (["--device=0", "--thread-percentage=25%"], "from 1 to 100"),
        (["--device=0", "--pinned-memory-limit=200G"], "more than GPU 0's memory (143771 MiB)"),
        (["--device=0", "--pinned-memory-limit=12"], "with a unit"),
        ([], "--device"),
    ]
    for args, words in cases:
        p = mps(root, mr, "start", *args, check=False)
        one_line_error(p, words)
        eq(os.listdir(mr), [], f"{args}: nothing made")
    eq(compute_modes(root), ["Default", "Default"], "compute modes untouched")


@test
def pre_volta_gpu():
    root, desc, mr = fresh("pascal", "--model", "Tesla P100-SXM2-16GB")
    p = mps(root, mr, "start", "--device=0", check=False)
    one_line_error(p, "Pascal, compute capability 6.0", "Volta or newer")
    eq(os.listdir(mr), [], "nothing made")


@test
def mig_gpu():
    root, desc, mr = fresh("mig", "--mig", "1")
    p = mps(root, mr, "start", "--device=0,1", check=False)
    one_line_error(p, "GPU 1", "MIG enabled")
    eq(os.listdir(mr), [], "nothing made, not even for GPU 0")
    p = mps(root, mr, "start", "--device=1:0", check=False)
    one_line_error(p, "MIG device")


@test
def no_driver_programs():
    root, desc, mr = fresh()
    copy = os.path.join(WORK, "nomps")
    if not os.path.exists(copy):
        run([sys.executable, SIM, "create", copy])
        os.unlink(os.path.join(copy, "usr/bin/nvidia-cuda-mps-control"))
    p = mps(copy, mr, "start", "--device=0", check=False)
    one_line_error(p, "nvidia-cuda-mps-control was not found")


run_all()
