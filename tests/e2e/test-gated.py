#!/usr/bin/env python3
"""Feature-gated devices: NVIDIA_NVSWITCH, NVIDIA_GDRCOPY, NVIDIA_GDS and NVIDIA_MOFED set to
exactly "enabled" give a GPU container the host's NVSwitch, gdrdrv, nvidia-fs and InfiniBand
nodes (GDS also /run/udev and /etc/cufile.json, read-only), which it can open through its device
cgroup; any other value, or no GPU request, gives nothing; a gate the host cannot serve starts the
container with a warning. Real runc bundles on the simulated driver, through the prestart hook
and through the runtime shim in legacy mode (and in cdi mode); nvidia-ctk cdi generate leaves
them out, as the reference's default modes do.

usage: test-gated.py NCTK PROBE"""
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import make_bundle, make_rootfs, make_sim, run_container  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

if os.geteuid() != 0:
    print("1..0 # SKIP runc bundles and the simulated driver's device nodes need root")
    sys.exit(0)

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
WORK = tmpdir("nctk-gated-")
FULL = os.path.join(WORK, "full")  # every gated device
BARE = os.path.join(WORK, "bare")  # none
DESC = make_sim(FULL, "--gpus", "2", "--nvswitch", "3", "--gdrcopy", "--gds", "--mofed")
make_sim(BARE, "--gpus", "1")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
HOOK = os.path.join(BIN, "nvidia-container-runtime-hook")
SHIM = os.path.join(BIN, "nvidia-container-runtime")
os.symlink(NCTK, HOOK)
os.symlink(NCTK, SHIM)
GATED = DESC["gated_devices"]
VARS = sorted(GATED)
_n = [0]

# Every gated node there is, its major:minor (busybox prints them in hex), whether the cgroup lets
# it be opened, the GDS files, and a gated device that was not given (mknod, then open).
SCRIPT = """
for f in /dev/nvidia-nvswitch* /dev/gdrdrv /dev/nvidia-fs* /dev/infiniband/*; do
        test -e "$f" && stat -c 'node: %n %t %T %F' "$f"
done
/probe open {nodes}
test -d /run/udev/data && echo "udev: present"
echo x 2>/dev/null > /run/udev/probe && echo "udev: writable"
grep -q logging /etc/cufile.json 2>/dev/null && echo "cufile: present"
/probe mknod-open /tmp/gdrdrv {gdr_major} 0
/probe mknod-open /tmp/nvswitch {nvs_major} 42
"""


def nodes_of(var):
    return {d["path"]: (d["major"], d["minor"]) for d in GATED[var]}


def config(sim, mode="legacy"):
    """config.toml for every front-end: the hook's driver root and debug log, the shim's mode."""
    _n[0] += 1
    path = os.path.join(WORK, f"config{_n[0]}.toml")
    log = os.path.join(WORK, f"debug{_n[0]}.log")
    with open(path, "w") as f:
        f.write(f'[nvidia-container-cli]\nroot = "{sim}"\nproc-root = "{sim}/proc"\n'
                f'load-kmods = false\ndebug = "{log}"\n\n'
                f'[nvidia-container-runtime]\nmode = "{mode}"\nruntimes = ["runc"]\n')
    return path, log


def via_hook(b, cfg):
    spec_path = os.path.join(b, "config.json")
    spec = json.load(open(spec_path))
    spec["hooks"] = {"prestart": [{
        "path": HOOK, "args": ["nvidia-container-runtime-hook", "prestart"],
        "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"NVIDIA_CTK_CONFIG_FILE_PATH={cfg}"]}]}
    json.dump(spec, open(spec_path, "w"), indent=1)
    return run_container("runc", b)


def via_shim(b, cfg):
    """As containerd calls runc: the shim adds the prestart hook (legacy mode), then runs runc."""
    state = os.path.join(WORK, "state")
    cid = "gated-" + uuid.uuid4().hex[:12]
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    p = run([SHIM, "--root", state, "run", "--bundle", b, cid], check=False, env=env,
            timeout=120)
    run(["runc", "--root", state, "delete", "--force", cid], check=False)
    return p


FRONTENDS = {"hook": via_hook, "shim-legacy": via_shim, "shim-cdi": via_shim}


def container(frontend, env, sim=FULL):
    """Runs a container with image environment ENV; returns (process, parsed output, log)."""
    _n[0] += 1
    cfg, log = config(sim, "cdi" if frontend == "shim-cdi" else "legacy")
    every = sorted(p for var in VARS for p in nodes_of(var))
    script = SCRIPT.format(nodes=" ".join(every),
                           gdr_major=nodes_of("NVIDIA_GDRCOPY")["/dev/gdrdrv"][0],
                           nvs_major=nodes_of("NVIDIA_NVSWITCH")["/dev/nvidia-nvswitchctl"][0])
    b = make_bundle(os.path.join(WORK, f"b{_n[0]}"), ROOTFS, PROBE, script)
    spec_path = os.path.join(b, "config.json")
    spec = json.load(open(spec_path))
    spec["process"]["env"] += list(env)
    json.dump(spec, open(spec_path, "w"), indent=1)
    p = FRONTENDS[frontend](b, cfg)
    eq(p.returncode, 0, f"{frontend}: the container must start: {p.stderr}")
    out = {"node": {}, "open": {}, "mknod-open": {}, "udev": [], "cufile": []}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" ")
        if k == "node:":
            path, maj, mnr, kind = v.split(" ", 3)
            out["node"][path] = (int(maj, 16), int(mnr, 16), kind)
        elif k in ("open", "mknod-open"):
            path, _, res = v.partition(" ")
            out[k][path] = res
        elif k in ("udev:", "cufile:"):
            out[k[:-1]].append(v)
    return p, out, open(log).read() if os.path.exists(log) else ""


def check_only(out, enabled, what):
    """Exactly the nodes of the ENABLED variables, as the host has them, and openable."""
    want = {}
    for var in enabled:
        want.update(nodes_of(var))
    eq({p: n[:2] for p, n in out["node"].items()}, want, f"{what}: gated nodes")
    for path in want:
        eq(out["node"][path][2], "character special file", f"{what}: {path} type")
        assert out["open"][path] != "EPERM", f"{what}: {path} refused by the cgroup: {out['open']}"
    for path in set(out["open"]) - set(want):
        eq(out["open"][path], "ENOENT", f"{what}: {path} not given")
    eq(out["mknod-open"]["/tmp/nvswitch"], "EPERM", f"{what}: an NVSwitch that was not given")
    eq(out["mknod-open"]["/tmp/gdrdrv"],
       "ENXIO" if "NVIDIA_GDRCOPY" in enabled else "EPERM", f"{what}: gdrdrv in the cgroup")
    gds = "NVIDIA_GDS" in enabled
    eq(out["udev"], ["present"] if gds else [], f"{what}: /run/udev, read-only")
    eq(out["cufile"], ["present"] if gds else [], f"{what}: /etc/cufile.json")


def each_gate(frontend):
    for var in VARS:
        _, out, log = container(frontend, ["NVIDIA_VISIBLE_DEVICES=0", f"{var}=enabled"])
        check_only(out, [var], f"{frontend} {var}=enabled")
        assert "warning" not in log.lower() and "] W" not in log, log
    _, out, _ = container(frontend, ["NVIDIA_VISIBLE_DEVICES=all"] +
                          [f"{var}=enabled" for var in VARS])
    check_only(out, VARS, f"{frontend} all four")


@test
def hook_each_gate_gives_its_nodes():
    each_gate("hook")


@test
def shim_legacy_each_gate_gives_its_nodes():
    each_gate("shim-legacy")


def other_values(frontend):
    for value in ("disabled", "true", "1", "ENABLED", "enabled ", ""):
        env = ["NVIDIA_VISIBLE_DEVICES=0"] + [f"{var}={value}" for var in VARS]
        _, out, _ = container(frontend, env)
        check_only(out, [], f"{frontend} {value!r}")
    _, out, _ = container(frontend, ["NVIDIA_VISIBLE_DEVICES=0"])
    check_only(out, [], f"{frontend} unset")


@test
def hook_other_values_give_nothing():
    other_values("hook")


@test
def shim_legacy_other_values_give_nothing():
    other_values("shim-legacy")


def absent_on_host(frontend):
    _, out, log = container(frontend, ["NVIDIA_VISIBLE_DEVICES=0"] +
                            [f"{var}=enabled" for var in VARS], sim=BARE)
    eq(out["node"], {}, f"{frontend}: no gated nodes on a host without them")
    for var in VARS:
        assert f"{var}=enabled but '{BARE}/dev' has no " in log, f"{var} warning in: {log}"


@test
def hook_gate_without_devices_warns_and_starts():
    absent_on_host("hook")


@test
def shim_legacy_gate_without_devices_warns_and_starts():
    absent_on_host("shim-legacy")


def no_gpu(frontend):
    gates = [f"{var}=enabled" for var in VARS]
    for env in ([], ["NVIDIA_VISIBLE_DEVICES=void"], ["NVIDIA_VISIBLE_DEVICES="]):
        _, out, _ = container(frontend, env + gates)
        check_only(out, [], f"{frontend} {env}")


@test
def hook_gates_without_a_gpu_request_give_nothing():
    no_gpu("hook")


@test
def shim_legacy_gates_without_a_gpu_request_give_nothing():
    no_gpu("shim-legacy")


@test
def shim_cdi_mode_gives_them_too():
    """The shim's cdi mode plans nctk's own devices with the same pipeline: the gates hold."""
    _, out, _ = container("shim-cdi", ["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_GDRCOPY=enabled",
                                       "NVIDIA_MOFED=enabled"])
    check_only(out, ["NVIDIA_GDRCOPY", "NVIDIA_MOFED"], "shim-cdi")
    _, out, _ = container("shim-cdi", ["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_GDS=true"])
    check_only(out, [], "shim-cdi true")


@test
def cdi_generate_leaves_them_out():
    for mode in ("auto", "management"):
        p = run([NCTK, "nvidia-ctk", "cdi", "generate", "--mode", mode, "--driver-root", FULL])
        spec = p.stdout
        assert "/dev/nvidia0" in spec or "/dev/nvidiactl" in spec, f"{mode}: a spec: {spec[:200]}"
        for var in VARS:
            for path in nodes_of(var):
                assert path not in spec, f"{mode}: {path} in the generated spec"
        for path in DESC["gds_files"]:
            assert path not in spec, f"{mode}: {path} in the generated spec"


run_all()
