#!/usr/bin/env python3
"""The CDI spec refresh (deploy/): the script nvidia-cdi-refresh.service runs, against simulated
drivers — nothing loaded, a driver, the driver changed — and its systemd units, checked by
systemd-analyze.

usage: test-cdi-refresh.py NCTK SCRIPT SERVICE_UNIT PATH_UNIT"""
import os
import shutil
import stat
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from containers import make_sim  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK, SCRIPT, SERVICE, PATH_UNIT = (os.path.abspath(a) for a in sys.argv[1:5])
WORK = tmpdir("nctk-cdi-refresh-")


def refresh(sim, spec, devroot, proc=None):
    env = {"NVIDIA_CTK": f"{NCTK} ctk", "NVIDIA_CDI_SPEC": spec,
           "NVIDIA_CDI_PROC_ROOT": proc or f"{sim}/proc", "NVIDIA_CDI_DEV_ROOT": devroot,
           "NVIDIA_CDI_EXTRA_ARGS": f"--driver-root {sim} --dev-root {sim}"}
    return run(["bash", SCRIPT], check=False, env=env)


def devices(spec):
    """The spec's device names, by index (and how many by UUID, which must be as many)."""
    p = run([NCTK, "ctk", "cdi", "list", "--spec-dir", os.path.dirname(spec)], check=True)
    names = sorted(p.stdout.split())
    by_uuid = [n for n in names if n.startswith("nvidia.com/gpu=GPU-")]
    rest = [n for n in names if n not in by_uuid]
    eq(len(by_uuid), len(rest) - 1, f"a UUID name for each GPU ({names})")
    return rest


@test
def no_driver_leaves_things_as_they_are():
    d = os.path.join(WORK, "nodriver")
    os.makedirs(os.path.join(d, "proc"))
    spec = os.path.join(d, "cdi", "nvidia.yaml")
    p = refresh(d, spec, d, proc=os.path.join(d, "proc"))
    eq(p.returncode, 0, f"exit status ({p.stderr!r})")
    assert "no NVIDIA driver is loaded" in p.stderr, p.stderr
    eq(os.path.exists(spec), False, "no spec written")


@test
def a_driver_gets_a_spec_and_its_control_nodes():
    d = os.path.join(WORK, "driver")
    sim = os.path.join(d, "sim")
    make_sim(sim, "--gpus", "2")
    os.makedirs(os.path.join(d, "devroot", "dev"))
    spec = os.path.join(d, "cdi", "nvidia.yaml")
    p = refresh(sim, spec, os.path.join(d, "devroot"))
    eq(p.returncode, 0, f"exit status ({p.stderr!r})")
    eq(devices(spec), ["nvidia.com/gpu=0", "nvidia.com/gpu=1", "nvidia.com/gpu=all"],
       "devices in the spec")
    st = os.stat(os.path.join(d, "devroot", "dev", "nvidiactl"))
    assert stat.S_ISCHR(st.st_mode), "nvidiactl made"
    # The driver changes (another GPU count): the next refresh says so.
    shutil.rmtree(sim)
    make_sim(sim, "--gpus", "4")
    p = refresh(sim, spec, os.path.join(d, "devroot"))
    eq(p.returncode, 0, f"exit status ({p.stderr!r})")
    eq(devices(spec), [f"nvidia.com/gpu={i}" for i in range(4)] + ["nvidia.com/gpu=all"],
       "devices after the driver changed")
    eq(sorted(os.listdir(os.path.dirname(spec))), ["nvidia.yaml"], "no temporary left")


@test
def units_pass_systemd_analyze():
    d = os.path.join(WORK, "units")
    os.makedirs(d)
    # ExecStart names the installed script; verify against this build's copy instead.
    with open(SERVICE) as f:
        text = f.read()
    exec_line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    with open(os.path.join(d, "nvidia-cdi-refresh.service"), "w") as f:
        f.write(text.replace(exec_line, f"ExecStart={SCRIPT}"))
    shutil.copy(PATH_UNIT, d)
    for unit in ("nvidia-cdi-refresh.service", "nvidia-cdi-refresh.path"):
        p = subprocess.run(["systemd-analyze", "verify", os.path.join(d, unit)],
                           capture_output=True, text=True)
        eq((p.returncode, p.stderr.strip()), (0, ""), f"systemd-analyze verify {unit}")


run_all()
