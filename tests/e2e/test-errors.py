#!/usr/bin/env python3
"""Errors that teach (docs/errors.md): one case per tested row of the table. Each reproduces a
situation behind one of the reference toolkit's recurring failure messages on the simulated driver
(tests/sim) and, where a container is involved, with real runc through nvidia-container-runtime;
then it asserts nctk's line, which names the cause and the fix. The row's id is the test's name.

usage: test-errors.py NCTK PROBE"""
import json
import os
import shutil
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from containers import make_bundle, make_rootfs, make_sim  # noqa: E402
from tap import eq, run, run_all, test, tmpdir  # noqa: E402

NCTK = os.path.realpath(sys.argv[1])
PROBE = os.path.abspath(sys.argv[2])
SIM_TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sim", "nctk-sim")
WORK = tmpdir("nctk-errors-")
SIM = os.path.join(WORK, "sim")
DESC = make_sim(SIM, "--gpus", "2")
ROOTFS = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
BIN = os.path.join(WORK, "bin")
os.makedirs(BIN)
SHIM = os.path.join(BIN, "nvidia-container-runtime")
os.symlink(NCTK, SHIM)
STATE = os.path.join(WORK, "state")
HOOK_LOG = os.path.join(WORK, "hook.log")
# The legacy hook as the shim adds it, with its standard error kept: engines show a hook's
# warnings only when the container fails (and then inside runc's error line).
HOOK = os.path.join(BIN, "hook-with-log")
with open(HOOK, "w") as f:
    f.write(f"#!/bin/sh\nexec '{NCTK}' hook prestart 2>>'{HOOK_LOG}'\n")
os.chmod(HOOK, 0o755)
_n = [0]


def fresh(name):
    _n[0] += 1
    return os.path.join(WORK, f"{name}{_n[0]}")


def sim_copy(name):
    """A copy of the simulated driver root, to break in one way."""
    d = fresh(name)
    run(["cp", "-a", SIM, d])
    return d


def config(mode="legacy", runtime="", cli="", top="", hook=""):
    """A config.toml for the simulated driver (no modprobe: the CI host has no NVIDIA modules)."""
    path = fresh("config") + ".toml"
    with open(path, "w") as f:
        f.write(f'{top}[nvidia-container-cli]\nroot = "{SIM}"\nproc-root = "{SIM}/proc"\n'
                f'load-kmods = false\n{cli}\n[nvidia-container-runtime]\nmode = "{mode}"\n'
                f'{runtime}\n[nvidia-container-runtime-hook]\npath = "{HOOK}"\n{hook}')
    return path


def bundle(env=(), script="echo hello", annotations=None, files=()):
    """A bundle whose image also holds FILES ((path, content)...)."""
    b = make_bundle(fresh("bundle"), ROOTFS, PROBE, script)
    for path, content in files:
        dst = os.path.join(b, "rootfs", path.lstrip("/"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(content)
        os.chmod(dst, 0o755)
    cfg_path = os.path.join(b, "config.json")
    cfg = json.load(open(cfg_path))
    cfg["process"]["env"] += list(env)
    if annotations:
        cfg["annotations"] = annotations
    json.dump(cfg, open(cfg_path, "w"), indent=1)
    return b


def container(cfg, b):
    """`nvidia-container-runtime run` as containerd calls runc; the hook's log is reset."""
    if os.path.exists(HOOK_LOG):
        os.unlink(HOOK_LOG)
    cid = "errors-" + uuid.uuid4().hex[:12]
    env = dict(os.environ, NVIDIA_CTK_CONFIG_FILE_PATH=cfg)
    env.pop("XDG_CONFIG_HOME", None)
    p = subprocess.run([SHIM, "--root", STATE, "run", "--bundle", b, cid], capture_output=True,
                       text=True, env=env, timeout=120)
    subprocess.run(["runc", "--root", STATE, "delete", "--force", cid], capture_output=True)
    return p


def hook_log():
    return open(HOOK_LOG).read() if os.path.exists(HOOK_LOG) else ""


def cli(root, *args):
    return run([NCTK, "nvidia-container-cli", "--root", root, "--proc-root", f"{root}/proc", *args],
               check=False)


def one_line(p, want, rc=1):
    """P failed with exactly the line WANT on standard error."""
    eq(p.returncode, rc, f"exit status ({p.stderr})")
    eq(p.stderr, want + "\n", "standard error")


def contains(text, want):
    assert want in text, f"{want!r}\nnot in\n{text}"


@test
def e01_no_driver():
    root = fresh("nonvml")
    make_sim(root, "--no-nvml")
    one_line(cli(root, "info"), "nvidia-container-cli: initialization error: no NVIDIA driver "
             f"found: libnvidia-ml.so.1 is not in the ld cache of driver root '{root}'; install "
             "the driver and run ldconfig, or point --root/--ldcache at it")


@test
def e02_driver_root_missing():
    root = os.path.join(WORK, "run/nvidia/driver")
    one_line(cli(root, "info"), f"nvidia-container-cli: initialization error: cannot open driver "
             f"root '{root}': No such file or directory; install or start the driver there, or "
             "set 'root' under [nvidia-container-cli] in config.toml (--root, --driver-root) to "
             "where it is")


@test
def e03_version_mismatch():
    root = fresh("mismatch")
    make_sim(root, "--rm-mismatch")
    one_line(cli(root, "info"), "nvidia-container-cli: initialization error: NVML: driver/library "
             "version mismatch (nvmlInit: RM has detected an NVML/RM version mismatch.): the "
             "loaded kernel module and the user-space driver differ; reboot or reinstall the "
             "driver")


@test
def e04_image_ships_a_driver_library():
    lib = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
    b = bundle(["NVIDIA_VISIBLE_DEVICES=0"], "/probe dlopen libnvidia-ml.so.1",
               files=[(lib, "an old driver's library\n")])
    p = container(config(), b)
    eq(p.returncode, 0, p.stderr)
    contains(hook_log(), f"nvidia-container-runtime-hook: warning: '{lib}' is a file of the "
             f"image, not a link to 'libnvidia-ml.so.{DESC['driver_version']}': left as it is, so "
             "the container uses the image's copy; remove it from the image if it is a driver "
             "file\n")


@test
def e05_image_ships_nvidia_smi():
    g = DESC["gpus"][0]
    b = bundle(["NVIDIA_VISIBLE_DEVICES=0"], "nvidia-smi -L",
               files=[("/usr/bin/nvidia-smi", "#!/bin/sh\necho the image's nvidia-smi\n")])
    p = container(config(), b)
    eq(p.returncode, 0, p.stderr)
    eq(p.stdout, f"GPU 0: {g['model']} (UUID: {g['uuid']})\n", "the driver's nvidia-smi runs")


@test
def e06_unknown_device():
    p = container(config(), bundle(["NVIDIA_VISIBLE_DEVICES=7"]))
    eq(p.returncode, 1, p.stderr)
    contains(hook_log(), "nvidia-container-runtime-hook: device error: unknown device '7' (this "
             "host has GPUs 0 to 1; use an index, a UUID, a PCI bus id, 'all' or 'none')")


@test
def e07_old_mig_name():
    root = fresh("mig")
    desc = make_sim(root, "--mig", "0")
    old = f"MIG-{desc['gpus'][0]['uuid']}/7/0"
    one_line(cli(root, "list", f"--device={old}"), f"nvidia-container-cli: device error: unknown "
             f"device '{old}': the MIG-GPU-<uuid>/GI/CI name is not used by current drivers; use "
             "the MIG device's UUID (MIG-..., as 'nvidia-smi -L' prints it) or GPU:MIG indexes "
             "(0:0)")
    eq(cli(root, "list", "--device=0:0").returncode, 0, "the GPU:MIG form")


@test
def e08_cuda_requirement():
    p = container(config(), bundle(["NVIDIA_VISIBLE_DEVICES=0", "NVIDIA_REQUIRE_CUDA=cuda>=99.0"]))
    eq(p.returncode, 1, p.stderr)
    contains(hook_log(), "nvidia-container-runtime-hook: requirement error: unsatisfied condition: "
             f"cuda>=99.0 (this host's driver supports CUDA {DESC['cuda_version']}); please update "
             "your driver to a newer version, or use an earlier cuda container")


@test
def e09_hook_called_directly_in_cdi_mode():
    b = bundle(["NVIDIA_VISIBLE_DEVICES=0"])
    state = json.dumps({"ociVersion": "1.0.2", "id": "x", "status": "creating",
                        "pid": os.getpid(), "bundle": b})
    p = run([NCTK, "hook", "-config", config("cdi"), "prestart"], input=state, check=False)
    one_line(p, "nvidia-container-runtime-hook: invoking the NVIDIA Container Runtime Hook "
             "directly (e.g. specifying the docker --gpus flag) is not supported in mode 'cdi'. "
             "Please use the NVIDIA Container Runtime (e.g. specify the --runtime=nvidia flag) "
             "instead")


@test
def e10_uvm_node_missing():
    root = sim_copy("nouvm")
    for n in ("nvidia-uvm", "nvidia-uvm-tools"):
        os.unlink(os.path.join(root, "dev", n))
    p = cli(root, "docker-args", "--device=0")
    eq(p.returncode, 0, p.stderr)
    eq(p.stderr, "nvidia-container-cli: warning: '/dev/nvidia-uvm' is missing, so CUDA will fail "
       "in the container; create it ('nvidia-ctk system create-device-nodes --control-devices') "
       "or set load-kmods = true in config.toml\n", "warning")
    run([NCTK, "ctk", "system", "create-device-nodes", "--control-devices", "--driver-root", root,
         "--proc-root", f"{root}/proc"])
    eq(cli(root, "docker-args", "--device=0").stderr, "", "after the fix")


@test
def e11_uvm_module_not_loaded():
    root = sim_copy("nouvmmod")
    devices = os.path.join(root, "proc/devices")
    text = open(devices).read()
    open(devices, "w").write("".join(l for l in text.splitlines(True) if "nvidia-uvm" not in l))
    p = cli(root, "docker-args", "--device=0")
    eq(p.returncode, 0, p.stderr)
    eq(p.stderr, "nvidia-container-cli: warning: the nvidia_uvm kernel module is not loaded, so "
       "CUDA will fail in the container; load it ('modprobe nvidia-uvm') or set load-kmods = true "
       "in config.toml\n", "warning")


@test
def e12_stale_cdi_spec():
    root = sim_copy("stale")
    specs = fresh("cdi")
    os.makedirs(specs)
    run([NCTK, "ctk", "cdi", "generate", "--driver-root", root, "--proc-root", f"{root}/proc",
         "--nvidia-cdi-hook-path", NCTK, "--output", f"{specs}/nvidia.yaml"])
    # A reboot gave nvidia-uvm another dynamic major; the spec still says the old one.
    old, new = DESC["majors"]["nvidia-uvm"], DESC["majors"]["nvidia-uvm"] - 1
    devices = os.path.join(root, "proc/devices")
    text = open(devices).read()
    open(devices, "w").write(text.replace(f"{old} nvidia-uvm", f"{new} nvidia-uvm"))
    for minor, n in enumerate(("nvidia-uvm", "nvidia-uvm-tools")):
        os.unlink(os.path.join(root, "dev", n))
        os.mknod(os.path.join(root, "dev", n), 0o20666, os.makedev(new, minor))
    p = run([NCTK, "ctk", "cdi", "validate", "--spec-dir", specs, "--proc-root", f"{root}/proc"],
            check=False)
    eq(p.returncode, 1, p.stdout + p.stderr)
    contains(p.stdout, f"{specs}/nvidia.yaml: device node '{root}/dev/nvidia-uvm' is {new}:0 on "
             f"this host, the spec says {old}:0; regenerate the spec\n")
    # The runtime itself gives the node the host has now, not the spec's.
    cfg = config("cdi", runtime=f'[nvidia-container-runtime.modes.cdi]\nspec-dirs = ["{specs}"]\n')
    cfg_text = open(cfg).read().replace(f'"{SIM}', f'"{root}')
    open(cfg, "w").write(cfg_text)
    p = container(cfg, bundle([], "stat -c '%t:%T' /dev/nvidia-uvm",
                              annotations={"cdi.k8s.io/nvidia": "nvidia.com/gpu=0"}))
    eq((p.returncode, p.stdout), (0, f"{new:x}:0\n"), p.stderr)


@test
def e13_unresolvable_cdi_device():
    p = container(config("cdi"), bundle([], annotations={"cdi.k8s.io/nvidia": "nvidia.com/gpu=7"}))
    one_line(p, "nvidia-container-runtime: CDI annotation: unknown device '7' (this host "
             "has GPUs 0 to 1; use an index, a UUID, a PCI bus id, 'all' or 'none')")


@test
def auto_mode_honours_cdi_only_requests():
    """mode = "auto" (the default): a container that asks only by CDI annotation gets its GPU
    (cdi mode, as the reference resolves auto), one that asks by index stays legacy (a hook)."""
    cfg = config("auto")
    node = [f"nvidia{g['minor']}" for g in DESC["gpus"]]
    p = container(cfg, bundle([], "ls /dev", annotations={"cdi.k8s.io/nvidia": "nvidia.com/gpu=0"}))
    eq(p.returncode, 0, p.stderr)
    assert node[0] in p.stdout.split() and node[1] not in p.stdout.split(), p.stdout
    p = container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=nvidia.com/gpu=1"], "ls /dev"))
    eq(p.returncode, 0, p.stderr)
    assert node[1] in p.stdout.split() and node[0] not in p.stdout.split(), p.stdout
    p = container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=0"], "ls /dev"))
    eq(p.returncode, 0, p.stderr)
    assert node[0] in p.stdout.split(), p.stdout


@test
def e14_no_ldconfig_real_and_no_ldconfig_in_the_image():
    # Ubuntu's default, which Debian does not have; on a host that has it, a path nobody has.
    real = "/sbin/ldconfig.real"
    if os.path.exists(real):
        real = "/nonexistent/sbin/ldconfig.real"
    assert not os.path.exists(os.path.join(ROOTFS, "sbin/ldconfig")), "the image has ldconfig"
    cfg = config(cli=f'ldconfig = "@{real}"\n')
    p = container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=0"], "/probe dlopen libcuda.so.1"))
    eq(p.returncode, 0, p.stderr)
    assert p.stdout.startswith("dlopen libcuda.so.1 /") and \
        p.stdout.rstrip().endswith(DESC["driver_version"]), p.stdout


@test
def e15_runtime_not_registered():
    d = fresh("docker")
    os.makedirs(d)
    with open(f"{d}/daemon.json", "w") as f:
        f.write('{"log-level": "warn"}\n')
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}")
    p = run([NCTK, "ctk", "runtime", "configure", "--runtime=docker", f"--config={d}/daemon.json"],
            env=env)
    eq(p.stdout, "nvidia-ctk: runtime 'nvidia' registered; restart docker to apply it: "
       "systemctl restart docker\n", "the last line says what to restart")


@test
def e16_hook_path_missing():
    cfg = config()
    text = open(cfg).read().replace(f'path = "{HOOK}"', 'path = "/nonexistent/hook"')
    open(cfg, "w").write(text)
    one_line(container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=0"])), "nvidia-container-runtime: "
             "cannot find the hook '/nonexistent/hook': No such file or directory; fix path under "
             "[nvidia-container-runtime-hook] in config.toml, or remove it (nctk is its own hook)")


@test
def e17_no_low_level_runtime():
    cfg = config(runtime='runtimes = ["runc-not-installed"]\n')
    one_line(container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=0"])), "nvidia-container-runtime: no "
             f"low-level runtime found among nvidia-container-runtime.runtimes in '{cfg}': No such "
             "file or directory; install runc or crun, or list its full path there")


@test
def e18_config_syntax_error():
    cfg = config(runtime="mode = \n")
    line = open(cfg).read().splitlines().index("mode = ") + 1
    one_line(container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=0"])),
             f"nvidia-container-runtime: {cfg}:{line}: duplicate key 'mode' (first defined on "
             f"line {line - 1})")


@test
def e19_envvar_of_an_unprivileged_container():
    log = fresh("runtime") + ".log"
    cfg = config(top="accept-nvidia-visible-devices-envvar-when-unprivileged = false\n",
                 runtime=f'debug = "{log}"\nlog-level = "debug"\n')
    p = container(cfg, bundle(["NVIDIA_VISIBLE_DEVICES=all"], "ls /dev | grep -c nvidia || true"))
    eq((p.returncode, p.stdout), (0, "0\n"), f"no GPU: {p.stderr}")
    text = open(log).read() + hook_log()
    contains(text, "ignoring the devices an unprivileged container asks for in its environment "
             "(accept-nvidia-visible-devices-envvar-when-unprivileged = false)")


@test
def e20_unknown_driver_capability():
    p = container(config(), bundle(["NVIDIA_VISIBLE_DEVICES=0",
                                    "NVIDIA_DRIVER_CAPABILITIES=compute,bogus"]))
    one_line(p, "nvidia-container-runtime: invalid NVIDIA_DRIVER_CAPABILITIES 'compute,bogus': "
             "'bogus' is not a supported driver capability (supported: "
             "compat32,compute,display,graphics,ngx,utility,video)")


@test
def e21_driver_not_loaded_when_the_spec_is_generated():
    root = sim_copy("noctl")
    os.unlink(os.path.join(root, "dev/nvidiactl"))  # the simulated NVML: no driver loaded
    p = run([NCTK, "ctk", "cdi", "generate", "--driver-root", root, "--proc-root", f"{root}/proc"],
            check=False)
    one_line(p, "nvidia-ctk: NVML: the NVIDIA kernel driver is not loaded (nvmlInit: Driver Not "
             "Loaded): load it with 'modprobe nvidia', or set load-kmods = true in config.toml "
             "(--load-kmods)")
    eq(p.stdout, "", "no spec")


@test
def e22_libcuda_missing_when_the_spec_is_generated():
    root = sim_copy("nocuda")
    libdir = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    for f in os.listdir(libdir):
        if f.startswith("libcuda.so"):
            os.unlink(os.path.join(libdir, f))
    p = run([NCTK, "ctk", "cdi", "generate", "--driver-root", root, "--proc-root", f"{root}/proc"])
    eq(p.stderr, f"nvidia-ctk: warning: no libcuda.so of driver {DESC['driver_version']} in the "
       f"ld cache of driver root '{root}', so CUDA will fail in containers; reinstall the driver, "
       "or run ldconfig\n", "warning")


try:
    run_all()
finally:
    shutil.rmtree(WORK, ignore_errors=True)
