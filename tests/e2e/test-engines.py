#!/usr/bin/env python3
"""Real container engines on this machine (scripts/engines.sh): dockerd 20.10, a standalone
containerd 1.6 with ctr, podman 4.3 with runc, docker-compose 1.29 and the classic docker builder,
each with its own sockets and state, and everything removed at the end.

First the harness and the engines with plain runc, and `docker run --gpus` without the hook (it
fails the well-known way). Then the GPU cases against the simulated driver, with nctk as
nvidia-container-runtime-hook and as the nvidia-container-runtime shim: docker --gpus,
--runtime=nvidia, the shim as default runtime and under docker build, ctr --runc-binary, podman
hooks.d, compose `runtime: nvidia`, and the errors docker run reports.

usage: test-engines.py NCTK PROBE

Environment:
  NCTK_ENGINES_GPU=force|auto|skip  force: every GPU case runs, and fails if the hook or shim does
                        not answer (`-version`, `--version`); the default as root, as in CI, where
                        a skip would hide a broken hook. auto: a GPU case whose hook/shim does not
                        answer reports `# SKIP`; the default as another user. skip: every GPU case
                        reports `# SKIP`, a developer's opt-out that scripts/test.sh never sets
                        (run as root, it counts any skip as a failure).
  NCTK_ENGINES_HOOK, NCTK_ENGINES_SHIM  the executables to use as nvidia-container-runtime-hook and
                        nvidia-container-runtime (default: NCTK, multi-call).
Without the engines installed the whole suite reports `1..0 # SKIP`, which scripts/test.sh also
counts as a failure as root."""
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
ENGINES_SH = os.path.join(HERE, "..", "..", "scripts", "engines.sh")
WORK = tmpdir("nctk-engines-")
atexit.register(shutil.rmtree, WORK, True)
SIM_ROOT = os.path.join(WORK, "sim")
CONFIG = os.path.join(WORK, "config.toml")
IMAGE = "nctk-engines-probe"                  # docker
CTR_IMAGE = f"docker.io/library/{IMAGE}:latest"  # containerd (docker save | ctr images import)
PODMAN_IMAGE = f"localhost/{IMAGE}"           # podman
RUNC = "/usr/sbin/runc"
PODMAN_RUN = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]
# Where the engines find our programs, by the names they look for: dockerd looks up
# nvidia-container-runtime-hook on its PATH; runtimes are started by path, named by argv[0].
HOOK_DIR = os.path.join(WORK, "hook-bin")
HOOK = os.path.join(HOOK_DIR, "nvidia-container-runtime-hook")
# The hook as the shim adds it (config.toml's [nvidia-container-runtime-hook] path): a prestart
# hook gets only the environment its spec entry lists, so this one brings the config's path.
SHIM_HOOK = os.path.join(WORK, "hook-env", "nvidia-container-runtime-hook")
SHIM = os.path.join(WORK, "shim-bin", "nvidia-container-runtime")


def engines(fn, *args, check=True, timeout=300):
    """Calls a function of scripts/engines.sh; the daemons it starts inherit DAEMON_ENV."""
    return run(["bash", "-c", '. "$0" && "$@"', ENGINES_SH, fn, *args], check=check,
               env=DAEMON_ENV, timeout=timeout)


# The daemons' environment: the config that points the hook and shim at the simulated driver.
DAEMON_ENV = {"NVIDIA_CTK_CONFIG_FILE_PATH": CONFIG}
ENV = dict(l.split("=", 1) for l in engines("engines_env").stdout.splitlines())
BIN = ENV["NCTK_ENGINES_BIN"]
DOCKER = os.path.join(BIN, "docker")
CTR = os.path.join(BIN, "ctr")
PODMAN = os.path.join(BIN, "podman")
COMPOSE = os.path.join(BIN, "docker-compose")
STATE = {"docker": None}  # the dockerd configuration running now


def sh(argv, timeout=120, env=None, check=False):
    p = run(argv, check=check, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    # docker 20.10's client sometimes loses the attach stream of a short --rm container
    # ("error waiting for container: unexpected EOF") after the container ran: an engine flake
    # that says nothing about the container. Once, and said in the log.
    if (argv[0] == DOCKER and "run" in argv and p.returncode != 0
            and "error waiting for container: unexpected EOF" in p.stderr):
        print(f"# docker lost the attach stream, running again: {' '.join(argv[:6])} ...", flush=True)
        p = run(argv, check=check, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    return p


def ok(p, what):
    eq(p.returncode, 0, f"{what}: exit status (stderr: {p.stderr.strip()[-2000:]}; stdout: {p.stdout[-1000:]})")
    return p


def links():
    """Network interfaces by name (a veth pair would show here)."""
    ip = shutil.which("ip")
    out = run([ip, "-o", "link"]).stdout if ip else ""
    return {l.split(":")[1].strip().split("@")[0] for l in out.splitlines() if l.count(":") >= 2}


LINKS_BEFORE = links()


# ---------------------------------------------------------------- TAP with SKIP and timings
_tests = []
_t0 = time.monotonic()


def test(fn):
    _tests.append((fn.__name__, fn, None))
    return fn


def case(name, fn, *args, skip=None):
    """Registers a test that calls FN(*ARGS), skipped when SKIP() gives a reason, failed when
    SKIP() raises."""
    _tests.append((name, lambda: fn(*args), skip))


def diagnostics():
    for f in (ENV["NCTK_DOCKERD_LOG"], ENV["NCTK_CONTAINERD_LOG"],
              *[os.path.join(WORK, x) for x in sorted(os.listdir(WORK)) if x.endswith(".log")]):
        if os.path.exists(f):
            lines = open(f, errors="replace").read().splitlines()[-15:]
            print(f"# --- {f} (end)", flush=True)
            for line in lines:
                print(f"#   {line}", flush=True)


def run_all():
    n = failed = 0
    for name, fn, skip in _tests:
        n += 1
        t = time.monotonic()
        try:
            reason = skip() if skip else None  # raises when the case must run and cannot
            if reason:
                print(f"ok {n} - {name} # SKIP {reason}", flush=True)
                continue
            fn()
            print(f"ok {n} - {name}", flush=True)
        except Exception:  # a failed test reports and the others go on
            failed += 1
            print(f"not ok {n} - {name}", flush=True)
            for line in traceback.format_exc().splitlines():
                print(f"# {line}", flush=True)
            diagnostics()
        print(f"# {name}: {time.monotonic() - t:.2f} s", flush=True)
    print(f"# total: {time.monotonic() - _t0:.1f} s", flush=True)
    print(f"1..{n}", flush=True)
    return failed


# ---------------------------------------------------------------- setup
def write_config():
    """config.toml for the hook and the shim: the driver is the simulated one under SIM_ROOT."""
    with open(CONFIG, "w") as f:
        f.write(f"""disable-require = false
supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
root = "{SIM_ROOT}"
proc-root = "{SIM_ROOT}/proc"
path = "{os.path.join(HOOK_DIR, 'nvidia-container-cli')}"
environment = []
debug = "{os.path.join(WORK, 'nvidia-container-cli.log')}"
load-kmods = false
no-cgroups = false
ldconfig = "@/sbin/ldconfig"

[nvidia-container-runtime]
debug = "{os.path.join(WORK, 'nvidia-container-runtime.log')}"
log-level = "debug"
mode = "legacy"
runtimes = ["{RUNC}"]

[nvidia-container-runtime-hook]
path = "{SHIM_HOOK}"
skip-mode-detection = true

[nvidia-ctk]
path = "{os.path.join(HOOK_DIR, 'nvidia-ctk')}"
""")


def link(path, target):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def setup_links():
    hook = os.path.abspath(os.environ.get("NCTK_ENGINES_HOOK", NCTK))
    shim = os.path.abspath(os.environ.get("NCTK_ENGINES_SHIM", NCTK))
    link(HOOK, hook)
    link(os.path.join(HOOK_DIR, "nvidia-container-cli"), NCTK)
    link(os.path.join(HOOK_DIR, "nvidia-ctk"), NCTK)
    link(SHIM, shim)
    os.makedirs(os.path.dirname(SHIM_HOOK), exist_ok=True)
    with open(SHIM_HOOK, "w") as f:
        f.write(f"#!/bin/bash\nexport NVIDIA_CTK_CONFIG_FILE_PATH={CONFIG}\n"
                f"exec -a nvidia-container-runtime-hook {hook} \"$@\"\n")
    os.chmod(SHIM_HOOK, 0o755)


def use_docker(hook_dir=None, shim=None, default_runtime=False):
    """(Re)starts dockerd with this configuration unless it runs with it already: HOOK_DIR first
    on its PATH (dockerd finds nvidia-container-runtime-hook there, once, when it starts), the
    shim registered as runtime `nvidia`, and the default runtime."""
    cfg = {}
    if shim:
        cfg["runtimes"] = {"nvidia": {"path": shim, "runtimeArgs": []}}
    if default_runtime:
        cfg["default-runtime"] = "nvidia"
    want = (json.dumps(cfg, sort_keys=True), hook_dir)
    if STATE["docker"] == want:
        return
    path = os.path.join(WORK, "daemon.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    STATE["docker"] = None
    engines("engines_start_docker", path, hook_dir or "")
    STATE["docker"] = want


@test
def engines_start_and_import():
    write_config()
    setup_links()
    rootfs = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
    tar = os.path.join(WORK, "image.tar")
    run(["tar", "-C", rootfs, "-cf", tar, "."])
    engines("engines_start")
    STATE["docker"] = (json.dumps({}), None)  # what engines_start runs: no daemon.json keys
    engines("engines_import", tar, IMAGE)
    eq(ok(sh([DOCKER, "images", "-q", IMAGE]), "docker images").stdout.strip() != "", True, "docker image")
    assert CTR_IMAGE in ok(sh([CTR, "images", "ls", "-q"]), "ctr images").stdout.split(), "containerd image"
    ok(sh([PODMAN, "image", "exists", PODMAN_IMAGE]), "podman image exists")


# ---------------------------------------------------------------- plain runc, no GPU
DENIED = ("EPERM", "mknod:EPERM")  # the device cgroup refuses the open, or the node itself


@test
def docker_run():
    p = ok(sh([DOCKER, "run", "--rm", IMAGE, "/bin/sh", "-c",
               "/probe open /dev/null; /probe mknod-open /tmp/x 195 0"]), "docker run")
    r = parse(p.stdout)
    eq(r["open"]["/dev/null"], "ok", "/dev/null")
    assert r["mknod-open"]["/tmp/x"] in DENIED, r


@test
def docker_gpus_fails_without_the_hook():
    """What the hook fixes: dockerd knows no GPU driver until nvidia-container-runtime-hook is
    on its PATH."""
    p = sh([DOCKER, "run", "--rm", "--gpus", "all", IMAGE, "/probe", "open", "/dev/null"])
    eq(p.returncode, 125, f"exit status ({p.stderr})")
    assert 'could not select device driver "" with capabilities: [[gpu]]' in p.stderr, p.stderr
    eq(p.stdout, "", "no container ran")


@test
def containerd_ctr_run():
    p = ok(sh([CTR, "run", "--rm", "--runc-binary", RUNC, CTR_IMAGE, cid(), "/bin/sh", "-c",
               "/probe open /dev/null; /probe mknod-open /tmp/x 195 0"]), "ctr run")
    r = parse(p.stdout)
    eq(r["open"]["/dev/null"], "ok", "/dev/null")
    assert r["mknod-open"]["/tmp/x"] in DENIED, r


@test
def podman_run():
    p = ok(sh([PODMAN, "--runtime", "runc", "run", "--rm", *PODMAN_RUN, "--cap-add", "MKNOD",
               PODMAN_IMAGE, "/bin/sh", "-c", "/probe open /dev/null; /probe mknod-open /tmp/x 195 0"]),
           "podman run")
    r = parse(p.stdout)
    eq(r["open"]["/dev/null"], "ok", "/dev/null")
    assert r["mknod-open"]["/tmp/x"] in DENIED, r


@test
def podman_hooks_dir():
    """An OCI hooks.d JSON file is honoured: its prestart hook runs with the container's state."""
    d = os.path.join(WORK, "hooks.d-marker")
    os.makedirs(d)
    marker = os.path.join(WORK, "hook-marker")
    script = os.path.join(WORK, "marker-hook.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\n{{ echo \"$1 $MARKER_ENV\"; cat; }} > {marker}\n")
    os.chmod(script, 0o755)
    with open(os.path.join(d, "marker.json"), "w") as f:
        json.dump({"version": "1.0.0",
                   "hook": {"path": script, "args": ["marker-hook.sh", "prestart"],
                            "env": ["MARKER_ENV=from-hooks.d"]},
                   "when": {"always": True}, "stages": ["prestart"]}, f)
    p = ok(sh([PODMAN, "--runtime", "runc", "--hooks-dir", d, "run", "--rm", *PODMAN_RUN,
               PODMAN_IMAGE, "/probe", "open", "/dev/null"]), "podman run --hooks-dir")
    eq(p.stdout, "open /dev/null ok\n", "container output")
    assert os.path.exists(marker), "the hook did not run"
    head, _, state = open(marker).read().partition("\n")
    eq(head, "prestart from-hooks.d", "hook arguments and environment")
    st = json.loads(state)
    assert st["pid"] > 0 and st["bundle"].startswith(ENV["NCTK_ENGINES_DIR"]), st


@test
def compose_runc():
    f = compose_file("plain", "runc", ["/probe", "open", "/dev/null"])
    p = compose(f, "run", "--rm", "-T", "probe")
    ok(p, "docker-compose run")
    eq(p.stdout.strip().splitlines()[-1:], ["open /dev/null ok"], "container output")


@test
def docker_build_classic():
    d = os.path.join(WORK, "build-plain")
    os.makedirs(d)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(f"FROM {IMAGE}\nRUN /probe open /dev/null\n")
    p = ok(sh([DOCKER, "build", "--rm", "--force-rm", "-t", f"{IMAGE}-built", d], timeout=300,
              env={"DOCKER_BUILDKIT": "0"}), "docker build")
    assert "open /dev/null ok" in p.stdout, p.stdout
    ok(sh([DOCKER, "rmi", f"{IMAGE}-built"]), "docker rmi")


# ---------------------------------------------------------------- helpers
_n = [0]


def cid():
    _n[0] += 1
    return f"nctk-eng-{os.getpid()}-{_n[0]}"


def parse(out):
    r = {"smi": [], "dev": [], "dlopen": {}, "open": {}, "mknod-open": {}, "other": []}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k in ("smi:", "dev:"):
            r[k[:-1]].append(v)
        elif k in ("dlopen", "open", "mknod-open"):
            name, _, res = v.partition(" ")
            r[k][name] = res
        else:
            r["other"].append(line)
    return r


def compose_file(name, runtime, command, environment=()):
    d = os.path.join(WORK, f"compose-{name}")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "docker-compose.yml")
    # compose substitutes $VAR in the file: $$ is a dollar sign.
    command = [c.replace("$", "$$") for c in command]
    env = "".join(f"      - {json.dumps(e)}\n" for e in environment)
    with open(path, "w") as f:
        f.write(f"""version: '2.3'
services:
  probe:
    image: {IMAGE}
    runtime: {runtime}
    network_mode: none
    command: {json.dumps(command)}
""" + (f"    environment:\n{env}" if env else ""))
    return path


def compose(path, *args):
    project = f"nctkeng{os.getpid()}"
    try:
        return sh([COMPOSE, "-f", path, "-p", project, *args], timeout=180)
    finally:
        sh([COMPOSE, "-f", path, "-p", project, "down", "--remove-orphans"], timeout=120)


# ---------------------------------------------------------------- GPU cases (hook and shim)
# What a container runs to show what it was given; pure shell, the image's busybox has no sed.
GPU_SCRIPT = ("nvidia-smi -L 2>&1 | while read -r l; do echo \"smi: $l\"; done; "
              "for f in /dev/nvidia*; do echo \"dev: $f\"; done; "
              "/probe dlopen libcuda.so.1 libnvidia-ml.so.1; /probe mknod-open /tmp/other 195 {other}")
SIM = {}


def sim():
    """The simulated driver (4 GPUs), made the first time a GPU case runs."""
    if not SIM:
        SIM.update(make_sim(SIM_ROOT, "--gpus", "4"))
    return SIM


def script_for(want):
    """GPU_SCRIPT for a container that should see the GPUs of indices WANT: the node it makes
    is of a GPU it was not given (or, when it has them all, of a minor no GPU has)."""
    gpus = sim()["gpus"]
    others = [g["minor"] for g in gpus if g["index"] not in want]
    minors = {g["minor"] for g in gpus}
    other = others[0] if others else next(m for m in range(64, 254) if m not in minors)
    return GPU_SCRIPT.format(other=other)


def check_gpus(out, want, utility_only=False):
    """nvidia-smi -L lists exactly the GPUs of indices WANT, their nodes are there and no
    other, and another GPU's node cannot be opened."""
    gpus = sim()["gpus"]
    r = parse(out)
    smi = [l for l in r["smi"] if l.startswith("GPU ")]
    got = sorted(re.search(r"UUID: (GPU-[^)]*)", l).group(1) for l in smi)
    eq(got, sorted(g["uuid"] for g in gpus if g["index"] in want), f"nvidia-smi -L (output: {out[-3000:]})")
    eq(sorted(int(m) for d in r["dev"] for m in re.findall(r"^/dev/nvidia(\d+)$", d)),
       sorted(g["minor"] for g in gpus if g["index"] in want), "GPU device nodes")
    assert r["mknod-open"].get("/tmp/other") in DENIED, f"another GPU's node: {r['mknod-open']}"
    assert r["dlopen"].get("libnvidia-ml.so.1", "error") != "error", r["dlopen"]
    if utility_only:
        eq(r["dlopen"].get("libcuda.so.1"), "error", "no compute library with utility only")
    else:
        assert r["dlopen"].get("libcuda.so.1", "error") != "error", r["dlopen"]


def docker_gpus(hook, gpus, want, utility_only=False):
    """docker run --gpus GPUS: dockerd finds the hook (HOOK, named nvidia-container-runtime-hook)
    on its PATH and adds it as a prestart hook with NVIDIA_VISIBLE_DEVICES set."""
    use_docker(hook_dir=os.path.dirname(hook), shim=shim_if_ready())
    p = ok(sh([DOCKER, "run", "--rm", "--gpus", gpus, IMAGE, "/bin/sh", "-c", script_for(want)]),
           f"docker run --gpus {gpus}")
    check_gpus(p.stdout, want, utility_only)


def docker_runtime_nvidia(hook, shim):
    """docker run --runtime=nvidia (the shim registered in daemon.json), GPUs chosen by env."""
    use_docker(hook_dir=os.path.dirname(hook), shim=shim)
    p = ok(sh([DOCKER, "run", "--rm", "--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=1",
               "-e", "NVIDIA_DRIVER_CAPABILITIES=compute,utility", IMAGE, "/bin/sh", "-c",
               script_for([1])]), "docker run --runtime=nvidia")
    check_gpus(p.stdout, [1])


def docker_default_runtime(hook, shim):
    """The shim as dockerd's default runtime: a container that asks for no GPU gets none; one
    that asks gets it; and so does a RUN of the classic builder."""
    use_docker(hook_dir=os.path.dirname(hook), shim=shim, default_runtime=True)
    p = ok(sh([DOCKER, "run", "--rm", IMAGE, "/bin/sh", "-c",
               "/probe open /dev/null; ls /dev; test -e /usr/bin/nvidia-smi && echo has-smi; true"]),
           "docker run, no GPU asked")
    assert "open /dev/null ok" in p.stdout, p.stdout
    assert "nvidia" not in p.stdout and "has-smi" not in p.stdout, f"a non-GPU container changed: {p.stdout}"
    p = ok(sh([DOCKER, "run", "--rm", "-e", "NVIDIA_VISIBLE_DEVICES=2", IMAGE, "/bin/sh", "-c",
               script_for([2])]), "docker run, NVIDIA_VISIBLE_DEVICES=2")
    check_gpus(p.stdout, [2])
    d = os.path.join(WORK, "build-gpu")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(f"FROM {IMAGE}\nENV NVIDIA_VISIBLE_DEVICES=3\nRUN {script_for([3])}\n")
    p = ok(sh([DOCKER, "build", "--rm", "--force-rm", "-t", f"{IMAGE}-gpu", d], timeout=300,
              env={"DOCKER_BUILDKIT": "0"}), "docker build (default runtime nvidia)")
    check_gpus(p.stdout, [3])
    ok(sh([DOCKER, "rmi", f"{IMAGE}-gpu"]), "docker rmi")


def containerd_shim(hook, shim):
    """ctr run --runc-binary SHIM: containerd's runc shim runs ours instead of runc."""
    p = ok(sh([CTR, "run", "--rm", "--runc-binary", shim, "--env", "NVIDIA_VISIBLE_DEVICES=0,2",
               CTR_IMAGE, cid(), "/bin/sh", "-c", script_for([0, 2])]), "ctr run --runc-binary shim")
    check_gpus(p.stdout, [0, 2])


def docker_errors(hook, shim):
    """What a user meets when a request cannot be met: docker run fails with our one line in
    its error, and no container is left behind."""
    use_docker(hook_dir=os.path.dirname(hook), shim=shim)
    cases = [(["--gpus", "all", "-e", "NVIDIA_REQUIRE_CUDA=cuda>=99.0"],
              "unsatisfied condition: cuda>=99.0"),
             (["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=GPU-nope"],
              "invalid NVIDIA_VISIBLE_DEVICES 'GPU-nope'"),
             (["--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=7"], "unknown device '7'"),
             (["--gpus", "all", "-e", "NVIDIA_DRIVER_CAPABILITIES=compute,foo"], "'foo'")]
    for args, want in cases:
        name = f"nctk-err-{cid()}"
        p = sh([DOCKER, "run", "--rm", "--name", name, *args, IMAGE, "true"])
        assert p.returncode != 0, f"docker run {args} must fail: {p.stdout}"
        assert want in p.stderr, f"docker run {args}: {want!r} not in {p.stderr!r}"
        left = sh([DOCKER, "ps", "-a", "-q", "--filter", f"name={name}"]).stdout.strip()
        if left:
            sh([DOCKER, "rm", "-f", name])
        eq(left, "", f"a container was left by docker run {args}")


def podman_hooks_d(hook):
    """podman with a hooks.d JSON file for nvidia-container-runtime-hook, as NVIDIA ships it."""
    d = os.path.join(WORK, "hooks.d-nvidia")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "oci-nvidia-hook.json"), "w") as f:
        json.dump({"version": "1.0.0",
                   "hook": {"path": hook, "args": ["nvidia-container-runtime-hook", "prestart"],
                            "env": [f"NVIDIA_CTK_CONFIG_FILE_PATH={CONFIG}",
                                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
                   "when": {"always": True, "commands": [".*"]}, "stages": ["prestart"]}, f)
    p = ok(sh([PODMAN, "--runtime", "runc", "--hooks-dir", d, "run", "--rm", *PODMAN_RUN,
               "--cap-add", "MKNOD", "-e", "NVIDIA_VISIBLE_DEVICES=3", PODMAN_IMAGE, "/bin/sh", "-c",
               script_for([3])]), "podman run with the nvidia hooks.d")
    check_gpus(p.stdout, [3])


def compose_runtime_nvidia(hook, shim):
    """docker-compose, file format 2.3, `runtime: nvidia`."""
    use_docker(hook_dir=os.path.dirname(hook), shim=shim)
    f = compose_file("nvidia", "nvidia", ["/bin/sh", "-c", script_for([1, 3])],
                     environment=["NVIDIA_VISIBLE_DEVICES=1,3"])
    p = ok(compose(f, "run", "--rm", "-T", "probe"), "docker-compose run (runtime: nvidia)")
    check_gpus(p.stdout, [1, 3])


# Whether the GPU cases run: NCTK_ENGINES_GPU (see the top), force by default as root.
GPU_MODE = os.environ.get("NCTK_ENGINES_GPU") or ("force" if os.geteuid() == 0 else "auto")
if GPU_MODE not in ("force", "auto", "skip"):
    print(f"Bail out! NCTK_ENGINES_GPU={GPU_MODE!r}: force, auto or skip", flush=True)
    sys.exit(1)


# Whether nctk answers as the hook and as the shim.
def _answers(argv, generic=None):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except OSError:
        return False
    return p.returncode == 0 and not (generic and re.fullmatch(generic, p.stdout.strip()))


def hook_answers():
    return _answers([HOOK, "-version"]) and (
        "NCTK_ENGINES_HOOK" in os.environ or _answers([NCTK, "nvidia-container-runtime-hook", "-version"]))


def shim_answers():
    # Called as nvidia-container-runtime, an nctk without the shim answers --version with its
    # own generic line "nctk version X": that is not a shim.
    return _answers([SHIM, "--version"], generic=r"nctk version \S+")


def shim_if_ready():
    return SHIM if GPU_MODE == "force" or shim_answers() else None


def needs(*what):
    """A case's skip check: None when the case runs. In force mode a hook/shim that does not
    answer fails the case, with the reason, instead of skipping it."""
    checks = {"hook": (hook_answers, "nctk nvidia-container-runtime-hook -version"),
              "shim": (shim_answers, "nvidia-container-runtime --version")}

    def reason():
        if GPU_MODE == "skip":
            return "NCTK_ENGINES_GPU=skip"
        missing = [checks[w][1] for w in what if not checks[w][0]()]
        if not missing:
            return None
        verb = "does" if len(missing) == 1 else "do"
        if GPU_MODE == "force":
            raise AssertionError(f"{', '.join(missing)} {verb} not answer "
                                 "(NCTK_ENGINES_GPU=force: the GPU cases must run)")
        return f"{', '.join(missing)} {verb} not answer (NCTK_ENGINES_GPU=auto)"
    return reason


# The GPU cases: one line each. In auto mode a case whose hook/shim does not answer is skipped.
case("docker --gpus all", docker_gpus, HOOK, "all", [0, 1, 2, 3], skip=needs("hook"))
case("docker --gpus 2", docker_gpus, HOOK, "2", [0, 1], skip=needs("hook"))
case("docker --gpus \"device=0,1\"", docker_gpus, HOOK, '"device=0,1"', [0, 1], skip=needs("hook"))
case("docker --gpus all,capabilities=utility", docker_gpus, HOOK, "all,capabilities=utility",
     [0, 1, 2, 3], True, skip=needs("hook"))
case("docker --runtime=nvidia", docker_runtime_nvidia, HOOK, SHIM, skip=needs("hook", "shim"))
case("docker default-runtime nvidia, docker build", docker_default_runtime, HOOK, SHIM,
     skip=needs("hook", "shim"))
case("ctr run --runc-binary nvidia-container-runtime", containerd_shim, HOOK, SHIM,
     skip=needs("hook", "shim"))
case("podman hooks.d nvidia-container-runtime-hook", podman_hooks_d, HOOK, skip=needs("hook"))
case("docker-compose runtime: nvidia", compose_runtime_nvidia, HOOK, SHIM, skip=needs("hook", "shim"))
case("docker run errors: one line, no container left", docker_errors, HOOK, SHIM,
     skip=needs("hook", "shim"))


# ---------------------------------------------------------------- and nothing is left
def leftovers():
    marks = (ENV["NCTK_ENGINES_DIR"], ENV["NCTK_ENGINES_RUN"], WORK)
    procs = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmd for m in marks[:2]) and "engines_stop" not in cmd:
            procs.append(f"{pid} {cmd}")
    mounts = [l for l in open("/proc/self/mountinfo") if any(m in l for m in marks)]
    new_links = sorted(links() - LINKS_BEFORE)
    return procs, mounts, new_links


@test
def stop_leaves_nothing():
    t = time.monotonic()
    engines("engines_stop")
    print(f"# engines_stop: {time.monotonic() - t:.2f} s", flush=True)
    procs, mounts, new_links = leftovers()
    eq(procs, [], "processes left")
    eq(mounts, [], "mounts left")
    eq(new_links, [], "network links left (veth)")
    for p in (ENV["NCTK_ENGINES_DIR"], ENV["NCTK_ENGINES_RUN"]):
        assert not os.path.exists(p), f"{p} is still there"
    engines("engines_stop")  # idempotent


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    if engines("engines_installed", check=False).returncode != 0:
        print("1..0 # SKIP docker.io, containerd, podman, docker-compose not installed "
              "(bash scripts/engines.sh install)")
        sys.exit(0)
    failed = 1
    try:
        failed = run_all()
    finally:
        engines("engines_stop", check=False)
    sys.exit(1 if failed else 0)
