#!/usr/bin/env python3
"""The docker front-ends against a real private dockerd (scripts/engines.sh) and the simulated
driver: `nvidia-docker run`/`create` with NV_GPU through the nvidia runtime (nctk's shim,
registered in the daemon.json written here), and `docker-args` output used verbatim by a plain
`docker run` on runc, in each of its formats (shell words through `eval`, JSON, a compose
fragment). Each container shows exactly the selected GPUs in nvidia-smi -L and /dev, can dlopen
libcuda.so.1 and libnvidia-ml.so.1, and cannot open another GPU's node.

Suite 'engines': run it under `flock /tmp/nctk-engines.lock` (one engine user at a time).
usage: test-docker-wrap.py NCTK PROBE"""
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
WORK = tmpdir("nctk-docker-wrap-")
atexit.register(shutil.rmtree, WORK, True)
SIM_ROOT = os.path.join(WORK, "sim")
CONFIG = os.path.join(WORK, "config.toml")
IMAGE = "nctk-docker-wrap-probe"
RUNC = "/usr/sbin/runc"
BIN = os.path.join(WORK, "bin")              # nvidia-docker, nvidia-container-cli: names of NCTK
SHIM = os.path.join(WORK, "shim", "nvidia-container-runtime")
SHIM_HOOK = os.path.join(WORK, "hook", "nvidia-container-runtime-hook")
DAEMON_ENV = {"NVIDIA_CTK_CONFIG_FILE_PATH": CONFIG}


def engines(fn, *args, check=True, timeout=300):
    return run(["bash", "-c", '. "$0" && "$@"', ENGINES_SH, fn, *args], check=check,
               env=DAEMON_ENV, timeout=timeout)


ENV = dict(l.split("=", 1) for l in engines("engines_env").stdout.splitlines())
DOCKER = os.path.join(ENV["NCTK_ENGINES_BIN"], "docker")
COMPOSE = os.path.join(ENV["NCTK_ENGINES_BIN"], "docker-compose")
CLI = [os.path.join(BIN, "nvidia-container-cli"), "--root", SIM_ROOT, "--proc-root",
       SIM_ROOT + "/proc"]


def sh(argv, timeout=120, env=None):
    p = run(argv, check=False, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    # docker 20.10's client sometimes loses the attach stream of a short --rm container after
    # it ran ("error waiting for container: unexpected EOF"): once more, said in the log.
    if p.returncode != 0 and "error waiting for container: unexpected EOF" in p.stderr:
        print(f"# docker lost the attach stream, running again: {' '.join(argv[:6])} ...", flush=True)
        p = run(argv, check=False, timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    return p


def ok(p, what):
    eq(p.returncode, 0, f"{what}: exit status (stderr: {p.stderr.strip()[-2000:]}; stdout: {p.stdout[-1000:]})")
    return p


# ---------------------------------------------------------------- TAP
_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def diagnostics():
    for f in (ENV["NCTK_DOCKERD_LOG"], os.path.join(WORK, "runtime.log"), os.path.join(WORK, "cli.log")):
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


# ---------------------------------------------------------------- what a container shows
SCRIPT = ("nvidia-smi -L 2>&1 | while read -r l; do echo \"smi: $l\"; done; "
          "for f in /dev/nvidia*; do echo \"dev: $f\"; done; "
          "/probe dlopen libcuda.so.1 libnvidia-ml.so.1; /probe mknod-open /tmp/other 195 {other}")
DENIED = ("EPERM", "mknod:EPERM")
SIM = {}


def script_for(want):
    """SCRIPT for a container that should see the GPUs of indices WANT; the node it makes is of
    a GPU it was not given."""
    other = next(g["minor"] for g in SIM["gpus"] if g["index"] not in want)
    return SCRIPT.format(other=other)


def check_gpus(out, want):
    r = {"smi": [], "dev": [], "dlopen": {}, "mknod-open": {}}
    for line in out.splitlines():
        k, _, v = line.partition(" ")
        if k in ("smi:", "dev:"):
            r[k[:-1]].append(v)
        elif k in ("dlopen", "mknod-open"):
            name, _, res = v.partition(" ")
            r[k][name] = res
    gpus = SIM["gpus"]
    got = sorted(re.search(r"UUID: (GPU-[^)]*)", l).group(1) for l in r["smi"] if l.startswith("GPU "))
    eq(got, sorted(g["uuid"] for g in gpus if g["index"] in want), f"nvidia-smi -L (output: {out[-3000:]})")
    eq(sorted(int(m) for d in r["dev"] for m in re.findall(r"^/dev/nvidia(\d+)$", d)),
       sorted(g["minor"] for g in gpus if g["index"] in want), "GPU device nodes")
    assert r["mknod-open"].get("/tmp/other") in DENIED, f"another GPU's node: {r['mknod-open']}"
    for lib in ("libcuda.so.1", "libnvidia-ml.so.1"):
        assert r["dlopen"].get(lib, "error") != "error", f"dlopen {lib}: {r['dlopen']}"
    return r


# ---------------------------------------------------------------- setup
def write_config():
    """The shim and its hook use the simulated driver."""
    with open(CONFIG, "w") as f:
        f.write(f"""supported-driver-capabilities = "compat32,compute,display,graphics,ngx,utility,video"

[nvidia-container-cli]
root = "{SIM_ROOT}"
proc-root = "{SIM_ROOT}/proc"
path = "{os.path.join(BIN, 'nvidia-container-cli')}"
debug = "{os.path.join(WORK, 'cli.log')}"
load-kmods = false

[nvidia-container-runtime]
debug = "{os.path.join(WORK, 'runtime.log')}"
log-level = "debug"
mode = "legacy"
runtimes = ["{RUNC}"]

[nvidia-container-runtime-hook]
path = "{SHIM_HOOK}"
skip-mode-detection = true

[nvidia-ctk]
path = "{os.path.join(BIN, 'nvidia-ctk')}"
""")


def setup_names():
    for d in (BIN, os.path.dirname(SHIM), os.path.dirname(SHIM_HOOK)):
        os.makedirs(d, exist_ok=True)
    for name in ("nvidia-docker", "nvidia-container-cli", "nvidia-ctk"):
        os.symlink(NCTK, os.path.join(BIN, name))
    os.symlink(NCTK, SHIM)
    # A prestart hook gets only the environment its spec entry lists: this one brings the
    # config's path.
    with open(SHIM_HOOK, "w") as f:
        f.write(f"#!/bin/bash\nexport NVIDIA_CTK_CONFIG_FILE_PATH={CONFIG}\n"
                f"exec -a nvidia-container-runtime-hook {NCTK} \"$@\"\n")
    os.chmod(SHIM_HOOK, 0o755)


@test
def start_dockerd_with_the_nvidia_runtime():
    write_config()
    setup_names()
    SIM.update(make_sim(SIM_ROOT, "--gpus", "4"))
    rootfs = make_rootfs(os.path.join(WORK, "rootfs"), PROBE)
    tar = os.path.join(WORK, "image.tar")
    run(["tar", "-C", rootfs, "-cf", tar, "."])
    daemon = os.path.join(WORK, "daemon.json")
    with open(daemon, "w") as f:
        json.dump({"runtimes": {"nvidia": {"path": SHIM, "runtimeArgs": []}}}, f, indent=2)
    engines("engines_start", daemon)
    engines("engines_import", tar, IMAGE)
    info = json.loads(ok(sh([DOCKER, "info", "--format", "{{json .}}"]), "docker info").stdout)
    assert "nvidia" in info["Runtimes"], info["Runtimes"]
    eq(info["DefaultRuntime"], "runc", "default runtime")


# ---------------------------------------------------------------- nvidia-docker
def nvidia_docker(args, nv_gpu):
    env = {"NV_DOCKER": DOCKER, "NV_GPU": nv_gpu}
    return sh([os.path.join(BIN, "nvidia-docker"), *args], env=env)


@test
def nvidia_docker_run_nv_gpu_1():
    p = ok(nvidia_docker(["run", "--rm", IMAGE, "/bin/sh", "-c", script_for([1])], "1"),
           "nvidia-docker run, NV_GPU=1")
    check_gpus(p.stdout, [1])


@test
def nvidia_docker_run_nv_gpu_0_2_with_a_global_option():
    p = ok(nvidia_docker(["-H", ENV["DOCKER_HOST"], "run", "--rm", IMAGE, "/bin/sh", "-c",
                          script_for([0, 2])], "0 2"), "nvidia-docker -H ... run, NV_GPU='0 2'")
    check_gpus(p.stdout, [0, 2])


@test
def nvidia_docker_create_then_start():
    uuid = SIM["gpus"][3]["uuid"]
    p = ok(nvidia_docker(["container", "create", IMAGE, "/bin/sh", "-c", script_for([3])], uuid),
           "nvidia-docker container create")
    cid = p.stdout.strip()
    try:
        inspect = json.loads(ok(sh([DOCKER, "inspect", cid]), "docker inspect").stdout)[0]
        eq(inspect["HostConfig"]["Runtime"], "nvidia", "the container's runtime")
        assert f"NVIDIA_VISIBLE_DEVICES={uuid}" in inspect["Config"]["Env"], inspect["Config"]["Env"]
        p = ok(sh([DOCKER, "start", "-a", cid]), "docker start -a")
        check_gpus(p.stdout, [3])
    finally:
        sh([DOCKER, "rm", "-f", cid])


@test
def nvidia_docker_passes_other_commands_and_status():
    p = nvidia_docker(["run", "--rm", IMAGE, "/bin/sh", "-c", "exit 7"], "")
    eq(p.returncode, 7, f"the container's exit status through docker ({p.stderr})")
    p = ok(nvidia_docker(["images", "--format", "{{.Repository}}"], "1"), "nvidia-docker images")
    assert IMAGE in p.stdout.split(), p.stdout
    p = nvidia_docker(["run", "--rm", IMAGE, "true"], "0;1")
    eq((p.returncode, p.stdout), (1, ""), f"bad NV_GPU ({p.stderr})")
    eq(len(p.stderr.strip().splitlines()), 1, f"one line: {p.stderr!r}")


# ---------------------------------------------------------------- docker-args on plain runc
def docker_args(*args):
    return ok(run([*CLI, "docker-args", *args], check=False), f"docker-args {' '.join(args)}").stdout


@test
def docker_args_shell_words_verbatim():
    """The shell format through `eval`, as its help shows, on runc: exactly GPU 1."""
    env = {"NCTK_ARGS": docker_args("--device=1"), "DOCKER": DOCKER, "IMAGE": IMAGE,
           "SCRIPT": script_for([1])}
    p = ok(sh(["bash", "-c", 'eval "set -- $NCTK_ARGS" && '
               'exec "$DOCKER" run --rm "$@" "$IMAGE" /bin/sh -c "$SCRIPT"'], env=env),
           "docker run $(docker-args --device=1)")
    r = check_gpus(p.stdout, [1])
    eq(r["dlopen"]["libcuda.so.1"], "/usr/local/nvidia/lib64/libcuda.so.1", "libcuda by SONAME")


@test
def docker_args_json_on_runc():
    uuid0, uuid2 = SIM["gpus"][0]["uuid"], SIM["gpus"][2]["uuid"]
    args = json.loads(docker_args("-d", f"{uuid0},{uuid2}", "--format=json"))
    p = ok(sh([DOCKER, "run", "--rm", "--runtime=runc", *args, IMAGE, "/bin/sh", "-c",
               script_for([0, 2])]), "docker run (docker-args --format=json)")
    check_gpus(p.stdout, [0, 2])


@test
def docker_args_under_the_nvidia_runtime_add_nothing():
    """NVIDIA_VISIBLE_DEVICES=void: an image that asks for every GPU (as CUDA images do), run by
    the nvidia runtime, still gets only what docker-args gave it."""
    d = os.path.join(WORK, "build-all")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(f"FROM {IMAGE}\nENV NVIDIA_VISIBLE_DEVICES=all\n")
    ok(sh([DOCKER, "build", "-q", "-t", f"{IMAGE}-all", d], timeout=300,
          env={"DOCKER_BUILDKIT": "0"}), "docker build")
    args = json.loads(docker_args("-d", "2", "--format=json"))
    p = ok(sh([DOCKER, "run", "--rm", "--runtime=nvidia", *args, f"{IMAGE}-all", "/bin/sh", "-c",
               script_for([2])]), "docker run --runtime=nvidia (docker-args)")
    check_gpus(p.stdout, [2])
    # And without docker-args' void the same image gets every GPU: the case is not vacuous.
    p = ok(sh([DOCKER, "run", "--rm", "--runtime=nvidia", f"{IMAGE}-all", "/bin/sh", "-c",
               "nvidia-smi -L"]), "docker run (all)")
    eq(len([l for l in p.stdout.splitlines() if l.startswith("GPU ")]), 4, f"all GPUs: {p.stdout}")


@test
def docker_args_compose_fragment():
    fragment = docker_args("-d", "3", "--format=compose")
    d = os.path.join(WORK, "compose")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "docker-compose.yml")
    command = json.dumps(["/bin/sh", "-c", script_for([3]).replace("$", "$$")])
    with open(path, "w") as f:
        f.write(f"version: '2.3'\nservices:\n  probe:\n    image: {IMAGE}\n"
                f"    network_mode: none\n    command: {command}\n")
        f.write("".join(f"    {line}\n" for line in fragment.splitlines()))
    project = f"nctkwrap{os.getpid()}"
    try:
        p = ok(sh([COMPOSE, "-f", path, "-p", project, "run", "--rm", "-T", "probe"], timeout=180),
               "docker-compose run (docker-args --format=compose)")
    finally:
        sh([COMPOSE, "-f", path, "-p", project, "down", "--remove-orphans"], timeout=120)
    check_gpus(p.stdout, [3])


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
        if int(pid) != os.getpid() and any(m in cmd for m in marks):
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
