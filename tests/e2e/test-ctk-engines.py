#!/usr/bin/env python3
"""`nvidia-ctk runtime configure` against real engines (scripts/engines.sh), with the simulated
driver: a busy daemon.json configured and a real dockerd started on it lists the runtime and runs
GPU containers with it (`--runtime=nvidia`, then as the default runtime for a plain `docker run`
and a classic `docker build` RUN); unconfigure gives the file back byte for byte; and the hooks.d
JSON of `--config-mode=oci-hook` gets a real `podman run` its GPU.

It reuses test-engines.py's harness (engines, the simulated driver's config, the hook and shim
links, the probe image, the GPU checks).

usage: test-ctk-engines.py NCTK PROBE"""
import importlib.util
import json
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("engines_harness", os.path.join(HERE, "test-engines.py"))
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)  # defines its cases without running them
from tap import eq  # noqa: E402

NCTK = harness.NCTK
WORK = harness.WORK
DAEMON_JSON = os.path.join(WORK, "ctk", "daemon.json")
# Busy and unusually indented: three spaces, a tab-indented object, members on one line.
BUSY = """{
   "log-driver": "json-file",
   "log-opts": {
\t"max-size": "10m",
\t"max-file": "2"
   },
   "registry-mirrors": ["https://mirror.example.com"],
   "runtimes": {
         "crun": {"path": "/usr/bin/crun", "runtimeArgs": []}
   },
   "default-runtime": "runc",
   "features": {"buildkit": false},
   "max-concurrent-downloads": 2
}
"""
CASES = []


def case(fn):
    CASES.append(fn)
    return fn


def ctk(*args):
    p = harness.run([NCTK, "ctk", *args], check=False)
    eq(p.returncode, 0, f"nvidia-ctk {' '.join(args)}: {p.stderr}")
    return p


def read(path):
    with open(path, "rb") as f:
        return f.read()


def start_dockerd():
    """dockerd on DAEMON_JSON, with the hook directory first on its PATH."""
    harness.STATE["docker"] = None
    harness.engines("engines_start_docker", DAEMON_JSON, harness.HOOK_DIR)


def docker_info():
    p = harness.ok(harness.sh([harness.DOCKER, "info", "--format", "{{json .}}"]), "docker info")
    return json.loads(p.stdout)


@case
def engines_start_and_import():
    harness.engines_start_and_import()


@case
def docker_busy_daemon_json_runtime_nvidia():
    os.makedirs(os.path.dirname(DAEMON_JSON))
    with open(DAEMON_JSON, "w") as f:
        f.write(BUSY)
    p = ctk("runtime", "configure", "--runtime=docker", "--config", DAEMON_JSON,
            "--nvidia-runtime-path", harness.SHIM)
    assert "systemctl restart docker" in p.stdout, p.stdout
    start_dockerd()
    info = docker_info()
    eq(info["Runtimes"].get("nvidia", {}).get("path"), harness.SHIM, f"docker info runtimes {info['Runtimes']}")
    assert "crun" in info["Runtimes"], info["Runtimes"]
    eq(info["DefaultRuntime"], "runc", "default runtime")
    eq(info["LoggingDriver"], "json-file", "the file's other keys still apply")
    eq(info["RegistryConfig"]["Mirrors"], ["https://mirror.example.com/"], "registry mirrors")
    p = harness.ok(harness.sh([harness.DOCKER, "run", "--rm", "--runtime=nvidia", "-e", "NVIDIA_VISIBLE_DEVICES=1",
                     harness.IMAGE, "/bin/sh", "-c", harness.script_for([1])]), "docker run --runtime=nvidia")
    harness.check_gpus(p.stdout, [1])


@case
def docker_set_as_default_run_and_build():
    ctk("runtime", "configure", "--runtime=docker", "--config", DAEMON_JSON,
        "--nvidia-runtime-path", harness.SHIM, "--nvidia-set-as-default")
    start_dockerd()
    eq(docker_info()["DefaultRuntime"], "nvidia", "default runtime")
    p = harness.ok(harness.sh([harness.DOCKER, "run", "--rm", "-e", "NVIDIA_VISIBLE_DEVICES=2", harness.IMAGE,
                     "/bin/sh", "-c", harness.script_for([2])]), "plain docker run")
    harness.check_gpus(p.stdout, [2])
    d = os.path.join(WORK, "ctk-build")
    os.makedirs(d)
    with open(os.path.join(d, "Dockerfile"), "w") as f:
        f.write(f"FROM {harness.IMAGE}\nENV NVIDIA_VISIBLE_DEVICES=3\nRUN {harness.script_for([3])}\n")
    p = harness.ok(harness.sh([harness.DOCKER, "build", "--rm", "--force-rm", "-t", f"{harness.IMAGE}-ctk", d],
                    timeout=300, env={"DOCKER_BUILDKIT": "0"}), "DOCKER_BUILDKIT=0 docker build")
    harness.check_gpus(p.stdout, [3])
    harness.ok(harness.sh([harness.DOCKER, "rmi", f"{harness.IMAGE}-ctk"]), "docker rmi")


@case
def docker_unconfigure_gives_the_file_back():
    ctk("runtime", "unconfigure", "--runtime=docker", "--config", DAEMON_JSON)
    eq(read(DAEMON_JSON), BUSY.encode(), "daemon.json after unconfigure")
    start_dockerd()
    info = docker_info()
    assert "nvidia" not in info["Runtimes"], info["Runtimes"]
    eq(info["DefaultRuntime"], "runc", "default runtime back")


@case
def podman_oci_hook():
    d = os.path.join(WORK, "ctk-hooks.d")
    os.makedirs(d)
    hook_json = os.path.join(d, "oci-nvidia-hook.json")
    ctk("runtime", "configure", "--runtime=crio", "--config-mode=oci-hook", "--oci-hook-path",
        hook_json, "--nvidia-runtime-hook-path", harness.SHIM_HOOK)
    p = harness.ok(harness.sh([harness.PODMAN, "--runtime", "runc", "--hooks-dir", d, "run", "--rm", *harness.PODMAN_RUN,
                     "--cap-add", "MKNOD", "-e", "NVIDIA_VISIBLE_DEVICES=0", harness.PODMAN_IMAGE,
                     "/bin/sh", "-c", harness.script_for([0])]), "podman run with our hooks.d JSON")
    harness.check_gpus(p.stdout, [0])
    ctk("runtime", "unconfigure", "--runtime=crio", "--config-mode=oci-hook", "--oci-hook-path",
        hook_json)
    eq(os.listdir(d), [], "unconfigure removed the hooks.d JSON")


@case
def stop_leaves_nothing():
    harness.stop_leaves_nothing()


def main():
    if harness.engines("engines_installed", check=False).returncode != 0:
        print("1..0 # SKIP docker.io, containerd, podman not installed (bash scripts/engines.sh install)")
        return 0
    harness._tests.clear()
    for fn in CASES:
        harness.test(fn)
    try:
        return harness.run_all()
    finally:
        harness.engines("engines_stop", check=False)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, harness._terminate)
    signal.signal(signal.SIGHUP, harness._terminate)
    sys.exit(1 if main() else 0)
